"""The time-aligned action queue: samples on a time base, interpolated for "now".

The queue holds future joint targets with their times, plus an *anchor*: the last command issued
and its time. The command for a tick at time t interpolates linearly along anchor -> samples, so
a tick rate unrelated to the policy's dt still follows the planned path. Samples whose time has
passed are consumed by the tick that passes them (each exactly once); samples that are already in
the past when a chunk arrives are dropped (latency compensation by time, not by index).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Tag = tuple[int, int]  # (chunk_id, index in its chunk): identifies a sample for accounting


@dataclass(frozen=True)
class MergeStats:
    """What a merge did. Counts are in samples."""

    accepted: int
    dropped_stale: int
    superseded: int


class ActionTimeline:
    """Queue of timed joint targets. Not thread-safe: the executor owns it on its tick thread.

    Args:
        num_joints: J.
    """

    def __init__(self, num_joints: int) -> None:
        self._j = num_joints
        self._t = np.empty(0, dtype=np.float64)
        self._q = np.empty((0, num_joints), dtype=np.float64)
        self._tags: list[Tag] = []
        self.anchor_t: float | None = None
        self.anchor_q: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self._tags)

    def set_anchor(self, t_s: float, q_rad: np.ndarray) -> None:
        """Record the command issued at ``t_s`` (the start of the interpolated path)."""
        self.anchor_t = float(t_s)
        self.anchor_q = np.array(q_rad, dtype=np.float64, copy=True)

    @property
    def end_time_s(self) -> float:
        """Time of the last queued sample, seconds (-inf when empty)."""
        return float(self._t[-1]) if len(self._t) else float('-inf')

    @property
    def tags(self) -> list[Tag]:
        """Tags of the queued samples, in time order (a copy)."""
        return list(self._tags)

    @property
    def times_s(self) -> np.ndarray:
        """Times of the queued samples, seconds (a copy)."""
        return self._t.copy()

    def remaining(self, now_s: float) -> int:
        """Number of queued samples meant for after ``now_s``."""
        return int(np.count_nonzero(self._t > now_s))

    def clear(self) -> int:
        """Drop every queued sample (the anchor stays); returns how many were dropped."""
        n = len(self._tags)
        self._t = self._t[:0]
        self._q = self._q[:0]
        self._tags = []
        return n

    def position_at(self, times_s: np.ndarray) -> np.ndarray:
        """The queued path (anchor then samples) at ``times_s``, shape (k, J).

        Rows for times after the last sample, or when nothing is queued, are NaN: the path is
        never extrapolated.
        """
        out = np.full((len(times_s), self._j), np.nan)
        if not len(self._t) or self.anchor_q is None or self.anchor_t is None:
            return out
        pt = np.concatenate(([self.anchor_t], self._t))
        pq = np.vstack((self.anchor_q[None, :], self._q))
        inside = times_s <= pt[-1]
        for j in range(self._j):
            out[inside, j] = np.interp(times_s[inside], pt, pq[:, j])
        return out

    def merge(
        self,
        times_s: np.ndarray,
        positions_rad: np.ndarray,
        tags: list[Tag],
        now_s: float,
        blend_fn: Callable[[np.ndarray, np.ndarray, np.ndarray, float], np.ndarray],
    ) -> MergeStats:
        """Merge a validated chunk at time ``now_s``.

        New samples meant for ``now_s`` or earlier are dropped as stale. Queued samples after
        ``now_s`` are superseded by the new chunk; the values over the overlap come from
        ``blend_fn(times, new, old_at_times, old_end_s)``.

        Args:
            times_s: sample times, seconds, shape (n,), increasing.
            positions_rad: targets, shape (n, J).
            tags: one (chunk_id, index) per sample.
            now_s: merge time, seconds.
            blend_fn: see ``smolvla_ros.runtime.blending.blend``.
        """
        fresh = times_s > now_s
        t_new = times_s[fresh]
        q_new = positions_rad[fresh]
        tags_new = [tag for tag, f in zip(tags, fresh, strict=True) if f]
        old_end = self.end_time_s
        if len(t_new):
            q_new = blend_fn(t_new, q_new, self.position_at(t_new), old_end)
        keep_old = self._t <= now_s
        superseded = int(np.count_nonzero(~keep_old))
        self._t = np.concatenate((self._t[keep_old], t_new))
        self._q = np.vstack((self._q[keep_old], q_new))
        self._tags = [tag for tag, k in zip(self._tags, keep_old, strict=True) if k] + tags_new
        return MergeStats(
            accepted=len(tags_new),
            dropped_stale=int(np.count_nonzero(~fresh)),
            superseded=superseded,
        )

    def peek(self, now_s: float) -> np.ndarray:
        """The command :meth:`advance` would give for ``now_s``, without consuming anything.

        Raises:
            RuntimeError: no anchor was set.
        """
        if self.anchor_q is None or self.anchor_t is None:
            raise RuntimeError('ActionTimeline used before set_anchor')
        if not len(self._t):
            return self.anchor_q.copy()
        pt = np.concatenate(([self.anchor_t], self._t))
        pq = np.vstack((self.anchor_q[None, :], self._q))
        return np.array([np.interp(now_s, pt, pq[:, j]) for j in range(self._j)])

    def advance(self, now_s: float) -> tuple[np.ndarray, list[Tag]]:
        """The planned command for ``now_s`` and the samples this tick consumed.

        Past the last sample the command stays at the last sample (hold, never extrapolate); with
        nothing queued it stays at the anchor.

        Raises:
            RuntimeError: no anchor was set (the executor sets it on its first tick).
        """
        target = self.peek(now_s)
        passed = self._t <= now_s
        consumed = [tag for tag, p in zip(self._tags, passed, strict=True) if p]
        self._t = self._t[~passed]
        self._q = self._q[~passed]
        self._tags = [tag for tag, p in zip(self._tags, passed, strict=True) if not p]
        return target, consumed
