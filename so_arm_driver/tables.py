"""Control tables of the servos the SO arms use, as data.

Register names are an Enum shared by every vendor; each vendor table maps a name to its address,
size and sign encoding. Addresses come from the Feetech STS/SMS memory table (the one LeRobot's
``feetech/tables.py`` describes) and the ROBOTIS X-series control table (protocol 2.0).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Register(enum.Enum):
    """Register names, spelled as LeRobot spells them."""

    FIRMWARE_MAJOR = 'Firmware_Major_Version'
    FIRMWARE_MINOR = 'Firmware_Minor_Version'
    MODEL_NUMBER = 'Model_Number'
    ID = 'ID'
    BAUD_RATE = 'Baud_Rate'
    RETURN_DELAY_TIME = 'Return_Delay_Time'
    MIN_POSITION_LIMIT = 'Min_Position_Limit'
    MAX_POSITION_LIMIT = 'Max_Position_Limit'
    MAX_TORQUE_LIMIT = 'Max_Torque_Limit'
    P_COEFFICIENT = 'P_Coefficient'
    D_COEFFICIENT = 'D_Coefficient'
    I_COEFFICIENT = 'I_Coefficient'
    PROTECTION_CURRENT = 'Protection_Current'
    HOMING_OFFSET = 'Homing_Offset'
    OPERATING_MODE = 'Operating_Mode'
    OVERLOAD_TORQUE = 'Overload_Torque'
    TORQUE_ENABLE = 'Torque_Enable'
    ACCELERATION = 'Acceleration'
    GOAL_POSITION = 'Goal_Position'
    GOAL_VELOCITY = 'Goal_Velocity'
    LOCK = 'Lock'
    PRESENT_POSITION = 'Present_Position'
    PRESENT_VELOCITY = 'Present_Velocity'
    PRESENT_LOAD = 'Present_Load'
    PRESENT_VOLTAGE = 'Present_Voltage'
    PRESENT_TEMPERATURE = 'Present_Temperature'
    STATUS = 'Status'
    MOVING = 'Moving'
    MAXIMUM_ACCELERATION = 'Maximum_Acceleration'


@dataclass(frozen=True)
class RegisterSpec:
    """Where a register lives and how its value is encoded.

    Attributes:
        address: byte address in the servo's memory.
        size: bytes (1, 2 or 4), little-endian.
        sign_bit: for sign-magnitude registers, the bit that carries the sign; None if unsigned
            (Feetech) or two's complement (Dynamixel, see ``twos_complement``).
        eeprom: True for EEPROM registers (written only with torque off, kept across power).
        twos_complement: Dynamixel signed registers.
    """

    address: int
    size: int
    sign_bit: int | None = None
    eeprom: bool = False
    twos_complement: bool = False


R = Register
# Feetech STS/SMS series (STS3215). Sign-magnitude: bit 15 for goal/present position and velocity,
# bit 11 for the homing offset, bit 10 for the load.
FEETECH_STS: dict[Register, RegisterSpec] = {
    R.FIRMWARE_MAJOR: RegisterSpec(0, 1),
    R.FIRMWARE_MINOR: RegisterSpec(1, 1),
    R.MODEL_NUMBER: RegisterSpec(3, 2),
    R.ID: RegisterSpec(5, 1, eeprom=True),
    R.BAUD_RATE: RegisterSpec(6, 1, eeprom=True),
    R.RETURN_DELAY_TIME: RegisterSpec(7, 1, eeprom=True),
    R.MIN_POSITION_LIMIT: RegisterSpec(9, 2, eeprom=True),
    R.MAX_POSITION_LIMIT: RegisterSpec(11, 2, eeprom=True),
    R.MAX_TORQUE_LIMIT: RegisterSpec(16, 2, eeprom=True),
    R.P_COEFFICIENT: RegisterSpec(21, 1, eeprom=True),
    R.D_COEFFICIENT: RegisterSpec(22, 1, eeprom=True),
    R.I_COEFFICIENT: RegisterSpec(23, 1, eeprom=True),
    R.PROTECTION_CURRENT: RegisterSpec(28, 2, eeprom=True),
    R.HOMING_OFFSET: RegisterSpec(31, 2, sign_bit=11, eeprom=True),
    R.OPERATING_MODE: RegisterSpec(33, 1, eeprom=True),
    R.OVERLOAD_TORQUE: RegisterSpec(36, 1, eeprom=True),
    R.TORQUE_ENABLE: RegisterSpec(40, 1),
    R.ACCELERATION: RegisterSpec(41, 1),
    R.GOAL_POSITION: RegisterSpec(42, 2, sign_bit=15),
    R.GOAL_VELOCITY: RegisterSpec(46, 2, sign_bit=15),
    R.LOCK: RegisterSpec(55, 1),
    R.PRESENT_POSITION: RegisterSpec(56, 2, sign_bit=15),
    R.PRESENT_VELOCITY: RegisterSpec(58, 2, sign_bit=15),
    R.PRESENT_LOAD: RegisterSpec(60, 2, sign_bit=10),
    R.PRESENT_VOLTAGE: RegisterSpec(62, 1),
    R.PRESENT_TEMPERATURE: RegisterSpec(63, 1),
    R.STATUS: RegisterSpec(65, 1),
    R.MOVING: RegisterSpec(66, 1),
    R.MAXIMUM_ACCELERATION: RegisterSpec(85, 1),
}

# ROBOTIS X series, protocol 2.0 (XL330, XL430, ...): the subset the driver uses.
DYNAMIXEL_X: dict[Register, RegisterSpec] = {
    R.MODEL_NUMBER: RegisterSpec(0, 2),
    R.FIRMWARE_MAJOR: RegisterSpec(6, 1),
    R.ID: RegisterSpec(7, 1, eeprom=True),
    R.BAUD_RATE: RegisterSpec(8, 1, eeprom=True),
    R.RETURN_DELAY_TIME: RegisterSpec(9, 1, eeprom=True),
    R.OPERATING_MODE: RegisterSpec(11, 1, eeprom=True),
    R.HOMING_OFFSET: RegisterSpec(20, 4, eeprom=True, twos_complement=True),
    R.MAX_POSITION_LIMIT: RegisterSpec(48, 4, eeprom=True),
    R.MIN_POSITION_LIMIT: RegisterSpec(52, 4, eeprom=True),
    R.TORQUE_ENABLE: RegisterSpec(64, 1),
    R.GOAL_POSITION: RegisterSpec(116, 4, twos_complement=True),
    R.PRESENT_LOAD: RegisterSpec(126, 2, twos_complement=True),
    R.PRESENT_VELOCITY: RegisterSpec(128, 4, twos_complement=True),
    R.PRESENT_POSITION: RegisterSpec(132, 4, twos_complement=True),
    R.PRESENT_VOLTAGE: RegisterSpec(144, 2),
    R.PRESENT_TEMPERATURE: RegisterSpec(146, 1),
}

# Model numbers as the servos report them in Model_Number.
FEETECH_MODEL_NUMBERS: dict[str, int] = {'sts3215': 777, 'sts3250': 2825, 'scs0009': 1284}
DYNAMIXEL_MODEL_NUMBERS: dict[str, int] = {
    'xl330-m077': 1190,
    'xl330-m288': 1200,
    'xl430-w250': 1060,
    'xm430-w350': 1020,
}

# Baud_Rate register codes.
FEETECH_BAUD_CODES: dict[int, int] = {
    1_000_000: 0,
    500_000: 1,
    250_000: 2,
    128_000: 3,
    115_200: 4,
    57_600: 5,
    38_400: 6,
    19_200: 7,
}
DYNAMIXEL_BAUD_CODES: dict[int, int] = {
    9_600: 0,
    57_600: 1,
    115_200: 2,
    1_000_000: 3,
    2_000_000: 4,
    3_000_000: 5,
    4_000_000: 6,
}

# Steps per revolution of the STS3215 and the X series encoders.
TICKS_PER_REV = 4096

# Status-packet error bits of the Feetech STS series.
FEETECH_ERROR_BITS: dict[int, str] = {
    1: 'input voltage out of range',
    2: 'angle limit',
    4: 'overheat',
    8: 'over current',
    32: 'overload',
}


def decode_sign_magnitude(raw: int, sign_bit: int) -> int:
    """Decode a Feetech sign-magnitude register value (bit ``sign_bit`` is the sign)."""
    magnitude = raw & ((1 << sign_bit) - 1)
    return -magnitude if raw & (1 << sign_bit) else magnitude


def encode_sign_magnitude(value: int, sign_bit: int) -> int:
    """Encode ``value`` in sign-magnitude with the sign at bit ``sign_bit``.

    Raises:
        ValueError: if ``|value|`` does not fit below the sign bit.
    """
    magnitude = abs(int(value))
    if magnitude >= 1 << sign_bit:
        raise ValueError(
            f'{value} does not fit a sign-magnitude field with the sign at bit {sign_bit}'
        )
    return magnitude | (1 << sign_bit) if value < 0 else magnitude


def decode_register(spec: RegisterSpec, raw: int) -> int:
    """Turn the unsigned bytes value of a register into its signed meaning."""
    if spec.sign_bit is not None:
        return decode_sign_magnitude(raw, spec.sign_bit)
    if spec.twos_complement and raw >= 1 << (8 * spec.size - 1):
        return raw - (1 << (8 * spec.size))
    return raw


def encode_register(spec: RegisterSpec, value: int) -> int:
    """Turn a signed value into the unsigned bytes value of a register.

    Raises:
        ValueError: if the value does not fit the register.
    """
    value = int(value)
    if spec.sign_bit is not None:
        return encode_sign_magnitude(value, spec.sign_bit)
    bits = 8 * spec.size
    if spec.twos_complement:
        if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
            raise ValueError(f'{value} does not fit a signed {bits}-bit register')
        return value & ((1 << bits) - 1)
    if not 0 <= value < 1 << bits:
        raise ValueError(f'{value} does not fit an unsigned {bits}-bit register')
    return value
