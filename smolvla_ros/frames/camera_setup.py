"""One configured camera: which frame source a setting names, a source that waits for a file or
folder to appear, and the camera's health as a diagnostic level. ROS-free; the camera node
(``smolvla_ros.nodes.camera_node``) reads its parameters into :class:`CameraSourceConfig` and
calls these.

    config = CameraSourceConfig(source='/data/run3.mp4', slot='top', loop=True)
    source = open_camera_source(config, now=clock_seconds)   # never raises for a missing path
    health = camera_health(source_status(source), pump.status, now_s=clock_seconds())

Source types (``source_type='auto'`` picks one from ``source``):

- ``device``: a camera index ('0') or a device path (/dev/video0, /dev/v4l/by-id/...), read by
  :class:`~smolvla_ros.frames.opencv_source.OpenCVFrameSource`, which reopens it with back-off.
- ``video``: a video file (:class:`~smolvla_ros.frames.files.VideoFileFrameSource`).
- ``folder``: a folder of png/jpg images
  (:class:`~smolvla_ros.frames.files.ImageFolderFrameSource`).

A video file or folder that does not exist yet (or an empty folder) is not fatal either: it is
wrapped in :class:`ReopeningSource`, which retries creating the source with the same back-off
as a lost camera, so a replay starts by itself once the file appears.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from smolvla_ros.frames.errors import (
    FrameSourceClosedError,
    FrameSourceConfigError,
    FrameSourceUnavailableError,
)
from smolvla_ros.frames.files import ImageFolderFrameSource, VideoFileFrameSource
from smolvla_ros.frames.frame import Frame
from smolvla_ros.frames.opencv_source import CameraStatus, OpenCVFrameSource
from smolvla_ros.frames.pump import PumpStatus
from smolvla_ros.frames.source import (
    Backoff,
    FrameSource,
    Now,
    SourceBase,
    check_positive,
    check_slot,
)

SOURCE_TYPES: tuple[str, ...] = ('auto', 'device', 'video', 'folder')

# Diagnostic levels (diagnostic_msgs/DiagnosticStatus values, kept here as ints: cores import
# no message package).
OK, WARN, ERROR = 0, 1, 2


@dataclass(frozen=True)
class CameraSourceConfig:
    """What one camera node reads, validated on construction.

    Attributes:
        source: a device index ('0'), a device path, a video file or an image folder.
        source_type: 'auto', 'device', 'video' or 'folder' (see :func:`resolve_source_type`).
        slot: the camera role ('top', 'wrist', 'side', ...); part of the topic names.
        width, height: requested device frame size, pixels; 0 = the driver's default.
        fps: device: requested rate; replay: pacing rate (0 = the video file's own rate, or 30
            for a folder), frames per second.
        fourcc: requested device pixel format ('MJPG', 'YUYV'), '' = the driver's default.
        loop: replays restart after the last frame instead of ending.
        pace: replays are released at ``fps`` (True) or as fast as they are read (False).
        timeout_s: the longest one read may block, seconds.
        backoff_initial_s, backoff_max_s: reopen back-off after a failure, seconds
            (doubling from initial to max).

    Raises:
        FrameSourceConfigError: an impossible setting, named.
    """

    source: str
    source_type: str = 'auto'
    slot: str = 'top'
    width: int = 0
    height: int = 0
    fps: float = 0.0
    fourcc: str = ''
    loop: bool = False
    pace: bool = True
    timeout_s: float = 1.0
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 5.0

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source.strip():
            raise FrameSourceConfigError(
                'camera source is empty: give a device index (0), a device path, a video file '
                'or an image folder'
            )
        if self.source_type not in SOURCE_TYPES:
            raise FrameSourceConfigError(
                f'source_type {self.source_type!r} is not one of {SOURCE_TYPES}'
            )
        check_slot(self.slot)
        for name in ('width', 'height'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise FrameSourceConfigError(
                    f'{name} must be an int >= 0 (0 = default), got {value!r}'
                )
        if not (isinstance(self.fps, (int, float)) and self.fps >= 0):
            raise FrameSourceConfigError(f'fps must be >= 0 (0 = default), got {self.fps!r}')
        if self.fourcc and (len(self.fourcc) != 4 or not self.fourcc.isascii()):
            raise FrameSourceConfigError(
                f"fourcc must be four ASCII characters such as 'MJPG' or '' for the default, "
                f'got {self.fourcc!r}'
            )
        check_positive('timeout_s', self.timeout_s)
        self.backoff()  # validates the back-off pair

    def backoff(self) -> Backoff:
        """The reopen schedule of this camera."""
        return Backoff(initial_s=self.backoff_initial_s, max_s=self.backoff_max_s)

    @property
    def kind(self) -> str:
        """The resolved source type: 'device', 'video' or 'folder'."""
        return resolve_source_type(self.source, self.source_type)


def resolve_source_type(source: str, source_type: str = 'auto') -> str:
    """'device', 'video' or 'folder' for a source string.

    An explicit type wins. ``auto``: digits -> device index; a path under /dev -> device; an
    existing folder -> folder; an existing file -> video. A path that does not exist yet: with
    a file suffix (run.mp4) -> video, without one -> folder, so the node waits for it to appear.

    Raises:
        FrameSourceConfigError: ``source_type`` is not one of SOURCE_TYPES.
    """
    if source_type not in SOURCE_TYPES:
        raise FrameSourceConfigError(f'source_type {source_type!r} is not one of {SOURCE_TYPES}')
    if source_type != 'auto':
        return source_type
    text = source.strip()
    if text.isdigit() or text.startswith('/dev/'):
        return 'device'
    path = Path(text).expanduser()
    if path.is_dir():
        return 'folder'
    if path.exists():
        return 'video'
    return 'video' if path.suffix else 'folder'


def open_camera_source(config: CameraSourceConfig, now: Now = time.monotonic) -> FrameSource:
    """The frame source ``config`` names, stamped on ``now``; it opens nothing that fails.

    A missing device starts unavailable and is retried (OpenCVFrameSource); a missing video
    file or folder is retried by a :class:`ReopeningSource`. Neither raises here.

    Raises:
        FrameSourceConfigError: only for impossible settings (already refused by the config).
        ImportError: OpenCV is not installed.
    """
    kind = config.kind
    backoff = config.backoff()
    if kind == 'device':
        text = config.source.strip()
        device: int | str = int(text) if text.isdigit() else text
        return OpenCVFrameSource(
            device,
            config.slot,
            width=config.width or None,
            height=config.height or None,
            fps=config.fps or None,
            fourcc=config.fourcc or None,
            timeout_s=config.timeout_s,
            backoff=backoff,
            now=now,
        )
    path = Path(config.source.strip()).expanduser()
    if kind == 'video':

        def factory() -> FrameSource:
            return VideoFileFrameSource(
                path,
                config.slot,
                loop=config.loop,
                pace=config.pace,
                fps=config.fps or None,
                timeout_s=config.timeout_s,
                now=now,
            )

    else:

        def factory() -> FrameSource:
            return ImageFolderFrameSource(
                path,
                config.slot,
                loop=config.loop,
                pace=config.pace,
                fps=config.fps or 30.0,
                timeout_s=config.timeout_s,
                now=now,
            )

    return ReopeningSource(factory, config.slot, str(path), backoff=backoff, now=now)


class ReopeningSource(SourceBase):
    """A source created on demand by ``factory``, retried with back-off while it cannot be.

    Used for replays whose file or folder may not exist yet: while ``factory()`` raises
    :class:`FrameSourceConfigError` (missing file, empty folder, undecodable video), ``read()``
    raises :class:`FrameSourceUnavailableError` naming the path, the reason and when the next
    attempt is due (a FramePump waits exactly that long). Once created, reads go to the inner
    source (its end of stream, timeouts and read errors pass through unchanged).

    Args:
        factory: builds the inner source; must raise FrameSourceConfigError when not possible.
        slot: the slot the inner source delivers.
        name: what it opens (a path), for messages and :attr:`status`.
        backoff: the retry schedule.
        now: the clock of the retry times, seconds.

    Raises:
        FrameSourceConfigError: an invalid slot.
    """

    def __init__(
        self,
        factory: Callable[[], FrameSource],
        slot: str,
        name: str,
        *,
        backoff: Backoff | None = None,
        now: Now = time.monotonic,
    ) -> None:
        self._factory = factory
        self._slot = check_slot(slot)
        self.name = name
        self._backoff = backoff or Backoff()
        self._now = now
        self._lock = threading.Lock()
        self._inner: FrameSource | None = None
        self._closed = False
        self._failures = 0  # consecutive failed attempts to create the source
        self._open_failures = 0
        self._frames = 0
        self._last_error: str | None = None
        self._last_error_time: float | None = None
        self._retry_at: float | None = None
        with self._lock:
            self._try_create()

    @property
    def slots(self) -> tuple[str, ...]:
        return (self._slot,)

    @property
    def status(self) -> CameraStatus:
        """State ('open', 'unavailable', 'closed'), failures, last error and retry time."""
        state = 'open' if self._inner is not None else 'unavailable'
        state = 'closed' if self._closed else state
        return CameraStatus(
            device=self.name,
            state=state,
            frames=self._frames,
            read_failures=0,
            open_failures=self._open_failures,
            reopens=0,
            consecutive_failures=self._failures,
            last_error=self._last_error,
            last_error_time_s=self._last_error_time,
            retry_at_s=self._retry_at if state == 'unavailable' else None,
        )

    def read(self) -> list[Frame]:
        """The inner source's next frame(s), creating it first when the retry is due.

        Raises:
            FrameSourceClosedError: closed.
            FrameSourceUnavailableError: the source cannot be created yet (names path, reason,
                retry time).
            FrameSourceError: whatever the inner source raises.
        """
        with self._lock:
            if self._closed:
                raise FrameSourceClosedError(f'source {self.name} is closed')
            if self._inner is None:
                t = float(self._now())
                assert self._retry_at is not None
                if t < self._retry_at or not self._try_create():
                    return self._raise_unavailable()
            inner = self._inner
        frames = inner.read()  # outside the lock: a paced read may block up to its timeout
        self._frames += len(frames)
        return frames

    def _raise_unavailable(self) -> list[Frame]:
        assert self._retry_at is not None
        t = float(self._now())
        raise FrameSourceUnavailableError(
            self.name, self._last_error or 'not open', self._retry_at, max(0.0, self._retry_at - t)
        )

    def _try_create(self) -> bool:
        t = float(self._now())
        try:
            self._inner = self._factory()
        except FrameSourceConfigError as e:
            self._failures += 1
            self._open_failures += 1
            self._last_error = str(e)
            self._last_error_time = t
            self._retry_at = t + self._backoff.delay_s(self._failures)
            return False
        self._failures = 0
        self._retry_at = None
        return True

    def close(self) -> None:
        """Close the inner source (if created). Idempotent."""
        with self._lock:
            self._closed = True
            inner, self._inner = self._inner, None
        if inner is not None:
            inner.close()


def source_status(source: FrameSource) -> CameraStatus | None:
    """The connection status of a device or reopening source; None for a plain replay."""
    status = getattr(source, 'status', None)
    return status if isinstance(status, CameraStatus) else None


@dataclass(frozen=True)
class CameraHealth:
    """A camera's health for a diagnostic: level (OK/WARN/ERROR), a message, key values."""

    level: int
    message: str
    values: dict[str, object]


