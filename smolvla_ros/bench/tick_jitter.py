"""Tick-to-tick period error of a fixed-rate loop from its tick timestamps, and medians of
benchmark runs (ROS-free; ``scripts/bench_ros_graph.py`` feeds it the executor's tick times).

The period error of tick i is ``|t[i] - t[i-1] - period|``: how far one control period deviated
from the nominal one. It complements the executor's own lateness figure
(``RuntimeMetrics.tick_jitter_s``, the delay behind the ideal grid ``start + k * period``): a
single late tick shows up in the period error twice (the long period before it and the short one
after it) but in the lateness once; a loop whose every tick is 1 ms late has zero period error.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np


def period_errors_s(tick_times_s: Sequence[float] | np.ndarray, period_s: float) -> np.ndarray:
    """``|t[i] - t[i-1] - period_s|`` for each consecutive pair of ticks, seconds, shape (n-1,).

    Args:
        tick_times_s: tick timestamps, seconds, non-decreasing.
        period_s: the nominal period, seconds (finite, > 0).

    Raises:
        ValueError: ``period_s`` not finite and > 0, a non-finite time, or times that go back.
    """
    if not (math.isfinite(period_s) and period_s > 0):
        raise ValueError(f'period_s must be a finite number > 0 seconds, got {period_s!r}')
    t = np.asarray(tick_times_s, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(t)):
        raise ValueError('tick times must be finite seconds; got NaN or inf')
    dt = np.diff(t)
    if np.any(dt < 0):
        i = int(np.flatnonzero(dt < 0)[0])
        raise ValueError(
            f'tick times go back at index {i + 1} ({t[i]} s -> {t[i + 1]} s); pass them in the '
            'order the ticks ran, on one clock'
        )
    return np.abs(dt - period_s)


def jitter_summary(tick_times_s: Sequence[float] | np.ndarray, period_s: float) -> dict[str, Any]:
    """Statistics of the period error of one run of ticks.

    Returns:
        ``ticks`` (count), ``span_s`` (last - first tick, s), ``rate_hz`` (periods per second
        over the span; None with fewer than 2 ticks), ``period_error_p50_ms`` /
        ``period_error_p99_ms`` / ``period_error_max_ms`` (ms; None with fewer than 2 ticks)
        and ``long_periods`` (periods longer than twice the nominal one: missed deadlines).

    Raises:
        ValueError: as :func:`period_errors_s`.
    """
    t = np.asarray(tick_times_s, dtype=np.float64).reshape(-1)
    err_ms = 1e3 * period_errors_s(t, period_s)
    span = float(t[-1] - t[0]) if len(t) >= 2 else 0.0
    has = len(err_ms) > 0
    return {
        'ticks': len(t),
        'span_s': span,
        'rate_hz': (len(t) - 1) / span if has and span > 0 else None,
        'period_error_p50_ms': float(np.percentile(err_ms, 50)) if has else None,
        'period_error_p99_ms': float(np.percentile(err_ms, 99)) if has else None,
        'period_error_max_ms': float(np.max(err_ms)) if has else None,
        'long_periods': int(np.sum(np.diff(t) > 2 * period_s)) if has else 0,
    }


def lateness_summary(lateness_s: Iterable[float]) -> dict[str, float | None]:
    """p50 / p99 / max of tick lateness behind the ideal grid (``tick_jitter_s`` samples, s),
    in ms; None when there are no samples."""
    ms = [1e3 * float(x) for x in lateness_s]
    if not ms:
        return {'lateness_p50_ms': None, 'lateness_p99_ms': None, 'lateness_max_ms': None}
    return {
        'lateness_p50_ms': float(np.percentile(ms, 50)),
        'lateness_p99_ms': float(np.percentile(ms, 99)),
        'lateness_max_ms': float(max(ms)),
    }


def median_of_runs(runs: Sequence[Mapping[str, Any]], keys: Iterable[str]) -> dict[str, Any]:
    """For each key, the median over the runs that have a number there (None when none has).

    Non-numeric values and None are skipped, so a run that produced no figure (no chunk came)
    does not turn the median into an error.
    """
    out: dict[str, Any] = {}
    for key in keys:
        values = [
            float(r[key])
            for r in runs
            if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)
        ]
        out[key] = statistics.median(values) if values else None
    return out


__all__ = ['jitter_summary', 'lateness_summary', 'median_of_runs', 'period_errors_s']
