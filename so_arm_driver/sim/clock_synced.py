"""``ClockSyncedSimArm``: the MuJoCo SO-101 (``SimArm``) stepped in sync with an injected clock.

MuJoCo time advances only when the simulator is stepped. This adapter steps it up to the time
source's ``now()`` on every read, write and torque call, in whole control steps, and counts the
steps it has taken as an integer so the fractional remainder is carried to the next call and
simulated time never drifts from (nor runs ahead of) the time source. The same code therefore runs
on a simulated clock (the benchmark's sweep and the tests: the physics follows simulated time
exactly) and on ``time.monotonic`` (the physics catches up with real time on each tick; stepping
a 33 ms tick's 20 physics steps took 0.56 ms median on one core here).

The time source is any ``now() -> seconds`` callable, so this module needs nothing outside
so_arm_driver; importing it imports MuJoCo.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from so_arm_driver.arm import Arm
from so_arm_driver.sim.config import SimConfig
from so_arm_driver.sim.errors import SimGoalError
from so_arm_driver.sim.sim_arm import SimArm

# Control step of the adapter: one MuJoCo physics step (the stiff servo model's 1/600 s). A
# coarser step (the simulator's default 1/30 s) would let a reader see physics up to one step
# old; one physics step keeps what ``read_positions`` returns within 1.7 ms of the clock.
DEFAULT_PHYSICS_DT_S = 1.0 / 600.0

# How many per-call stepping durations to keep for the report.
_STEP_TIMES_KEPT = 100_000


def clock_sync_config(physics_dt_s: float = DEFAULT_PHYSICS_DT_S) -> SimConfig:
    """The simulator settings the adapter uses: control step = one physics step (seconds)."""
    return SimConfig(physics_dt_s=physics_dt_s, control_dt_s=physics_dt_s)


class ClockSyncedSimArm(Arm):
    """A MuJoCo SO-101 whose physics follows an injected time source, behind ``Arm``.

    Bad goals raise ``SimGoalError`` (a ``SoArmGoalError``) without stepping the physics.

    Args:
        now: time source, seconds (monotonic; any origin); the physics is stepped up to
            ``now()`` on every call.
        config: simulator settings; default :func:`clock_sync_config` (step 1/600 s).
        initial_rad: optional start posture, radians, shape (6,): the joints are placed there
            (and their servos hold it) before any physics runs; it must be collision-free (a
            pose inside the table would be pushed out violently). Default: the simulator's home.

    Raises:
        so_arm_driver.sim.SimGoalError: ``initial_rad`` has the wrong shape or a NaN/inf.
    """

    goal_error = SimGoalError

    def __init__(
        self,
        now: Callable[[], float],
        config: SimConfig | None = None,
        initial_rad: np.ndarray | None = None,
    ) -> None:
        self._arm = SimArm(config=config or clock_sync_config())
        try:
            if initial_rad is not None:
                sent = self._arm.write_goals(np.asarray(initial_rad, dtype=np.float64)).sent_rad
                self._arm.sim.place_arm(sent)
        except BaseException:
            self._arm.close()  # a refused start pose must not leak the simulator
            raise
        super().__init__(self._arm.joint_names, self._arm.limits_rad)
        self._step_s = self._arm.sim.config.effective_control_dt_s
        self._now = now
        self._t0 = now()
        self._steps = 0  # control steps taken since _t0: sim time = _t0 + _steps * _step_s
        self._step_wall_s: deque[float] = deque(maxlen=_STEP_TIMES_KEPT)

    # -- clock sync ------------------------------------------------------------------------------
    def sync(self) -> int:
        """Step the physics up to ``now()``; returns the number of control steps taken.

        Only whole steps are taken, so the simulated time after the call is at most one control
        step behind the time source and never ahead of it.
        """
        elapsed = self._now() - self._t0
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
        """Simulated time on the time source's base, seconds (``now()`` at construction + the
        steps taken)."""
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
    def read_positions(self) -> np.ndarray:
        """Measured joints at ``now()`` (within one control step), radians, shape (6,)."""
        self._require_open()
        self.sync()
        return self._arm.read_positions()

    def _send(self, goals_rad: np.ndarray) -> np.ndarray:
        # Step to now first: the motion up to now followed the previous goal.
        self.sync()
        self._arm.sim.set_goals(goals_rad)
        return goals_rad.copy()

    def set_torque(self, enabled: bool) -> None:
        """Step to now, then enable (hold goals) or disable (limp) every servo."""
        self._require_open()
        self.sync()
        self._arm.set_torque(enabled)

    def _release(self) -> None:
        """Torque off and release the simulator (``close()`` calls this once)."""
        self._arm.close()
