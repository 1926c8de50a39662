"""Fault matrix of the frame sources (smolvla_ros/frames): each fault, the named error or safe
state, and proof that nothing else changed (no file written, no sink call, no state change)."""

from __future__ import annotations

import numpy as np
import pytest
from frames_helpers import FAST, SteppedClock, snapshot_dir, wait_for, write_folder, write_video

from smolvla_ros.frames import (
    EndOfStreamError,
    FramePump,
    FrameSourceClosedError,
    FrameSourceConfigError,
    FrameSourceReadError,
    FrameSourceTimeoutError,
    FrameSourceUnavailableError,
    ImageFolderFrameSource,
    MultiSource,
    OpenCVFrameSource,
    SimFrameSource,
    VideoFileFrameSource,
)
from so_arm_driver.sim import SimConfig, Simulator


def test_camera_disappears_mid_run_under_a_pump(tmp_path):
    """Fault: camera disappears mid-run -> Expected: reported + back-off, pump lives, recovers."""
    path = write_video(tmp_path / 'cam.avi', n=3)
    away = tmp_path / 'unplugged.avi'
    got = []
    source = OpenCVFrameSource(path, 'top', backoff=FAST)
    with FramePump(source, got.append) as pump:
        assert wait_for(lambda: len(got) >= 3)
        path.rename(away)
        # The open handle plays to its end, the read fails, reopening fails while it is away.
        assert wait_for(lambda: source.status.open_failures >= 3)
        during = len(got)
        before = snapshot_dir(tmp_path)
        assert wait_for(lambda: source.status.open_failures >= 6)
        assert len(got) == during  # no frame is invented during the outage
        assert pump.status.running
        assert pump.status.errors_by_type.get('FrameSourceUnavailableError', 0) >= 3
        assert source.status.state == 'unavailable'
        assert source.status.retry_at_s is not None
        assert snapshot_dir(tmp_path) == before  # nothing written meanwhile
        away.rename(path)
        assert wait_for(lambda: len(got) >= during + 3)  # recovers by itself
        assert source.status.reopens >= 1
    assert not pump.status.running
    source.close()
    assert [f.sequence for f in got] == list(range(len(got)))
    assert (tmp_path / 'cam.avi').exists() and not away.exists()


def test_camera_absent_at_start(tmp_path):
    """Fault: camera absent at start -> Expected: no exception, 'unavailable', retries named."""
    before = snapshot_dir(tmp_path)
    clock = SteppedClock(start_s=0.0)
    path = tmp_path / 'usb-cam-index0'
    source = OpenCVFrameSource(path, backoff=FAST, now=clock.now)
    assert source.status.state == 'unavailable' and source.status.open_failures == 1
    with pytest.raises(FrameSourceUnavailableError, match='usb-cam-index0') as info:
        source.read()
    assert info.value.retry_at_s == pytest.approx(0.02)
    assert source.status.frames == 0 and source.status.open_failures == 1
    assert not path.exists() and snapshot_dir(tmp_path) == before
    source.close()


def test_bad_camera_settings_open_nothing(tmp_path):
    """Fault: impossible camera setting (FOURCC 'MJPEG') -> Expected: FrameSourceConfigError."""
    path = write_video(tmp_path / 'cam.avi', n=2)
    before = snapshot_dir(tmp_path)
    events = []
    with pytest.raises(FrameSourceConfigError, match=r"four ASCII characters.*'MJPEG'"):
        OpenCVFrameSource(path, fourcc='MJPEG', on_event=events.append)
    assert events == [] and snapshot_dir(tmp_path) == before


def test_read_after_close_reopens_nothing(tmp_path):
    """Fault: read() after close() -> Expected: FrameSourceClosedError, the device stays closed."""
    source = OpenCVFrameSource(write_video(tmp_path / 'cam.avi', n=2))
    source.close()
    events = source.recent_events
    with pytest.raises(FrameSourceClosedError):
        source.read()
    assert source.recent_events == events and source.status.state == 'closed'
    assert source.status.frames == 0


