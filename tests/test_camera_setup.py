"""The camera node's core: source-type resolution, a replay that waits for its file, health.

Back-off times are checked exactly on a stepped clock against the documented schedule
(0.1 s, then doubling); pixels against the colours the helpers wrote.
"""

from __future__ import annotations

import numpy as np
import pytest
from frames_helpers import HEIGHT, WIDTH, SteppedClock, expected_rgb, write_folder, write_video

from smolvla_ros.frames import (
    FrameSourceClosedError,
    FrameSourceConfigError,
    FrameSourceUnavailableError,
    OpenCVFrameSource,
    PumpStatus,
)
from smolvla_ros.frames.camera_setup import (
    ERROR,
    OK,
    WARN,
    CameraSourceConfig,
    ReopeningSource,
    camera_health,
    open_camera_source,
    resolve_source_type,
    source_status,
)


def test_auto_source_type(tmp_path):
    folder = write_folder(tmp_path / 'imgs', ['a.png'])
    video = write_video(tmp_path / 'v.avi', n=2)
    assert resolve_source_type('0') == 'device'
    assert resolve_source_type('/dev/v4l/by-id/usb-cam-index0') == 'device'
    assert resolve_source_type(str(folder)) == 'folder'
    assert resolve_source_type(str(video)) == 'video'
    assert resolve_source_type(str(tmp_path / 'later.mp4')) == 'video'
    assert resolve_source_type(str(tmp_path / 'later_frames')) == 'folder'
    # An explicit type wins over the guess.
    assert resolve_source_type(str(video), 'device') == 'device'


@pytest.mark.parametrize(
    ('kwargs', 'word'),
    [
        ({'source': ' '}, 'empty'),
        ({'source': '0', 'source_type': 'usb'}, 'source_type'),
        ({'source': '0', 'slot': 'top camera'}, 'slot'),
        ({'source': '0', 'width': -1}, 'width'),
        ({'source': '0', 'fps': -5.0}, 'fps'),
        ({'source': '0', 'fourcc': 'MJPEG'}, 'fourcc'),
        ({'source': '0', 'backoff_initial_s': 2.0, 'backoff_max_s': 1.0}, 'max_s'),
    ],
)
def test_config_refuses_impossible_settings(kwargs, word):
    with pytest.raises(FrameSourceConfigError, match=word):
        CameraSourceConfig(**kwargs)


def test_missing_folder_is_retried_with_backoff_then_streams(tmp_path):
    clock = SteppedClock(10.0)
    folder = tmp_path / 'later'
    config = CameraSourceConfig(str(folder), slot='side', pace=False)
    source = open_camera_source(config, now=clock.now)
    assert isinstance(source, ReopeningSource)
    status = source_status(source)
    assert status.state == 'unavailable' and status.consecutive_failures == 1
    assert 'does not exist' in status.last_error
    # First failure at t=10 -> retry due 0.1 s later (Backoff default initial 0.1 s).
    with pytest.raises(FrameSourceUnavailableError) as info:
        source.read()
    assert info.value.retry_at_s == pytest.approx(10.1)
    assert str(folder) in str(info.value)
    clock.advance(0.1)
    with pytest.raises(FrameSourceUnavailableError) as info:
        source.read()  # second failure: next retry 0.2 s later
    assert info.value.retry_at_s == pytest.approx(10.3)
    write_folder(folder, ['f0.png', 'f1.png'])
    clock.advance(0.1)  # t=10.2: not due yet, still unavailable although the folder exists
    with pytest.raises(FrameSourceUnavailableError):
        source.read()
    clock.advance(0.1)
    frames = source.read()
    assert frames[0].slot == 'side' and frames[0].rgb.shape == (HEIGHT, WIDTH, 3)
    np.testing.assert_allclose(frames[0].rgb.reshape(-1, 3).mean(axis=0), expected_rgb(0))
    assert frames[0].capture_time_s == pytest.approx(10.3)
    assert source_status(source).state == 'open'
    source.close()
    source.close()
    with pytest.raises(FrameSourceClosedError):
        source.read()


def test_device_source_is_opencv_and_survives_absence(tmp_path):
    config = CameraSourceConfig(str(tmp_path / 'nope'), source_type='device')
    source = open_camera_source(config)
    try:
        assert isinstance(source, OpenCVFrameSource)
        assert source_status(source).state == 'unavailable'
    finally:
        source.close()


def pump(**kw) -> PumpStatus:
    base = {'running': True, 'finished': False, 'frames': 0}
    base.update(kw)
    return PumpStatus(**base)


def test_health_levels(tmp_path):
    source = open_camera_source(CameraSourceConfig(str(tmp_path / 'x.mp4')), now=lambda: 5.0)
    down = camera_health(source_status(source), pump(read_errors=1), now_s=5.05)
    assert down.level == ERROR
    assert 'unavailable' in down.message and 'x.mp4' in down.message
    assert down.values['retry_in_s'] == pytest.approx(0.05)
    assert down.values['state'] == 'unavailable'
    assert camera_health(None, pump(frames=3, last_frame_time_s=4.0), 5.0).level == OK
    assert camera_health(None, pump(frames=3, last_frame_time_s=1.0), 5.0).level == WARN
    ended = camera_health(None, pump(running=False, finished=True, frames=3), 5.0)
    assert ended.level == WARN and 'finished' in ended.message
    assert camera_health(None, pump(running=False), 5.0).level == ERROR
