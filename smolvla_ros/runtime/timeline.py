"""The time-aligned action queue: samples on a time base, interpolated for "now".

The queue holds future joint targets with their times, plus an *anchor*: the last command issued
and its time. The command for a tick at time t interpolates linearly along anchor -> samples, so
a tick rate unrelated to the policy's dt still follows the planned path. Samples whose time has
passed are consumed by the tick that passes them (each exactly once); samples that are already in
the past when a chunk arrives are dropped (latency compensation by time, not by index).

Cost: the samples are stored in time order behind a read position, so a tick (:meth:`peek`,
:meth:`advance`, :meth:`remaining`) is a binary search plus the samples it consumes, O(log n +
consumed), independent of the chunk length; only :meth:`merge` is linear in the chunk sizes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
        # Samples live at [_head:] of these arrays, in increasing time; [:_head] are consumed and
        # dropped at the next merge or clear (moving a read position is O(1); slicing is O(n)).
        self._t = np.empty(0, dtype=np.float64)
        self._q = np.empty((0, num_joints), dtype=np.float64)
        self._tags = np.empty((0, 2), dtype=np.int64)  # (chunk_id, index) per sample
        self._head = 0
        self.anchor_t: float | None = None
        self.anchor_q: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self._t) - self._head

    def set_anchor(self, t_s: float, q_rad: np.ndarray) -> None:
        """Record the command issued at ``t_s`` (the start of the interpolated path)."""
        self.anchor_t = float(t_s)
        self.anchor_q = np.array(q_rad, dtype=np.float64, copy=True)

    @property
    def end_time_s(self) -> float:
        """Time of the last queued sample, seconds (-inf when empty)."""
        return float(self._t[-1]) if len(self) else float('-inf')

    @property
    def tags(self) -> list[Tag]:
        """Tags of the queued samples, in time order (a copy)."""
        return _tag_list(self._tags[self._head :])

    @property
    def times_s(self) -> np.ndarray:
        """Times of the queued samples, seconds (a copy)."""
        return self._t[self._head :].copy()

    @property
    def positions_rad(self) -> np.ndarray:
        """Targets of the queued samples, radians, shape (n, J) (a copy)."""
        return self._q[self._head :].copy()

    def _passed(self, now_s: float) -> int:
        """Number of queued samples meant for ``now_s`` or earlier (binary search)."""
        return int(np.searchsorted(self._t[self._head :], now_s, side='right'))

    def remaining(self, now_s: float) -> int:
        """Number of queued samples meant for after ``now_s``."""
        return len(self) - self._passed(now_s)

    def clear(self) -> int:
        """Drop every queued sample (the anchor stays); returns how many were dropped."""
        n = len(self)
        self._t = self._t[:0].copy()
        self._q = self._q[:0].copy()
        self._tags = self._tags[:0].copy()
        self._head = 0
        return n

    def position_at(self, times_s: np.ndarray) -> np.ndarray:
        """The queued path (anchor then samples) at ``times_s``, shape (k, J).

        Rows for times after the last sample, or when nothing is queued, are NaN: the path is
        never extrapolated.
        """
        out = np.full((len(times_s), self._j), np.nan)
        if not len(self) or self.anchor_q is None or self.anchor_t is None:
            return out
        pt = np.concatenate(([self.anchor_t], self._t[self._head :]))
        pq = np.vstack((self.anchor_q[None, :], self._q[self._head :]))
        inside = times_s <= pt[-1]
        for j in range(self._j):
            out[inside, j] = np.interp(times_s[inside], pt, pq[:, j])
        return out

    def merge(
        self,
        times_s: np.ndarray,
        positions_rad: np.ndarray,
        tags: Sequence[Tag] | np.ndarray,
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
            tags: one (chunk_id, index) per sample: a list of pairs or an int array (n, 2).
            now_s: merge time, seconds.
            blend_fn: see ``smolvla_ros.runtime.blending.blend``.

        Raises:
            ValueError: ``tags`` does not hold one pair per sample (nothing changes).
        """
        tag_arr = np.asarray(tags, dtype=np.int64).reshape(-1, 2)
        if len(tag_arr) != len(times_s):
            raise ValueError(f'merge: {len(tag_arr)} tags for {len(times_s)} samples')
        fresh = times_s > now_s
        t_new = times_s[fresh]
        q_new = positions_rad[fresh]
        old_end = self.end_time_s
        if len(t_new):
            q_new = blend_fn(t_new, q_new, self.position_at(t_new), old_end)
        h = self._head
        keep = h + self._passed(now_s)  # queued samples at or before now stay to be consumed
        superseded = len(self._t) - keep
        self._t = np.concatenate((self._t[h:keep], t_new))
        self._q = np.vstack((self._q[h:keep], q_new))
        self._tags = np.vstack((self._tags[h:keep], tag_arr[fresh]))
        self._head = 0
        return MergeStats(
            accepted=len(t_new),
            dropped_stale=int(np.count_nonzero(~fresh)),
            superseded=superseded,
        )

    def peek(self, now_s: float) -> np.ndarray:
        """The command :meth:`advance` would give for ``now_s``, without consuming anything.

        Linear interpolation along anchor -> samples between the two points around ``now_s``
        (found by binary search); before the anchor it is the anchor, past the last sample the
        last sample.

        Raises:
            RuntimeError: no anchor was set.
        """
        if self.anchor_q is None or self.anchor_t is None:
            raise RuntimeError('ActionTimeline used before set_anchor')
        if not len(self):
            return self.anchor_q.copy()
        h = self._head
        k = h + self._passed(now_s)  # first sample after now_s
        if k == len(self._t):
            return self._q[-1].copy()
        if k == h:
            x0, y0 = self.anchor_t, self.anchor_q
        else:
            x0, y0 = float(self._t[k - 1]), self._q[k - 1]
        if now_s <= x0:
            return y0.copy()
        x1, y1 = float(self._t[k]), self._q[k]
        # the same formula as np.interp, so both give the same rounding
        slope = (y1 - y0) / (x1 - x0)
        return slope * (now_s - x0) + y0

    def advance(self, now_s: float) -> tuple[np.ndarray, list[Tag]]:
        """The planned command for ``now_s`` and the samples this tick consumed.

        Past the last sample the command stays at the last sample (hold, never extrapolate); with
        nothing queued it stays at the anchor. Cost: O(log n + consumed).

        Raises:
            RuntimeError: no anchor was set (the executor sets it on its first tick).
        """
        target = self.peek(now_s)
        h = self._head
        k = h + self._passed(now_s)
        consumed = _tag_list(self._tags[h:k])
        self._head = k
        if k == len(self._t):
            self.clear()  # all consumed: release the arrays
        return target, consumed


def _tag_list(tags: np.ndarray) -> list[Tag]:
    """(n, 2) int array -> list of (chunk_id, index) tuples of Python ints."""
    return [(int(c), int(i)) for c, i in tags.tolist()]
