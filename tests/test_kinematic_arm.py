"""KinematicArm (so_arm_driver.kinematic_arm): a first-order servo on an injected time source."""

from __future__ import annotations

import numpy as np
import pytest

from so_arm_driver.arm import Arm
from so_arm_driver.errors import SoArmConfigError, SoArmGoalError
from so_arm_driver.kinematic_arm import KinematicArm


class ManualTime:
    """A time source the test advances by hand, seconds."""

    def __init__(self, start_s: float = 0.0) -> None:
        self.t = start_s

    def __call__(self) -> float:
        return self.t


def test_kinematic_arm_is_an_arm_and_tracks_like_a_first_order_servo():
    now = ManualTime(12.5)  # any origin, as on the monotonic clock
    arm = KinematicArm(now, initial_rad=np.zeros(6), tau_s=0.03)
    assert isinstance(arm, Arm)
    arm.write_goals(np.full(6, 0.01))  # small step: the speed cap is not reached
    now.t += 0.03
    # one time constant of a first-order lag: 1 - 1/e of the step
    assert np.allclose(arm.read_positions(), 0.01 * (1 - np.exp(-1)), rtol=1e-9)


def test_kinematic_arm_speed_cap_and_limits():
    now = ManualTime()
    arm = KinematicArm(now, initial_rad=np.zeros(6), tau_s=0.03, max_speed_rad_s=4.0)
    result = arm.write_goals(np.array([1.5, 0, 0, 0, 0, 9.0]))
    assert result.clamped == ('gripper',)
    assert result.sent_rad[5] == pytest.approx(1.74533)  # the SO-101 URDF's gripper upper limit
    now.t += 0.1
    assert arm.read_positions()[0] == pytest.approx(0.4, abs=1e-9)  # 4 rad/s for 0.1 s
    with pytest.raises(ValueError):
        arm.write_goals(np.full(6, np.nan))


def test_torque_off_freezes_the_model():
    now = ManualTime()
    arm = KinematicArm(now, initial_rad=np.zeros(6), tau_s=0.03)
    arm.write_goals(np.full(6, 0.2))
    arm.set_torque(False)
    now.t += 1.0
    np.testing.assert_array_equal(arm.read_positions(), np.zeros(6))  # no gravity, no motion
    arm.set_torque(True)
    now.t += 1.0
    np.testing.assert_allclose(arm.read_positions(), np.full(6, 0.2), atol=1e-6)


@pytest.mark.parametrize(
    ('kwargs', 'match'),
    [
        ({'tau_s': 0.0}, 'tau_s'),
        ({'max_speed_rad_s': float('nan')}, 'max_speed_rad_s'),
        ({'initial_rad': np.zeros(5)}, 'initial_rad'),
        ({'initial_rad': np.array([0, 0, np.inf, 0, 0, 0])}, 'initial_rad'),
    ],
)
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(SoArmConfigError, match=match):
        KinematicArm(ManualTime(), **kwargs)


def test_bad_goal_is_a_goal_error_naming_the_joint():
    arm = KinematicArm(ManualTime(), initial_rad=np.zeros(6))
    with pytest.raises(SoArmGoalError, match="'wrist_flex'"):
        arm.write_goals(np.array([0, 0, 0, np.nan, 0, 0]))
