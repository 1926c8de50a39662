"""The real SDKs against the pty emulators: transactions, encodings and every injected fault."""

from __future__ import annotations

import sys
import time

import pytest

from so_arm_driver.bus.dynamixel import DynamixelBus
from so_arm_driver.bus.feetech import FeetechBus
from so_arm_driver.emulator import DynamixelEmulator, EmulatedDynamixel
from so_arm_driver.emulator.dynamixel import crc16
from so_arm_driver.errors import (
    SoArmCommError,
    SoArmConfigError,
    SoArmNotConnectedError,
    SoArmPortError,
    SoArmSdkMissingError,
    SoArmServoError,
    SoArmTimeoutError,
)
from so_arm_driver.tables import Register

IDS = [1, 2, 3, 4, 5, 6]
LABELS = {1: 'shoulder_pan', 3: 'elbow_flex'}


def test_scan_ping_and_sync_read(emu):
    with FeetechBus(emu.port) as bus:
        found = bus.scan(range(0, 9))
        assert [i.servo_id for i in found] == IDS
        assert {i.model_number for i in found} == {777}
        assert found[0].firmware == '3.10'
        assert bus.broadcast_ping() == IDS
        # so_arm_emulator's mid pose, with factory offsets of 0.
        assert bus.read(Register.PRESENT_POSITION, IDS) == dict(
            zip(IDS, (2010, 1990, 2100, 2080, 2047, 2030), strict=True)
        )


def test_sync_write_moves_only_with_torque(emu):
    with FeetechBus(emu.port) as bus:
        bus.write(Register.GOAL_POSITION, {1: 1500})
        assert bus.read_one(Register.PRESENT_POSITION, 1) == 2010  # torque off: no motion
        bus.set_torque(True, [1])
        assert emu.servo(1).get(Register.LOCK) == 1
        bus.write(Register.GOAL_POSITION, {1: 1500, 2: 2500})
        assert bus.read(Register.PRESENT_POSITION, [1, 2]) == {1: 1500, 2: 1990}


def test_signed_offset_written_as_sign_magnitude(emu):
    with FeetechBus(emu.port) as bus:
        bus.write_one(Register.HOMING_OFFSET, 2, -300)
        # -300 with the sign at bit 11 is 300 | 2048 = 2348 in the servo's memory.
        assert emu.servo(2).get(Register.HOMING_OFFSET) == 2348
        assert bus.read_one(Register.HOMING_OFFSET, 2) == -300
        # The firmware subtracts the offset: 1990 - (-300) = 2290.
        assert bus.read_one(Register.PRESENT_POSITION, 2) == 2290


def test_value_that_does_not_fit_sends_nothing(emu):
    with FeetechBus(emu.port) as bus:
        with pytest.raises(SoArmConfigError, match='Homing_Offset'):
            bus.write_one(Register.HOMING_OFFSET, 1, 3000)
        with pytest.raises(SoArmConfigError, match='Goal_Position'):
            bus.write(Register.GOAL_POSITION, {1: 100, 2: 70000})
    assert emu.servo(1).writes == [] and emu.servo(2).writes == []


def test_silent_servo_times_out_naming_joint_register_and_tries(emu):
    emu.servo(3).silent = True
    with FeetechBus(emu.port, retries=2, labels=LABELS) as bus:
        start = time.monotonic()
        with pytest.raises(SoArmTimeoutError) as info:
            bus.read(Register.PRESENT_POSITION, IDS)
        elapsed = time.monotonic() - start
    msg = str(info.value)
    for part in (emu.port, 'elbow_flex (id 3)', 'Present_Position', '3 tries'):
        assert part in msg
    assert isinstance(info.value, TimeoutError)
    # Three tries of a 50 ms margin each: bounded, well under a second.
    assert 0.1 < elapsed < 1.5


def test_corrupt_checksums_are_retried_then_reported(emu):
    emu.servo(1).corrupt_replies = 2
    with FeetechBus(emu.port, retries=2) as bus:
        assert bus.read(Register.PRESENT_POSITION, IDS)[1] == 2010  # third try is clean
        emu.servo(1).corrupt_replies = 10
        with pytest.raises(SoArmCommError, match='corrupt') as info:
            bus.read(Register.PRESENT_POSITION, IDS)
        assert not isinstance(info.value, SoArmTimeoutError)


def test_error_bits_raise_a_servo_error(emu):
    emu.servo(5).error_bits = 4 | 32
    bus = FeetechBus(emu.port, retries=1)
    with bus, pytest.raises(SoArmServoError, match='overheat, overload') as info:
        bus.read(Register.PRESENT_POSITION, IDS)
    assert info.value.error_bits == 36
    assert 'id 5' in str(info.value) and '2 tries' in str(info.value)


def test_delays_within_and_beyond_the_packet_timeout(emu):
    emu.servo(2).delay_s = 0.01
    with FeetechBus(emu.port, retries=0, margin_ms=50) as bus:
        assert bus.read_one(Register.PRESENT_POSITION, 2) == 1990
        emu.servo(2).delay_s = 0.2
        with pytest.raises(SoArmTimeoutError):
            bus.read_one(Register.PRESENT_POSITION, 2)
        emu.servo(2).delay_s = 0.0
        time.sleep(0.25)  # the late answer arrives and must be discarded, not taken as data
        bus.write_one(Register.HOMING_OFFSET, 2, 10)
        assert bus.read_one(Register.PRESENT_POSITION, 2) == 1980


