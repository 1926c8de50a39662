"""The MuJoCo simulator's cameras (top / wrist / side) as a frame source.

Each ``read()`` renders the requested slots from the simulator's current state, so all frames
of one read show the same instant and carry the same ``capture_time_s``: by default the
simulator's own time (``Simulator.time_s``, seconds since reset), which is the executor's time
base when the executor runs on simulated time; pass ``now`` (e.g. ``time.monotonic``) when the
executor runs on the wall clock while the simulator is stepped in real time.

``read()`` releases a new set of frames only once that clock has moved on (by at least
``period_s``) since the last set, so a reader polling faster than the simulator steps does not
render the same state twice; it waits at most ``timeout_s`` (real seconds) for that.

Thread safety: MuJoCo must not render while another thread steps the same simulator. If one
does, pass the lock that thread holds while stepping as ``lock``.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from smolvla_ros.frames.errors import (
    FrameSourceClosedError,
    FrameSourceConfigError,
    FrameSourceTimeoutError,
)
from smolvla_ros.frames.frame import Frame
from smolvla_ros.frames.source import Now, Sleep, SourceBase, check_positive

# Simulated time is a sum of float steps: 1/30 s ten times is not exactly 1/3 s.
_TIME_EPS_S = 1e-9

if TYPE_CHECKING:
    from so_arm_driver.sim.simulator import Simulator


class SimFrameSource(SourceBase):
    """Renders the simulator's cameras as frames.

    Args:
        sim: a ``so_arm_driver.sim.Simulator`` (or a ``SimArm``, whose ``.sim`` is used). The
            source does not own it: ``close()`` leaves it open.
        slots: the cameras to render, a non-empty subset of ('top', 'wrist', 'side').
        now: the clock frames are stamped with, seconds; None (default) uses the simulator's
            time.
        period_s: the least time between two sets of frames on that clock, seconds (0: every
            new simulator state; 1/30 for a 30 fps camera).
        timeout_s: the longest ``read()`` waits for the clock to move on, real seconds.
        lock: held while rendering; share it with the thread that steps the simulator.
        poll_s: how often ``read()`` looks at the clock while waiting, real seconds.
        sleep: how to sleep a number of real seconds.

    Raises:
        FrameSourceConfigError: an unknown or repeated slot, or an impossible period/timeout.
    """

    def __init__(
        self,
        sim: Simulator | Any,
        slots: tuple[str, ...] | None = None,
        *,
        now: Now | None = None,
        period_s: float = 0.0,
        timeout_s: float = 1.0,
        lock: threading.Lock | threading.RLock | None = None,
        poll_s: float = 0.002,
        sleep: Sleep = time.sleep,
    ) -> None:
        from so_arm_driver.sim.config import CAMERA_SLOTS as SIM_SLOTS

        simulator = sim if hasattr(sim, 'render') else getattr(sim, 'sim', None)
        if simulator is None or not hasattr(simulator, 'render'):
            raise FrameSourceConfigError(
                f'SimFrameSource needs a so_arm_driver.sim Simulator or SimArm, got {sim!r}'
            )
        chosen = tuple(SIM_SLOTS if slots is None else slots)
        unknown = [s for s in chosen if s not in SIM_SLOTS]
        if not chosen or unknown or len(set(chosen)) != len(chosen):
            raise FrameSourceConfigError(
                f'slots {chosen!r} must be distinct cameras of the simulator, chosen from '
                f'{SIM_SLOTS}'
            )
        if not period_s >= 0:
            raise FrameSourceConfigError(f'period_s must be >= 0 seconds, got {period_s!r}')
        check_positive('timeout_s', timeout_s)
        check_positive('poll_s', poll_s)
        self._sim = simulator
        self._slots = chosen
        self._now: Now = now if now is not None else (lambda: float(simulator.time_s))
        self._period = float(period_s)
        self._timeout = float(timeout_s)
        self._lock = lock if lock is not None else threading.Lock()
        self._poll = float(poll_s)
        self._sleep = sleep
        self._last_time: float | None = None
        self._sequence = 0
        self._closed = False

    @property
    def slots(self) -> tuple[str, ...]:
        return self._slots

    def read(self) -> list[Frame]:
        """One frame per slot, all rendered from the same simulator state.

        Raises:
            FrameSourceClosedError: the source was closed.
            FrameSourceTimeoutError: the clock did not move on within ``timeout_s`` (the
                simulator is not being stepped); the source stays usable.
        """
        if self._closed:
            raise FrameSourceClosedError('simulator frame source is closed')
        deadline = time.monotonic() + self._timeout
        while True:
            with self._lock:
                t = float(self._now())
                if self._last_time is None or (
                    t > self._last_time and t >= self._last_time + self._period - _TIME_EPS_S
                ):
                    images = self._sim.render(self._slots)
                    break
            if time.monotonic() >= deadline:
                raise FrameSourceTimeoutError(
                    f'the simulator clock stayed at t={t:.4f} s for {self._timeout} s (last '
                    f'frames at {self._last_time:.4f} s, period {self._period} s): is the '
                    'simulator being stepped?'
                )
            self._sleep(self._poll)
        self._last_time = t
        frames = [Frame(slot, images[slot], t, self._sequence) for slot in self._slots]
        self._sequence += 1
        return frames

    def close(self) -> None:
        """Stop delivering frames (the simulator stays open: its owner closes it). Idempotent."""
        self._closed = True
