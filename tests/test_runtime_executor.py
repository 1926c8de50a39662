"""The executor on simulated time: time alignment, g, sync, filter, safety, watchdog, e-stop."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from runtime_helpers import J, chunk_from, make, ramp

from smolvla_ros.runtime import (
    ActionChunk,
    ChunkRejectedError,
    ObservationFilterConfig,
    RuntimeConfig,
    SafetyConfig,
)
from so_arm_driver.robots import JOINT_NAMES

DT = 1.0 / 30.0


def _run(ex, clock, ticks, measured=None):
    outs = []
    for _ in range(ticks):
        outs.append(ex.tick(np.zeros(J) if measured is None else measured))
        clock.advance(DT)
    return outs


def test_latency_is_compensated_by_time_not_index():
    """Chunks sampled from one trajectory f(t) and delivered 0.35 s late: the commands follow
    f(now) exactly (linear f, linear interpolation), i.e. late actions are skipped by time."""
    f = ramp(0.3)
    ex, clock, rec = make(RuntimeConfig(g=0.7))
    ex.tick(np.zeros(J))
    rec.requests.clear()
    clock.advance(DT)
    # observed now, so the start-up rebase shifts it by 0
    assert ex.submit_chunk(chunk_from(f, DT, 50, DT, chunk_id=0))
    pending = []
    errors = []
    for k in range(1, 180):
        if k > 1:
            clock.advance(DT)
        now = clock.now()
        for req in rec.requests:
            pending.append(
                (req.time_s + 0.35, chunk_from(f, req.time_s, 50, DT, req.request_id + 1))
            )
        rec.requests.clear()
        for due, c in [p for p in pending if p[0] <= now]:
            assert ex.submit_chunk(c)
            pending.remove((due, c))
        out = ex.tick(f(now))
        errors.append(abs(out.command_rad[0] - f(now)[0]))
        assert out.state == 'tracking', k
    assert max(errors) < 1e-9
    m = ex.metrics
    assert m.chunks_accepted >= 5
    assert m.actions_dropped_stale >= 10 * (m.chunks_accepted - 1)  # 0.35 s = 10.5 steps late
    assert m.starvation_ticks == 0


def test_request_at_threshold_g_and_at_most_one_in_flight():
    ex, clock, rec = make(RuntimeConfig(g=0.7, observation_filter=ObservationFilterConfig(False)))
    ex.tick(np.zeros(J))
    assert len(rec.requests) == 1 and rec.requests[0].must_go  # empty queue at start
    # nothing answers yet: no second request while one is in flight
    _run(ex, clock, 30)
    assert len(rec.requests) == 1
    # answer at t=1.0 with 50 steps at 30 Hz; threshold 0.7 -> request after 15 consumed actions
    clock.sleep_until(1.0)
    ex.submit_chunk(chunk_from(lambda t: np.zeros(J), 1.0, 50, DT, chunk_id=1))
    times = []
    for _ in range(40):
        out = ex.tick(np.zeros(J))
        if out.requested:
            times.append(out.time_s)
            assert out.queue_length <= 35
        clock.advance(DT)
    # the chunk was rebased to its arrival (robot held since before the observation), so
    # remaining falls to 35 = 0.7 * 50 after 15 ticks
    assert times and times[0] == pytest.approx(1.0 + 15 * DT, abs=1e-6)
    assert len(times) == 1
    # the snapshot says how full the queue was: 35 of 50 actions left
    assert rec.requests[-1].queue_fill == pytest.approx(35 / 50)
    assert rec.requests[0].queue_fill == 0.0 and ex.chunk_size == 50


def test_unanswered_request_times_out_and_is_sent_again():
    ex, clock, rec = make(RuntimeConfig(request_timeout_s=1.0))
    _run(ex, clock, 45)  # 1.5 s
    assert len(rec.requests) == 2
    assert ex.metrics.request_timeouts == 1


def _scripted(config, ticks=300, latency_ticks=10):
    """Answer every request after latency_ticks with a chunk ramping joint 0 from the observed
    position (the policy sees the robot holding still)."""
    ex, clock, rec = make(config)
    pending = []
    outs = []
    q = np.zeros(J)
    for k in range(ticks):
        for req in rec.requests:
            start = req.positions_rad.copy()
            step = np.eye(J)[0] * 0.01
            actions = np.array([start + (i + 1) * step for i in range(20)])
            pending.append(
                (
                    k + latency_ticks,
                    ActionChunk(JOINT_NAMES, actions, req.time_s, DT, req.request_id),
                )
            )
        rec.requests.clear()
        for item in [p for p in pending if p[0] <= k]:
            ex.submit_chunk(item[1])
            pending.remove(item)
        out = ex.tick(q)
        q = out.command_rad  # a perfect arm
        outs.append(out)
        clock.advance(DT)
    return ex, outs


def test_sync_mode_holds_while_waiting_and_executes_whole_chunks():
    ex, outs = _scripted(RuntimeConfig(mode='sync'))
    m = ex.metrics
    assert m.actions_dropped_stale == 0  # whole chunks executed from their arrival
    assert m.actions_superseded == 0  # requests only on an empty queue: nothing to supersede
    assert m.actions_executed + len(ex.queued_tags) == 20 * m.chunks_accepted
    for o in outs:
        if o.requested:
            assert o.queue_length == 0  # requests only on an empty queue
    cmds = np.array([o.command_rad[0] for o in outs])
    starved = [i for i, o in enumerate(outs) if o.state == 'starved']
    assert starved and all(cmds[i] == cmds[i - 1] for i in starved)  # holds still
    # each cycle: 20 steps of 0.01 rad then a 10-tick wait (+1 tick merge) -> progress per tick
    assert m.starvation_ticks >= 9 * (m.chunks_accepted - 1)


def test_async_with_g_zero_behaves_exactly_as_sync():
    _, sync = _scripted(RuntimeConfig(mode='sync'))
    _, g0 = _scripted(RuntimeConfig(mode='async', g=0.0))
    assert [o.state for o in sync] == [o.state for o in g0]
    assert np.array_equal(np.array([o.command_rad for o in sync]), [o.command_rad for o in g0])


def test_async_keeps_the_queue_from_running_empty():
    cfg = RuntimeConfig(g=0.7, observation_filter=ObservationFilterConfig(False))
    ex, outs = _scripted(cfg, ticks=150, latency_ticks=6)
    # 20-step chunks, 7 ticks from request to merge (6 + the tick boundary) <= min(g, 1/2) * n:
    # never starves after start-up
    assert ex.metrics.starvation_ticks == 0
    cmds = np.array([o.command_rad[0] for o in outs])
    # moves forward on every tick after start-up (the measured position lags one tick, so each
    # new plan starts slightly behind and the crossfade eases the difference in)
    assert np.all(np.diff(cmds[8:]) > 0.005)


def test_filter_skips_near_duplicates_but_must_go_prevents_deadlock():
    cfg = RuntimeConfig(g=1.0, observation_filter=ObservationFilterConfig(epsilon_rad=0.05))
    ex, clock, rec = make(cfg)
    still = np.zeros(J)
    hold = lambda t: still  # noqa: E731 - the policy keeps the arm where it is
    ex.tick(still)
    assert len(rec.requests) == 1
    for _ in range(200):
        for req in rec.requests:
            ex.submit_chunk(chunk_from(hold, req.time_s, 20, DT, req.request_id))
        rec.requests.clear()
        clock.advance(DT)
        ex.tick(still)
    m = ex.metrics
    assert m.requests_filtered > 100  # wanted every tick (g = 1) but identical observations
    # once per chunk the queue runs empty and a must-go request goes out: no deadlock
    assert m.requests_sent >= 8
    assert m.chunks_accepted >= 8


def test_filter_off_sends_every_wanted_request():
    cfg = RuntimeConfig(g=1.0, observation_filter=ObservationFilterConfig(enabled=False))
    ex, clock, rec = make(cfg)
    for _ in range(50):
        ex.tick(np.zeros(J))
        for req in rec.requests:
            ex.submit_chunk(chunk_from(lambda t: np.zeros(J), req.time_s, 20, DT, req.request_id))
        rec.requests.clear()
        clock.advance(DT)
    assert ex.metrics.requests_filtered == 0
    assert ex.metrics.requests_sent >= 45


@pytest.mark.parametrize(
    ('chunk_kw', 'reason'),
    [
        (dict(actions=np.full((5, J), np.nan)), 'non_finite'),
        (dict(joint_names=tuple(reversed(JOINT_NAMES))), 'joint_names'),
        (dict(actions=np.zeros((5, J + 1))), 'shape'),
    ],
)
def test_bad_chunks_are_counted_and_change_nothing(chunk_kw, reason):
    ex, clock, _ = make()
    ex.tick(np.zeros(J))
    good = chunk_from(ramp(0.3), 0.0, 30, DT)
    ex.submit_chunk(good)
    _run(ex, clock, 5)
    tags = ex.queued_tags
    kw = dict(
        joint_names=JOINT_NAMES,
        actions=np.ones((5, J)),
        observation_time_s=clock.now(),
        dt_s=DT,
        chunk_id=9,
    )
    kw.update(chunk_kw)
    assert not ex.submit_chunk(ActionChunk(**kw))
    with pytest.raises(ChunkRejectedError):
        ex.submit_chunk(ActionChunk(**kw), strict=True)
    assert ex.metrics.chunks_rejected[reason] == 2
    out = ex.tick(np.zeros(J))
    assert ex.queued_tags == tags[1:]  # only the normal consumption of one sample
    assert out.command_rad[0] == pytest.approx(0.3 * clock.now())


def test_duplicate_or_older_chunks_are_rejected():
    ex, _, _ = make()
    c = chunk_from(ramp(), 0.0, 10, DT, chunk_id=1)
    assert ex.submit_chunk(c)
    assert not ex.submit_chunk(c)
    assert not ex.submit_chunk(chunk_from(ramp(), -1.0, 10, DT, chunk_id=2))
    assert ex.metrics.chunks_rejected['out_of_order'] == 2


def test_every_command_respects_position_velocity_and_acceleration_limits():
    safety = SafetyConfig.from_robot('so101', acceleration_limit_rad_s2=20.0)
    ex, clock, _ = make(RuntimeConfig(safety=safety, blending='latest'))
    ex.tick(np.zeros(J))
    # a wild chunk: jumps of 3 rad and targets past every limit
    wild = (
        np.tile([5.0, -5.0, 5.0, -5.0, 5.0, -5.0], (60, 1))
        * np.where(np.arange(60) % 2, 1, -1)[:, None]
    )
    ex.submit_chunk(ActionChunk(JOINT_NAMES, wild, 0.0, DT, 1))
    outs = _run(ex, clock, 60)
    cmds = np.array([np.zeros(J)] + [o.command_rad for o in outs])
    lo, hi = np.array(safety.lower_rad), np.array(safety.upper_rad)
    assert np.all(cmds >= lo - 1e-12) and np.all(cmds <= hi + 1e-12)
    steps = np.diff(cmds, axis=0)
    assert np.all(np.abs(steps) <= 3.0 * DT + 1e-9)
    acc = np.diff(steps, axis=0) / DT / DT
    assert np.all(np.abs(acc) <= 20.0 + 1e-6)
    clamps = ex.metrics.summary()['clamps']
    assert sum(clamps['position'].values()) > 0 and sum(clamps['acceleration'].values()) > 0


def test_soft_start_ramps_from_the_measured_position_at_the_reduced_speed():
    ex, clock, _ = make()
    measured = np.full(J, 0.5)
    ex.tick(measured)
    ex.submit_chunk(chunk_from(lambda t: np.zeros(J), clock.now(), 90, DT))
    prev = measured
    for _ in range(60):
        clock.advance(DT)
        out = ex.tick(measured)
        # half of 3 rad/s from the SO-101 spec, and the acceleration clamp from rest
        assert np.all(np.abs(out.command_rad - prev) <= 0.5 * 3.0 * DT + 1e-9)
        prev = out.command_rad
    assert np.allclose(prev, 0.0)  # reached the chunk


def test_watchdog_holds_the_last_command_and_never_extrapolates():
    cfg = RuntimeConfig(safety=SafetyConfig.from_robot('so101', watchdog_timeout_s=1.0))
    ex, clock, _ = make(cfg)
    ex.tick(np.zeros(J))
    ex.submit_chunk(chunk_from(ramp(0.3), 0.0, 300, DT))  # 10 s of motion
    outs = _run(ex, clock, 60)  # 2 s, no further chunk
    states = [o.state for o in outs]
    first = states.index('watchdog')
    assert outs[first].time_s == pytest.approx(1.0 + DT, abs=1e-6)
    held = [o.command_rad[0] for o in outs[first:]]
    assert max(held) - min(held) == 0.0
    assert held[0] <= 0.3 * (1.0 + DT) + 1e-9
    assert ex.metrics.watchdog_trips == 1


def test_emergency_stop_latches_until_reset_then_soft_starts():
    ex, clock, rec = make()
    ex.tick(np.zeros(J))
    ex.submit_chunk(chunk_from(ramp(0.6), 0.0, 100, DT))
    _run(ex, clock, 10)
    ex.emergency_stop('operator')
    n_req = len(rec.requests)
    outs = _run(ex, clock, 20)
    assert {o.state for o in outs} == {'estop'}
    assert len({o.command_rad[0] for o in outs}) == 1  # holds
    assert not ex.submit_chunk(chunk_from(ramp(0.6), clock.now(), 10, DT, 5))
    assert ex.metrics.chunks_rejected['estop'] == 1
    assert len(rec.requests) == n_req  # no requests while latched
    ex.reset_emergency_stop()
    measured = np.full(J, 0.2)
    out = ex.tick(measured)
    assert np.array_equal(out.command_rad, measured)  # re-anchored at the measured position
    assert out.state == 'startup' and len(rec.requests) == n_req + 1


def test_request_errors_are_counted_and_the_loop_survives():
    from smolvla_ros.runtime import ChunkExecutor, SimClock

    def broken(_snapshot):
        raise ConnectionError('policy server down')

    clock = SimClock()
    ex = ChunkExecutor(RuntimeConfig(), broken, clock)
    for _ in range(5):
        ex.tick(np.zeros(J))
        clock.advance(DT)
    assert ex.metrics.request_errors == 5
    assert ex.metrics.requests_sent == 0


def test_refused_request_is_not_in_flight_and_is_asked_again_next_tick():
    """A policy side that declines (returns False: no fresh camera frame, say) is asked again on
    the next tick; before, the executor waited request_timeout_s (5 s) for an answer that could
    never come. Once it accepts, the request is in flight and no more are sent."""
    from smolvla_ros.runtime import ChunkExecutor, SimClock

    answers = [False, False, False, None]
    seen = []

    def policy_side(snapshot):
        seen.append(snapshot.request_id)
        return answers[len(seen) - 1]

    clock = SimClock()
    ex = ChunkExecutor(RuntimeConfig(), policy_side, clock)
    for _ in range(10):
        ex.tick(np.zeros(J))
        clock.advance(DT)
    assert seen == [0, 1, 2, 3]  # one request per tick until accepted, then one in flight
    assert ex.metrics.requests_refused == 3
    assert ex.metrics.requests_sent == 1
    assert ex.metrics.summary()['requests_refused'] == 3


def test_chunk_later_than_the_watchdog_still_runs_when_the_arm_held_since_before_it():
    """A policy slower than the watchdog (the full-size model on a CPU: 6-10 s a chunk). The
    queue ran dry at ~1.7 s and the arm held still from then; the watchdog tripped at ~3 s; the
    chunk observed at ~1.7 s arrives at 8 s. The arm has not moved since that observation, so
    the chunk is not stale and must start now. Before the fix the watchdog trip restarted the
    hold clock, every action counted as past and the arm stayed starved."""
    cfg = RuntimeConfig(mode='sync', request_timeout_s=20.0)
    ex, clock, rec = make(cfg)
    f = ramp(0.1)
    ex.tick(np.zeros(J))  # start-up: request 0 observed at t = 0
    clock.advance(DT)
    assert ex.submit_chunk(chunk_from(f, 0.0, 50, DT, chunk_id=0))
    late = None
    while clock.now() < 8.0:
        out = ex.tick(np.zeros(J))
        if late is None and len(rec.requests) == 2:
            late = rec.requests[1]  # the request sent when the queue ran dry
        clock.advance(DT)
    assert late is not None and 1.6 < late.time_s < 1.8
    assert ex.metrics.watchdog_trips == 1 and out.state == 'watchdog'
    stale_before = ex.metrics.actions_dropped_stale
    assert ex.submit_chunk(chunk_from(f, late.time_s, 50, DT, chunk_id=1))
    states = []
    for _ in range(10):
        states.append(ex.tick(np.zeros(J)).state)
        clock.advance(DT)
    assert ex.metrics.actions_dropped_stale == stale_before  # nothing of it counted as past
    assert states == ['tracking'] * 10


def test_bad_measurement_raises_and_changes_nothing():
    ex, _, _ = make()
    with pytest.raises(ValueError, match='measured'):
        ex.tick(np.full(J, np.nan))
    with pytest.raises(ValueError):
        ex.tick(np.zeros(J - 1))
    assert ex.metrics.ticks == 0


def test_tick_rate_independent_of_policy_dt_at_200_hz():
    f = ramp(0.5)
    # a ramp starts with a velocity step; allow it (a_max * dt at 5 ms would be tiny otherwise)
    safety = SafetyConfig.from_robot('so101', acceleration_limit_rad_s2=1000.0)
    ex, clock, _ = make(RuntimeConfig(tick_rate_hz=200.0, safety=safety))
    ex.tick(f(0.0))
    clock.advance(0.005)
    ex.submit_chunk(chunk_from(f, 0.005, 50, 0.1))  # policy dt 0.1 s, tick 5 ms
    for k in range(400):
        if k:
            clock.advance(0.005)
        out = ex.tick(f(clock.now()))
        assert out.command_rad[0] == pytest.approx(f(clock.now())[0], abs=1e-9)


def test_a_policy_answering_inside_request_fn_is_merged_on_the_next_tick():
    from smolvla_ros.runtime import ChunkExecutor, SimClock

    clock = SimClock()
    holder = {}

    def in_process_policy(snapshot):
        # answers synchronously from inside the tick (no deadlock: the lock is not held here)
        c = chunk_from(
            lambda t: snapshot.positions_rad, snapshot.time_s, 10, DT, snapshot.request_id
        )
        assert holder['ex'].submit_chunk(c)

    ex = ChunkExecutor(RuntimeConfig(), in_process_policy, clock)
    holder['ex'] = ex
    first = ex.tick(np.zeros(J))
    assert first.requested and first.state == 'startup'
    clock.advance(DT)
    assert ex.tick(np.zeros(J)).state == 'tracking'


def test_after_a_watchdog_trip_the_next_chunk_starts_from_its_arrival():
    cfg = RuntimeConfig(safety=SafetyConfig.from_robot('so101', watchdog_timeout_s=0.5))
    ex, clock, _ = make(cfg)
    ex.tick(np.zeros(J))
    ex.submit_chunk(chunk_from(lambda t: np.zeros(J), 0.0, 300, DT))
    outs = _run(ex, clock, 30)
    assert outs[-1].state == 'watchdog'
    obs_t = clock.now()
    clock.advance(0.3)  # the robot holds while this chunk is computed
    ex.submit_chunk(chunk_from(ramp(0.3), obs_t, 20, DT, chunk_id=2))
    ex.tick(np.zeros(J))
    assert ex.metrics.actions_dropped_stale == 0  # nothing of it is stale: it was rebased


def test_tick_state_is_an_executor_state_equal_to_its_string():
    from smolvla_ros.runtime import ExecutorState

    ex, _, _ = make()
    out = ex.tick(np.zeros(J))
    assert out.state is ExecutorState.STARTUP and out.state == 'startup'


def test_hold_drops_the_plan_and_serves_only_chunks_observed_after_it():
    """hold(): the arm stays at the command of the hold; nothing observed before it ever moves
    the arm (queued, waiting in the inbox, or arriving late); no latch, so a chunk observed
    after the hold is tracked again."""
    f = ramp(0.6)
    ex, clock, rec = make(RuntimeConfig(observation_filter=ObservationFilterConfig(False)))
    ex.tick(np.zeros(J))
    ex.submit_chunk(chunk_from(f, 0.0, 100, DT, chunk_id=1))
    outs = _run(ex, clock, 10)
    assert outs[-1].state == 'tracking' and outs[-1].command_rad[0] > 0.1
    t_before = clock.now() - DT / 2  # an observation taken before the hold, newer than chunk 1
    late = chunk_from(f, t_before, 50, DT, chunk_id=2)
    assert ex.submit_chunk(late)  # waits in the inbox ...
    n_req = len(rec.requests)
    ex.hold('operator')  # ... and is dropped by the hold
    held_at = outs[-1].command_rad.copy()
    clock.advance(DT)
    outs = _run(ex, clock, 15)
    assert {o.state for o in outs} == {'starved'}
    for o in outs:
        assert np.array_equal(o.command_rad, held_at)
        assert o.queue_length == 0
    # a late answer observed before the hold is rejected as such
    t_hold = outs[0].time_s - DT
    assert not ex.submit_chunk(chunk_from(f, t_hold - 1e-3, 50, DT, chunk_id=3))
    assert ex.metrics.chunks_rejected['before_hold'] == 2  # the inbox one and this one
    assert ex.metrics.holds == 1 and ex.holds == 1
    # no latch: the executor asked again, with an observation after the hold
    new = rec.requests[n_req:]
    assert new and new[0].must_go and new[0].time_s > t_hold
    snap = new[0]
    assert ex.submit_chunk(chunk_from(lambda t: held_at + 0.1, snap.time_s, 50, DT, chunk_id=4))
    outs = _run(ex, clock, 40)
    assert outs[-1].state == 'tracking'
    assert outs[-1].command_rad[0] == pytest.approx(held_at[0] + 0.1, abs=1e-9)


def test_update_config_swaps_g_between_ticks_and_refuses_fixed_fields():
    """g 0.7 -> 0.2 at run time: with a 50-action chunk the request comes when 10 actions
    remain (40 consumed), not 35 (15 consumed). Changing the tick rate is refused and changes
    nothing."""
    cfg = RuntimeConfig(g=0.7, observation_filter=ObservationFilterConfig(False))
    ex, clock, rec = make(cfg)
    ex.tick(np.zeros(J))
    rec.requests.clear()
    clock.sleep_until(1.0)
    ex.update_config(dataclasses.replace(cfg, g=0.2))
    with pytest.raises(ValueError, match='tick_rate_hz'):
        ex.update_config(dataclasses.replace(cfg, g=0.2, tick_rate_hz=100.0))
    assert ex.config.g == 0.7  # applied by the next tick, not by the call
    ex.submit_chunk(chunk_from(lambda t: np.zeros(J), 1.0, 50, DT, chunk_id=1))
    times = []
    for _ in range(50):
        out = ex.tick(np.zeros(J))
        if out.requested:
            times.append(out.time_s)
        clock.advance(DT)
    assert ex.config.g == 0.2 and ex.config.tick_rate_hz == 30.0
    # rebased to its arrival at t = 1.0: remaining falls to 10 = 0.2 * 50 after 40 ticks
    assert times and times[0] == pytest.approx(1.0 + 40 * DT, abs=1e-6)


def test_update_config_to_sync_mode_waits_for_an_empty_queue():
    cfg = RuntimeConfig(g=0.7, observation_filter=ObservationFilterConfig(False))
    ex, clock, rec = make(cfg)
    ex.tick(np.zeros(J))
    rec.requests.clear()
    ex.update_config(dataclasses.replace(cfg, mode='sync'))
    clock.sleep_until(1.0)
    ex.submit_chunk(chunk_from(lambda t: np.zeros(J), 1.0, 30, DT, chunk_id=1))
    outs = _run(ex, clock, 40)
    req = [o for o in outs if o.requested]
    # sync = g 0: the request goes out when the last of the 30 actions is consumed
    assert len(req) == 1 and req[0].queue_length == 0
    assert req[0].time_s == pytest.approx(1.0 + 30 * DT, abs=1e-6)
