"""Register encodings and unit conversions, against hand-computed values and round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from so_arm_driver.calibration import MotorCalibration
from so_arm_driver.errors import SoArmConfigError
from so_arm_driver.tables import (
    DYNAMIXEL_X,
    FEETECH_STS,
    Register,
    decode_register,
    decode_sign_magnitude,
    encode_register,
    encode_sign_magnitude,
)
from so_arm_driver.units import (
    JointUnits,
    LegacyMotorCalibration,
    UnitScheme,
    legacy_ticks_to_value,
    legacy_value_to_ticks,
)

BODY = MotorCalibration(1, 0, 0, 1000, 3000)  # mid 2000
GRIP = MotorCalibration(6, 0, 0, 2000, 3000)


def test_sign_magnitude_by_hand():
    assert decode_sign_magnitude(0x8005, 15) == -5
    assert decode_sign_magnitude(0x0005, 15) == 5
    # Homing_Offset: sign at bit 11, so -2047 is 0x7FF | 0x800 = 0xFFF.
    assert encode_sign_magnitude(-2047, 11) == 0xFFF
    assert encode_sign_magnitude(300, 11) == 300
    with pytest.raises(ValueError, match='bit 11'):
        encode_sign_magnitude(2048, 11)


def test_register_table_addresses_match_the_sts_memory_map():
    assert (
        FEETECH_STS[Register.GOAL_POSITION].address,
        FEETECH_STS[Register.GOAL_POSITION].size,
    ) == (42, 2)
    assert FEETECH_STS[Register.PRESENT_POSITION].address == 56
    assert FEETECH_STS[Register.HOMING_OFFSET].sign_bit == 11
    assert FEETECH_STS[Register.PRESENT_LOAD].sign_bit == 10
    # D before I in the STS table.
    assert FEETECH_STS[Register.D_COEFFICIENT].address == 22
    assert FEETECH_STS[Register.I_COEFFICIENT].address == 23


def test_twos_complement_registers():
    spec = DYNAMIXEL_X[Register.GOAL_POSITION]
    assert encode_register(spec, -1) == 0xFFFFFFFF
    assert decode_register(spec, 0xFFFFFFFE) == -2
    with pytest.raises(ValueError):
        encode_register(FEETECH_STS[Register.ID], 256)


def test_worked_example_ticks_rad_degrees_range():
    units = JointUnits({'shoulder_pan': BODY, 'gripper': GRIP})
    # 3024 ticks is 1024 ticks (a quarter turn) above mid 2000.
    rad = units.ticks_to_rad([3024, 2250])
    assert rad[0] == pytest.approx(math.pi / 2)
    ler = units.ticks_to_lerobot([3024, 2250])
    assert ler[0] == pytest.approx(1024 * 360 / 4095)  # LeRobot divides by max_res 4095
    assert ler[1] == pytest.approx(25.0)  # gripper 0..100: (2250-2000)/1000*100
    old = JointUnits({'shoulder_pan': BODY, 'gripper': GRIP}, scheme='range_m100_100')
    assert old.ticks_to_lerobot([1500, 3000]).tolist() == pytest.approx([-50.0, 100.0])
    assert old.ticks_to_lerobot([3500, 1000]).tolist() == pytest.approx([100.0, 0.0])  # clamped


def test_sign_flips_radians_only():
    units = JointUnits({'shoulder_pan': BODY}, signs={'shoulder_pan': -1})
    assert units.ticks_to_rad([3024])[0] == pytest.approx(-math.pi / 2)
    assert units.rad_to_ticks([-math.pi / 2])[0] == 3024
    assert units.ticks_to_lerobot([3024])[0] > 0


def test_drive_mode_inverts_range_units():
    inv = MotorCalibration(1, 1, 0, 1000, 3000)
    units = JointUnits({'elbow_flex': inv}, scheme=UnitScheme.RANGE_M100_100)
    assert units.ticks_to_lerobot([1500])[0] == pytest.approx(50.0)


@given(st.integers(1000, 3000), st.integers(2000, 3000))
def test_ticks_round_trip_every_scheme(body, grip):
    for scheme in ('degrees', 'range_m100_100'):
        units = JointUnits({'shoulder_pan': BODY, 'gripper': GRIP}, scheme=scheme)
        ticks = [body, grip]
        assert units.lerobot_to_ticks(units.ticks_to_lerobot(ticks)).tolist() == ticks
        assert units.rad_to_ticks(units.ticks_to_rad(ticks)).tolist() == ticks


@given(st.floats(-1.5, 1.5))
def test_rad_round_trip_within_half_a_tick(rad):
    units = JointUnits({'shoulder_pan': BODY})
    back = units.ticks_to_rad(units.rad_to_ticks([rad]))[0]
    assert abs(back - rad) <= math.pi / 4096 + 1e-12


def test_legacy_scheme():
    deg = LegacyMotorCalibration('DEGREE', 1, 2048, 0, 0)
    # drive_mode 1: -ticks + 2048; ticks 1024 -> 1024 ticks -> 90 degrees (2048 ticks = 180).
    assert legacy_ticks_to_value(1024, deg) == pytest.approx(90.0)
    assert legacy_value_to_ticks(90.0, deg) == 1024
    lin = LegacyMotorCalibration('LINEAR', 0, 0, 2000, 3000)
    assert legacy_ticks_to_value(2500, lin) == pytest.approx(50.0)
    units = JointUnits(
        {'shoulder_pan': BODY, 'gripper': GRIP},
        scheme='legacy',
        legacy={'shoulder_pan': deg, 'gripper': lin},
    )
    assert units.ticks_to_lerobot([1024, 2500]).tolist() == pytest.approx([90.0, 50.0])
    assert units.lerobot_to_ticks([90.0, 50.0]).tolist() == [1024, 2500]


def test_bad_unit_configs_are_rejected():
    with pytest.raises(SoArmConfigError, match='legacy calibration'):
        JointUnits({'shoulder_pan': BODY}, scheme='legacy')
    with pytest.raises(SoArmConfigError, match='unknown unit scheme'):
        JointUnits({'shoulder_pan': BODY}, scheme='percent')
    with pytest.raises(SoArmConfigError, match='\\+1 or -1'):
        JointUnits({'shoulder_pan': BODY}, signs={'shoulder_pan': 2})
    with pytest.raises(SoArmConfigError, match='expected 1 values'):
        JointUnits({'shoulder_pan': BODY}).ticks_to_rad(np.zeros(2))
