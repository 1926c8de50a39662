"""Feetech STS/SMS servos (STS3215 on the SO arms) over feetech-servo-sdk, protocol 0."""

from __future__ import annotations

from collections.abc import Mapping

from so_arm_driver.bus.base import CommResult, RawOutcome
from so_arm_driver.bus.sdk_bus import SdkBus
from so_arm_driver.tables import (
    FEETECH_BAUD_CODES,
    FEETECH_ERROR_BITS,
    FEETECH_MODEL_NUMBERS,
    FEETECH_STS,
    Register,
)


def _to_bytes(value: int, size: int) -> list[int]:
    return [(value >> (8 * k)) & 0xFF for k in range(size)]


def _from_bytes(data: list[int]) -> int:
    return sum((b & 0xFF) << (8 * k) for k, b in enumerate(data))


class FeetechBus(SdkBus):
    """A bus of Feetech STS servos.

    Reads use the protocol's SYNC_READ (one request, one status packet per servo); goal writes use
    SYNC_WRITE (one packet, no answer). Torque changes also set ``Lock`` as LeRobot does, so EEPROM
    writes are only possible with torque off.
    """

    vendor = 'feetech'
    table = FEETECH_STS
    model_numbers = FEETECH_MODEL_NUMBERS
    baud_codes = FEETECH_BAUD_CODES

    def _packet_handler(self, sdk: object) -> object:
        # protocol_end 0: STS/SMS, little-endian words.
        return sdk.PacketHandler(0)

    def _raw_ping(self, servo_id: int) -> RawOutcome:
        self._port.is_using = False
        model, comm, error = self._ph.ping(self._port, servo_id)
        return RawOutcome(self._c(comm), error, model)

    def broadcast_ping(self) -> list[int]:
        """Ping id 0xFE once and collect every status packet until the line goes quiet."""
        with self._lock:
            self._require_open()
            self._raw_discard_input()
            packet = [0xFF, 0xFF, 0xFE, 2, 0x01, 0]
            if self._ph.txPacket(self._port, packet) != CommResult.SUCCESS:
                self._port.is_using = False
                return []
            found = set()
            while True:
                self._port.setPacketTimeout(6)
                rx, comm = self._ph.rxPacket(self._port)
                if self._c(comm) != CommResult.SUCCESS:
                    break
                found.add(rx[2])
            self._port.is_using = False
            return sorted(found)

    def _firmware(self, servo_id: int) -> str | None:
        data, comm, _ = self._ph.readTxRx(self._port, servo_id, 0, 2)
        if self._c(comm) != CommResult.SUCCESS or len(data) < 2:
            return None
        return f'{data[0]}.{data[1]}'

    def _raw_read(self, servo_id: int, address: int, size: int) -> RawOutcome:
        self._port.is_using = False
        data, comm, error = self._ph.readTxRx(self._port, servo_id, address, size)
        result = self._c(comm)
        if result == CommResult.SUCCESS and len(data) != size:
            result = CommResult.RX_CORRUPT  # a status packet too short for the register
        value = _from_bytes(data) if result == CommResult.SUCCESS else None
        return RawOutcome(result, error, value, servo_id)

    def _raw_write(self, servo_id: int, address: int, size: int, value: int) -> RawOutcome:
        self._port.is_using = False
        comm, error = self._ph.writeTxRx(
            self._port, servo_id, address, size, _to_bytes(value, size)
        )
        return RawOutcome(self._c(comm), error, None, servo_id)

    def _raw_sync_read(self, address: int, size: int, ids: list[int]) -> RawOutcome:
        # The SDK's GroupSyncRead drops each status packet's error byte; calling its two halves
        # ourselves keeps the error bits, so an overheating servo is reported, not ignored.
        self._port.is_using = False
        comm = self._ph.syncReadTx(self._port, address, size, list(ids), len(ids))
        if self._c(comm) != CommResult.SUCCESS:
            self._port.is_using = False
            return RawOutcome(self._c(comm))
        values: dict[int, int] = {}
        for servo_id in ids:
            data, comm, error = self._ph.readRx(self._port, servo_id, size)
            result = self._c(comm)
            if result == CommResult.SUCCESS and len(data) != size:
                result = CommResult.RX_CORRUPT  # a status packet too short for the register
            if result != CommResult.SUCCESS or error:
                self._port.is_using = False
                return RawOutcome(result, error, None, servo_id)
            values[servo_id] = _from_bytes(data)
        return RawOutcome(CommResult.SUCCESS, 0, values)  # type: ignore[arg-type]

    def _raw_sync_write(self, address: int, size: int, values: Mapping[int, int]) -> RawOutcome:
        self._port.is_using = False
        param: list[int] = []
        for servo_id, value in values.items():
            param.append(servo_id)
            param.extend(_to_bytes(value, size))
        comm = self._ph.syncWriteTxOnly(self._port, address, size, param, len(param))
        return RawOutcome(self._c(comm))

    def describe_error_bits(self, bits: int) -> str:
        words = [text for bit, text in FEETECH_ERROR_BITS.items() if bits & bit]
        return ', '.join(words) or f'unknown error bits 0x{bits:02x}'

    def _write_torque(self, servo_id: int, enabled: bool) -> None:
        """Torque on then Lock=1, or torque off then Lock=0 (EEPROM writable)."""
        self.write_one(Register.TORQUE_ENABLE, servo_id, int(enabled))
        self.write_one(Register.LOCK, servo_id, int(enabled))
