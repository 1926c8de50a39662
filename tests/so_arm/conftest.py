"""Fixtures for the SO-arm driver tests: emulated buses on a pty and matching calibrations."""

from __future__ import annotations

import pytest

from so_arm_driver.calibration import MotorCalibration
from so_arm_driver.emulator import FeetechEmulator, so_arm_emulator
from so_arm_driver.robots import JOINT_NAMES
from so_arm_driver.tables import Register, encode_sign_magnitude

# A hand-made calibration: ranges around mid ticks 2000 (body) with offsets applied in EEPROM.
CAL_RANGES = {
    'shoulder_pan': (1000, 3000),
    'shoulder_lift': (900, 3100),
    'elbow_flex': (1000, 3000),
    'wrist_flex': (1100, 2900),
    'wrist_roll': (0, 4095),
    'gripper': (2000, 3000),
}
CAL_OFFSETS = {
    'shoulder_pan': -37,
    'shoulder_lift': 120,
    'elbow_flex': 0,
    'wrist_flex': 33,
    'wrist_roll': -5,
    'gripper': 14,
}


def make_calibration() -> dict[str, MotorCalibration]:
    return {
        name: MotorCalibration(k + 1, 0, CAL_OFFSETS[name], *CAL_RANGES[name])
        for k, name in enumerate(JOINT_NAMES)
    }


def flash_calibration(emu: FeetechEmulator, cal: dict[str, MotorCalibration]) -> None:
    """Put a calibration into the emulated EEPROMs directly (as a previous calibrate would)."""
    for c in cal.values():
        s = emu.servo(c.id)
        s.set(Register.HOMING_OFFSET, encode_sign_magnitude(c.homing_offset, 11))
        s.set(Register.MIN_POSITION_LIMIT, c.range_min)
        s.set(Register.MAX_POSITION_LIMIT, c.range_max)


def set_present(emu: FeetechEmulator, servo_id: int, present: int) -> None:
    """Move an emulated shaft so that it reads ``present`` ticks."""
    s = emu.servo(servo_id)
    s.actual_ticks = (present + s.homing_offset) % 4096


@pytest.fixture
def emu():
    with so_arm_emulator('so101') as e:
        yield e


@pytest.fixture
def calibrated(emu, tmp_path):
    """(emulator, calibration, path): EEPROM and file agree; every joint at mid range."""
    from so_arm_driver.calibration import save_calibration

    cal = make_calibration()
    flash_calibration(emu, cal)
    for c in cal.values():
        set_present(emu, c.id, (c.range_min + c.range_max) // 2)
    path = save_calibration(cal, tmp_path / 'follower.json')
    return emu, cal, path
