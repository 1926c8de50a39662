"""Clocks the executor reads time from: the real monotonic clock, or a simulated one for tests.

Injecting the clock lets unit tests, property tests and the parameter sweep run deterministically
on simulated time, while the nodes and the headline benchmark run on ``time.monotonic``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    """A source of monotonic time in seconds."""

    def now(self) -> float:
        """Current time, seconds (monotonic; the origin is arbitrary)."""
        ...

    def sleep_until(self, t_s: float) -> None:
        """Return once ``now() >= t_s`` (immediately if that time has passed)."""
        ...


class MonotonicClock:
    """Wall time from ``time.monotonic`` (never jumps with NTP or the user's clock).

    Args:
        spin_s: wait the last ``spin_s`` seconds before a deadline by polling instead of
            sleeping. On a busy machine a sleeping thread can wake milliseconds late; polling
            the last millisecond or two keeps the thread on its core at the cost of that much
            CPU per tick. 0 (default) sleeps the whole remainder.
    """

    def __init__(self, spin_s: float = 0.0) -> None:
        if not spin_s >= 0:
            raise ValueError(f'spin_s must be >= 0 seconds, got {spin_s}')
        self._spin = float(spin_s)

    def now(self) -> float:
        return time.monotonic()

    def sleep_until(self, t_s: float) -> None:
        # Sleep only the remainder: a loop that sleeps a fixed period drifts by its own run time.
        remaining = t_s - time.monotonic()
        if remaining > self._spin:
            time.sleep(remaining - self._spin)
        while self._spin and time.monotonic() < t_s:
            pass


class SimClock:
    """Simulated time that only moves when told to; thread-safe.

    Args:
        start_s: initial time, seconds.
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self._t = float(start_s)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._t

    def sleep_until(self, t_s: float) -> None:
        with self._lock:
            self._t = max(self._t, float(t_s))

    def advance(self, dt_s: float) -> float:
        """Move time forward by ``dt_s`` seconds (>= 0) and return the new time.

        Raises:
            ValueError: ``dt_s`` is negative (time never runs backwards).
        """
        if dt_s < 0:
            raise ValueError(f'SimClock.advance: dt_s must be >= 0, got {dt_s}')
        with self._lock:
            self._t += float(dt_s)
            return self._t


class CallableClock:
    """Time from a function, e.g. a ROS node's clock (ROS time, or sim time with use_sim_time).

    The executor node drives ticks from a ROS timer, so the core only reads ``now``; this
    adapter keeps the core free of rclpy (the node passes a lambda reading its clock).

    Args:
        now_fn: returns the current time in seconds. It must not run backwards while the
            executor uses it (ROS time jumps backwards only when a simulator restarts its clock;
            reconfigure the executor then).
        poll_s: polling period of :meth:`sleep_until`, seconds (> 0). A function's time may be
            simulated and advance in steps, so waiting polls it instead of sleeping the
            difference.

    Raises:
        TypeError: ``now_fn`` is not callable.
        ValueError: ``poll_s`` is not a finite number > 0.
    """

    def __init__(self, now_fn: Callable[[], float], poll_s: float = 0.001) -> None:
        if not callable(now_fn):
            raise TypeError(f'now_fn must be a callable returning seconds, got {now_fn!r}')
        if not (poll_s > 0 and poll_s < float('inf')):
            raise ValueError(f'poll_s must be a finite number > 0 seconds, got {poll_s}')
        self._now_fn = now_fn
        self._poll = float(poll_s)

    def now(self) -> float:
        return float(self._now_fn())

    def sleep_until(self, t_s: float) -> None:
        # Poll: the function's time may be simulated (a /clock topic) and not follow wall time.
        while self.now() < t_s:
            time.sleep(self._poll)
