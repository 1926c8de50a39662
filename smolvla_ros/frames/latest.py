"""The frame store: the newest frame of every camera slot, and the freshness check a request needs.

Frame sources (a ``FramePump`` per camera, the simulator's renders) call :meth:`LatestFrames.put`
from their own threads; the policy worker calls :meth:`LatestFrames.select` when the executor asks
for a chunk. A slot keeps only its newest frame: a policy always wants the latest view, and older
frames would only cost memory.

Typical use::

    frames = LatestFrames()
    pump = FramePump(source, sink=frames.put)          # camera thread(s)
    chosen = frames.select(('top', 'wrist'), now_s=snapshot.time_s, max_age_s=0.2)
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable

from smolvla_ros.frames.frame import Frame

# Reasons a selection is refused; the worker counts refusals under these keys.
SELECTION_REASONS: tuple[str, ...] = ('missing', 'stale', 'future')


class FrameSelectionError(ValueError):
    """A required camera slot has no usable frame; nothing was selected.

    Attributes:
        reason: 'missing' (no frame for the slot yet), 'stale' (the newest frame is older than
            the allowed age) or 'future' (captured after the observation time by more than the
            tolerance: the camera and the executor do not share a clock).
        slot: the camera slot concerned.
    """

    def __init__(self, reason: str, slot: str, message: str) -> None:
        super().__init__(f'frame selection refused ({reason}, slot {slot!r}): {message}')
        self.reason = reason
        self.slot = slot


class LatestFrames:
    """Thread-safe store of the newest :class:`Frame` per slot.

    Args:
        future_tolerance_s: how far (seconds) a frame's capture time may lie after the
            observation time before :meth:`select` refuses it as 'future'. Real cameras stamp
            frames on the same monotonic clock a moment after the executor reads it, so a small
            positive tolerance (default 5 ms) keeps benign races from refusing requests.
    """

    def __init__(self, future_tolerance_s: float = 0.005) -> None:
        if not (math.isfinite(future_tolerance_s) and future_tolerance_s >= 0):
            raise ValueError(
                f'future_tolerance_s must be a finite number >= 0 seconds, got '
                f'{future_tolerance_s!r}'
            )
        self._future_tol = float(future_tolerance_s)
        self._lock = threading.Lock()
        self._frames: dict[str, Frame] = {}
        self._puts = 0
        self._out_of_order = 0

    def put(self, frame: Frame) -> bool:
        """Store ``frame`` as its slot's newest (callable from any thread; the FramePump sink).

        A frame that is older than the stored one by both capture time and sequence number is
        ignored (a late delivery must not replace a newer view) and counted in
        ``out_of_order``. Either one alone does not suffice: a source that restarts counts from
        0 again, and a frame stamped in the future by a wrong clock must not block the correct
        frames that follow it.

        Returns:
            True when stored, False when ignored as older than the stored one.

        Raises:
            TypeError: ``frame`` is not a :class:`Frame` (nothing is stored).
        """
        if not isinstance(frame, Frame):
            raise TypeError(
                f'LatestFrames.put expects a smolvla_ros.frames.Frame, got {type(frame).__name__}'
            )
        with self._lock:
            old = self._frames.get(frame.slot)
            if (
                old is not None
                and frame.capture_time_s < old.capture_time_s
                and frame.sequence < old.sequence
            ):
                self._out_of_order += 1
                return False
            self._frames[frame.slot] = frame
            self._puts += 1
            return True

    def get(self, slot: str) -> Frame | None:
        """The newest frame of ``slot``, or None if none arrived yet."""
        with self._lock:
            return self._frames.get(slot)

    @property
    def slots(self) -> tuple[str, ...]:
        """Slots that have a frame, sorted."""
        with self._lock:
            return tuple(sorted(self._frames))

    @property
    def out_of_order(self) -> int:
        """Frames ignored because they were older than the stored frame of their slot."""
        with self._lock:
            return self._out_of_order

    def select(
        self, required_slots: Iterable[str], now_s: float, max_age_s: float
    ) -> dict[str, Frame]:
        """The newest frame of every required slot, all checked against ``now_s``.

        Frames of slots not required are included too when they pass the same checks (a policy
        may use an optional view); a failing optional slot is left out silently.

        Args:
            required_slots: slots that must have a usable frame.
            now_s: the observation time, seconds, on the frames' clock.
            max_age_s: oldest acceptable frame, seconds before ``now_s`` (finite, >= 0).

        Returns:
            slot -> Frame (a snapshot: later puts do not change it).

        Raises:
            ValueError: ``now_s`` is not finite or ``max_age_s`` is negative or not finite.
            FrameSelectionError: a required slot has no frame ('missing'), its newest frame is
                older than ``max_age_s`` ('stale'), or it lies in the future beyond the
                tolerance ('future'). The first failing slot in ``required_slots`` order.
        """
        if not math.isfinite(now_s):
            raise ValueError(f'select: now_s must be a finite time in seconds, got {now_s!r}')
        if not (math.isfinite(max_age_s) and max_age_s >= 0):
            raise ValueError(f'select: max_age_s must be a finite number >= 0, got {max_age_s!r}')
        with self._lock:
            frames = dict(self._frames)
        required = tuple(required_slots)
        chosen: dict[str, Frame] = {}
        for slot in required:
            frame = frames.get(slot)
            if frame is None:
                have = sorted(frames) or 'none'
                raise FrameSelectionError(
                    'missing',
                    slot,
                    f'no frame has arrived for this slot (slots with frames: {have}); check '
                    'that its camera is running and mapped to this slot',
                )
            problem = self._check(frame, now_s, max_age_s)
            if problem is not None:
                raise FrameSelectionError(problem[0], slot, problem[1])
            chosen[slot] = frame
        for slot, frame in frames.items():
            if slot not in chosen and self._check(frame, now_s, max_age_s) is None:
                chosen[slot] = frame
        return chosen

    def _check(self, frame: Frame, now_s: float, max_age_s: float) -> tuple[str, str] | None:
        age = frame.age_s(now_s)
        if age > max_age_s:
            return (
                'stale',
                f'newest frame (sequence {frame.sequence}) was captured at '
                f'{frame.capture_time_s:.6f} s, {age:.3f} s before the observation at '
                f'{now_s:.6f} s; the limit is {max_age_s:.3f} s. The camera stalled or runs '
                'slower than the limit allows',
            )
        if -age > self._future_tol:
            return (
                'future',
                f'frame (sequence {frame.sequence}) was captured at {frame.capture_time_s:.6f} s, '
                f'{-age:.3f} s after the observation at {now_s:.6f} s (tolerance '
                f'{self._future_tol:.3f} s); the camera must stamp frames on the executor clock',
            )
        return None
