"""The Arm base class itself: what a new backend gets and what it must provide."""

from __future__ import annotations

import numpy as np
import pytest

from so_arm_driver.arm import Arm
from so_arm_driver.errors import SoArmCommError, SoArmConfigError, SoArmNotConnectedError

NAMES = ('a', 'b')
LIMITS = np.array([[-1.0, 1.0], [0.0, 0.5]])


class ListArm(Arm):
    """The smallest backend: remembers what it was sent; optionally refuses in _restrict."""

    def __init__(self, refuse: bool = False) -> None:
        super().__init__(NAMES, LIMITS)
        self.sent: list[np.ndarray] = []
        self.released = 0
        self.refuse = refuse

    def _restrict(self, target_rad: np.ndarray) -> np.ndarray:
        if self.refuse:
            raise SoArmCommError('present position unreadable')
        return target_rad

    def _send(self, goals_rad: np.ndarray) -> np.ndarray:
        self.sent.append(goals_rad.copy())
        return goals_rad

    def read_positions(self) -> np.ndarray:
        return self.sent[-1] if self.sent else np.zeros(2)

    def set_torque(self, enabled: bool) -> None:
        pass

    def _release(self) -> None:
        self.released += 1


def test_a_backend_without_send_cannot_be_made():
    class NoSend(Arm):
        def read_positions(self) -> np.ndarray:
            return np.zeros(2)

        def set_torque(self, enabled: bool) -> None:
            pass

    with pytest.raises(TypeError, match='_send'):
        NoSend(NAMES, LIMITS)  # type: ignore[abstract]


def test_clamps_once_counts_and_returns_what_was_sent():
    arm = ListArm()
    result = arm.write_goals([2.0, 0.25])  # a list is accepted: it is converted once
    assert result.clamped == ('a',)
    np.testing.assert_array_equal(result.sent_rad, [1.0, 0.25])
    np.testing.assert_array_equal(arm.sent[-1], [1.0, 0.25])
    arm.write_goals(np.array([-5.0, -5.0]))
    assert arm.clamp_counts == {'a': 2, 'b': 1}
    # the limits cannot be changed through the returned array
    arm.limits_rad[0, 0] = -100.0
    assert arm.write_goals(np.array([-50.0, 0.0])).sent_rad[0] == -1.0


def test_a_refusing_restrict_sends_and_counts_nothing():
    arm = ListArm(refuse=True)
    with pytest.raises(SoArmCommError):
        arm.write_goals(np.array([3.0, 0.1]))
    assert arm.sent == [] and arm.clamp_counts == {'a': 0, 'b': 0}


def test_close_releases_once_and_the_context_manager_closes():
    with ListArm() as arm:
        pass
    assert arm.closed and arm.released == 1
    arm.close()
    assert arm.released == 1
    with pytest.raises(SoArmNotConnectedError, match='ListArm is closed'):
        arm.write_goals(np.zeros(2))


@pytest.mark.parametrize(
    'limits',
    [np.zeros((3, 2)), np.array([[1.0, -1.0], [0.0, 1.0]]), np.array([[np.nan, 1.0], [0, 1]])],
)
def test_impossible_limits_are_refused(limits):
    with pytest.raises(SoArmConfigError, match='limits'):
        Arm.__init__(ListArm.__new__(ListArm), NAMES, limits)
