"""The MuJoCo SO-101 (``so_arm_driver.sim.SimArm``) on the benchmark's clock: ``--sim mujoco``.

MuJoCo time advances only when the simulator is stepped. This adapter steps it up to the
injected clock's ``now()`` on every read, write and torque call, in whole control steps, and
counts the steps it has taken as an integer so the fractional remainder is carried to the next
call and simulated time never drifts from (nor runs ahead of) the clock. The same code therefore
runs on a ``SimClock`` (the sweep and the tests: the physics follows simulated time exactly) and
on the ``MonotonicClock`` (the headline modes: the physics catches up with real time on each
tick; stepping a 33 ms tick's 20 physics steps took 0.56 ms median on one core here).

Importing this module imports MuJoCo; ``smolvla_ros.bench.sim_arm`` registers it lazily.
"""

from __future__ import annotations

import math
import time
from collections import deque

import numpy as np

from smolvla_ros.runtime.clock import Clock
from so_arm_driver.arm import CommandResult
from so_arm_driver.sim import SimArm, SimConfig

# Control step of the adapter: one MuJoCo physics step (the stiff servo model's 1/600 s). A
# coarser step (the simulator's default 1/30 s) would let a reader see physics up to one step
# old; one physics step keeps what ``read_positions`` returns within 1.7 ms of the clock.
DEFAULT_PHYSICS_DT_S = 1.0 / 600.0

# How many per-call stepping durations to keep for the report.
_STEP_TIMES_KEPT = 100_000


def clock_sync_config(physics_dt_s: float = DEFAULT_PHYSICS_DT_S) -> SimConfig:
    """The simulator settings the adapter uses: control step = one physics step (seconds)."""
    return SimConfig(physics_dt_s=physics_dt_s, control_dt_s=physics_dt_s)


class ClockSyncedSimArm:
    """A MuJoCo SO-101 whose physics follows an injected clock (implements ``Arm``).

    Args:
        clock: time source; the physics is stepped up to ``clock.now()`` on every call.
        config: simulator settings; default :func:`clock_sync_config` (step 1/600 s).
        initial_rad: optional start posture, radians, shape (6,): the joints are placed there
            (and their servos hold it) before any physics runs; it must be collision-free (a
            pose inside the table would be pushed out violently). Default: the simulator's home.

    Raises:
        so_arm_driver.sim.SimGoalError: ``initial_rad`` has the wrong shape or a NaN/inf.
    """

    def __init__(
        self,
        clock: Clock,
        config: SimConfig | None = None,
        initial_rad: np.ndarray | None = None,
    ) -> None:
        self._arm = SimArm(config=config or clock_sync_config())
        self._step_s = self._arm.sim.config.effective_control_dt_s
        if initial_rad is not None:
            sent = self._arm.write_goals(np.asarray(initial_rad, dtype=np.float64)).sent_rad
            self._arm.sim.place_arm(sent)
        self._clock = clock
        self._t0 = clock.now()
        self._steps = 0  # control steps taken since _t0: sim time = _t0 + _steps * _step_s
        self._step_wall_s: deque[float] = deque(maxlen=_STEP_TIMES_KEPT)

    # -- clock sync ------------------------------------------------------------------------------
    def sync(self) -> int:
        """Step the physics up to the clock's now; returns the number of control steps taken.

        Only whole steps are taken, so the simulated time after the call is at most one control
        step behind the clock and never ahead of it.
        """
        elapsed = self._clock.now() - self._t0
        # The tiny tolerance absorbs float rounding when the clock sits exactly on a step edge.
        target = math.floor(elapsed / self._step_s + 1e-9)
        n = target - self._steps
        if n <= 0:
            return 0
        started = time.perf_counter()
        self._arm.step(n)
        self._step_wall_s.append(time.perf_counter() - started)
        self._steps = target
        return n

    @property
    def sim_time_s(self) -> float:
        """Simulated time on the clock's time base, seconds (``clock`` time at construction +
        the steps taken)."""
        return self._t0 + self._steps * self._step_s

    @property
    def control_step_s(self) -> float:
        """The stepping granularity, seconds."""
        return self._step_s

    @property
    def sim_arm(self) -> SimArm:
        """The wrapped simulator arm (for inspection; stepping it directly desynchronises)."""
        return self._arm

    def stepping_stats_ms(self) -> dict[str, float | int | None]:
        """Wall time the physics stepping took per call that stepped: count, p50, p99, max (ms).

        In real time this is the cost the simulator adds to a control tick.
        """
        if not self._step_wall_s:
            return {'calls': 0, 'p50_ms': None, 'p99_ms': None, 'max_ms': None}
        ms = np.asarray(self._step_wall_s) * 1e3
        return {
            'calls': len(ms),
            'p50_ms': float(np.percentile(ms, 50)),
            'p99_ms': float(np.percentile(ms, 99)),
            'max_ms': float(ms.max()),
        }

    # -- Arm -------------------------------------------------------------------------------------
    @property
    def joint_names(self) -> tuple[str, ...]:
        return self._arm.joint_names

    @property
    def limits_rad(self) -> np.ndarray:
        return self._arm.limits_rad

    @property
    def clamp_counts(self) -> dict[str, int]:
        return self._arm.clamp_counts

    def read_positions(self) -> np.ndarray:
        """Measured joints at the clock's now (within one control step), radians, shape (6,)."""
        self.sync()
        return self._arm.read_positions()

    def write_goals(self, goals_rad: np.ndarray) -> CommandResult:
        """Step to now, then command goals (radians, shape (6,)), clamped to the limits.

        Raises:
            so_arm_driver.sim.SimGoalError (a ValueError): wrong shape or NaN/inf; the goals
                stay as they were.
        """
        self.sync()
        return self._arm.write_goals(goals_rad)

    def set_torque(self, enabled: bool) -> None:
        """Step to now, then enable (hold goals) or disable (limp) every servo."""
        self.sync()
        self._arm.set_torque(enabled)

    def close(self) -> None:
        """Torque off and release the simulator. Idempotent."""
        self._arm.close()
