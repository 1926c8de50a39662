"""Clocks the executor reads time from: the real monotonic clock, or a simulated one for tests.

Injecting the clock lets unit tests, property tests and the parameter sweep run deterministically
on simulated time, while the nodes and the headline benchmark run on ``time.monotonic``.
"""

from __future__ import annotations

import threading
import time
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
