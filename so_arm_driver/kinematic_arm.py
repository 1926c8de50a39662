"""``KinematicArm``: a light SO-100/SO-101 whose joints track their goals like servos.

First-order tracking (time constant ``tau_s``) capped at the STS3215 no-load speed, integrated
up to an injected time source whenever the arm is read or commanded. The time source is any
``now() -> seconds`` callable (``time.monotonic`` for real time, a simulated clock's ``now`` for
faster-than-real-time runs), so the same model serves a benchmark on simulated time and a quick
demo in real time without MuJoCo.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from so_arm_driver.arm import Arm
from so_arm_driver.errors import SoArmConfigError
from so_arm_driver.robots import SO101, RobotSpec

# STS3215 no-load speed at 7.4 V: about 0.222 s per 60 degrees.
STS3215_MAX_SPEED_RAD_S = (np.pi / 3) / 0.222


class KinematicArm(Arm):
    """First-order servo model of an SO-100/SO-101 behind the ``Arm`` interface.

    Args:
        now: time source, seconds (monotonic; any origin); the state is integrated up to
            ``now()`` on every call.
        spec: joint names and limits.
        initial_rad: start position, radians, shape (J,); default the middle of each range.
        tau_s: servo time constant, seconds.
        max_speed_rad_s: speed cap of every joint, rad/s.
    Raises:
        SoArmConfigError: ``tau_s`` or ``max_speed_rad_s`` not a positive number, or
            ``initial_rad`` of the wrong shape or not finite.
    """

    def __init__(
        self,
        now: Callable[[], float],
        spec: RobotSpec = SO101,
        initial_rad: np.ndarray | None = None,
        tau_s: float = 0.03,
        max_speed_rad_s: float = STS3215_MAX_SPEED_RAD_S,
    ) -> None:
        if not (tau_s > 0 and max_speed_rad_s > 0):  # also rejects NaN
            raise SoArmConfigError(
                f'tau_s and max_speed_rad_s must be > 0, got {tau_s} s and {max_speed_rad_s} rad/s'
            )
        limits = np.array([[j.lower_rad, j.upper_rad] for j in spec.joints])
        super().__init__(spec.joint_names, limits)
        if initial_rad is None:
            q = self._limits.mean(axis=1)
        else:
            q = np.array(initial_rad, dtype=np.float64)
            n = len(self.joint_names)
            if q.shape != (n,) or not np.all(np.isfinite(q)):
                raise SoArmConfigError(
                    f'initial_rad must be {n} finite radians for {list(self.joint_names)}, '
                    f'got {initial_rad!r}'
                )
        self._now = now
        self._q = q
        self._goal = q.copy()
        self._t = now()
        self._tau = float(tau_s)
        self._vmax = float(max_speed_rad_s)
        self._torque = True

    @property
    def goal_rad(self) -> np.ndarray:
        """The goal the joints track, radians, shape (J,) (a copy)."""
        return self._goal.copy()

    @property
    def torque_enabled(self) -> bool:
        """True while the joints track their goal."""
        return self._torque

    def _integrate(self) -> None:
        now = self._now()
        remaining = now - self._t
        self._t = now
        if not self._torque:
            return
        # Exact first-order decay per sub-step, then the speed cap; sub-steps of tau/4 keep the
        # switch between the two regimes accurate.
        h_max = self._tau / 4
        while remaining > 1e-12:
            h = min(h_max, remaining)
            step = (self._goal - self._q) * (1.0 - np.exp(-h / self._tau))
            self._q = self._q + np.clip(step, -self._vmax * h, self._vmax * h)
            remaining -= h

    def read_positions(self) -> np.ndarray:
        """Joint positions at ``now()``, radians, shape (J,).

        Raises:
            SoArmNotConnectedError: the arm is closed.
        """
        self._require_open()
        self._integrate()
        return self._q.copy()

    def _send(self, goals_rad: np.ndarray) -> np.ndarray:
        # The motion up to now followed the previous goal.
        self._integrate()
        self._goal = goals_rad.copy()
        return goals_rad.copy()

    def set_torque(self, enabled: bool) -> None:
        """Hold (track the goal) or go limp (the joints stay where they are: no gravity here).

        Raises:
            SoArmNotConnectedError: the arm is closed.
        """
        self._require_open()
        self._integrate()
        self._torque = bool(enabled)

    def _release(self) -> None:
        self._integrate()
        self._torque = False
