"""OpenCVFrameSource against real VideoCapture: a video file stands in for the camera (there is
no camera here; VideoCapture opens files through the same API), and the "device" disappears by
renaming the file away and comes back by renaming it back.

Once VideoCapture has opened a file it keeps reading through its open handle, so a renamed
file still plays to its end; the end is where the read fails, like an unplugged camera's next
read. The back-off schedule is checked exactly on a simulated clock.
"""

from __future__ import annotations

import numpy as np
import pytest
from frames_helpers import SteppedClock, expected_rgb, write_video

from smolvla_ros.frames import (
    Backoff,
    FrameSourceClosedError,
    FrameSourceConfigError,
    FrameSourceUnavailableError,
    OpenCVFrameSource,
)

BACKOFF = Backoff(initial_s=0.1, factor=2.0, max_s=0.5)


def test_backoff_schedule_doubles_up_to_the_bound():
    assert [BACKOFF.delay_s(n) for n in range(1, 7)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.5, 0.5, 0.5]
    )
    assert Backoff(initial_s=1.0, factor=1.0, max_s=1.0).delay_s(50) == 1.0
    assert Backoff().delay_s(10_000) == 5.0  # no float overflow after many failures
    with pytest.raises(ValueError, match='failures must be >= 1'):
        BACKOFF.delay_s(0)


@pytest.mark.parametrize(
    ('kwargs', 'message'),
    [
        ({'initial_s': 0.0}, 'initial_s'),
        ({'factor': 0.5}, 'factor must be >= 1'),
        ({'initial_s': 2.0, 'max_s': 1.0}, 'must be >= initial_s'),
        ({'max_s': float('inf')}, 'max_s'),
    ],
)
def test_backoff_rejects_impossible_settings(kwargs, message):
    with pytest.raises(FrameSourceConfigError, match=message):
        Backoff(**kwargs)


def test_reads_frames_as_rgb_and_reports_the_negotiated_settings(tmp_path):
    path = write_video(tmp_path / 'cam.avi', n=5)
    clock = SteppedClock()
    events = []
    source = OpenCVFrameSource(
        path,
        'top',
        width=320,
        height=240,
        fps=30.0,
        fourcc='MJPG',
        now=clock.now,
        on_event=events.append,
    )
    frames = []
    for _ in range(3):
        frames.append(source.read()[0])
        clock.advance(1 / 30)
    status = source.status
    source.close()
    assert [f.sequence for f in frames] == [0, 1, 2]
    assert [f.capture_time_s for f in frames] == pytest.approx([100.0, 100 + 1 / 30, 100 + 2 / 30])
    for i, frame in enumerate(frames):
        np.testing.assert_allclose(
            frame.rgb.reshape(-1, 3).mean(axis=0), expected_rgb(i), atol=8.0
        )
    assert status.state == 'open' and status.frames == 3
    # A file cannot be resized: the source says what it got instead of what was asked.
    assert (status.width, status.height) == (64, 48)
    assert events[0].kind == 'opened'
    assert 'did not grant width 320 (got 64)' in events[0].reason
    assert [e.kind for e in events] == ['opened', 'closed']
    assert source.status.state == 'closed'


