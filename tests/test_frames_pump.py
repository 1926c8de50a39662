"""FramePump and MultiSource on real sources (image folders, video files, OpenCV captures)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from frames_helpers import FAST, SteppedClock, colour_bgr, wait_for, write_folder, write_video

from smolvla_ros.frames import (
    Backoff,
    EndOfStreamError,
    FramePump,
    FrameSourceClosedError,
    FrameSourceConfigError,
    FrameSourceError,
    FrameSourceUnavailableError,
    ImageFolderFrameSource,
    MultiSource,
    OpenCVFrameSource,
    VideoFileFrameSource,
)


def test_pump_delivers_every_frame_in_order_then_finishes(tmp_path):
    folder = write_folder(tmp_path / 'imgs', [f'{i:03d}.png' for i in range(7)])
    got = []
    with ImageFolderFrameSource(folder, 'side', pace=False) as source:
        pump = FramePump(source, got.append).start()
        assert wait_for(lambda: pump.status.finished)
        assert pump.close()
    status = pump.status
    assert [f.sequence for f in got] == list(range(7))
    assert [int(f.rgb[0, 0, 2]) for f in got] == [colour_bgr(i)[0] for i in range(7)]
    assert (status.frames, status.frames_per_slot, status.running) == (7, {'side': 7}, False)
    assert status.read_errors == 0 and status.last_error is None
    assert status.last_frame_time_s == got[-1].capture_time_s


def test_pump_survives_an_absent_camera_and_delivers_once_it_appears(tmp_path):
    path = tmp_path / 'cam.avi'
    got, seen = [], []
    source = OpenCVFrameSource(path, 'wrist', backoff=FAST)
    with FramePump(source, got.append, on_error=seen.append) as pump:
        assert wait_for(lambda: pump.status.read_errors >= 3)
        assert got == [] and pump.status.running
        assert set(pump.status.errors_by_type) == {'FrameSourceUnavailableError'}
        assert all(isinstance(e, FrameSourceUnavailableError) for e in seen)
        assert str(path) in pump.status.last_error
        write_video(tmp_path / 'tmp.avi', n=4).rename(path)  # the camera is plugged in
        assert wait_for(lambda: len(got) >= 4)
        assert pump.status.running
    assert pump.status.running is False
    source.close()
    assert [f.sequence for f in got] == list(range(len(got)))
    assert source.status.frames == len(got)


def test_pump_counts_a_failing_sink_and_keeps_going(tmp_path):
    folder = write_folder(tmp_path / 'imgs', ['a.png', 'b.png', 'c.png'])
    got, seen = [], []

    def sink(frame):
        if frame.sequence == 1:
            raise ValueError('frame store rejected frame 1')
        got.append(frame)

    with ImageFolderFrameSource(folder, pace=False) as source:
        pump = FramePump(source, sink, on_error=seen.append).start()
        assert wait_for(lambda: pump.status.finished)
        pump.close()
    status = pump.status
    assert [f.sequence for f in got] == [0, 2]
    assert (status.frames, status.sink_errors, status.read_errors) == (2, 1, 0)
    assert 'rejected frame 1' in status.last_error
    assert len(seen) == 1 and isinstance(seen[0], ValueError)


def test_pump_counts_an_unreadable_image_and_carries_on(tmp_path):
    folder = write_folder(tmp_path / 'imgs', ['0.png', '2.png'])
    (folder / '1.png').write_bytes(b'not a png')
    got = []
    with ImageFolderFrameSource(folder, pace=False) as source:
        pump = FramePump(source, got.append, error_pause_s=0.001).start()
        assert wait_for(lambda: pump.status.finished)
        pump.close()
    assert len(got) == 2
    assert pump.status.errors_by_type == {'FrameSourceReadError': 1}
    assert '1.png' in pump.status.last_error


def test_close_returns_promptly_while_waiting_for_a_slow_retry(tmp_path):
    source = OpenCVFrameSource(tmp_path / 'absent', backoff=Backoff(initial_s=5.0, max_s=5.0))
    pump = FramePump(source, lambda frame: None, max_pause_s=10.0).start()
    assert wait_for(lambda: pump.status.read_errors >= 1)
    t0 = time.monotonic()
    assert pump.close()
    assert time.monotonic() - t0 < 1.0  # the 5 s wait is interrupted, not sat out
    assert pump.close()  # idempotent
    source.close()


def test_pump_stops_when_its_source_is_closed(tmp_path):
    path = write_video(tmp_path / 'clip.avi', n=3)
    source = VideoFileFrameSource(path, loop=True, fps=200.0)
    got = []
    pump = FramePump(source, got.append).start()
    assert wait_for(lambda: len(got) >= 5)
    source.close()
    assert wait_for(lambda: pump.status.finished)
    assert pump.close() and not pump.status.running


def test_pump_start_rules_and_bad_settings(tmp_path):
    folder = write_folder(tmp_path / 'imgs', ['a.png'])
    source = ImageFolderFrameSource(folder, pace=False)
    pump = FramePump(source, list().append)
    assert pump.close()  # never started: nothing to join
    with pytest.raises(RuntimeError, match='starts once'):
        pump.start()
    with pytest.raises(FrameSourceConfigError, match='error_pause_s'):
        FramePump(source, list().append, error_pause_s=0.0)
    with pytest.raises(FrameSourceConfigError, match='sink must be callable'):
        FramePump(source, None)


def test_multisource_combines_slots_and_outlives_a_shorter_source(tmp_path):
    write_folder(tmp_path / 't', ['0.png', '1.png', '2.png'])
    wrist = ImageFolderFrameSource(write_folder(tmp_path / 'w', ['0.png']), 'wrist', pace=False)
    clock = SteppedClock(start_s=0.0)
    top = ImageFolderFrameSource(tmp_path / 't', 'top', fps=10.0, now=clock.now, sleep=clock.sleep)
    with MultiSource([top, wrist]) as multi:
        assert multi.slots == ('top', 'wrist')
        first = multi.read()
        assert [f.slot for f in first] == ['top', 'wrist']
        second = multi.read()
        assert [f.slot for f in second] == ['top']  # wrist has ended: skipped
        assert [f.slot for f in multi.read()] == ['top']
        # The paced source keeps its own 10 fps schedule inside the multi-source.
        assert second[0].capture_time_s == pytest.approx(0.1)
        with pytest.raises(EndOfStreamError, match='all 2 sources'):
            multi.read()
    with pytest.raises(FrameSourceClosedError):
        top.read()  # the multi-source owns and closed its sources
    with pytest.raises(FrameSourceClosedError):
        multi.read()


def test_multisource_returns_what_it_can_when_one_camera_is_gone(tmp_path):
    folder = write_folder(tmp_path / 'imgs', ['0.png', '1.png'])
    lost = OpenCVFrameSource(tmp_path / 'wrist-cam', 'wrist', backoff=FAST)
    with MultiSource([ImageFolderFrameSource(folder, 'top', pace=False), lost]) as multi:
        frames = multi.read()
        assert [f.slot for f in frames] == ['top']
        assert multi.errors == [0, 1]
        assert isinstance(multi.last_errors[1], FrameSourceUnavailableError)
        assert multi.last_errors[0] is None


def test_multisource_all_cameras_gone_raises_the_earliest_retry(tmp_path):
    clock = SteppedClock(start_s=0.0)
    a = OpenCVFrameSource(tmp_path / 'cam-a', 'top', backoff=Backoff(0.3, 2.0, 1.0), now=clock.now)
    b = OpenCVFrameSource(
        tmp_path / 'cam-b', 'side', backoff=Backoff(0.2, 2.0, 1.0), now=clock.now
    )
    with MultiSource([a, b]) as multi, pytest.raises(FrameSourceUnavailableError) as info:
        multi.read()
    assert 'cam-a' in info.value.device and 'cam-b' in info.value.device
    assert info.value.retry_at_s == pytest.approx(0.2)


def test_multisource_refuses_a_repeated_slot_and_an_empty_list(tmp_path):
    folder = write_folder(tmp_path / 'imgs', ['0.png'])
    one = ImageFolderFrameSource(folder, 'top', pace=False)
    two = ImageFolderFrameSource(folder, 'top', pace=False)
    with pytest.raises(FrameSourceConfigError, match=r"slot 'top' is delivered by source #0"):
        MultiSource([one, two])
    with pytest.raises(FrameSourceConfigError, match='at least one'):
        MultiSource([])
    # Refusing changed nothing: both sources still deliver their image.
    assert np.array_equal(one.read()[0].rgb, two.read()[0].rgb)


def test_multisource_summarises_mixed_failures(tmp_path):
    folder = tmp_path / 'imgs'
    folder.mkdir()
    (folder / 'bad.png').write_bytes(b'not a png')
    broken = ImageFolderFrameSource(folder, 'top', pace=False)
    lost = OpenCVFrameSource(tmp_path / 'absent', 'wrist', backoff=FAST)
    with MultiSource([broken, lost]) as multi:
        with pytest.raises(FrameSourceError, match='all 2 live sources') as info:
            multi.read()
        assert not isinstance(info.value, FrameSourceUnavailableError)
        assert 'bad.png' in str(info.value) and 'absent' in str(info.value)
