"""The benchmark's arm backends, bound to its clock: ``SIM_ARMS`` and the task each one runs.

The arms live in so_arm_driver (``kinematic_arm.KinematicArm``, a first-order servo model, and
``sim.clock_synced.ClockSyncedSimArm``, MuJoCo on an injected time source); this module only wires
them to a ``smolvla_ros`` clock. ``mujoco`` is imported lazily so the benchmark runs without it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from smolvla_ros.bench.pick_place import MUJOCO_LEAD_S, TABLE_CLEAR_LOOP, PickPlaceTask
from smolvla_ros.runtime.clock import Clock
from so_arm_driver.arm import Arm
from so_arm_driver.kinematic_arm import KinematicArm


def kinematic_arm(clock: Clock) -> Arm:
    """The first-order servo model (``so_arm_driver.kinematic_arm``) integrated on ``clock``."""
    return KinematicArm(clock.now)


class BackendUnavailableError(RuntimeError):
    """An arm backend needs an optional dependency that is not installed."""


def mujoco_arm(clock: Clock) -> Arm:
    """The MuJoCo SO-101 stepped in sync with ``clock`` (``bench.mujoco_arm``).

    Imported on first use, so the benchmark works without MuJoCo installed.

    Raises:
        BackendUnavailableError: MuJoCo (or the simulator's other dependencies) is missing.
    """
    try:
        from smolvla_ros.bench.mujoco_arm import clock_synced_arm
    except ImportError as e:
        raise BackendUnavailableError(
            f'--sim mujoco needs the MuJoCo simulator, which could not be imported ({e}); '
            'install it with: pip install .[sim]   (or use --sim kinematic)'
        ) from e
    # Start at the loop's first waypoint (where run_mode sends every arm before it starts):
    # the simulator's home pose is 2.8 rad of wrist roll away, more than its settle time covers.
    return clock_synced_arm(clock, initial_rad=np.array(TABLE_CLEAR_LOOP[0]))


# The benchmark's arm backends: name -> factory(clock) -> Arm.
SIM_ARMS: dict[str, Callable[[Clock], Arm]] = {'kinematic': kinematic_arm, 'mujoco': mujoco_arm}

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