def camera_health(
    camera: CameraStatus | None,
    pump: PumpStatus,
    now_s: float,
    stale_after_s: float = 2.0,
) -> CameraHealth:
    """Judge a camera from its source status and its pump's counters.

    ERROR: the device/file is unavailable (being retried) or the pump thread died. WARN: a
    non-looping replay has ended, or no frame for ``stale_after_s`` seconds although the source
    is open, or the last frame failed in the sink. OK otherwise (frames flowing, or the first
    frame still to come within ``stale_after_s`` of start: ``pump.last_frame_time_s`` None).

    Args:
        camera: the source's status (None for sources without one).
        pump: the pump's status.
        now_s: the current time on the clock the frames are stamped with, seconds.
        stale_after_s: how long without a frame is a warning, seconds.
    """
    values: dict[str, object] = {
        'state': camera.state if camera is not None else ('finished' if pump.finished else 'open'),
        'frames': pump.frames,
        'read_errors': pump.read_errors,
        'timeouts': pump.timeouts,
        'sink_errors': pump.sink_errors,
        'last_error': pump.last_error or '',
    }
    if camera is not None:
        retry_in = 0.0 if camera.retry_at_s is None else max(0.0, camera.retry_at_s - now_s)
        values.update(
            device=camera.device,
            consecutive_failures=camera.consecutive_failures,
            open_failures=camera.open_failures,
            read_failures=camera.read_failures,
            reopens=camera.reopens,
            retry_in_s=None if camera.retry_at_s is None else round(retry_in, 3),
        )
        if camera.last_error:
            values['last_error'] = camera.last_error
    age = None if pump.last_frame_time_s is None else now_s - pump.last_frame_time_s
    values['last_frame_age_s'] = None if age is None else round(age, 3)
    if camera is not None and camera.state == 'unavailable':
        retry = values['retry_in_s']
        return CameraHealth(
            ERROR,
            f'camera {camera.device} unavailable ({camera.last_error}); retrying in {retry} s '
            f'(failure {camera.consecutive_failures})',
            values,
        )
    if pump.finished:
        return CameraHealth(WARN, 'replay finished: no more frames (set loop to repeat)', values)
    if not pump.running:
        return CameraHealth(ERROR, 'the frame reading thread is not running', values)
    if age is not None and age > stale_after_s:
        return CameraHealth(WARN, f'no frame for {age:.1f} s', values)
    if pump.sink_errors and pump.last_error and age is None:
        return CameraHealth(WARN, f'frames could not be published: {pump.last_error}', values)
    return CameraHealth(OK, 'streaming' if pump.frames else 'waiting for the first frame', values)
