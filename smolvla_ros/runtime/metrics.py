"""Everything the runtime counts and measures, in one thread-safe object.

The nodes publish :meth:`RuntimeMetrics.summary` as diagnostics; the benchmark writes it to JSON.
Time series are ring buffers of ``history_len`` samples so a long run has bounded memory.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any

import numpy as np

CLAMP_KINDS: tuple[str, ...] = ('position', 'velocity', 'acceleration')


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


class RuntimeMetrics:
    """Counters and time series of one executor.

    Args:
        joint_names: for the per-joint clamp counters.
        history_len: ring-buffer length of each time series.
    """

    def __init__(self, joint_names: tuple[str, ...], history_len: int = 20_000) -> None:
        self._lock = threading.Lock()
        self.joint_names = tuple(joint_names)
        self.ticks = 0
        self.startup_ticks = 0  # ticks before the first chunk arrived (not starvation)
        self.starvation_ticks = 0  # ticks with nothing queued for "now" after the first chunk
        self.requests_sent = 0
        self.requests_filtered = 0  # ticks on which a wanted request was skipped by the filter
        self.request_errors = 0
        self.requests_refused = 0  # the policy side declined (e.g. no fresh camera frame)
        self.request_timeouts = 0
        self.chunks_accepted = 0
        self.chunks_rejected: Counter[str] = Counter()
        self.actions_executed = 0
        self.actions_dropped_stale = 0
        self.actions_superseded = 0
        self.watchdog_trips = 0
        self.estops = 0
        self.holds = 0  # ChunkExecutor.hold() calls
        self.overruns = 0  # deadlines the loop missed entirely
        self.stalls = 0  # ticks more than two periods after the previous one (host stall)
        self.clamp_counts: dict[str, Counter[str]] = {k: Counter() for k in CLAMP_KINDS}
        self.seam_jumps_rad: deque[float] = deque(maxlen=history_len)
        self.tick_jitter_s: deque[float] = deque(maxlen=history_len)
        self.inference_latency_s: deque[float] = deque(maxlen=history_len)
        self.arrival_age_s: deque[float] = deque(maxlen=history_len)  # now - observation time
        self.queue_history: deque[tuple[float, int]] = deque(maxlen=history_len)

    # -- recording (called by the executor and the loop) -----------------------------------
    def count_clamps(self, kind: str, mask: np.ndarray) -> None:
        """Add one clamp of ``kind`` to every joint where ``mask`` is true."""
        if not np.any(mask):
            return
        with self._lock:
            for j in np.flatnonzero(mask):
                self.clamp_counts[kind][self.joint_names[j]] += 1

    def add(self, **counts: int) -> None:
        """Increment integer counters by name, e.g. ``add(requests_sent=1)``."""
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def reject(self, reason: str) -> None:
        """Count a rejected chunk under ``reason`` (a RejectReason or its value; the key is the
        plain string value so the summary stays JSON of plain strings)."""
        with self._lock:
            self.chunks_rejected[str(reason)] += 1

    def record(self, series: str, value: Any) -> None:
        """Append ``value`` to the time series ``series``."""
        with self._lock:
            getattr(self, series).append(value)

    # -- reporting -----------------------------------------------------------------------------
    def clamp_total(self) -> int:
        """All clamps of all kinds and joints."""
        with self._lock:
            return sum(sum(c.values()) for c in self.clamp_counts.values())

    def summary(self) -> dict[str, Any]:
        """A JSON-ready snapshot: counters, clamp counts per kind and joint, and statistics of
        jitter (ms), seam jumps (rad), latency (s) and queue length (actions)."""
        with self._lock:
            jitter_ms = [1e3 * x for x in self.tick_jitter_s]
            seams = list(self.seam_jumps_rad)
            lat = list(self.inference_latency_s)
            queue = [n for _, n in self.queue_history]
            return {
                'ticks': self.ticks,
                'startup_ticks': self.startup_ticks,
                'starvation_ticks': self.starvation_ticks,
                'requests_sent': self.requests_sent,
                'requests_filtered': self.requests_filtered,
                'requests_refused': self.requests_refused,
                'request_errors': self.request_errors,
                'request_timeouts': self.request_timeouts,
                'chunks_accepted': self.chunks_accepted,
                'chunks_rejected': dict(self.chunks_rejected),
                'actions_executed': self.actions_executed,
                'actions_dropped_stale': self.actions_dropped_stale,
                'actions_superseded': self.actions_superseded,
                'watchdog_trips': self.watchdog_trips,
                'estops': self.estops,
                'holds': self.holds,
                'overruns': self.overruns,
                'stalls': self.stalls,
                'clamps': {k: dict(c) for k, c in self.clamp_counts.items()},
                'max_seam_jump_rad': max(seams) if seams else 0.0,
                'tick_jitter_p50_ms': _percentile(jitter_ms, 50),
                'tick_jitter_p99_ms': _percentile(jitter_ms, 99),
                'tick_jitter_max_ms': max(jitter_ms) if jitter_ms else None,
                'inference_latency_median_s': _percentile(lat, 50),
                'inference_latency_max_s': max(lat) if lat else None,
                'queue_length_mean': float(np.mean(queue)) if queue else None,
                'queue_length_min': min(queue) if queue else None,
            }


def status_text(state: str, queue_length: int, chunk_size: int, summary: dict[str, Any]) -> str:
    """One line for a person (RViz's text marker, logs) from a :meth:`RuntimeMetrics.summary`:
    executor state, queued / chunk actions, median chunk latency, chunks accepted, clamps."""
    latency = summary.get('inference_latency_median_s')
    clamps = sum(sum(per_joint.values()) for per_joint in summary.get('clamps', {}).values())
    queue = f'{queue_length}/{chunk_size}' if chunk_size else str(queue_length)
    latency_text = '-' if latency is None else f'{latency:.2f} s'
    return (
        f'{state} | queue {queue} | latency {latency_text} | '
        f'chunks {summary.get("chunks_accepted", 0)} | clamps {clamps}'
    )
