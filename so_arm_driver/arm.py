"""The arm interface every backend presents: the real bus driver and the MuJoCo simulator alike.

The runtime and the nodes talk to an ``Arm`` and cannot tell which backend is behind it. All
positions are radians in the URDF convention, in the order of ``joint_names``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class CommandResult:
    """What an arm actually did with a goal.

    Attributes:
        sent_rad: the goal positions actually commanded after clamping, radians, shape (J,).
        clamped: names of the joints whose goal was changed by a limit in this command.
    """

    sent_rad: np.ndarray
    clamped: tuple[str, ...] = field(default_factory=tuple)


@runtime_checkable
class Arm(Protocol):
    """Position-controlled arm. Implementations: the Feetech/Dynamixel driver and the simulator."""

    @property
    def joint_names(self) -> tuple[str, ...]:
        """Joint names in the order every array of this interface uses."""
        ...

    @property
    def limits_rad(self) -> np.ndarray:
        """Position limits, radians, shape (J, 2): [lower, upper] per joint."""
        ...

    @property
    def clamp_counts(self) -> dict[str, int]:
        """How many goals each joint had clamped since connect."""
        ...

    def read_positions(self) -> np.ndarray:
        """Measured joint positions, radians, shape (J,). Raises rather than guessing."""
        ...

    def write_goals(self, goals_rad: np.ndarray) -> CommandResult:
        """Command goal positions (radians, shape (J,)), clamped to the limits; NaN is rejected."""
        ...

    def set_torque(self, enabled: bool) -> None:
        """Enable or disable holding torque on every joint."""
        ...

    def close(self) -> None:
        """Release the arm (torque off by default). Idempotent."""
        ...
