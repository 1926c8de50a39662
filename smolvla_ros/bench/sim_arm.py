"""A light kinematic SO-101 for the benchmark: each joint tracks its goal like a servo.

First-order tracking (time constant ``tau_s``) capped at the STS3215 no-load speed, integrated on
the injected clock whenever the arm is read or commanded, so it runs on simulated time as well as
in real time. It implements ``so_arm_driver.arm.Arm``, the seam through which the benchmark can
drive any other backend (``SIM_ARMS``; ``mujoco`` is the MuJoCo simulator, imported lazily).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np

from smolvla_ros.bench.pick_place import MUJOCO_LEAD_S, TABLE_CLEAR_LOOP, PickPlaceTask
from smolvla_ros.runtime.clock import Clock
from so_arm_driver.arm import Arm, CommandResult
from so_arm_driver.robots import SO101, RobotSpec

# STS3215 no-load speed at 7.4 V: about 0.222 s per 60 degrees.
STS3215_MAX_SPEED_RAD_S = (np.pi / 3) / 0.222


class KinematicArm:
    """First-order servo model of an SO-100/SO-101 (implements ``Arm``).

    Args:
        clock: time source; the state is integrated up to ``clock.now()`` on every call.
        spec: joint names and limits.
        initial_rad: start position, shape (J,); default the middle of each range.
        tau_s: servo time constant, seconds.
        max_speed_rad_s: speed cap of every joint, rad/s.
    """

    def __init__(
        self,
        clock: Clock,
        spec: RobotSpec = SO101,
        initial_rad: np.ndarray | None = None,
        tau_s: float = 0.03,
        max_speed_rad_s: float = STS3215_MAX_SPEED_RAD_S,
    ) -> None:
        if tau_s <= 0 or max_speed_rad_s <= 0:
            raise ValueError('tau_s and max_speed_rad_s must be > 0')
        self._clock = clock
        self._spec = spec
        self._limits = np.array([[j.lower_rad, j.upper_rad] for j in spec.joints])
        mid = self._limits.mean(axis=1)
        self._q = mid.copy() if initial_rad is None else np.array(initial_rad, dtype=np.float64)
        self._goal = self._q.copy()
        self._t = clock.now()
        self._tau = tau_s
        self._vmax = max_speed_rad_s
        self._clamps: Counter[str] = Counter()
        self._torque = True

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self._spec.joint_names

    @property
    def limits_rad(self) -> np.ndarray:
        return self._limits.copy()

    @property
    def clamp_counts(self) -> dict[str, int]:
        return dict(self._clamps)

    def _integrate(self) -> None:
        now = self._clock.now()
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
        self._integrate()
        return self._q.copy()

    def write_goals(self, goals_rad: np.ndarray) -> CommandResult:
        goals = np.asarray(goals_rad, dtype=np.float64)
        if goals.shape != (len(self._spec.joints),) or not np.all(np.isfinite(goals)):
            n = len(self._spec.joints)
            raise ValueError(f'write_goals: need {n} finite goals in radians, got {goals}')
        self._integrate()
        sent = np.clip(goals, self._limits[:, 0], self._limits[:, 1])
        clamped = tuple(n for n, a, b in zip(self.joint_names, sent, goals, strict=True) if a != b)
        self._clamps.update(clamped)
        self._goal = sent
        return CommandResult(sent_rad=sent.copy(), clamped=clamped)

    def set_torque(self, enabled: bool) -> None:
        self._integrate()
        self._torque = bool(enabled)

    def close(self) -> None:
        self._torque = False


class BackendUnavailableError(RuntimeError):
    """An arm backend needs an optional dependency that is not installed."""


def mujoco_arm(clock: Clock) -> Arm:
    """The MuJoCo SO-101 stepped in sync with ``clock`` (``bench.mujoco_arm``).

    Imported on first use, so the benchmark works without MuJoCo installed.

    Raises:
        BackendUnavailableError: MuJoCo (or the simulator's other dependencies) is missing.
    """
    try:
        from smolvla_ros.bench.mujoco_arm import ClockSyncedSimArm
    except ImportError as e:
        raise BackendUnavailableError(
            f'--sim mujoco needs the MuJoCo simulator, which could not be imported ({e}); '
            'install it with: pip install .[sim]   (or use --sim kinematic)'
        ) from e
    # Start at the loop's first waypoint (where run_mode sends every arm before it starts):
    # the simulator's home pose is 2.8 rad of wrist roll away, more than its settle time covers.
    return ClockSyncedSimArm(clock, initial_rad=np.array(TABLE_CLEAR_LOOP[0]))


# The benchmark's arm backends: name -> factory(clock) -> Arm.
SIM_ARMS: dict[str, Callable[[Clock], Arm]] = {'kinematic': KinematicArm, 'mujoco': mujoco_arm}

# The task each backend runs: the same waypoint loop, except that the MuJoCo arm has a table
# and a bin to clear (see pick_place.TABLE_CLEAR_LOOP) and lags its goals more than the
# kinematic servo (the oracle's lead is that backend's measured lag). A backend without an
# entry runs the default PickPlaceTask().
SIM_TASKS: dict[str, Callable[[], PickPlaceTask]] = {
    'kinematic': PickPlaceTask,
    'mujoco': lambda: PickPlaceTask(
        waypoints=np.array(TABLE_CLEAR_LOOP, dtype=np.float64), oracle_lead_s=MUJOCO_LEAD_S
    ),
}
