"""``--sim mujoco``: the MuJoCo SO-101 stepped on the benchmark's clock.

The adapter itself is ``so_arm_driver.sim.clock_synced.ClockSyncedSimArm`` (time injected as a
``now()`` callable); this module only binds it to a ``smolvla_ros`` clock. Importing it imports
MuJoCo; ``smolvla_ros.bench.sim_arm`` registers it lazily.
"""

from __future__ import annotations

import numpy as np

from smolvla_ros.runtime.clock import Clock
from so_arm_driver.sim.clock_synced import ClockSyncedSimArm


def clock_synced_arm(clock: Clock, initial_rad: np.ndarray | None = None) -> ClockSyncedSimArm:
    """The MuJoCo SO-101 whose physics follows ``clock.now()`` (start pose in radians, or home)."""
    return ClockSyncedSimArm(clock.now, initial_rad=initial_rad)
