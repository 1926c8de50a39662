"""Safety invariants of the executor under any clock and any chunk stream (hypothesis).

1. No command moves a joint more than its velocity limit times the nominal tick period, whatever
   the clock does between ticks (no time, tiny steps, stalls, jumps of an hour).
2. Nothing observed at or before the last e-stop moves the arm: from an e-stop on, the command
   stays put until a chunk observed after it has been accepted.
3. No chunk observed more than ``future_tolerance_s`` after the executor's clock is accepted.
4. Every tick more than two periods after the previous one is counted as a stall.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from runtime_helpers import J, make

from smolvla_ros.runtime import ActionChunk, RuntimeConfig, SafetyConfig
from smolvla_ros.runtime.config import BLEND_MODES
from so_arm_driver.robots import JOINT_NAMES

VMAX = 3.0  # SO-101 velocity limit of every joint, rad/s (so_arm_driver.robots spec)
TOL = 0.05  # future_tolerance_s used here, s

tick_op = st.tuples(
    st.just('tick'),
    st.sampled_from([0.0, 1e-4, 0.3, 1.0, 1.3, 2.5, 15.0, 210.0, 108_000.0]),  # x tick period
)
chunk_op = st.tuples(
    st.just('chunk'),
    st.one_of(  # observation time relative to the executor's now, s
        st.floats(-2.0, 0.0),
        st.sampled_from([-3600.0, 0.049, 0.051, 3600.0]),
    ),
    st.integers(1, 40),  # n
    st.sampled_from([0.02, 1.0 / 30.0, 0.1]),  # dt, s
    st.integers(0, 2**16),  # seed of the action values
)
control_op = st.sampled_from([('estop',), ('reset',)])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(st.one_of(tick_op, tick_op, tick_op, chunk_op, control_op), max_size=80),
    blending=st.sampled_from(BLEND_MODES),
    rate_hz=st.sampled_from([30.0, 100.0]),
    accel=st.sampled_from([5.0, 20.0, 1000.0]),
)
# a plan observed between the last accepted chunk and the e-stop, delivered after the reset
@example(
    ops=[('tick', 1.0), ('chunk', 0.0, 30, 1 / 30, 1)]
    + [('tick', 1.0)] * 2
    + [('estop',), ('tick', 1.0), ('reset',), ('chunk', -0.05, 30, 1 / 30, 2)]
    + [('tick', 1.0)] * 3,
    blending='latest',
    rate_hz=30.0,
    accel=20.0,
)
# a half-second stall and an hour's jump while tracking a far target
@example(
    ops=[('tick', 1.0), ('chunk', 0.0, 40, 0.1, 3)]
    + [('tick', 1.0)] * 5
    + [('tick', 15.0)] * 2
    + [('tick', 108_000.0)],
    blending='latest',
    rate_hz=30.0,
    accel=1000.0,
)
def test_no_large_step_and_nothing_from_before_an_estop_moves_the_arm(
    ops, blending, rate_hz, accel
):
    safety = SafetyConfig.from_robot('so101', acceleration_limit_rad_s2=accel)
    cfg = RuntimeConfig(
        tick_rate_hz=rate_hz, blending=blending, safety=safety, future_tolerance_s=TOL
    )
    period = 1.0 / rate_hz
    max_step = VMAX * period
    ex, clock, _ = make(cfg, start_s=100.0)
    prev = np.zeros(J)
    prev_tick_t: float | None = None
    rearm = True  # the first tick after start-up or a reset re-anchors (no stall measured)
    estopped = False
    estop_t = float('-inf')
    may_move = True  # False from an e-stop until a chunk observed after it is accepted
    expected_stalls = 0
    for op in ops:
        if op[0] == 'tick':
            clock.advance(op[1] * period)
            now = clock.now()
            if not rearm and prev_tick_t is not None and now - prev_tick_t > 2 * period:
                expected_stalls += 1
            out = ex.tick(prev)
            step = np.abs(out.command_rad - prev)
            assert np.all(step <= max_step * (1 + 1e-12) + 1e-12), (op, step)
            if not may_move:
                assert np.array_equal(out.command_rad, prev)
            prev, prev_tick_t, rearm = out.command_rad, now, False
        elif op[0] == 'chunk':
            _, offset, n, dt, seed = op
            now = clock.now()
            actions = np.random.default_rng(seed).uniform(-5.0, 5.0, (n, J))
            obs_t = now + offset
            accepted = ex.submit_chunk(ActionChunk(JOINT_NAMES, actions, obs_t, dt, seed))
            if accepted:
                assert not estopped
                assert obs_t > estop_t and obs_t <= now + TOL
                may_move = True
        elif op[0] == 'estop':
            estop_t = clock.now()
            ex.emergency_stop('test')
            estopped, may_move = True, False
        else:
            if estopped:
                rearm = True
            ex.reset_emergency_stop()
            estopped = False
    assert ex.metrics.stalls == expected_stalls