def test_duplicate_slots_in_a_multisource(tmp_path):
    """Fault: two cameras on one slot -> Expected: FrameSourceConfigError, sources untouched."""
    folder = write_folder(tmp_path / 'imgs', ['0.png', '1.png'])
    a = ImageFolderFrameSource(folder, 'wrist', pace=False)
    b = ImageFolderFrameSource(folder, 'wrist', pace=False)
    with pytest.raises(FrameSourceConfigError, match="'wrist'"):
        MultiSource([a, b])
    # Neither was closed nor advanced by the refusal.
    assert (a.frames_read, b.frames_read) == (0, 0)
    assert a.read()[0].sequence == 0 and b.read()[0].sequence == 0


def test_corrupt_image_in_a_folder(tmp_path):
    """Fault: corrupt image file -> Expected: FrameSourceReadError naming it; next read goes on."""
    folder = write_folder(tmp_path / 'imgs', ['a.png', 'c.png'])
    (folder / 'b.png').write_bytes(b'\x89PNG broken')
    before = snapshot_dir(tmp_path)
    with ImageFolderFrameSource(folder, pace=False) as source:
        source.read()
        with pytest.raises(FrameSourceReadError, match=r'b\.png'):
            source.read()
        assert source.frames_read == 1  # the failed read numbered no frame
        assert source.read()[0].sequence == 1
    assert snapshot_dir(tmp_path) == before


def test_video_ends_under_a_pump(tmp_path):
    """Fault: replay file ends (no loop) -> Expected: EndOfStreamError; the pump finishes clean."""
    path = write_video(tmp_path / 'clip.avi', n=3)
    got = []
    with VideoFileFrameSource(path, pace=False) as source:
        pump = FramePump(source, got.append).start()
        assert wait_for(lambda: pump.status.finished)
        assert pump.close()
        with pytest.raises(EndOfStreamError):
            source.read()
    status = pump.status
    assert (status.frames, status.read_errors, status.sink_errors, status.running) == (
        3,
        0,
        0,
        False,
    )
    assert len(got) == 3


def test_sink_raises_under_a_pump(tmp_path):
    """Fault: the sink raises -> Expected: counted in sink_errors, pump goes on, no read error."""
    folder = write_folder(tmp_path / 'imgs', [f'{i}.png' for i in range(4)])
    got = []

    def sink(frame):
        if frame.sequence % 2 == 0:
            raise RuntimeError('store full')
        got.append(frame.sequence)

    with ImageFolderFrameSource(folder, pace=False) as source:
        pump = FramePump(source, sink).start()
        assert wait_for(lambda: pump.status.finished)
        pump.close()
    assert got == [1, 3]
    assert (pump.status.sink_errors, pump.status.read_errors, pump.status.frames) == (2, 0, 2)


def test_event_callback_raises(tmp_path):
    """Fault: the on_event callback raises -> Expected: counted, the camera works unchanged."""

    def broken(event):
        raise RuntimeError('observer bug')

    with OpenCVFrameSource(write_video(tmp_path / 'cam.avi', n=2), on_event=broken) as source:
        assert source.callback_errors == 1
        assert source.status.state == 'open'
        assert source.read()[0].sequence == 0


def test_simulator_not_stepped():
    """Fault: simulator not stepped -> Expected: FrameSourceTimeoutError, sim state untouched."""
    with Simulator(SimConfig(image_width=32, image_height=32)) as sim:
        source = SimFrameSource(sim, ('top',), timeout_s=0.05)
        source.read()
        qpos, ctrl, t = sim.data.qpos.copy(), sim.data.ctrl.copy(), sim.time_s
        torque = sim.torque_enabled
        with pytest.raises(FrameSourceTimeoutError, match='being stepped'):
            source.read()
        assert sim.time_s == t and sim.torque_enabled == torque
        assert np.array_equal(sim.data.qpos, qpos) and np.array_equal(sim.data.ctrl, ctrl)