def test_absent_and_busy_ports(emu, tmp_path):
    with pytest.raises(SoArmPortError, match='does not exist'):
        FeetechBus(str(tmp_path / 'ttyNOPE')).open()
    with FeetechBus(emu.port), pytest.raises(SoArmPortError, match='busy'):
        FeetechBus(emu.port).open()


def test_closed_bus_and_idempotent_close(emu):
    bus = FeetechBus(emu.port)
    with pytest.raises(SoArmNotConnectedError, match='not open'):
        bus.read(Register.PRESENT_POSITION, [1])
    bus.open()
    bus.close()
    bus.close()


def test_bad_construction_arguments():
    with pytest.raises(SoArmConfigError, match='baud rate'):
        FeetechBus('/dev/null', baudrate=123)
    with pytest.raises(SoArmConfigError, match='retries'):
        FeetechBus('/dev/null', retries=-1)


def test_missing_sdk_gives_an_install_hint(monkeypatch, emu):
    # A None entry in sys.modules makes `import scservo_sdk` raise ImportError, as if absent.
    monkeypatch.setitem(sys.modules, 'scservo_sdk', None)
    with pytest.raises(SoArmSdkMissingError, match='pip install feetech-servo-sdk'):
        FeetechBus(emu.port).open()


def test_crc16_check_value():
    # CRC-16/BUYPASS catalogue check value for b'123456789'.
    assert crc16(b'123456789') == 0xFEE8


def test_dynamixel_ping_read_write_and_faults():
    servos = [EmulatedDynamixel(1), EmulatedDynamixel(2, model_number=1060)]
    with DynamixelEmulator(servos) as emu, DynamixelBus(emu.port, labels={2: 'gripper'}) as bus:
        assert [(i.servo_id, i.model_number) for i in bus.scan(range(0, 4))] == [
            (1, 1200),
            (2, 1060),
        ]
        bus.set_torque(True, [1, 2])
        bus.write(Register.GOAL_POSITION, {1: 1234, 2: -7})
        assert bus.read(Register.PRESENT_POSITION, [1, 2]) == {1: 1234, 2: -7}
        # 0xFFFFFFF9 is -7 in two's complement, byte-exact in the servo's memory.
        assert emu.servos[2].get(Register.PRESENT_POSITION) == 0xFFFFFFF9
        # A value whose bytes contain FF FF FD needs byte stuffing both ways.
        bus.write_one(Register.HOMING_OFFSET, 1, 0x00FDFFFF)
        assert bus.read_one(Register.HOMING_OFFSET, 1) == 0x00FDFFFF
        emu.servos[2].silent = True
        with pytest.raises(SoArmTimeoutError, match='gripper \\(id 2\\)'):
            bus.read(Register.PRESENT_POSITION, [1, 2])
        emu.servos[2].silent = False
        emu.servos[1].corrupt_replies = 5
        with pytest.raises(SoArmCommError, match='corrupt'):
            bus.read_one(Register.PRESENT_POSITION, 1)


def _late_answer_then_fresh_read(emu, bus, read):
    """Servo 2 answers 0.2 s late once; the next read starts while that answer is in flight."""
    servo = emu.servo(2)
    servo.actual_ticks = 2000  # what the late answer carries (the snapshot is taken on receipt)
    servo.delay_s = 0.2
    start = time.monotonic()
    with pytest.raises(SoArmTimeoutError):
        read()
    servo.delay_s = 0.0
    servo.actual_ticks = 3000  # the shaft moves; any answer from now on says 3000
    # Start the next read 0.15 s in: after the 0.1 s timeout, before the late answer lands at
    # 0.2 s, so that the late answer reaches the line while this read waits for its own.
    time.sleep(max(0.0, 0.15 - (time.monotonic() - start)))
    return read()


def test_a_late_answer_is_never_returned_for_the_next_read_one(emu):
    with FeetechBus(emu.port, retries=0, margin_ms=100) as bus:
        value = _late_answer_then_fresh_read(
            emu, bus, lambda: bus.read_one(Register.PRESENT_POSITION, 2)
        )
    assert value == 3000


def test_a_late_answer_is_never_returned_for_the_next_sync_read(emu):
    with FeetechBus(emu.port, retries=0, margin_ms=100) as bus:
        values = _late_answer_then_fresh_read(
            emu, bus, lambda: bus.read(Register.PRESENT_POSITION, [1, 2, 3])
        )
    assert values == {1: 2010, 2: 3000, 3: 2100}


def test_dynamixel_late_answer_is_never_returned_for_the_next_read():
    servos = [EmulatedDynamixel(1), EmulatedDynamixel(2)]
    with DynamixelEmulator(servos) as emu, DynamixelBus(emu.port, retries=0, margin_ms=100) as bus:
        emu.servos[2].set(Register.PRESENT_POSITION, 2000)
        emu.servos[2].delay_s = 0.2
        start = time.monotonic()
        with pytest.raises(SoArmTimeoutError):
            bus.read_one(Register.PRESENT_POSITION, 2)
        emu.servos[2].delay_s = 0.0
        emu.servos[2].set(Register.PRESENT_POSITION, 3000)
        time.sleep(max(0.0, 0.15 - (time.monotonic() - start)))
        assert bus.read_one(Register.PRESENT_POSITION, 2) == 3000
