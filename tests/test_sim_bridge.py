"""The simulator node's core: settings, the scaled clock, cadences, the pose gate, intrinsics.

Expected values by hand: deadlines at multiples of the period; f = (H/2)/tan(fovy/2).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from smolvla_ros.sim_bridge import (
    Cadence,
    LockstepClock,
    PoseGate,
    ScaledClock,
    SimNodeConfig,
    pinhole_intrinsics,
)


def test_cadence_fires_once_per_period_on_absolute_deadlines():
    c = Cadence(10.0)
    fired = [t for t in np.arange(0.0, 0.5, 1.0 / 600.0) if c.due(float(t))]
    # 0, 0.1, 0.2, 0.3, 0.4: the step sum may land a hair before each deadline.
    assert len(fired) == 5
    np.testing.assert_allclose(fired, [0.0, 0.1, 0.2, 0.3, 0.4], atol=1.0 / 600.0)


def test_cadence_reanchors_after_a_gap_and_resets():
    c = Cadence(10.0)
    assert c.due(0.0)
    assert c.due(1.0)  # a gap of 10 periods: one firing, not ten
    assert not c.due(1.05)
    assert c.due(1.1)
    c.reset()
    assert c.due(1.12)


def test_pose_gate():
    gate = PoseGate(period_s=0.5, tolerance_m=5e-4, yaw_tolerance_rad=0.01)
    p = np.array([0.2, 0.0, 0.0125])
    q = p + np.array([0.001, 0.0, 0.0])
    assert gate.should_publish(0.0, p, 0.3)
    assert not gate.should_publish(0.1, p + 1e-4, 0.3)  # below tolerance, not yet due
    assert gate.should_publish(0.2, q, 0.3)  # moved 1 mm
    assert not gate.should_publish(0.3, q, 0.3)
    assert gate.should_publish(0.7, q, 0.3)  # 0.5 s since the last one
    assert gate.should_publish(0.8, q, 0.35)  # turned 0.05 rad
    g2 = PoseGate(0.5, 5e-4, 0.01)
    assert g2.should_publish(0.0, p, math.pi)
    assert not g2.should_publish(0.1, p, -math.pi + 1e-4)  # same heading across the wrap
    g2.reset()
    assert g2.should_publish(0.2, p, math.pi)


def test_pinhole_intrinsics_by_hand():
    fx, fy, cx, cy = pinhole_intrinsics(90.0, 256, 256)
    assert fx == pytest.approx(128.0) and fy == pytest.approx(128.0)
    assert (cx, cy) == (127.5, 127.5)
    fx, _, cx, cy = pinhole_intrinsics(60.0, 320, 100)
    assert fx == pytest.approx(50.0 / math.tan(math.radians(30.0)))
    assert (cx, cy) == (159.5, 49.5)
    with pytest.raises(ValueError, match='fovy'):
        pinhole_intrinsics(180.0, 10, 10)


def test_scaled_clock():
    t = [5.0]
    clock = ScaledClock(2.0, monotonic=lambda: t[0])
    assert clock.now() == 0.0
    t[0] = 6.5
    assert clock.now() == 3.0
    with pytest.raises(ValueError, match='factor'):
        ScaledClock(0.0)


def test_lockstep_clock_runs_free_until_a_command_then_waits_for_the_next():
    t = [10.0]  # steady seconds
    clock = LockstepClock(0.5, lead_s=0.05, timeout_s=2.0, monotonic=lambda: t[0])
    assert clock.now() == 0.0 and not clock.pacing()
    t[0] = 11.0
    assert clock.advance() == 0.5  # no command yet: 0.5 x 1 s
    assert clock.command(0.5)
    t[0] = 12.0  # 1 s later: free running would reach 1.0; the lead holds it at 0.5 + 0.05
    assert clock.advance() == pytest.approx(0.55)
    t[0] = 13.0  # still no newer command: it stays, and the time held back is not owed
    assert clock.advance() == pytest.approx(0.55)
    assert clock.held_ticks == 2 and clock.pacing()
    assert clock.command(0.55)
    t[0] = 13.04  # 0.02 s of simulated time, inside the new lead (0.55 + 0.05): no burst
    assert clock.advance() == pytest.approx(0.57)
    assert clock.held_ticks == 2 and clock.newest_command_s == 0.55


def test_lockstep_clock_ignores_unstamped_and_old_commands():
    t = [0.0]
    clock = LockstepClock(1.0, lead_s=0.1, timeout_s=1.0, monotonic=lambda: t[0])
    t[0] = 1.0
    clock.advance()  # 1.0 s of simulated time
    assert clock.command(1.0)
    for stamp in (0.0, -1.0, math.nan, math.inf, 0.9, 1.0):
        assert not clock.command(stamp), stamp
    assert clock.commands_counted == 1
    t[0] = 1.9  # 0.9 s after the last counted command (< timeout): paced, held at 1.0 + 0.1
    assert clock.advance() == pytest.approx(1.1)
    # The old stamps above did not count as signs of life: 1.2 s after the real command the
    # clock runs free again, by the steady time since the last call (0.3 s).
    t[0] = 2.2
    assert not clock.pacing()
    assert clock.advance() == pytest.approx(1.4)
    # A newer command paces again; one whose lead is already behind never turns time back.
    assert clock.command(1.2)
    t[0] = 3.0
    assert clock.advance() == pytest.approx(1.4)


@pytest.mark.parametrize('arg', ['factor', 'lead_s', 'timeout_s'])
def test_lockstep_clock_refuses_bad_settings(arg):
    kwargs = {'factor': 1.0, 'lead_s': 0.05, 'timeout_s': 2.0, arg: 0.0}
    with pytest.raises(ValueError, match=arg):
        LockstepClock(**kwargs)
    kwargs[arg] = math.nan
    with pytest.raises(ValueError, match=arg):
        LockstepClock(**kwargs)


@pytest.mark.parametrize(
    ('kwargs', 'word'),
    [
        ({'real_time_factor': 0.0}, 'real_time_factor'),
        ({'real_time_factor': 100.0}, 'keep up'),
        ({'camera_rate_hz': math.nan}, 'camera_rate_hz'),
        ({'image_width': 8}, 'image_width'),
        ({'seed': -1}, 'seed'),
        ({'lockstep': 1}, 'lockstep'),
        ({'lockstep_lead_s': 0.0}, 'lockstep_lead_s'),
        ({'lockstep_timeout_s': -1.0}, 'lockstep_timeout_s'),
    ],
)
def test_config_refuses(kwargs, word):
    with pytest.raises(ValueError, match=word):
        SimNodeConfig(**kwargs)


def test_config_sim_settings():
    sim = SimNodeConfig(image_width=128, image_height=96, seed=4).sim_config()
    assert (sim.image_width, sim.image_height, sim.seed) == (128, 96, 4)
    assert sim.substeps == 1 and sim.physics_dt_s == pytest.approx(1.0 / 600.0)
