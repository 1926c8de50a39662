"""The one exception hierarchy of so_arm_driver.

Every error the driver raises on purpose derives from :class:`SoArmError`, so callers can catch the
family with one clause. Subclasses also derive from the matching built-in (``TimeoutError``,
``ValueError``, ``ImportError``, ``OSError``) so generic handlers keep working. Messages name the
port, joint names, ids, register and number of tries, and say what to do next.
"""

from __future__ import annotations


class SoArmError(Exception):
    """Base class of every error raised on purpose by so_arm_driver."""


class SoArmConfigError(SoArmError, ValueError):
    """A configuration value or an argument is impossible; nothing was sent to the arm."""


class SoArmGoalError(SoArmConfigError):
    """A goal vector was rejected (wrong shape, NaN or inf); nothing was sent to the arm."""


class SoArmSdkMissingError(SoArmError, ImportError):
    """The vendor SDK (feetech-servo-sdk or dynamixel-sdk) is not installed."""


class SoArmPortError(SoArmError, OSError):
    """The serial port is absent, busy, or could not be opened or configured."""


class SoArmCommError(SoArmError):
    """A servo answered with a corrupt or unexpected status packet after every retry."""


class SoArmTimeoutError(SoArmCommError, TimeoutError):
    """No answer after every retry: servo missing, unpowered, or at another id or baud rate."""


class SoArmServoError(SoArmCommError):
    """A servo reported error bits (voltage, overheat, overload, ...) in its status packet."""

    def __init__(self, message: str, error_bits: int = 0) -> None:
        super().__init__(message)
        self.error_bits = error_bits


class SoArmModelMismatchError(SoArmError):
    """A servo answered with a model number other than the one the robot definition expects."""


class SoArmCalibrationError(SoArmError):
    """A calibration file is missing, malformed, or disagrees with the servos' EEPROM."""


class SoArmNotConnectedError(SoArmError):
    """An operation needs an open bus or a connected arm, and there is none (or it was closed)."""


class SoArmTorqueError(SoArmCommError):
    """Switching torque failed on one or more servos; every servo was still tried.

    Attributes:
        failures: id -> the error that servo gave (timeout, corrupt answer, error bits).
        succeeded: ids whose torque change was acknowledged.
    """

    def __init__(
        self, message: str, failures: dict[int, SoArmError], succeeded: list[int]
    ) -> None:
        super().__init__(message)
        self.failures = dict(failures)
        self.succeeded = list(succeeded)
