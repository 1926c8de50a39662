"""Servo health for monitoring: supply voltage, temperature and error flags, judged per servo.

``read_servo_health`` reads Present_Voltage (0.1 V units on Feetech STS and Dynamixel X),
Present_Temperature (°C) and, where the vendor has it, the Feetech Status register (error flags)
of every joint of a connected arm, one servo at a time, so a silent servo costs its own entry and
not everyone's. ``assess`` turns one reading into a level (OK / WARN / ERROR, the same numbers as
diagnostic_msgs/DiagnosticStatus) and a message, with thresholds from ``HealthThresholds``.
``ReadFailureMonitor`` turns a run of failed position reads into WARN, then ERROR.

Nothing here imports ROS: the driver node maps these onto diagnostics.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from so_arm_driver.errors import (
    SoArmCommError,
    SoArmConfigError,
    SoArmNotConnectedError,
    SoArmServoError,
)
from so_arm_driver.follower import SoFollower
from so_arm_driver.tables import FEETECH_ERROR_BITS, Register

# Present_Voltage is in units of 0.1 V on both the Feetech STS and the Dynamixel X series.
VOLTS_PER_UNIT = 0.1


class HealthLevel(enum.IntEnum):
    """Severity; the values equal diagnostic_msgs/DiagnosticStatus OK, WARN, ERROR."""

    OK = 0
    WARN = 1
    ERROR = 2


@dataclass(frozen=True)
class HealthThresholds:
    """When a servo's supply voltage or temperature deserves a warning or an error.

    The defaults cover both STS3215 variants of the SO arms (7.4 V and 12 V supplies): a reading
    outside [voltage_warn_min_v, voltage_warn_max_v] warns, outside the error band it is an error
    (a sagging supply makes the servos weak and then brown out; overvoltage damages them). The
    STS3215 shuts down near 70 °C by default, so 55 °C warns and 65 °C is an error.

    Attributes:
        voltage_error_min_v / voltage_warn_min_v: low thresholds, volts.
        voltage_warn_max_v / voltage_error_max_v: high thresholds, volts.
        temperature_warn_c / temperature_error_c: high thresholds, degrees Celsius.
    Raises:
        SoArmConfigError: a threshold is not finite, or they are out of order
            (error_min <= warn_min < warn_max <= error_max, warn_c <= error_c).
    """

    voltage_error_min_v: float = 4.5
    voltage_warn_min_v: float = 6.0
    voltage_warn_max_v: float = 12.6
    voltage_error_max_v: float = 13.5
    temperature_warn_c: float = 55.0
    temperature_error_c: float = 65.0

    def __post_init__(self) -> None:
        values = {k: getattr(self, k) for k in self.__dataclass_fields__}
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            raise SoArmConfigError(f'health thresholds {bad} must be finite numbers')
        if not (
            self.voltage_error_min_v
            <= self.voltage_warn_min_v
            < self.voltage_warn_max_v
            <= self.voltage_error_max_v
        ):
            raise SoArmConfigError(
                'voltage thresholds must satisfy error_min <= warn_min < warn_max <= error_max, '
                f'got {self.voltage_error_min_v}, {self.voltage_warn_min_v}, '
                f'{self.voltage_warn_max_v}, {self.voltage_error_max_v} V'
            )
        if self.temperature_warn_c > self.temperature_error_c:
            raise SoArmConfigError(
                f'temperature_warn_c ({self.temperature_warn_c} °C) must not exceed '
                f'temperature_error_c ({self.temperature_error_c} °C)'
            )


@dataclass(frozen=True)
class ServoHealth:
    """One servo's health reading.

    Attributes:
        joint / servo_id: which servo.
        voltage_v: supply voltage, volts (None: not read).
        temperature_c: temperature, °C (None: not read).
        error_bits: the servo's error flags (Feetech Status register, or the error byte of a
            status packet that reported them); 0 none; None not read.
        read_error: why the reading is incomplete (the driver's message), or None.
    """

    joint: str
    servo_id: int
    voltage_v: float | None = None
    temperature_c: float | None = None
    error_bits: int | None = None
    read_error: str | None = None

    def values(self) -> dict[str, object]:
        """Key/value pairs for a diagnostic: units in the key names, None where not read."""
        return {
            'joint': self.joint,
            'servo_id': self.servo_id,
            'voltage_v': self.voltage_v,
            'temperature_c': self.temperature_c,
            'error_bits': self.error_bits,
            'error_flags': describe_error_bits(self.error_bits or 0),
            'read_error': self.read_error,
        }


def describe_error_bits(bits: int) -> str:
    """Feetech error flags in words ('' for none); unknown bits as hex."""
    words = [text for bit, text in FEETECH_ERROR_BITS.items() if bits & bit]
    unknown = bits & ~sum(FEETECH_ERROR_BITS)
    if unknown:
        words.append(f'unknown bits 0x{unknown:02x}')
    return ', '.join(words)


def read_servo_health(arm: SoFollower) -> list[ServoHealth]:
    """Read voltage, temperature and error flags of every joint of a connected arm.

    Servos are read one at a time; a servo that fails keeps its error in ``read_error`` (and,
    when its status packet carried error flags, those in ``error_bits``) and its remaining
    registers are skipped, so a silent servo costs one set of retries per call, not three.

    Returns:
        One ServoHealth per joint, in ``arm.joint_names`` order.
    Raises:
        SoArmNotConnectedError: the arm is not connected.
    """
    if not arm.is_connected:
        raise SoArmNotConnectedError(
            f'{arm.spec.name} on {arm.config.port} is not connected: call connect() first'
        )
    bus = arm.bus
    has_status = Register.STATUS in bus.table
    out = []
    for joint in arm.joint_names:
        sid = arm.ids[joint]
        fields: dict[str, object] = {}
        try:
            fields['voltage_v'] = bus.read_one(Register.PRESENT_VOLTAGE, sid) * VOLTS_PER_UNIT
            fields['temperature_c'] = float(bus.read_one(Register.PRESENT_TEMPERATURE, sid))
            fields['error_bits'] = bus.read_one(Register.STATUS, sid) if has_status else 0
        except SoArmServoError as e:
            fields['error_bits'] = e.error_bits
            fields['read_error'] = str(e)
        except SoArmCommError as e:
            fields['read_error'] = str(e)
        out.append(ServoHealth(joint, sid, **fields))  # type: ignore[arg-type]
    return out


def assess(health: ServoHealth, thresholds: HealthThresholds) -> tuple[HealthLevel, str]:
    """The level of one reading and a message naming every problem ('ok' when none).

    ERROR: the servo did not answer, reports error flags, or a value is past an error threshold.
    WARN: a value is past a warning threshold.
    """
    t = thresholds
    errors: list[str] = []
    warnings: list[str] = []
    if health.error_bits:
        errors.append(f'error flags: {describe_error_bits(health.error_bits)}')
    if health.read_error is not None:
        errors.append(f'read failed: {health.read_error}')
    v = health.voltage_v
    if v is not None:
        if not t.voltage_error_min_v <= v <= t.voltage_error_max_v:
            errors.append(
                f'supply {v:.1f} V outside {t.voltage_error_min_v}..{t.voltage_error_max_v} V'
            )
        elif not t.voltage_warn_min_v <= v <= t.voltage_warn_max_v:
            warnings.append(
                f'supply {v:.1f} V outside {t.voltage_warn_min_v}..{t.voltage_warn_max_v} V'
            )
    c = health.temperature_c
    if c is not None:
        if c >= t.temperature_error_c:
            errors.append(f'temperature {c:.0f} °C >= {t.temperature_error_c} °C')
        elif c >= t.temperature_warn_c:
            warnings.append(f'temperature {c:.0f} °C >= {t.temperature_warn_c} °C')
    if errors:
        return HealthLevel.ERROR, '; '.join(errors + warnings)
    if warnings:
        return HealthLevel.WARN, '; '.join(warnings)
    return HealthLevel.OK, 'ok'


class ReadFailureMonitor:
    """Consecutive failed reads: WARN for the first ones, ERROR from ``error_after`` on.

    Args:
        error_after: consecutive failures that make an ERROR (>= 1).
    Raises:
        SoArmConfigError: error_after < 1.
    """

    def __init__(self, error_after: int) -> None:
        if error_after < 1:
            raise SoArmConfigError(f'error_after must be >= 1, got {error_after}')
        self.error_after = error_after
        self.consecutive = 0
        self.total = 0

    def failure(self) -> HealthLevel:
        """Record a failed read; the level the run of failures has reached."""
        self.consecutive += 1
        self.total += 1
        return HealthLevel.ERROR if self.consecutive >= self.error_after else HealthLevel.WARN

    def success(self) -> bool:
        """Record a good read; True when it ends a run of failures (worth reporting once)."""
        recovered = self.consecutive > 0
        self.consecutive = 0
        return recovered
