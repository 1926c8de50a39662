"""Errors raised by the MuJoCo simulator of the SO-101.

One small hierarchy: catch ``SimError`` for anything the simulator refuses. ``SimError`` derives
from ``so_arm_driver.errors.SoArmError``, so one ``except SoArmError`` covers the real arm and the
simulator alike. The subclasses also derive from the matching built-in (or driver) error so
callers that only know ``ValueError``/``KeyError``/``SoArmGoalError`` still work.
"""

from __future__ import annotations

from so_arm_driver.errors import SoArmConfigError, SoArmError, SoArmGoalError


class SimError(SoArmError):
    """Base class of every error the simulator raises on purpose."""


class SimConfigError(SimError, SoArmConfigError):
    """A simulator or task setting is impossible (negative rate, camera too small, ...)."""


class SimGoalError(SimError, SoArmGoalError):
    """A joint goal was rejected (NaN/inf, wrong shape); nothing was commanded."""


class UnknownJointError(SimError, KeyError):
    """A goal named a joint the arm does not have; nothing was commanded."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ''


class DescriptionError(SimError, FileNotFoundError):
    """The URDF/xacro description could not be found or expanded."""


class IKError(SimError, RuntimeError):
    """Inverse kinematics did not reach a target within tolerance."""
