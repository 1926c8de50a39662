"""Replay sources on real files: a video written with OpenCV's MJPG encoder and PNG folders.

Expected pixels come from what was written (BGR as OpenCV writes, so RGB is the reverse);
MJPEG is lossy, so flat colours are checked within 8 levels. Pacing is checked exactly on a
simulated clock whose sleep advances it.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from frames_helpers import (
    HEIGHT,
    WIDTH,
    SteppedClock,
    colour_bgr,
    expected_rgb,
    write_folder,
    write_video,
)

from smolvla_ros.frames import (
    EndOfStreamError,
    FrameSourceClosedError,
    FrameSourceConfigError,
    FrameSourceReadError,
    FrameSourceTimeoutError,
    ImageFolderFrameSource,
    VideoFileFrameSource,
)
from smolvla_ros.frames.source import FrameSource

MJPEG_TOL = 8.0


def mean_rgb(frame) -> np.ndarray:
    return frame.rgb.reshape(-1, 3).mean(axis=0)


def test_video_frames_come_back_in_order_as_rgb(tmp_path):
    path = write_video(tmp_path / 'clip.avi', n=6)
    clock = SteppedClock()
    with VideoFileFrameSource(path, 'wrist', pace=False, now=clock.now) as source:
        assert isinstance(source, FrameSource)
        assert source.slots == ('wrist',)
        assert source.file_fps == pytest.approx(20.0)
        frames = []
        for _ in range(6):
            (frame,) = source.read()
            frames.append(frame)
            clock.advance(0.01)
        with pytest.raises(EndOfStreamError, match='ended after 6 frame'):
            source.read()
    assert [f.sequence for f in frames] == list(range(6))
    assert [f.slot for f in frames] == ['wrist'] * 6
    times = [f.capture_time_s for f in frames]
    assert times == pytest.approx([100.0 + 0.01 * i for i in range(6)])
    for i, frame in enumerate(frames):
        assert frame.rgb.shape == (HEIGHT, WIDTH, 3)
        assert frame.rgb.dtype == np.uint8
        assert not frame.rgb.flags.writeable
        np.testing.assert_allclose(mean_rgb(frame), expected_rgb(i), atol=MJPEG_TOL)
    # Red (200) is written last in BGR order: after conversion it must lead.
    assert frames[0].rgb[..., 0].mean() > 190 and frames[0].rgb[..., 2].mean() < 20
    assert clock.slept == []  # pace=False never sleeps


def test_video_paced_at_the_files_rate_on_absolute_deadlines(tmp_path):
    path = write_video(tmp_path / 'clip.avi', n=6, fps=20.0)
    clock = SteppedClock(start_s=5.0)
    source = VideoFileFrameSource(path, now=clock.now, sleep=clock.sleep)
    times = []
    for k in range(5):
        times.append(source.read()[0].capture_time_s)
        if k == 2:
            clock.advance(0.02)  # the reader spends 20 ms: the next sleep is 20 ms shorter
    source.close()
    # 20 fps -> one frame every 50 ms from the first read.
    assert times == pytest.approx([5.0, 5.05, 5.10, 5.15, 5.20], abs=1e-9)
    assert clock.slept == pytest.approx([0.05, 0.05, 0.03, 0.05], abs=1e-9)


def test_video_fps_override_and_late_reader_reanchors(tmp_path):
    path = write_video(tmp_path / 'clip.avi', n=6, fps=20.0)
    clock = SteppedClock(start_s=0.0)
    with VideoFileFrameSource(path, fps=10.0, now=clock.now, sleep=clock.sleep) as source:
        t0 = source.read()[0].capture_time_s
        t1 = source.read()[0].capture_time_s
        clock.advance(0.5)  # five periods late: no burst of stale frames
        t2 = source.read()[0].capture_time_s
        t3 = source.read()[0].capture_time_s
    assert (t0, t1) == pytest.approx((0.0, 0.1))
    assert t2 == pytest.approx(0.6)  # released at once, and the schedule restarts there
    assert t3 == pytest.approx(0.7)


def test_video_loop_keeps_counting_and_repeats_content(tmp_path):
    path = write_video(tmp_path / 'clip.avi', n=4)
    with VideoFileFrameSource(path, 'side', loop=True, pace=False) as source:
        frames = [source.read()[0] for _ in range(10)]
        assert source.frames_read == 10
    assert [f.sequence for f in frames] == list(range(10))
    for k, frame in enumerate(frames):
        np.testing.assert_allclose(mean_rgb(frame), expected_rgb(k % 4), atol=MJPEG_TOL)
    times = [f.capture_time_s for f in frames]
    assert np.all(np.diff(times) >= 0)


def test_video_read_times_out_when_the_next_frame_is_far(tmp_path):
    path = write_video(tmp_path / 'clip.avi', n=3)
    clock = SteppedClock(start_s=0.0)
    with VideoFileFrameSource(
        path, fps=0.5, timeout_s=0.5, now=clock.now, sleep=clock.sleep
    ) as source:
        assert source.read()[0].sequence == 0
        with pytest.raises(FrameSourceTimeoutError, match=r'due in 2\.000 s'):
            source.read()
        assert clock.now() == pytest.approx(0.5)  # it blocked exactly timeout_s
        clock.advance(1.0)
        frame = source.read()[0]  # still due at 2 s: sleeps the remaining 0.5 s
    assert frame.sequence == 1
    assert frame.capture_time_s == pytest.approx(2.0)


def test_video_after_close_raises_closed(tmp_path):
    source = VideoFileFrameSource(write_video(tmp_path / 'clip.avi'), pace=False)
    source.close()
    source.close()  # idempotent
    with pytest.raises(FrameSourceClosedError):
        source.read()


@pytest.mark.parametrize(
    ('make_path', 'kwargs', 'message'),
    [
        (lambda d: d / 'missing.avi', {}, 'does not exist'),
        (lambda d: d, {}, 'does not exist'),
        (lambda d: d / 'clip.avi', {'slot': 'top/cam'}, 'invalid camera slot'),
        (lambda d: d / 'clip.avi', {'fps': -5.0}, 'fps must be'),
        (lambda d: d / 'clip.avi', {'timeout_s': 0.0}, 'timeout_s must be'),
    ],
)
def test_video_bad_settings_are_refused(tmp_path, make_path, kwargs, message):
    write_video(tmp_path / 'clip.avi')
    with pytest.raises(FrameSourceConfigError, match=message):
        VideoFileFrameSource(make_path(tmp_path), **kwargs)


def test_video_that_is_not_a_video_is_refused(tmp_path):
    path = tmp_path / 'notes.avi'
    path.write_text('not a video at all\n' * 100)
    with pytest.raises(FrameSourceConfigError, match='cannot decode'):
        VideoFileFrameSource(path)


def test_folder_is_read_in_natural_order_with_exact_pixels(tmp_path):
    # Written in this order, so colour k marks the k-th name; natural order must follow it.
    names = ['frame_1.png', 'frame_2.png', 'frame_10.png']
    folder = write_folder(tmp_path / 'imgs', names)
    (folder / 'readme.txt').write_text('ignored')
    (folder / 'sub.png').mkdir()  # a folder named like an image is not a file: ignored
    with ImageFolderFrameSource(folder, 'top', pace=False) as source:
        assert [p.name for p in source.files] == names
        frames = [source.read()[0] for _ in range(3)]
        with pytest.raises(EndOfStreamError, match='3 image'):
            source.read()
    for k, frame in enumerate(frames):
        b, g, r = colour_bgr(k)
        assert frame.sequence == k
        assert frame.rgb.shape == (HEIGHT, WIDTH, 3)
        assert np.all(frame.rgb == np.array([r, g, b], np.uint8))  # PNG is lossless


def test_folder_grey_and_jpeg_images(tmp_path):
    folder = tmp_path / 'imgs'
    folder.mkdir()
    assert cv2.imwrite(str(folder / 'a.png'), np.full((20, 30), 77, np.uint8))
    colour = np.empty((20, 30, 3), np.uint8)
    colour[:] = (30, 60, 220)
    assert cv2.imwrite(str(folder / 'b.JPG'), colour)
    with ImageFolderFrameSource(folder, pace=False) as source:
        grey = source.read()[0]
        jpeg = source.read()[0]
    assert grey.rgb.shape == (20, 30, 3) and np.all(grey.rgb == 77)
    np.testing.assert_allclose(mean_rgb(jpeg), [220, 60, 30], atol=MJPEG_TOL)


def test_folder_paced_and_looping(tmp_path):
    folder = write_folder(tmp_path / 'imgs', ['a.png', 'b.png'])
    clock = SteppedClock(start_s=1.0)
    with ImageFolderFrameSource(
        folder, fps=4.0, loop=True, now=clock.now, sleep=clock.sleep
    ) as source:
        frames = [source.read()[0] for _ in range(5)]
    assert [f.capture_time_s for f in frames] == pytest.approx([1.0, 1.25, 1.5, 1.75, 2.0])
    assert [f.sequence for f in frames] == [0, 1, 2, 3, 4]
    assert [int(f.rgb[0, 0, 2]) for f in frames] == [colour_bgr(k % 2)[0] for k in range(5)]


def test_folder_corrupt_image_is_named_and_skipped(tmp_path):
    folder = write_folder(tmp_path / 'imgs', ['0.png', '2.png'])
    (folder / '1.png').write_bytes(b'\x89PNG\r\n\x1a\n truncated')
    with ImageFolderFrameSource(folder, pace=False) as source:
        first = source.read()[0]
        with pytest.raises(FrameSourceReadError, match=r'1\.png'):
            source.read()
        after = source.read()[0]
    assert (first.sequence, after.sequence) == (0, 1)
    assert int(after.rgb[0, 0, 2]) == colour_bgr(1)[0]  # 2.png was written second


@pytest.mark.parametrize(
    ('setup', 'message'),
    [
        (lambda d: d / 'missing', 'does not exist'),
        (lambda d: (d / 'empty').mkdir() or d / 'empty', 'holds no'),
    ],
)
def test_folder_bad_folders_are_refused(tmp_path, setup, message):
    with pytest.raises(FrameSourceConfigError, match=message):
        ImageFolderFrameSource(setup(tmp_path))


def test_folder_rejects_a_zero_fps(tmp_path):
    folder = write_folder(tmp_path / 'imgs', ['a.png'])
    with pytest.raises(FrameSourceConfigError, match='fps must be'):
        ImageFolderFrameSource(folder, fps=0.0)
