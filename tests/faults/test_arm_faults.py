"""Fault matrix of the arm backends: bad goals, closed or disconnected arms, failed reads, unknown
joints and goals that rounding would push past a limit.

Each fault is injected into every backend it applies to (the emulated servo bus behind SoFollower,
SimArm, KinematicArm, ClockSyncedSimArm). The test asserts the named error (or the safe result)
and that nothing else changed: the actuators' goals, torque, positions, simulated time, the bus
writes and the clamp counters are what they were before.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from arm_helpers import BACKENDS, CAL_RANGES, flash, goal_ticks, make_calibration, open_backend

from so_arm_driver.arm import Arm
from so_arm_driver.calibration import save_calibration
from so_arm_driver.emulator import so_arm_emulator
from so_arm_driver.errors import (
    SoArmError,
    SoArmGoalError,
    SoArmNotConnectedError,
    SoArmTimeoutError,
)
from so_arm_driver.follower import ArmConfig, SoFollower

TICK = 2 * math.pi / 4096


def _need(name: str) -> None:
    if name in ('sim', 'clock_synced'):
        pytest.importorskip('mujoco')


def _rejected_changes_nothing(b, goal, error: type[Exception], match: str) -> None:
    arm: Arm = b.arm
    arm.write_goals(np.full(6, 0.1))  # a goal in place, so "unchanged" is not just "initial"
    before, counts = b.state(), arm.clamp_counts
    with pytest.raises(error, match=match):
        arm.write_goals(goal)
    assert b.state() == before
    assert arm.clamp_counts == counts


@pytest.mark.parametrize('name', BACKENDS)
def test_nan_goal(name, tmp_path):
    """Fault: NaN in one joint's goal -> Expected: SoArmGoalError naming it; nothing changed."""
    _need(name)
    with open_backend(name, tmp_path) as b:
        goal = np.array([0.1, 0.1, 0.1, np.nan, 0.1, 0.1])
        _rejected_changes_nothing(b, goal, SoArmGoalError, r"\['wrist_flex'\].*nothing was sent")


@pytest.mark.parametrize('name', BACKENDS)
def test_infinite_goal(name, tmp_path):
    """Fault: +inf/-inf goals -> Expected: SoArmGoalError naming both joints; nothing changed."""
    _need(name)
    with open_backend(name, tmp_path) as b:
        goal = np.array([np.inf, 0.1, 0.1, 0.1, 0.1, -np.inf])
        _rejected_changes_nothing(b, goal, SoArmGoalError, r"\['shoulder_pan', 'gripper'\]")


@pytest.mark.parametrize('name', BACKENDS)
@pytest.mark.parametrize('shape', [(5,), (7,), (1, 6), ()])
def test_wrong_shape_goal(name, shape, tmp_path):
    """Fault: goal of the wrong shape -> Expected: SoArmGoalError naming (6,); nothing changed."""
    _need(name)
    with open_backend(name, tmp_path) as b:
        _rejected_changes_nothing(
            b, np.zeros(shape), SoArmGoalError, r"shape \(6,\) in the order \['shoulder_pan'"
        )


@pytest.mark.parametrize('name', BACKENDS)
def test_non_numeric_goal(name, tmp_path):
    """Fault: goal of strings/None -> Expected: SoArmGoalError asking for radians; no change."""
    _need(name)
    with open_backend(name, tmp_path) as b:
        goal = ['a', None, 0, 0, 0, 0]
        _rejected_changes_nothing(b, goal, SoArmGoalError, r'6 numbers \(radians\)')


@pytest.mark.parametrize('name', BACKENDS)
def test_goal_after_close(name, tmp_path):
    """Fault: goal after close() -> Expected: SoArmNotConnectedError; nothing sent or released."""
    _need(name)
    with open_backend(name, tmp_path) as b:
        b.arm.close()
        before, counts = b.state(), b.arm.clamp_counts
        with pytest.raises(SoArmNotConnectedError):
            b.arm.write_goals(np.zeros(6))
        b.arm.close()
        assert b.state() == before and b.arm.clamp_counts == counts


