"""The time-aligned queue (interpolation, stale drop, hold) and the blending rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smolvla_ros.runtime.blending import blend, crossfade_window_s, new_chunk_weights
from smolvla_ros.runtime.config import ObservationFilterConfig
from smolvla_ros.runtime.observation_filter import ObservationFilter
from smolvla_ros.runtime.timeline import ActionTimeline


def _latest(t, new, old, old_end):
    return new


def _timeline_with(times, values):
    tl = ActionTimeline(1)
    tl.set_anchor(0.0, np.array([0.0]))
    tl.merge(
        np.array(times),
        np.array(values, dtype=float)[:, None],
        [(0, i) for i in range(len(times))],
        0.0,
        _latest,
    )
    return tl


def test_command_interpolates_linearly_between_samples():
    tl = _timeline_with([0.1, 0.2], [1.0, 2.0])
    q, consumed = tl.advance(0.05)  # halfway from the anchor (0 at t=0) to 1.0 at t=0.1
    assert q[0] == pytest.approx(0.5) and consumed == []
    tl.set_anchor(0.05, q)
    q, consumed = tl.advance(0.15)
    assert q[0] == pytest.approx(1.5) and consumed == [(0, 0)]
    assert tl.remaining(0.15) == 1


def test_past_the_last_sample_the_command_holds_it_and_never_extrapolates():
    tl = _timeline_with([0.1, 0.2], [1.0, 2.0])
    q, consumed = tl.advance(0.5)
    assert q[0] == pytest.approx(2.0) and consumed == [(0, 0), (0, 1)]
    tl.set_anchor(0.5, q)
    assert tl.advance(0.9)[0][0] == pytest.approx(2.0)
    assert np.isnan(tl.position_at(np.array([0.9]))).all()


def test_samples_already_in_the_past_are_dropped_on_merge():
    tl = ActionTimeline(1)
    tl.set_anchor(0.25, np.array([0.0]))
    stats = tl.merge(
        np.array([0.1, 0.2, 0.3, 0.4]), np.ones((4, 1)), [(1, i) for i in range(4)], 0.25, _latest
    )
    assert (stats.accepted, stats.dropped_stale, stats.superseded) == (2, 2, 0)
    assert tl.tags == [(1, 2), (1, 3)]


def test_merge_supersedes_queued_future_samples():
    tl = _timeline_with([0.1, 0.2, 0.3], [1.0, 2.0, 3.0])
    stats = tl.merge(np.array([0.25, 0.35]), np.zeros((2, 1)), [(2, 0), (2, 1)], 0.15, _latest)
    assert stats.superseded == 2  # 0.2 and 0.3; 0.1 is at or before now and stays to be consumed
    assert tl.tags == [(0, 0), (2, 0), (2, 1)]


@pytest.mark.parametrize(
    ('mode', 'expected'),
    [('latest', 1.0), ('weighted', 0.7), ('average', 0.5), ('conservative', 0.3)],
)
def test_lerobot_constant_weights(mode, expected):
    t = np.array([0.1, 0.2])
    out = blend(
        mode,
        t,
        np.ones((2, 1)),
        np.zeros((2, 1)),
        now_s=0.0,
        old_end_s=1.0,
        crossfade_s=0.3,
        velocity_limit_rad_s=np.array([3.0]),
    )
    assert np.allclose(out, expected)


def test_samples_after_the_queued_chunk_ends_use_the_new_chunk_only():
    w = new_chunk_weights('conservative', np.array([0.1, 0.5]), 0.0, 0.3, 0.3)
    assert w.tolist() == [0.3, 1.0]


def test_crossfade_ramps_linearly_from_the_old_path_to_the_new():
    t = np.array([0.0, 0.15, 0.3, 0.45])
    w = new_chunk_weights('crossfade', t, 0.0, 1.0, 0.3)
    assert np.allclose(w, [0.0, 0.5, 1.0, 1.0])


def test_crossfade_window_sizing():
    v = np.array([3.0])
    # deviation 0.6 rad at half of 3 rad/s needs 0.4 s
    assert crossfade_window_s(np.array([[0.6]]), v, 0.3, 5.0) == pytest.approx(0.4)
    assert crossfade_window_s(np.array([[0.1]]), v, 0.3, 5.0) == pytest.approx(0.3)
    assert crossfade_window_s(np.array([[0.6]]), v, 0.3, 0.2) == pytest.approx(0.2)
    assert crossfade_window_s(np.array([[0.6]]), v, 0.3, -1.0) == 0.0


@settings(max_examples=200, deadline=None)
@given(
    dev=st.lists(st.floats(-2.0, 2.0), min_size=3, max_size=3),
    first=st.floats(1e-4, 1.0 / 30),
    vmax=st.floats(0.5, 5.0),
)
def test_crossfade_seam_stays_within_half_the_velocity_limit(dev, first, vmax):
    # Old path constant 0, new path offset by `dev`: the first blended sample may move at most
    # 0.5 * vmax * (time to that sample) away from the old path, when the old chunk lasts long.
    t = first + np.arange(40) / 30.0
    new = np.tile(np.array(dev), (40, 1))
    out = blend(
        'crossfade',
        t,
        new,
        np.zeros((40, 3)),
        now_s=0.0,
        old_end_s=10.0,
        crossfade_s=0.3,
        velocity_limit_rad_s=np.full(3, vmax),
    )
    assert np.all(np.abs(out[0]) <= 0.5 * vmax * first + 1e-12)
    # and the fade itself adds at most half the velocity limit between samples
    assert np.all(np.abs(np.diff(out, axis=0)) <= 0.5 * vmax / 30.0 + 1e-12)


def test_observation_filter_weighted_distance_and_must_go():
    f = ObservationFilter(ObservationFilterConfig(epsilon_rad=0.05, joint_weights=(4.0, 0.0)), 2)
    assert f.allows(np.zeros(2), must_go=False)  # nothing processed yet
    f.mark_processed(np.zeros(2))
    assert f.distance_rad(np.array([0.02, 9.0])) == pytest.approx(0.04)  # sqrt(4 * 0.02^2)
    assert not f.allows(np.array([0.02, 9.0]), must_go=False)
    assert f.allows(np.array([0.02, 9.0]), must_go=True)
    assert f.allows(np.array([0.03, 0.0]), must_go=False)  # 0.06 >= 0.05
    off = ObservationFilter(ObservationFilterConfig(enabled=False), 2)
    off.mark_processed(np.zeros(2))
    assert off.allows(np.zeros(2), must_go=False)


class _ReferenceTimeline:
    """The timeline rules written the plain way: full np.interp over anchor + every sample."""

    def __init__(self) -> None:
        self.t: list[float] = []
        self.q: list[np.ndarray] = []
        self.tags: list[tuple[int, int]] = []
        self.anchor = (0.0, np.zeros(2))

    def path(self):
        return np.array([self.anchor[0], *self.t]), np.vstack([self.anchor[1], *self.q])

    def advance(self, now):
        pt, pq = self.path()
        target = np.array([np.interp(now, pt, pq[:, j]) for j in range(2)])
        consumed = [g for t, g in zip(self.t, self.tags, strict=True) if t <= now]
        keep = [i for i, t in enumerate(self.t) if t > now]
        self.t = [self.t[i] for i in keep]
        self.q = [self.q[i] for i in keep]
        self.tags = [self.tags[i] for i in keep]
        return target, consumed

    def merge(self, times, values, tags, now):
        pt, pq = self.path()
        fresh = [i for i, t in enumerate(times) if t > now]
        new_q = []
        for i in fresh:
            if self.t and times[i] <= self.t[-1]:  # overlap: average with the old path
                old = np.array([np.interp(times[i], pt, pq[:, j]) for j in range(2)])
                new_q.append(0.5 * (values[i] + old))
            else:
                new_q.append(values[i])
        keep = [i for i, t in enumerate(self.t) if t <= now]
        self.t = [self.t[i] for i in keep] + [times[i] for i in fresh]
        self.q = [self.q[i] for i in keep] + new_q
        self.tags = [self.tags[i] for i in keep] + [tags[i] for i in fresh]


def _average(t, new, old, old_end):
    covered = (t <= old_end)[:, None]
    return np.where(covered, 0.5 * (new + np.where(covered, old, 0.0)), new)


@settings(max_examples=60, deadline=None)
@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just('tick'), st.sampled_from([0.0, 0.01, 1 / 30, 0.1, 0.5])),
            st.tuples(
                st.just('merge'),
                st.floats(-0.3, 0.2),  # first sample time relative to now, s
                st.integers(1, 30),  # n
                st.sampled_from([0.02, 1 / 30, 0.1]),  # dt
                st.floats(-2.0, 2.0),  # level, rad
            ),
        ),
        max_size=60,
    )
)
def test_timeline_matches_the_plain_reference(ops):
    """The indexed timeline (binary search, read position) gives the same commands, consumed
    samples, queue lengths and tags as full interpolation over every sample."""
    tl, ref = ActionTimeline(2), _ReferenceTimeline()
    now = 0.0
    tl.set_anchor(now, np.zeros(2))
    for cid, op in enumerate(ops):
        if op[0] == 'tick':
            now += op[1]
            got, got_consumed = tl.advance(now)
            want, want_consumed = ref.advance(now)
            assert np.allclose(got, want, rtol=0, atol=1e-12)
            assert got_consumed == want_consumed
            tl.set_anchor(now, got)
            ref.anchor = (now, got.copy())
        else:
            _, offset, n, dt, level = op
            times = now + offset + dt * np.arange(n)
            values = level + 0.1 * np.arange(n)[:, None] * np.array([1.0, -1.0])
            tags = [(cid, i) for i in range(n)]
            tl.merge(times, values, tags, now, _average)
            ref.merge(list(times), list(values), tags, now)
        assert tl.tags == ref.tags
        assert len(tl) == len(ref.t)
        assert tl.remaining(now) == sum(t > now for t in ref.t)
        assert np.array_equal(tl.times_s, np.array(ref.t, dtype=np.float64).reshape(-1))
        assert tl.end_time_s == (ref.t[-1] if ref.t else float('-inf'))
        assert np.allclose(tl.peek(now + 0.05), _peek(ref, now + 0.05), rtol=0, atol=1e-12)


def _peek(ref: _ReferenceTimeline, t: float) -> np.ndarray:
    pt, pq = ref.path()
    return np.array([np.interp(t, pt, pq[:, j]) for j in range(2)])
