"""``SimArm``: the simulator behind the same ``Arm`` interface as the real bus driver.

Goals go through the one path of ``Arm.write_goals`` (validated, clamped to the joint limits of
``robots.py`` and counted per joint, exactly like the driver) before they reach the simulated
servos. Time advances only
when ``step()`` is called, so a runner decides whether the sim runs in real time or faster.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from so_arm_driver.arm import Arm, CommandResult
from so_arm_driver.sim.config import SimConfig
from so_arm_driver.sim.errors import SimGoalError, UnknownJointError
from so_arm_driver.sim.simulator import Simulator


class SimArm(Arm):
    """A simulated SO-101 behind the ``so_arm_driver.arm.Arm`` interface.

    Bad goals raise ``SimGoalError`` (a ``SoArmGoalError``); a closed arm raises
    ``SoArmNotConnectedError``.
    """

    goal_error = SimGoalError

    def __init__(self, sim: Simulator | None = None, config: SimConfig | None = None) -> None:
        self.sim = sim or Simulator(config)
        spec = self.sim.spec
        limits = np.array([[j.lower_rad, j.upper_rad] for j in spec.joints])
        super().__init__(spec.joint_names, limits)

    def read_positions(self) -> np.ndarray:
        """Measured joint positions, radians, shape (6,)."""
        self._require_open()
        return self.sim.joint_positions()

    def _send(self, goals_rad: np.ndarray) -> np.ndarray:
        self.sim.set_goals(goals_rad)
        return goals_rad.copy()

    def write_named_goals(self, goals_rad: Mapping[str, float]) -> CommandResult:
        """Command some joints by name (radians); the others keep their current goal.

        Raises:
            UnknownJointError: a name is not one of ``joint_names``; nothing is commanded.
            SimGoalError: a value is NaN/inf; nothing is commanded.
        """
        unknown = sorted(set(goals_rad) - set(self.joint_names))
        if unknown:
            raise UnknownJointError(
                f'unknown joint(s) {unknown}; this arm has {list(self.joint_names)}'
            )
        goals = self.sim.goals()
        for i, name in enumerate(self.joint_names):
            if name in goals_rad:
                goals[i] = float(goals_rad[name])
        return self.write_goals(goals)

    def set_torque(self, enabled: bool) -> None:
        """Enable (hold goals) or disable (limp) every simulated servo."""
        self._require_open()
        self.sim.set_torque(bool(enabled))

    def step(self, control_steps: int = 1) -> None:
        """Advance the simulation by ``control_steps`` control periods."""
        self._require_open()
        self.sim.step(control_steps)

    @property
    def time_s(self) -> float:
        """Simulated time, seconds."""
        return self.sim.time_s

    def _release(self) -> None:
        """Torque off and release the renderer (``close()`` calls this once)."""
        try:
            self.sim.set_torque(False)
        finally:
            self.sim.close()
