"""Dynamixel X-series servos on a pty, speaking protocol 2.0: ping, read, write and sync write.

Packets: ``FF FF FD 00 | id | len_lo len_hi | instruction | params | crc_lo crc_hi``; the length
counts instruction, params and CRC; the CRC is CRC-16 (polynomial 0x8005, initial value 0, no
reflection) over everything before it; ``FF FF FD`` inside a packet is stuffed with an extra FD.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from so_arm_driver.emulator.pty_bus import PtyBusEmulator
from so_arm_driver.tables import DYNAMIXEL_MODEL_NUMBERS, DYNAMIXEL_X, Register

PING, READ, WRITE, SYNC_WRITE, STATUS = 0x01, 0x02, 0x03, 0x83, 0x55
BROADCAST = 0xFE
HEADER = b'\xff\xff\xfd\x00'


def crc16(data: bytes) -> int:
    """CRC-16/BUYPASS as protocol 2.0 specifies it, bit by bit."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def stuff(payload: bytes) -> bytes:
    """Insert an FD after every FF FF FD so the payload cannot look like a header."""
    out = bytearray()
    for b in payload:
        out.append(b)
        if len(out) >= 3 and out[-3:] == b'\xff\xff\xfd':
            out.append(0xFD)
    return bytes(out)


def unstuff(payload: bytes) -> bytes:
    """Remove the FD that ``stuff`` inserted."""
    out = bytearray()
    i = 0
    while i < len(payload):
        out.append(payload[i])
        stuffed = out[-3:] == b'\xff\xff\xfd' and i + 1 < len(payload) and payload[i + 1] == 0xFD
        if stuffed:
            i += 1
        i += 1
    return bytes(out)


@dataclass
class EmulatedDynamixel:
    """One X-series servo: register memory and faults (see EmulatedFeetechServo)."""

    servo_id: int
    model_number: int = DYNAMIXEL_MODEL_NUMBERS['xl330-m288']
    firmware: int = 46
    memory: bytearray = field(default_factory=lambda: bytearray(256))
    silent: bool = False
    corrupt_replies: int = 0
    delay_s: float = 0.0
    error_bits: int = 0

    def __post_init__(self) -> None:
        self.memory[0:2] = self.model_number.to_bytes(2, 'little')
        self.memory[6] = self.firmware
        self.memory[7] = self.servo_id
        self.set(Register.MAX_POSITION_LIMIT, 4095)
        self.set(Register.PRESENT_POSITION, 2048)

    def get(self, register: Register) -> int:
        spec = DYNAMIXEL_X[register]
        return int.from_bytes(self.memory[spec.address : spec.address + spec.size], 'little')

    def set(self, register: Register, raw: int) -> None:
        spec = DYNAMIXEL_X[register]
        self.memory[spec.address : spec.address + spec.size] = raw.to_bytes(spec.size, 'little')

    def write(self, address: int, data: bytes) -> None:
        self.memory[address : address + len(data)] = data
        goal = DYNAMIXEL_X[Register.GOAL_POSITION].address
        if address <= goal < address + len(data) and self.get(Register.TORQUE_ENABLE) == 1:
            self.set(Register.PRESENT_POSITION, self.get(Register.GOAL_POSITION))


class DynamixelEmulator(PtyBusEmulator):
    """A protocol-2.0 bus on a pty."""

    def __init__(self, servos: list[EmulatedDynamixel] | None = None) -> None:
        super().__init__()
        self.servos: dict[int, EmulatedDynamixel] = {s.servo_id: s for s in servos or []}

    def _reply(self, servo: EmulatedDynamixel, params: bytes = b'') -> None:
        if servo.delay_s:
            time.sleep(servo.delay_s)
        body = stuff(bytes([STATUS, servo.error_bits]) + params)
        head = HEADER + bytes([servo.servo_id]) + (len(body) + 2).to_bytes(2, 'little')
        crc = crc16(head + body)
        if servo.corrupt_replies > 0:
            servo.corrupt_replies -= 1
            crc ^= 0x1234
        self.send(head + body + crc.to_bytes(2, 'little'))

    def _consume(self, buffer: bytearray) -> bool:
        start = buffer.find(HEADER)
        if start < 0:
            del buffer[: max(0, len(buffer) - 3)]
            return False
        del buffer[:start]
        if len(buffer) < 7:
            return False
        length = int.from_bytes(buffer[5:7], 'little')
        total = 7 + length
        if len(buffer) < total:
            return False
        packet = bytes(buffer[:total])
        del buffer[:total]
        if crc16(packet[:-2]) != int.from_bytes(packet[-2:], 'little'):
            return True
        sid, inst, params = packet[4], packet[7], unstuff(packet[8:-2])
        self._handle(sid, inst, params)
        return True

    def _handle(self, sid: int, inst: int, params: bytes) -> None:
        targets = sorted(self.servos) if sid == BROADCAST else [sid]
        servos = [self.servos[i] for i in targets if i in self.servos]
        servos = [s for s in servos if not s.silent]
        if inst == PING:
            for s in servos:
                self._reply(s, s.model_number.to_bytes(2, 'little') + bytes([s.firmware]))
        elif inst == READ and servos and sid != BROADCAST:
            address = int.from_bytes(params[0:2], 'little')
            size = int.from_bytes(params[2:4], 'little')
            self._reply(servos[0], bytes(servos[0].memory[address : address + size]))
        elif inst == WRITE and servos and sid != BROADCAST:
            address = int.from_bytes(params[0:2], 'little')
            servos[0].write(address, params[2:])
            self._reply(servos[0])
        elif inst == SYNC_WRITE:
            address = int.from_bytes(params[0:2], 'little')
            size = int.from_bytes(params[2:4], 'little')
            rest = params[4:]
            for k in range(0, len(rest) - size, size + 1):
                s = self.servos.get(rest[k])
                if s is not None and not s.silent:
                    s.write(address, rest[k + 1 : k + 1 + size])
