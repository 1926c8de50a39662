"""Feetech STS3215 servos on a pty, speaking protocol 0 (the one feetech-servo-sdk uses).

Model of one servo: a 256-byte register memory initialised to the factory values the SO arm
documents use, and a physical shaft position in ticks. The firmware rule the calibration relies on
is modelled: ``Present_Position = (actual - Homing_Offset) mod 4096``; a goal moves the shaft at
once when torque is on, clamped to [Min_Position_Limit, Max_Position_Limit]. EEPROM registers
ignore writes while ``Lock`` is 1, as on the real servo.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from so_arm_driver.emulator.pty_bus import PtyBusEmulator
from so_arm_driver.tables import (
    FEETECH_BAUD_CODES,
    FEETECH_MODEL_NUMBERS,
    FEETECH_STS,
    Register,
    decode_sign_magnitude,
    encode_sign_magnitude,
)

PING, READ, WRITE, SYNC_READ, SYNC_WRITE = 0x01, 0x02, 0x03, 0x82, 0x83
BROADCAST = 0xFE
_BAUD_OF_CODE = {code: baud for baud, code in FEETECH_BAUD_CODES.items()}


def checksum(body: bytes | bytearray | list[int]) -> int:
    """Protocol-0 checksum: inverted low byte of the sum of id, length, instruction and params."""
    return (~sum(body)) & 0xFF


@dataclass
class EmulatedFeetechServo:
    """One servo: register memory, shaft position and injectable faults.

    Attributes:
        actual_ticks: the shaft's encoder position before the homing offset (0..4095).
        silent: never answers (unplugged or wrong baud).
        corrupt_replies: the next N answers carry a wrong checksum.
        delay_s: seconds to wait before answering (a slow servo or a busy line).
        error_bits: error byte set in every answer (1 voltage, 4 overheat, 32 overload...).
    """

    servo_id: int
    actual_ticks: int = 2048
    model_number: int = FEETECH_MODEL_NUMBERS['sts3215']
    firmware: tuple[int, int] = (3, 10)
    memory: bytearray = field(default_factory=lambda: bytearray(256))
    silent: bool = False
    corrupt_replies: int = 0
    delay_s: float = 0.0
    error_bits: int = 0
    writes: list[tuple[int, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        m = self.memory
        m[0], m[1] = self.firmware
        self.set(Register.MODEL_NUMBER, self.model_number)
        self.set(Register.ID, self.servo_id)
        self.set(Register.BAUD_RATE, 0)
        self.set(Register.RETURN_DELAY_TIME, 250)
        self.set(Register.MIN_POSITION_LIMIT, 0)
        self.set(Register.MAX_POSITION_LIMIT, 4095)
        self.set(Register.MAX_TORQUE_LIMIT, 1000)
        self.set(Register.P_COEFFICIENT, 32)
        self.set(Register.D_COEFFICIENT, 32)
        self.set(Register.I_COEFFICIENT, 0)
        self.set(Register.PROTECTION_CURRENT, 500)
        self.set(Register.OVERLOAD_TORQUE, 80)
        self.set(Register.ACCELERATION, 0)
        self.set(Register.PRESENT_VOLTAGE, 74)
        self.set(Register.PRESENT_TEMPERATURE, 31)

    def get(self, register: Register) -> int:
        """A register's raw (unsigned) value from memory."""
        spec = FEETECH_STS[register]
        return int.from_bytes(self.memory[spec.address : spec.address + spec.size], 'little')

    def set(self, register: Register, raw: int) -> None:
        """Set a register's raw (unsigned) value in memory."""
        spec = FEETECH_STS[register]
        self.memory[spec.address : spec.address + spec.size] = raw.to_bytes(spec.size, 'little')

    @property
    def homing_offset(self) -> int:
        return decode_sign_magnitude(self.get(Register.HOMING_OFFSET), 11)

    @property
    def present_ticks(self) -> int:
        return (self.actual_ticks - self.homing_offset) % 4096

    def snapshot(self) -> bytearray:
        """Memory with the live registers (present position) filled in."""
        self.set(Register.PRESENT_POSITION, encode_sign_magnitude(self.present_ticks, 15))
        return self.memory

    def write(self, address: int, data: bytes) -> None:
        """Apply a WRITE the way the firmware does."""
        self.writes.append((address, bytes(data)))
        locked = self.memory[FEETECH_STS[Register.LOCK].address] == 1
        for offset, byte in enumerate(data):
            a = address + offset
            if locked and a < FEETECH_STS[Register.TORQUE_ENABLE].address:
                continue
            if a in (0, 1, 3, 4):  # firmware and model number are read-only
                continue
            self.memory[a] = byte
        goal = FEETECH_STS[Register.GOAL_POSITION].address
        torque = FEETECH_STS[Register.TORQUE_ENABLE].address
        if address <= goal < address + len(data) or address == torque:
            self._follow_goal()

    def _follow_goal(self) -> None:
        if self.memory[FEETECH_STS[Register.TORQUE_ENABLE].address] != 1:
            return
        goal = decode_sign_magnitude(self.get(Register.GOAL_POSITION), 15)
        lo, hi = self.get(Register.MIN_POSITION_LIMIT), self.get(Register.MAX_POSITION_LIMIT)
        if lo < hi:
            goal = min(max(goal, lo), hi)
        self.actual_ticks = (goal + self.homing_offset) % 4096


