"""One contract, every ``Arm`` backend: the emulated servo bus (SoFollower), the MuJoCo simulator
(SimArm), the first-order servo model (KinematicArm) and MuJoCo on an injected clock
(ClockSyncedSimArm)."""

from __future__ import annotations

import numpy as np
import pytest
from arm_helpers import BACKENDS, TICK_RAD, open_backend

from so_arm_driver.arm import Arm, CommandResult
from so_arm_driver.errors import SoArmError, SoArmGoalError, SoArmNotConnectedError
from so_arm_driver.robots import SO101

# The SO-101 URDF's limits, radians, written out from the URDF (so101_new_calib), not read back
# from the code under test.
URDF_LOWER = np.array([-1.91986, -1.74533, -1.69, -1.65806, -2.74385, -0.174533])
URDF_UPPER = np.array([1.91986, 1.74533, 1.69, 1.65806, 2.84121, 1.74533])


@pytest.mark.parametrize('name', BACKENDS)
def test_every_backend_keeps_the_arm_contract(name, tmp_path):
    if name in ('sim', 'clock_synced'):
        pytest.importorskip('mujoco')
    with open_backend(name, tmp_path) as b:
        arm = b.arm
        assert isinstance(arm, Arm)
        assert arm.joint_names == SO101.joint_names
        lim = arm.limits_rad
        assert lim.shape == (6, 2)
        # Every backend's limits lie inside the URDF's (the follower's may be narrower: its
        # calibrated range decides where that is tighter).
        assert np.all(lim[:, 0] >= URDF_LOWER - 1e-12) and np.all(lim[:, 1] <= URDF_UPPER + 1e-12)

        # 1. NaN goal: a goal error naming the joint; nothing reaches the actuators.
        before, counts = b.state(), arm.clamp_counts
        with pytest.raises(SoArmGoalError, match="'elbow_flex'") as info:
            arm.write_goals(np.array([0.0, 0.0, np.nan, 0.0, 0.0, 0.0]))
        assert 'nothing was sent' in str(info.value)
        assert b.state() == before and arm.clamp_counts == counts

        # 2. Wrong shape: a goal error naming the expected shape and joints; nothing changes.
        with pytest.raises(SoArmGoalError, match=r'shape \(6,\).*shoulder_pan'):
            arm.write_goals(np.zeros(7))
        assert b.state() == before and arm.clamp_counts == counts

        # 3. Beyond the limits on every joint: clamped, counted, and what was sent (and what the
        # actuators hold) lies inside the limits, within a tick of them for the servo bus.
        goal = np.where(np.arange(6) % 2 == 0, URDF_UPPER + 1.0, URDF_LOWER - 1.0)
        result = arm.write_goals(goal)
        assert isinstance(result, CommandResult)
        assert result.clamped == SO101.joint_names
        assert arm.clamp_counts == {j: counts[j] + 1 for j in SO101.joint_names}
        sent = result.sent_rad
        assert np.all(sent >= lim[:, 0]) and np.all(sent <= lim[:, 1])
        edge = np.where(np.arange(6) % 2 == 0, lim[:, 1], lim[:, 0])
        tol = TICK_RAD if name == 'follower' else 0.0
        np.testing.assert_allclose(sent, edge, rtol=0, atol=tol)
        np.testing.assert_allclose(b.commanded_rad(), sent, rtol=0, atol=1e-12)

        # 4. Close is idempotent; a closed arm refuses goals and sends nothing.
        arm.close()
        closed = b.state()
        arm.close()
        assert arm.closed and b.state() == closed
        with pytest.raises(SoArmNotConnectedError):
            arm.write_goals(np.zeros(6))
        with pytest.raises(SoArmNotConnectedError):
            arm.read_positions()  # a closed arm never reports a stale position
        assert b.state() == closed
        assert issubclass(SoArmNotConnectedError, SoArmError)
