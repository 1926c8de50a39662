"""ClockSyncedSimArm (so_arm_driver.sim.clock_synced): MuJoCo stepped on an injected clock."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip('mujoco')

from arm_helpers import ManualTime

from smolvla_ros.bench.pick_place import LOOP, TABLE_CLEAR_LOOP
from so_arm_driver.sim import SimConfig, SimGoalError
from so_arm_driver.sim.clock_synced import ClockSyncedSimArm

PHYSICS_DT = 1.0 / 600.0


def test_physics_follows_the_clock_in_whole_steps_and_never_runs_ahead():
    clock = ManualTime(5.0)  # an arbitrary origin, as on the monotonic clock
    arm = ClockSyncedSimArm(clock)
    mj_time = arm.sim_arm.time_s  # MuJoCo's own clock, 0 after reset
    assert mj_time == 0.0
    clock.advance(0.1)
    arm.read_positions()
    # 0.1 s is 60 physics steps of 1/600 s: MuJoCo's time must be exactly there
    assert arm.sim_arm.time_s == pytest.approx(60 * PHYSICS_DT, abs=1e-12)
    # Advance by a third of a step at a time: the remainder is carried, so after 3k advances
    # exactly k more steps were taken, and MuJoCo's time never passes the clock's.
    for k in range(1, 301):
        clock.advance(PHYSICS_DT / 3)
        arm.write_goals(np.array(TABLE_CLEAR_LOOP[0]))
        assert arm.sim_arm.time_s == pytest.approx((60 + k // 3) * PHYSICS_DT, abs=1e-9)
        lag = (clock() - 5.0) - arm.sim_arm.time_s
        assert -1e-9 <= lag < PHYSICS_DT + 1e-9
    assert arm.sim_arm.time_s == pytest.approx(0.1 + 100 * PHYSICS_DT, abs=1e-9)
    # reading twice at the same clock time does not step again
    t = arm.sim_arm.time_s
    arm.read_positions()
    arm.set_torque(True)
    assert arm.sim_arm.time_s == t
    arm.close()


def test_holds_a_goal_within_the_servo_stiffness_bound():
    # A position servo holding against gravity needs torque = kp * error; the actuator can give
    # at most force_limit_nm, so a held joint settles within force_limit / kp of its goal (the
    # dry friction adds frictionloss / kp, 0.00005 rad) once the motion has died out.
    servo = SimConfig().servo
    bound = (servo.force_limit_nm + servo.frictionloss) / servo.kp  # about 0.003 rad
    clock = ManualTime()
    arm = ClockSyncedSimArm(clock, initial_rad=np.array(TABLE_CLEAR_LOOP[0]))
    for goal in (TABLE_CLEAR_LOOP[1], TABLE_CLEAR_LOOP[3], TABLE_CLEAR_LOOP[0]):
        arm.write_goals(np.array(goal))
        clock.advance(3.0)
        err = np.abs(arm.read_positions() - np.array(goal))
        assert err.max() <= bound, err
    arm.close()


def test_bad_goals_raise_and_change_nothing():
    clock = ManualTime()
    arm = ClockSyncedSimArm(clock, initial_rad=np.array(LOOP[1]))
    goals_before = arm.sim_arm.sim.goals()
    clamps_before = arm.clamp_counts
    for bad in (np.full(6, np.nan), np.array([0.0, 0.0, np.inf, 0.0, 0.0, 0.0]), np.zeros(5)):
        with pytest.raises(ValueError):
            arm.write_goals(bad)
        with pytest.raises(SimGoalError):
            arm.write_goals(bad)
    assert np.array_equal(arm.sim_arm.sim.goals(), goals_before)
    assert arm.clamp_counts == clamps_before
    clock.advance(0.5)
    # the servos still hold the old goal
    assert np.abs(arm.read_positions() - np.array(LOOP[1])).max() < 0.01
    arm.close()
