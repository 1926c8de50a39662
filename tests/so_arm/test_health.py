"""Servo health (voltage, temperature, error flags) on the real SDK over the pty emulator."""

from __future__ import annotations

import pytest

from so_arm_driver.errors import SoArmConfigError, SoArmNotConnectedError
from so_arm_driver.follower import ArmConfig, SoFollower
from so_arm_driver.health import (
    HealthLevel,
    HealthThresholds,
    ReadFailureMonitor,
    ServoHealth,
    assess,
    read_servo_health,
)
from so_arm_driver.robots import JOINT_NAMES
from so_arm_driver.tables import Register


@pytest.fixture
def arm(calibrated):
    emu, _cal, path = calibrated
    follower = SoFollower(
        ArmConfig(port=emu.port, calibration_path=path, torque_on_connect=False, read_retries=0)
    )
    follower.connect()
    try:
        yield emu, follower
    finally:
        for servo in emu.servos.values():  # faults off, so close() can release every servo
            servo.silent, servo.error_bits = False, 0
        follower.close()


def test_reads_voltage_temperature_and_flags_per_servo(arm):
    emu, follower = arm
    # Raw registers: 0.1 V units and °C (STS3215 memory map); Status bit 2 = overheat.
    emu.servo(2).set(Register.PRESENT_VOLTAGE, 121)
    emu.servo(2).set(Register.PRESENT_TEMPERATURE, 58)
    emu.servo(4).set(Register.STATUS, 4)
    got = read_servo_health(follower)
    assert [h.joint for h in got] == list(JOINT_NAMES)
    assert [h.servo_id for h in got] == [1, 2, 3, 4, 5, 6]
    assert got[0].voltage_v == pytest.approx(7.4)  # factory 74 in the emulator
    assert got[0].temperature_c == 31.0
    assert got[0].error_bits == 0 and got[0].read_error is None
    assert got[1].voltage_v == pytest.approx(12.1)
    assert got[1].temperature_c == 58.0
    assert got[3].error_bits == 4


def test_a_silent_servo_costs_only_its_own_entry(arm):
    emu, follower = arm
    emu.servo(3).silent = True
    got = read_servo_health(follower)
    assert got[2].voltage_v is None and got[2].temperature_c is None
    assert 'elbow_flex (id 3)' in got[2].read_error
    assert all(h.read_error is None for k, h in enumerate(got) if k != 2)
    assert assess(got[2], HealthThresholds())[0] is HealthLevel.ERROR


def test_status_packet_error_bits_are_kept(arm):
    emu, follower = arm
    emu.servo(5).error_bits = 32  # overload, in every status packet of servo 5
    got = read_servo_health(follower)[4]
    assert got.error_bits == 32
    level, message = assess(got, HealthThresholds())
    assert level is HealthLevel.ERROR and 'overload' in message


def test_not_connected_raises(calibrated):
    emu, _cal, path = calibrated
    follower = SoFollower(ArmConfig(port=emu.port, calibration_path=path))
    with pytest.raises(SoArmNotConnectedError, match='connect'):
        read_servo_health(follower)


@pytest.mark.parametrize(
    ('voltage', 'temperature', 'level'),
    [
        (7.4, 31.0, HealthLevel.OK),
        (6.0, 31.0, HealthLevel.OK),  # on the warning threshold: inclusive band
        (5.9, 31.0, HealthLevel.WARN),
        (4.4, 31.0, HealthLevel.ERROR),
        (12.7, 31.0, HealthLevel.WARN),
        (13.6, 31.0, HealthLevel.ERROR),
        (7.4, 55.0, HealthLevel.WARN),
        (7.4, 65.0, HealthLevel.ERROR),
        (5.0, 60.0, HealthLevel.WARN),
    ],
)
def test_assess_against_default_thresholds(voltage, temperature, level):
    got, message = assess(ServoHealth('gripper', 6, voltage, temperature, 0), HealthThresholds())
    assert got is level
    assert (message == 'ok') == (level is HealthLevel.OK)


def test_assess_names_every_problem():
    level, message = assess(ServoHealth('gripper', 6, 4.0, 70.0, 1 | 4), HealthThresholds())
    assert level is HealthLevel.ERROR
    for part in ('input voltage out of range', 'overheat', '4.0 V', '70 °C'):
        assert part in message


@pytest.mark.parametrize(
    'kwargs',
    [
        {'voltage_warn_min_v': 4.0},  # below the error minimum 4.5
        {'voltage_warn_max_v': 14.0},  # above the error maximum 13.5
        {'temperature_warn_c': 70.0},
        {'voltage_error_max_v': float('nan')},
    ],
)
def test_thresholds_out_of_order_are_refused(kwargs):
    with pytest.raises(SoArmConfigError):
        HealthThresholds(**kwargs)


def test_read_failure_monitor_warns_then_errors_and_recovers():
    m = ReadFailureMonitor(error_after=3)
    assert [m.failure(), m.failure(), m.failure(), m.failure()] == [
        HealthLevel.WARN,
        HealthLevel.WARN,
        HealthLevel.ERROR,
        HealthLevel.ERROR,
    ]
    assert m.success() is True
    assert m.success() is False
    assert m.failure() is HealthLevel.WARN
    assert (m.consecutive, m.total) == (1, 5)
    with pytest.raises(SoArmConfigError, match='error_after'):
        ReadFailureMonitor(0)