def test_device_disappears_is_reported_backs_off_and_recovers(tmp_path):
    path = write_video(tmp_path / 'cam.avi', n=3)
    away = tmp_path / 'unplugged.avi'
    clock = SteppedClock(start_s=10.0)
    events = []
    source = OpenCVFrameSource(
        path, 'wrist', backoff=BACKOFF, now=clock.now, on_event=events.append
    )
    assert [source.read()[0].sequence for _ in range(3)] == [0, 1, 2]

    path.rename(away)  # unplugged: the next read fails (end of the open handle)
    with pytest.raises(FrameSourceUnavailableError) as info:
        source.read()
    err = info.value
    assert err.device == str(path) and str(path) in str(err)
    assert err.retry_at_s == pytest.approx(10.1) and err.retry_in_s == pytest.approx(0.1)
    status = source.status
    assert (status.state, status.read_failures, status.consecutive_failures) == (
        'unavailable',
        1,
        1,
    )
    assert status.retry_at_s == pytest.approx(10.1)
    assert 'no frame' in status.last_error and status.last_error_time_s == pytest.approx(10.0)

    # Before the retry time nothing is attempted: no new open failure, same retry time.
    clock.advance(0.05)
    with pytest.raises(FrameSourceUnavailableError) as info:
        source.read()
    assert info.value.retry_at_s == pytest.approx(10.1)
    assert info.value.retry_in_s == pytest.approx(0.05)
    assert source.status.open_failures == 0

    # Each due attempt fails while the device is gone; waits double up to max_s.
    retry_times = []
    for _ in range(4):
        clock.advance(source.status.retry_at_s - clock.now())
        with pytest.raises(FrameSourceUnavailableError) as info:
            source.read()
        retry_times.append(info.value.retry_at_s)
    # Failures 2..5 wait 0.2, 0.4, 0.5 (bound), 0.5 after their attempts at 10.1, 10.3, 10.7, 11.2.
    assert retry_times == pytest.approx([10.3, 10.7, 11.2, 11.7])
    assert source.status.open_failures == 4

    away.rename(path)  # plugged back in
    clock.advance(source.status.retry_at_s - clock.now())
    frame = source.read()[0]
    assert frame.sequence == 3  # numbering goes on across the outage
    assert frame.capture_time_s == pytest.approx(11.7)
    np.testing.assert_allclose(frame.rgb.reshape(-1, 3).mean(axis=0), expected_rgb(0), atol=8.0)
    status = source.status
    assert (status.state, status.reopens, status.consecutive_failures) == ('open', 1, 0)
    assert status.last_error is not None  # the last error stays visible after recovery
    source.close()
    assert [e.kind for e in events] == [
        'opened',
        'read_failed',
        'open_failed',
        'open_failed',
        'open_failed',
        'open_failed',
        'reopened',
        'closed',
    ]
    assert [e.consecutive_failures for e in events[1:6]] == [1, 2, 3, 4, 5]


def test_device_absent_at_start_is_not_an_error_and_is_picked_up_later(tmp_path):
    path = tmp_path / 'by-id' / 'usb-cam-video-index0'
    clock = SteppedClock(start_s=0.0)
    source = OpenCVFrameSource(path, backoff=BACKOFF, now=clock.now)
    status = source.status
    assert (status.state, status.open_failures, status.frames) == ('unavailable', 1, 0)
    assert status.retry_at_s == pytest.approx(0.1)
    with pytest.raises(FrameSourceUnavailableError, match='usb-cam-video-index0'):
        source.read()
    path.parent.mkdir()
    write_video(path.with_suffix('.avi'), n=2).rename(path)
    clock.advance(0.1)
    assert source.read()[0].sequence == 0
    assert source.status.reopens == 0  # the first successful open is no re-open
    assert [e.kind for e in source.recent_events] == ['open_failed', 'opened']
    source.close()


def test_a_failing_event_callback_is_counted_not_raised(tmp_path):
    path = write_video(tmp_path / 'cam.avi', n=2)

    def broken(event):
        raise RuntimeError('observer bug')

    with OpenCVFrameSource(path, on_event=broken) as source:
        assert source.read()[0].sequence == 0
        assert source.callback_errors == 1  # the 'opened' event


def test_close_is_idempotent_and_read_after_close_raises(tmp_path):
    source = OpenCVFrameSource(write_video(tmp_path / 'cam.avi', n=2))
    source.close()
    source.close()
    with pytest.raises(FrameSourceClosedError, match='closed'):
        source.read()
    assert [e.kind for e in source.recent_events] == ['opened', 'closed']


@pytest.mark.parametrize(
    ('kwargs', 'message'),
    [
        ({'device': -1}, 'index must be >= 0'),
        ({'device': True}, 'index'),
        ({'device': ''}, 'path is empty'),
        ({'device': 1.5}, 'index'),
        ({'fourcc': 'MJP'}, 'four ASCII characters'),
        ({'width': 0}, 'width must be a positive int'),
        ({'height': 480.0}, 'height must be a positive int'),
        ({'fps': float('nan')}, 'fps must be'),
        ({'slot': ''}, 'invalid camera slot'),
        ({'buffer_size': -1}, 'buffer_size'),
    ],
)
def test_bad_settings_are_refused_before_opening(tmp_path, kwargs, message):
    args = {'device': tmp_path / 'cam.avi'} | kwargs
    events = []
    with pytest.raises(FrameSourceConfigError, match=message):
        OpenCVFrameSource(on_event=events.append, **args)
    assert events == []  # nothing was opened or attempted
