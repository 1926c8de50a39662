"""Replay sources: frames from a video file or a folder of images, for demos, replays and tests.

Both are single-slot sources, paced at a frame rate on absolute deadlines (the file's own fps
for a video unless overridden) or, with ``pace=False``, as fast as ``read()`` is called. Frames
are stamped with ``now()`` when they are released, so a replay looks to the executor like a
camera running at that rate. With ``loop=True`` the file/folder restarts after its last frame
and sequence numbers keep increasing; without it ``read()`` raises :class:`EndOfStreamError`.

Needs OpenCV (``pip install '.[camera]'``), imported when a source is created.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from smolvla_ros.frames.errors import (
    EndOfStreamError,
    FrameSourceClosedError,
    FrameSourceConfigError,
    FrameSourceReadError,
)
from smolvla_ros.frames.frame import Frame
from smolvla_ros.frames.source import (
    Now,
    Pacer,
    Sleep,
    SourceBase,
    check_positive,
    check_slot,
    import_cv2,
)

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg')


def bgr_to_rgb(cv2: Any, image: np.ndarray) -> np.ndarray:
    """OpenCV's BGR (or grey, or BGRA) uint8 image as a new RGB (H, W, 3) uint8 array.

    Raises:
        FrameSourceReadError: the image has another layout (16-bit, 2 channels, ...).
    """
    if image.dtype != np.uint8:
        raise FrameSourceReadError(f'expected an 8-bit image, got dtype {image.dtype}')
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    raise FrameSourceReadError(f'expected a grey, BGR or BGRA image, got shape {image.shape}')


def _natural_key(path: Path) -> list[Any]:
    # frame_2.png before frame_10.png: digit runs compare as numbers, the rest as text.
    return [int(part) if part.isdigit() else part for part in re.split(r'(\d+)', path.name)]


class VideoFileFrameSource(SourceBase):
    """Frames of one video file (anything OpenCV's FFmpeg backend decodes) for one slot.

    Args:
        path: the video file.
        slot: the camera slot the frames are for.
        loop: restart at the first frame after the last one instead of ending.
        pace: release frames at ``fps`` (True) or as fast as ``read()`` is called (False).
        fps: pacing rate, frames per second; None uses the file's own rate.
        timeout_s: the longest ``read()`` blocks waiting for a paced frame, seconds.
        now: the clock frames are stamped with, seconds (the executor's time base).
        sleep: how to sleep a number of seconds (injected with ``now`` in tests).

    Raises:
        FrameSourceConfigError: the file is missing or OpenCV cannot decode it, or pacing is
            asked for a file without a usable fps and no ``fps`` was given.
        ImportError: OpenCV is not installed.
    """

    def __init__(
        self,
        path: str | Path,
        slot: str = 'top',
        *,
        loop: bool = False,
        pace: bool = True,
        fps: float | None = None,
        timeout_s: float = 1.0,
        now: Now = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self._slot = check_slot(slot)
        check_positive('fps', fps, allow_none=True)
        check_positive('timeout_s', timeout_s)
        self._cv2 = import_cv2()
        self.path = Path(path)
        if not self.path.is_file():
            raise FrameSourceConfigError(f'video file {self.path} does not exist (or is no file)')
        self._cap = self._open()
        file_fps = float(self._cap.get(self._cv2.CAP_PROP_FPS) or 0.0)
        # Containers without a rate report 0 (or nonsense): then pacing needs an explicit fps.
        self.file_fps: float | None = file_fps if 0 < file_fps < 1000 else None
        if pace and fps is None and self.file_fps is None:
            self._cap.release()
            raise FrameSourceConfigError(
                f'video file {self.path} has no usable frame rate ({file_fps}); pass fps=... '
                'or pace=False'
            )
        self.fps: float | None = (fps or self.file_fps) if pace else None
        self._pacer = Pacer(self.fps, now, sleep)
        self._loop = loop
        self._timeout_s = float(timeout_s)
        self._now = now
        self._sequence = 0
        self._in_pass = 0  # frames delivered since the file was (re)opened
        self._closed = False

    def _open(self) -> Any:
        cap = self._cv2.VideoCapture(str(self.path), self._cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise FrameSourceConfigError(
                f'OpenCV cannot decode video file {self.path}; check that it is a video '
                '(ffprobe it) and that OpenCV was built with FFmpeg'
            )
        return cap

    @property
    def slots(self) -> tuple[str, ...]:
        return (self._slot,)

    @property
    def frames_read(self) -> int:
        """Frames delivered so far (all passes of a loop)."""
        return self._sequence

    def read(self) -> list[Frame]:
        """The next frame, once due.

        Raises:
            FrameSourceClosedError: the source was closed.
            FrameSourceTimeoutError: the next frame is due later than ``timeout_s``.
            EndOfStreamError: the last frame was delivered and ``loop`` is off.
            FrameSourceReadError: the file has no decodable frame (when looping).
        """
        if self._closed:
            raise FrameSourceClosedError(f'video source {self.path} is closed')
        self._pacer.wait(self._timeout_s)
        ok, image = self._cap.read()
        if not ok:
            if not self._loop or self._in_pass == 0:
                if self._loop:
                    raise FrameSourceReadError(f'video file {self.path} has no decodable frame')
                raise EndOfStreamError(
                    f'video file {self.path} ended after {self._sequence} frame(s)'
                )
            # Reopen rather than seek to 0: seeking is inexact for some codecs/containers.
            self._cap.release()
            self._cap = self._open()
            self._in_pass = 0
            ok, image = self._cap.read()
            if not ok:
                raise FrameSourceReadError(f'video file {self.path} could not be read again')
        frame = Frame(self._slot, bgr_to_rgb(self._cv2, image), float(self._now()), self._sequence)
        self._sequence += 1
        self._in_pass += 1
        return [frame]

    def close(self) -> None:
        """Release the file. Idempotent."""
        if not self._closed:
            self._closed = True
            self._cap.release()


class ImageFolderFrameSource(SourceBase):
    """The png/jpg images of one folder, in natural name order (frame_2 before frame_10), as
    frames of one slot.

    Args:
        folder: the folder; only its files ending in .png, .jpg or .jpeg (any case) are used.
        slot: the camera slot the frames are for.
        loop: restart at the first image after the last one instead of ending.
        pace: release images at ``fps`` (True) or as fast as ``read()`` is called (False).
        fps: pacing rate, frames per second.
        timeout_s: the longest ``read()`` blocks waiting for a paced frame, seconds.
        now: the clock frames are stamped with, seconds (the executor's time base).
        sleep: how to sleep a number of seconds (injected with ``now`` in tests).

    Raises:
        FrameSourceConfigError: the folder is missing or holds no such image.
        ImportError: OpenCV is not installed.
    """

    def __init__(
        self,
        folder: str | Path,
        slot: str = 'top',
        *,
        loop: bool = False,
        pace: bool = True,
        fps: float = 30.0,
        timeout_s: float = 1.0,
        now: Now = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self._slot = check_slot(slot)
        check_positive('fps', fps)
        check_positive('timeout_s', timeout_s)
        self._cv2 = import_cv2()
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FrameSourceConfigError(f'image folder {self.folder} does not exist')
        self.files: tuple[Path, ...] = tuple(
            sorted(
                (
                    p
                    for p in self.folder.iterdir()
                    if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                ),
                key=_natural_key,
            )
        )
        if not self.files:
            raise FrameSourceConfigError(
                f'image folder {self.folder} holds no {"/".join(IMAGE_SUFFIXES)} file'
            )
        self.fps: float | None = float(fps) if pace else None
        self._pacer = Pacer(self.fps, now, sleep)
        self._loop = loop
        self._timeout_s = float(timeout_s)
        self._now = now
        self._index = 0
        self._sequence = 0
        self._closed = False

    @property
    def slots(self) -> tuple[str, ...]:
        return (self._slot,)

    @property
    def frames_read(self) -> int:
        """Frames delivered so far (all passes of a loop)."""
        return self._sequence

    def read(self) -> list[Frame]:
        """The next image, once due.

        Raises:
            FrameSourceClosedError: the source was closed.
            FrameSourceTimeoutError: the next frame is due later than ``timeout_s``.
            EndOfStreamError: the last image was delivered and ``loop`` is off.
            FrameSourceReadError: this image cannot be decoded (named); the next read moves on.
        """
        if self._closed:
            raise FrameSourceClosedError(f'image folder source {self.folder} is closed')
        if self._index >= len(self.files):
            if not self._loop:
                raise EndOfStreamError(
                    f'image folder {self.folder} ended after {len(self.files)} image(s)'
                )
            self._index = 0
        self._pacer.wait(self._timeout_s)
        path = self.files[self._index]
        self._index += 1
        image = self._cv2.imread(str(path), self._cv2.IMREAD_UNCHANGED)
        if image is None:
            raise FrameSourceReadError(
                f'cannot decode image {path} (deleted, truncated or not a png/jpg); skipped'
            )
        rgb = bgr_to_rgb(self._cv2, image if image.dtype == np.uint8 else _to_uint8(image))
        frame = Frame(self._slot, rgb, float(self._now()), self._sequence)
        self._sequence += 1
        return [frame]

    def close(self) -> None:
        """Idempotent; the folder holds no open handle between reads."""
        self._closed = True


def _to_uint8(image: np.ndarray) -> np.ndarray:
    # 16-bit PNGs (depth-camera style exports): keep the top 8 bits.
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    raise FrameSourceReadError(f'unsupported image dtype {image.dtype}; use 8- or 16-bit images')
