"""The ``FrameSource`` protocol every camera-like input implements, and what sources share.

A frame source owns one or more camera slots ('top', 'wrist', 'side', ...) and hands out
:class:`~smolvla_ros.frames.frame.Frame` objects stamped on an injected clock (``now``, default
``time.monotonic``) so frames share the executor's time base. Implementations:

- :class:`~smolvla_ros.frames.sim_source.SimFrameSource`: the MuJoCo simulator's cameras.
- :class:`~smolvla_ros.frames.opencv_source.OpenCVFrameSource`: a USB camera (index or path),
  reopened with back-off when it disappears.
- :class:`~smolvla_ros.frames.files.VideoFileFrameSource` and
  :class:`~smolvla_ros.frames.files.ImageFolderFrameSource`: replay, paced or as fast as asked.
- :class:`~smolvla_ros.frames.multi.MultiSource`: several sources as one set of slots.

:class:`~smolvla_ros.frames.pump.FramePump` reads a source on its own thread and hands each
frame to a sink (the policy worker's frame store).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType, TracebackType
from typing import Any, Protocol, runtime_checkable

from smolvla_ros.frames.errors import FrameSourceConfigError, FrameSourceTimeoutError
from smolvla_ros.frames.frame import Frame

# Slots become parts of ROS topic names (/smolvla/cameras/<slot>/image_raw) and config keys, so
# they follow ROS name-token rules: a letter, then letters, digits or underscores.
_SLOT_RE = re.compile(r'[A-Za-z][A-Za-z0-9_]*\Z')

Now = Callable[[], float]
Sleep = Callable[[float], None]


@runtime_checkable
class FrameSource(Protocol):
    """Something that yields timestamped RGB frames for a fixed set of camera slots.

    ``read()`` returns the next frame(s), blocking at most the source's timeout; a frame's
    ``capture_time_s`` is on the clock the source was given (``now``). ``close()`` is
    idempotent and the source is a context manager.
    """

    @property
    def slots(self) -> tuple[str, ...]:
        """The camera slots this source delivers frames for, in a fixed order."""
        ...

    def read(self) -> list[Frame]:
        """The next frame(s): at most one per slot, in ``slots`` order.

        Raises:
            FrameSourceError: a subclass naming what failed (timeout, device unavailable,
                end of stream, closed, unreadable frame).
        """
        ...

    def close(self) -> None:
        """Release the device/file/renderer. Idempotent."""
        ...

    def __enter__(self) -> FrameSource: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class SourceBase:
    """Context-manager plumbing shared by the concrete sources (``close()`` on exit)."""

    def close(self) -> None:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def check_slot(slot: object) -> str:
    """Return ``slot`` if it is a valid slot name ('top', 'wrist', 'side', or another name
    made of a letter then letters, digits and underscores).

    Raises:
        FrameSourceConfigError: it is not.
    """
    if not isinstance(slot, str) or not _SLOT_RE.match(slot):
        raise FrameSourceConfigError(
            f'invalid camera slot {slot!r}: use a name like top, wrist or side (a letter, then '
            'letters, digits or underscores; it becomes part of a topic name)'
        )
    return slot


def check_positive(name: str, value: float | None, *, allow_none: bool = False) -> None:
    """Raise FrameSourceConfigError unless ``value`` is finite and > 0 (or None if allowed)."""
    if value is None and allow_none:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise FrameSourceConfigError(f'{name} must be a finite number > 0, got {value!r}')


def import_cv2() -> ModuleType:
    """Import OpenCV, or explain how to install it.

    Raises:
        ImportError: OpenCV is missing; the message names the extra to install.
    """
    try:
        import cv2
    except ImportError as e:
        raise ImportError(
            'OpenCV is needed for camera, video and image-folder sources: '
            "pip install '.[camera]' (or pip install opencv-python-headless)"
        ) from e
    return cv2


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off between reopen attempts of a lost device.

    Attempt n (1-based count of consecutive failures) waits
    ``min(initial_s * factor ** (n - 1), max_s)`` seconds.

    Attributes:
        initial_s: wait after the first failure, seconds. 0.1 s: an unplug/replug or a USB
            reset takes longer, so retrying sooner only burns CPU.
        factor: growth per consecutive failure (>= 1).
        max_s: the longest wait, seconds; it bounds how late a returning camera is noticed.
    """

    initial_s: float = 0.1
    factor: float = 2.0
    max_s: float = 5.0

    def __post_init__(self) -> None:
        check_positive('Backoff.initial_s', self.initial_s)
        check_positive('Backoff.max_s', self.max_s)
        if not (math.isfinite(self.factor) and self.factor >= 1.0):
            raise FrameSourceConfigError(f'Backoff.factor must be >= 1, got {self.factor!r}')
        if self.max_s < self.initial_s:
            raise FrameSourceConfigError(
                f'Backoff.max_s ({self.max_s}) must be >= initial_s ({self.initial_s})'
            )

    def delay_s(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failures (>= 1)."""
        if failures < 1:
            raise ValueError(f'failures must be >= 1, got {failures}')
        # Cap the exponent first: factor ** failures overflows a float after ~1000 failures.
        exponent = min(failures - 1, 1000)
        try:
            delay = self.initial_s * self.factor**exponent
        except OverflowError:
            delay = self.max_s
        return min(delay, self.max_s)


class Pacer:
    """Releases frames at ``fps`` on absolute deadlines (frame n is due at t0 + n / fps), or
    at once when ``fps`` is None (as fast as the reader asks).

    A reader more than one period late re-anchors the schedule at the current time instead of
    bursting the missed frames out back to back (a camera would not have buffered them).

    Args:
        fps: frames per second, or None for no pacing.
        now: the clock deadlines are on, seconds.
        sleep: sleeps a number of seconds (injected with ``now`` in tests).
    """

    def __init__(self, fps: float | None, now: Now, sleep: Sleep) -> None:
        check_positive('fps', fps, allow_none=True)
        self._period = None if fps is None else 1.0 / float(fps)
        self._now = now
        self._sleep = sleep
        self._t0: float | None = None
        self._n = 0

    def wait(self, timeout_s: float) -> None:
        """Sleep until the next frame is due, then count it as released.

        Raises:
            FrameSourceTimeoutError: the frame is due more than ``timeout_s`` from now (after
                waiting ``timeout_s``); it stays due, so a later call releases it.
        """
        if self._period is None:
            return
        now = self._now()
        if self._t0 is None:
            self._t0 = now
            self._n = 0
        due = self._t0 + self._n * self._period
        if now > due + self._period:
            self._t0, self._n, due = now, 0, now
        remaining = due - now
        if remaining > timeout_s:
            self._sleep(timeout_s)
            raise FrameSourceTimeoutError(
                f'the next frame is due in {remaining:.3f} s, more than timeout_s={timeout_s} s'
            )
        if remaining > 0:
            self._sleep(remaining)
        self._n += 1
