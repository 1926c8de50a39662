"""A fixed-rate loop on absolute deadlines: tick k is due at start + k * period.

Sleeping a fixed period after each tick drifts by the tick's own run time; sleeping until the
next absolute deadline does not. A tick that starts late is measured (jitter); deadlines missed
entirely are skipped, not bunched up, and counted as overruns; the deadline that passed less
than one period ago runs at once, so a tick is never more than one period late.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

from smolvla_ros.runtime.clock import Clock
from smolvla_ros.runtime.metrics import RuntimeMetrics


class FixedRateLoop:
    """Run a step function at a fixed rate.

    Args:
        clock: time source (MonotonicClock for real time, SimClock for simulated time).
        period_s: tick period, seconds (> 0).
        metrics: where tick jitter (seconds late) and overruns are recorded; optional.
    """

    def __init__(self, clock: Clock, period_s: float, metrics: RuntimeMetrics | None = None):
        if not (math.isfinite(period_s) and period_s > 0):
            raise ValueError(f'period_s must be finite and > 0, got {period_s}')
        self._clock = clock
        self._period = period_s
        self._metrics = metrics

    def run(
        self,
        step: Callable[[float], None],
        duration_s: float | None = None,
        stop: threading.Event | None = None,
    ) -> int:
        """Call ``step(deadline_s)`` once per period until ``duration_s`` elapsed or ``stop``
        is set. Returns the number of ticks run.

        Raises:
            ValueError: neither ``duration_s`` nor ``stop`` was given (it would never end).
        """
        if duration_s is None and stop is None:
            raise ValueError('FixedRateLoop.run needs duration_s or a stop event')
        start = self._clock.now()
        k = 0
        ticks = 0
        while True:
            deadline = start + k * self._period
            if duration_s is not None and deadline - start >= duration_s - 1e-12:
                return ticks
            if stop is not None and stop.is_set():
                return ticks
            self._clock.sleep_until(deadline)
            late = self._clock.now() - deadline
            if self._metrics is not None:
                self._metrics.record('tick_jitter_s', late)
            step(deadline)
            ticks += 1
            k += 1
            behind = self._clock.now() - (start + k * self._period)
            if behind > self._period:
                skipped = int(behind // self._period)
                k += skipped
                if self._metrics is not None:
                    self._metrics.add(overruns=skipped)


class DeadlineTracker:
    """Tick lateness when an external timer (a ROS timer, say) drives the ticks.

    FixedRateLoop measures its own lateness; a node's timer fires on its own grid, which the
    caller cannot see. This tracker rebuilds that grid, ``start + k * period``, from the ticks
    it observes and records each tick's lateness (``tick_jitter_s``) and skipped deadlines
    (``overruns``) exactly as FixedRateLoop does, so the two report the same numbers.
    The grid's phase is the earliest one seen: the first tick may itself be late, so a later
    tick that looks early moves the grid back (recorded as on time).

    Args:
        period_s: the timer period, seconds (> 0).
        metrics: where to record; optional.

    Raises:
        ValueError: ``period_s`` is not finite and > 0.
    """

    def __init__(self, period_s: float, metrics: RuntimeMetrics | None = None) -> None:
        if not (math.isfinite(period_s) and period_s > 0):
            raise ValueError(f'period_s must be finite and > 0, got {period_s}')
        self._period = float(period_s)
        self._metrics = metrics
        self._start: float | None = None
        self._k = 0

    def observe(self, now_s: float) -> float:
        """Record a tick at ``now_s`` (seconds) and return its lateness, seconds (>= 0)."""
        if self._start is None:
            self._start, self._k, late, skipped = now_s, 0, 0.0, 0
        else:
            self._k += 1
            late = now_s - (self._start + self._k * self._period)
            skipped = 0
            if late >= self._period:  # whole deadlines passed without a tick
                skipped = int(late // self._period)
                self._k += skipped
                late -= skipped * self._period
            if late < 0:  # earlier than the grid: the grid's phase was late; move it
                self._start += late
                late = 0.0
        if self._metrics is not None:
            self._metrics.record('tick_jitter_s', late)
            if skipped:
                self._metrics.add(overruns=skipped)
        return late