class FeetechEmulator(PtyBusEmulator):
    """A Feetech bus on a pty. ``servos`` maps id -> servo; ids may change through ID writes."""

    def __init__(self, servos: list[EmulatedFeetechServo] | None = None) -> None:
        super().__init__()
        self.servos: dict[int, EmulatedFeetechServo] = {s.servo_id: s for s in servos or []}

    def servo(self, servo_id: int) -> EmulatedFeetechServo:
        return self.servos[servo_id]

    def add(self, servo: EmulatedFeetechServo) -> None:
        with self._lock:
            self.servos[servo.servo_id] = servo

    def remove(self, servo_id: int) -> EmulatedFeetechServo:
        with self._lock:
            return self.servos.pop(servo_id)

    def _listening(self, servo: EmulatedFeetechServo) -> bool:
        if servo.silent:
            return False
        line = self.line_baudrate()
        return line is None or _BAUD_OF_CODE.get(servo.get(Register.BAUD_RATE)) == line

    def _reply(self, servo: EmulatedFeetechServo, params: bytes = b'') -> None:
        if servo.delay_s:
            time.sleep(servo.delay_s)
        body = bytes([servo.servo_id, len(params) + 2, servo.error_bits]) + params
        chk = checksum(body)
        if servo.corrupt_replies > 0:
            servo.corrupt_replies -= 1
            chk ^= 0x5A
        self.send(b'\xff\xff' + body + bytes([chk]))

    def _consume(self, buffer: bytearray) -> bool:
        # Resynchronise on the 0xFF 0xFF header.
        start = buffer.find(b'\xff\xff')
        if start < 0:
            del buffer[: max(0, len(buffer) - 1)]
            return False
        del buffer[:start]
        if len(buffer) < 4:
            return False
        length = buffer[3]
        total = length + 4
        if len(buffer) < total:
            return False
        packet = bytes(buffer[:total])
        del buffer[:total]
        if checksum(packet[2:-1]) != packet[-1] or length < 2:
            return True  # a real servo ignores a packet with a bad checksum
        self._handle(packet[2], packet[4], packet[5:-1])
        return True

    def _handle(self, sid: int, inst: int, params: bytes) -> None:
        targets = sorted(self.servos) if sid == BROADCAST else [sid]
        servos = [self.servos[i] for i in targets if i in self.servos]
        servos = [s for s in servos if self._listening(s)]
        if inst == PING:
            for s in servos:
                self._reply(s)
        elif inst == READ and sid != BROADCAST and servos:
            address, size = params[0], params[1]
            s = servos[0]
            self._reply(s, bytes(s.snapshot()[address : address + size]))
        elif inst == WRITE and servos:
            address, data = params[0], params[1:]
            for s in servos:
                old_id, old_baud = s.servo_id, s.get(Register.BAUD_RATE)
                s.write(address, data)
                if sid != BROADCAST:
                    self._reply(s)  # the answer still comes from the old id at the old baud
                self._apply_identity(s, old_id, old_baud)
        elif inst == SYNC_READ:
            address, size, ids = params[0], params[1], params[2:]
            for i in ids:
                s = self.servos.get(i)
                if s is not None and self._listening(s):
                    self._reply(s, bytes(s.snapshot()[address : address + size]))
        elif inst == SYNC_WRITE:
            address, size = params[0], params[1]
            rest = params[2:]
            for k in range(0, len(rest) - size, size + 1):
                s = self.servos.get(rest[k])
                if s is not None and self._listening(s):
                    s.write(address, rest[k + 1 : k + 1 + size])

    def _apply_identity(self, s: EmulatedFeetechServo, old_id: int, old_baud: int) -> None:
        new_id = s.get(Register.ID)
        if new_id != old_id:
            self.servos.pop(old_id, None)
            s.servo_id = new_id
            self.servos[new_id] = s
        del old_baud  # a new Baud_Rate takes effect for the next packet, via _listening


# A plausible mid pose and calibration for a freshly assembled SO-101 (raw ticks before offsets).
_MID_POSE = (2010, 1990, 2100, 2080, 2047, 2030)


def so_arm_emulator(robot: str = 'so101') -> FeetechEmulator:
    """An emulated SO-100/SO-101 follower: six STS3215 at ids 1..6, 1 Mbps, factory registers.

    Not started: use it as a context manager or call ``start()``.
    """
    from so_arm_driver.robots import robot_spec

    spec = robot_spec(robot)
    return FeetechEmulator(
        [
            EmulatedFeetechServo(j.servo_id, actual_ticks=t)
            for j, t in zip(spec.joints, _MID_POSE, strict=True)
        ]
    )
