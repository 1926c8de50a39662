"""A USB camera (or anything ``cv2.VideoCapture`` opens) as a single-slot frame source that
survives the camera disappearing.

The camera is named by index (0 -> /dev/video0) or, better, by a stable path such as
``/dev/v4l/by-id/usb-...-video-index0`` (indices change with plug order). The requested size,
rate and FOURCC (``'MJPG'`` lets most USB2 cameras reach 30 fps at 640x480 and above) are set
after opening; what the driver actually negotiated is reported in :attr:`status`.

Outages: when opening fails or a read returns no frame (unplugged cable, USB reset, a stalled
driver), the device is released, an event is reported (``on_event`` callback, :attr:`status`
counters and last error, :attr:`recent_events`) and reopening is retried with exponential
back-off (:class:`~smolvla_ros.frames.source.Backoff`, bounded by ``max_s``). ``read()`` during
the outage raises :class:`FrameSourceUnavailableError` at once, naming the device and when the
next attempt is due; the first ``read()`` at or after that time tries to reopen, so the source
recovers by itself as long as someone keeps reading (a :class:`FramePump` does). Nothing here
raises out of the source except the documented :class:`FrameSourceError` subclasses.

Frames are stamped with ``now()`` when ``read()`` gets them from the driver, which is about one
frame period after exposure for a USB camera (driver buffering set to ``buffer_size`` frames).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smolvla_ros.frames.errors import (
    FrameSourceClosedError,
    FrameSourceConfigError,
    FrameSourceError,
    FrameSourceUnavailableError,
)
from smolvla_ros.frames.files import bgr_to_rgb
from smolvla_ros.frames.frame import Frame
from smolvla_ros.frames.source import (
    Backoff,
    Now,
    SourceBase,
    check_positive,
    check_slot,
    import_cv2,
)

logger = logging.getLogger(__name__)

# Event kinds, in the order a typical outage produces them.
EVENT_OPENED = 'opened'
EVENT_OPEN_FAILED = 'open_failed'
EVENT_READ_FAILED = 'read_failed'
EVENT_REOPENED = 'reopened'
EVENT_CLOSED = 'closed'


@dataclass(frozen=True)
class CameraEvent:
    """Something that happened to a camera's connection.

    Attributes:
        kind: 'opened', 'open_failed', 'read_failed', 'reopened' or 'closed'.
        device: the device as configured (index or path).
        time_s: when it happened, on the source's clock, seconds.
        reason: a human-readable detail (the error, or the negotiated settings).
        consecutive_failures: failures since the last good frame (0 on success).
        retry_at_s: when the next reopen attempt is due (failures only), seconds.
    """

    kind: str
    device: str
    time_s: float
    reason: str
    consecutive_failures: int = 0
    retry_at_s: float | None = None


@dataclass(frozen=True)
class CameraStatus:
    """A snapshot of a camera source's health (readable from any thread without waiting for a
    read in progress; counters are plain ints updated by the reading thread).

    Attributes:
        device: the device as configured.
        state: 'open', 'unavailable' (waiting to reopen) or 'closed'.
        frames: frames delivered.
        read_failures: reads that returned no frame.
        open_failures: open attempts that failed.
        reopens: successful opens after an outage.
        consecutive_failures: failures since the last good frame.
        last_error: the most recent failure's reason, or None.
        last_error_time_s: when it happened, seconds on the source's clock.
        retry_at_s: when the next reopen attempt is due while unavailable, else None.
        width, height, fps, fourcc: what the driver negotiated at the last open (None before).
    """

    device: str
    state: str
    frames: int
    read_failures: int
    open_failures: int
    reopens: int
    consecutive_failures: int
    last_error: str | None
    last_error_time_s: float | None
    retry_at_s: float | None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    fourcc: str | None = None


def _fourcc_text(code: float) -> str | None:
    value = int(code)
    if value <= 0:
        return None
    text = ''.join(chr((value >> (8 * i)) & 0xFF) for i in range(4))
    return text if text.isprintable() else None


class OpenCVFrameSource(SourceBase):
    """One camera (device index or path) for one slot, reopened with back-off when it is lost.

    Args:
        device: a device index (0 for /dev/video0) or a path (/dev/v4l/by-id/..., or a video
            file, which VideoCapture also opens).
        slot: the camera slot the frames are for.
        width, height: requested frame size, pixels (None: the driver's default).
        fps: requested frame rate (None: the driver's default).
        fourcc: requested pixel format, four characters such as 'MJPG' or 'YUYV' (None: default).
        buffer_size: frames the driver may queue; 1 keeps frames fresh (best effort: not every
            backend supports it).
        timeout_s: the longest a driver read may block, seconds (best effort: set as
            CAP_PROP_READ_TIMEOUT_MSEC where the backend supports it).
        backoff: reopen schedule after failures.
        api_preference: an OpenCV ``cv2.CAP_*`` backend (None: let OpenCV choose).
        now: the clock frames and events are stamped with, seconds (the executor's time base).
        on_event: called with each :class:`CameraEvent` on the reading thread; exceptions it
            raises are logged and counted, never propagated.

    Raises:
        FrameSourceConfigError: an impossible setting (nothing is opened). A camera that is
            absent at start is not an error: the source starts unavailable and keeps retrying.
        ImportError: OpenCV is not installed.
    """

    def __init__(
        self,
        device: int | str | Path,
        slot: str = 'top',
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        fourcc: str | None = None,
        buffer_size: int | None = 1,
        timeout_s: float = 1.0,
        backoff: Backoff | None = None,
        api_preference: int | None = None,
        now: Now = time.monotonic,
        on_event: Callable[[CameraEvent], None] | None = None,
    ) -> None:
        self._slot = check_slot(slot)
        if isinstance(device, bool) or not isinstance(device, (int, str, Path)):
            raise FrameSourceConfigError(
                f'camera device must be an index (int) or a path, got {device!r}'
            )
        if isinstance(device, int) and device < 0:
            raise FrameSourceConfigError(f'camera index must be >= 0, got {device}')
        if isinstance(device, (str, Path)) and not str(device):
            raise FrameSourceConfigError('camera device path is empty')
        for name, value in (('width', width), ('height', height), ('buffer_size', buffer_size)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value <= 0
            ):
                raise FrameSourceConfigError(f'{name} must be a positive int, got {value!r}')
        check_positive('fps', fps, allow_none=True)
        check_positive('timeout_s', timeout_s)
        if fourcc is not None and (
            not isinstance(fourcc, str) or len(fourcc) != 4 or not fourcc.isascii()
        ):
            raise FrameSourceConfigError(
                f"fourcc must be four ASCII characters such as 'MJPG' or 'YUYV', got {fourcc!r}"
            )
        self._cv2 = import_cv2()
        self._device = device if isinstance(device, int) else str(device)
        self.device_name = f'index {device}' if isinstance(device, int) else str(device)
        self._width, self._height, self._fps, self._fourcc = width, height, fps, fourcc
        self._buffer_size = buffer_size
        self._timeout_s = float(timeout_s)
        self._backoff = backoff or Backoff()
        self._api = self._cv2.CAP_ANY if api_preference is None else int(api_preference)
        self._now = now
        self._on_event = on_event

        # read() and close() hold this lock: VideoCapture is not safe to release mid-read.
        self._lock = threading.Lock()
        self._cap: Any = None
        self._closed = False
        self._ever_opened = False
        self._sequence = 0
        self._read_failures = 0
        self._open_failures = 0
        self._reopens = 0
        self._consecutive = 0
        self._last_error: str | None = None
        self._last_error_time: float | None = None
        self._retry_at: float | None = None
        self._negotiated: tuple[int | None, int | None, float | None, str | None] = (
            None,
            None,
            None,
            None,
        )
        self.callback_errors = 0
        self._events: deque[CameraEvent] = deque(maxlen=64)
        with self._lock:
            self._try_open()

    # ---------------------------------------------------------------- public
    @property
    def slots(self) -> tuple[str, ...]:
        return (self._slot,)

    @property
    def status(self) -> CameraStatus:
        """The source's health now: state, counters, last error, retry time, settings."""
        state = 'closed' if self._closed else ('open' if self._cap is not None else 'unavailable')
        width, height, fps, fourcc = self._negotiated
        return CameraStatus(
            device=self.device_name,
            state=state,
            frames=self._sequence,
            read_failures=self._read_failures,
            open_failures=self._open_failures,
            reopens=self._reopens,
            consecutive_failures=self._consecutive,
            last_error=self._last_error,
            last_error_time_s=self._last_error_time,
            retry_at_s=self._retry_at if state == 'unavailable' else None,
            width=width,
            height=height,
            fps=fps,
            fourcc=fourcc,
        )

    @property
    def recent_events(self) -> tuple[CameraEvent, ...]:
        """The last 64 connection events, oldest first."""
        return tuple(self._events)

    def read(self) -> list[Frame]:
        """The camera's next frame, stamped with ``now()`` when the driver returned it.

        Raises:
            FrameSourceClosedError: the source was closed.
            FrameSourceUnavailableError: the camera is lost and the next reopen attempt is not
                due yet, or this read/reopen just failed; names the device and the retry time.
        """
        with self._lock:
            if self._closed:
                raise FrameSourceClosedError(f'camera {self.device_name} source is closed')
            if self._cap is None:
                t = self._now()
                assert self._retry_at is not None  # unavailable always has a retry time
                if t < self._retry_at:
                    raise self._unavailable(t)
                if not self._try_open():
                    raise self._unavailable(self._now())
            try:
                ok, image = self._cap.read()
            except Exception as e:  # cv2.error from a driver failure: an outage, not a crash
                ok, image = False, None
                detail = f'read raised {type(e).__name__}: {e}'
            else:
                detail = 'read returned no frame (unplugged, USB reset or stalled driver)'
            t = float(self._now())
            if not ok or image is None:
                self._read_failures += 1
                self._fail(EVENT_READ_FAILED, detail, t)
                raise self._unavailable(t)
            try:
                rgb = bgr_to_rgb(self._cv2, image)
            except FrameSourceError as e:
                self._read_failures += 1
                self._fail(EVENT_READ_FAILED, f'unusable frame: {e}', t)
                raise self._unavailable(t) from e
            frame = Frame(self._slot, rgb, t, self._sequence)
            self._sequence += 1
            self._consecutive = 0
            return [frame]

    def close(self) -> None:
        """Release the camera (waits for a read in progress). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._release()
            self._retry_at = None
            self._emit(CameraEvent(EVENT_CLOSED, self.device_name, float(self._now()), 'closed'))

    # ---------------------------------------------------------------- internals
    def _try_open(self) -> bool:
        """Open and configure the device; on failure record it and schedule a retry."""
        cv2 = self._cv2
        t = float(self._now())
        try:
            cap = cv2.VideoCapture(self._device, self._api)
            opened = bool(cap.isOpened())
        except Exception as e:  # cv2.error for a malformed pipeline or a driver fault
            cap, opened = None, False
            reason = f'open raised {type(e).__name__}: {e}'
        else:
            reason = 'VideoCapture could not open it (missing, busy or not a camera)'
        if not opened:
            if cap is not None:
                cap.release()
            self._open_failures += 1
            self._fail(EVENT_OPEN_FAILED, reason, t)
            return False
        # FOURCC before size and rate: the format decides which sizes/rates a UVC camera offers.
        if self._fourcc is not None:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*self._fourcc))
        if self._width is not None:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self._width)
        if self._height is not None:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self._height)
        if self._fps is not None:
            cap.set(cv2.CAP_PROP_FPS, self._fps)
        if self._buffer_size is not None:
            cap.set(cv2.CAP_PROP_BUFFERSIZE, self._buffer_size)
        cap.set(cv2.CAP_PROP_READ_TIMEOUT_MSEC, self._timeout_s * 1000.0)
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) or None
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) or None
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or None
        fourcc = _fourcc_text(cap.get(cv2.CAP_PROP_FOURCC))
        self._negotiated = (width, height, fps, fourcc)
        self._cap = cap
        self._retry_at = None
        detail = f'{width}x{height} @ {fps} fps, {fourcc}'
        mismatch = [
            f'{name} {want} (got {got})'
            for name, want, got in (
                ('width', self._width, width),
                ('height', self._height, height),
                ('fourcc', self._fourcc, fourcc),
            )
            if want is not None and want != got
        ]
        if self._fps is not None and (fps is None or abs(fps - self._fps) > 0.5):
            mismatch.append(f'fps {self._fps} (got {fps})')
        if mismatch:
            detail += '; the driver did not grant ' + ', '.join(mismatch)
            logger.warning('camera %s: %s', self.device_name, detail)
        kind = EVENT_REOPENED if self._ever_opened else EVENT_OPENED
        if kind == EVENT_REOPENED:
            self._reopens += 1
        self._ever_opened = True
        self._emit(CameraEvent(kind, self.device_name, t, detail, self._consecutive))
        return True

    def _fail(self, kind: str, reason: str, t: float) -> None:
        self._release()
        self._consecutive += 1
        self._last_error = reason
        self._last_error_time = t
        self._retry_at = t + self._backoff.delay_s(self._consecutive)
        # Warn at the start of an outage and every 10th failure, so a camera left unplugged
        # does not flood the log; the rest go to debug (status/events have them all).
        log = logger.warning if self._consecutive % 10 == 1 else logger.debug
        log(
            'camera %s: %s; retry in %.3f s (failure %d)',
            self.device_name,
            reason,
            self._retry_at - t,
            self._consecutive,
        )
        self._emit(
            CameraEvent(kind, self.device_name, t, reason, self._consecutive, self._retry_at)
        )

    def _unavailable(self, t: float) -> FrameSourceUnavailableError:
        assert self._retry_at is not None
        return FrameSourceUnavailableError(
            self.device_name,
            self._last_error or 'not open',
            self._retry_at,
            max(0.0, self._retry_at - t),
        )

    def _release(self) -> None:
        if self._cap is not None:
            try:
                self._cap.release()
            except Exception:  # a driver error on release must not hide the outage itself
                logger.exception('camera %s: release failed', self.device_name)
            self._cap = None

    def _emit(self, event: CameraEvent) -> None:
        self._events.append(event)
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            self.callback_errors += 1
            logger.exception('camera %s: on_event callback raised', self.device_name)
