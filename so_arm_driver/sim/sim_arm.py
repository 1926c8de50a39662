"""``SimArm``: the simulator behind the same ``Arm`` interface as the real bus driver.

Goals are validated (shape, finite), clamped to the joint limits of ``robots.py`` and counted per
joint, exactly like the driver does, before they reach the simulated servos. Time advances only
when ``step()`` is called, so a runner decides whether the sim runs in real time or faster.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from so_arm_driver.arm import CommandResult
from so_arm_driver.sim.config import SimConfig
from so_arm_driver.sim.errors import SimError, SimGoalError, UnknownJointError
from so_arm_driver.sim.simulator import Simulator


class SimArm:
    """A simulated SO-101 implementing ``so_arm_driver.arm.Arm``."""

    def __init__(self, sim: Simulator | None = None, config: SimConfig | None = None) -> None:
        self.sim = sim or Simulator(config)
        spec = self.sim.spec
        self._names = spec.joint_names
        self._limits = np.array([[j.lower_rad, j.upper_rad] for j in spec.joints])
        self._clamps = dict.fromkeys(self._names, 0)
        self._closed = False

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self._names

    @property
    def limits_rad(self) -> np.ndarray:
        return self._limits.copy()

    @property
    def clamp_counts(self) -> dict[str, int]:
        return dict(self._clamps)

    def _check_open(self) -> None:
        if self._closed:
            raise SimError('the simulated arm is closed; create a new SimArm')

    def read_positions(self) -> np.ndarray:
        """Measured joint positions, radians, shape (6,)."""
        self._check_open()
        return self.sim.joint_positions()

    def write_goals(self, goals_rad: np.ndarray) -> CommandResult:
        """Command goals (radians, shape (6,), joint_names order), clamped to the limits.

        Raises:
            SimGoalError: wrong shape, or a NaN/inf value; nothing is commanded.
        """
        self._check_open()
        goals = np.asarray(goals_rad, dtype=float)
        if goals.shape != (len(self._names),):
            raise SimGoalError(
                f'goals must have shape ({len(self._names)},) in the order {self._names}, '
                f'got {goals.shape}'
            )
        bad = [n for n, g in zip(self._names, goals, strict=True) if not np.isfinite(g)]
        if bad:
            raise SimGoalError(f'non-finite goal for joint(s) {bad}; nothing was commanded')
        sent = np.clip(goals, self._limits[:, 0], self._limits[:, 1])
        clamped = tuple(n for n, g, s in zip(self._names, goals, sent, strict=True) if g != s)
        for name in clamped:
            self._clamps[name] += 1
        self.sim.set_goals(sent)
        return CommandResult(sent_rad=sent, clamped=clamped)

    def write_named_goals(self, goals_rad: Mapping[str, float]) -> CommandResult:
        """Command some joints by name (radians); the others keep their current goal.

        Raises:
            UnknownJointError: a name is not one of ``joint_names``; nothing is commanded.
            SimGoalError: a value is NaN/inf; nothing is commanded.
        """
        unknown = sorted(set(goals_rad) - set(self._names))
        if unknown:
            raise UnknownJointError(
                f'unknown joint(s) {unknown}; this arm has {list(self._names)}'
            )
        goals = self.sim.goals()
        for i, name in enumerate(self._names):
            if name in goals_rad:
                goals[i] = float(goals_rad[name])
        return self.write_goals(goals)

    def set_torque(self, enabled: bool) -> None:
        """Enable (hold goals) or disable (limp) every simulated servo."""
        self._check_open()
        self.sim.set_torque(bool(enabled))

    def step(self, control_steps: int = 1) -> None:
        """Advance the simulation by ``control_steps`` control periods."""
        self._check_open()
        self.sim.step(control_steps)

    @property
    def time_s(self) -> float:
        """Simulated time, seconds."""
        return self.sim.time_s

    def close(self) -> None:
        """Torque off and release the renderer. Idempotent."""
        if self._closed:
            return
        self.sim.set_torque(False)
        self.sim.close()
        self._closed = True

    def __enter__(self) -> SimArm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