def test_goal_before_connect(tmp_path):
    """Fault: goal before connect() -> Expected: SoArmNotConnectedError; no byte on the bus."""
    with so_arm_emulator('so101') as emu:
        path = save_calibration(make_calibration(), tmp_path / 'f.json')
        arm = SoFollower(ArmConfig(port=emu.port, calibration_path=path))
        with pytest.raises(SoArmNotConnectedError, match=r'connect\(\)'):
            arm.write_goals(np.zeros(6))
        assert all(emu.servo(i).writes == [] for i in range(1, 7))
        assert arm.clamp_counts == dict.fromkeys(arm.joint_names, 0)


def test_relative_step_read_fails(tmp_path):
    """Fault: step-limit read times out -> Expected: SoArmTimeoutError; nothing sent or counted."""
    with so_arm_emulator('so101') as emu:
        cal = make_calibration()
        flash(emu, cal)
        path = save_calibration(cal, tmp_path / 'f.json')
        cfg = ArmConfig(
            port=emu.port, calibration_path=path, max_relative_target_rad=0.1, read_retries=0
        )
        with SoFollower(cfg) as arm:
            arm.read_positions()
            goals = goal_ticks(emu)
            writes = [len(emu.servo(i).writes) for i in range(1, 7)]
            emu.servo(3).silent = True
            with pytest.raises(SoArmTimeoutError, match=r'elbow_flex \(id 3\)'):
                arm.write_goals(np.full(6, 2.0))  # beyond the limits too: still no count
            emu.servo(3).silent = False
            arm.read_positions()  # a read behind any write: it would have been applied
            assert goal_ticks(emu) == goals
            assert [len(emu.servo(i).writes) for i in range(1, 7)] == writes
            assert arm.clamp_counts == dict.fromkeys(arm.joint_names, 0)


def test_goal_rounded_past_the_urdf_limit(tmp_path):
    """Fault: wrist_roll goal past 2.84121 rad -> Expected: tick 3899 (inside), not 3900."""
    assert CAL_RANGES['wrist_roll'] == (0, 4095)  # mid 2047.5, so the URDF limit decides
    with open_backend('follower', tmp_path) as b:
        result = b.arm.write_goals(np.array([0.0, 0.0, 0.0, 0.0, 10.0, 0.0]))
        ticks = b.state()['goal_ticks']  # state() reads first: the sync write is applied
        assert ticks[4] == 3899  # 2047.5 + 2.84121 / TICK = 3899.68, rounded inward
        assert result.sent_rad[4] == pytest.approx((3899 - 2047.5) * TICK, abs=1e-12)
        assert result.sent_rad[4] <= 2.84121
        assert result.clamped == ('wrist_roll',)
        assert b.arm.clamp_counts['wrist_roll'] == 1


def test_unknown_joint_name():
    """Fault: named goal for an unknown joint -> Expected: UnknownJointError (a SoArmError)."""
    pytest.importorskip('mujoco')
    from so_arm_driver.sim import SimArm, SimConfig, UnknownJointError

    with SimArm(config=SimConfig(image_width=32, image_height=32)) as arm:
        before = arm.sim.goals()
        with pytest.raises(SoArmError) as info:
            arm.write_named_goals({'wrist': 0.1, 'gripper': 0.2})
        assert isinstance(info.value, UnknownJointError)
        assert "['wrist']" in str(info.value)
        np.testing.assert_array_equal(arm.sim.goals(), before)
        assert arm.clamp_counts == dict.fromkeys(arm.joint_names, 0)


def test_bad_start_pose_of_the_clock_synced_arm():
    """Fault: NaN start pose for ClockSyncedSimArm -> Expected: SimGoalError (SoArmError)."""
    pytest.importorskip('mujoco')
    from so_arm_driver.sim import SimGoalError
    from so_arm_driver.sim.clock_synced import ClockSyncedSimArm

    with pytest.raises(SimGoalError, match='gripper') as info:
        ClockSyncedSimArm(lambda: 0.0, initial_rad=np.array([0, 0, 0, 0, 0, np.nan]))
    assert isinstance(info.value, SoArmError)
