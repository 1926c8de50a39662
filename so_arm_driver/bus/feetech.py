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

    def _rx_answer(
        self, servo_id: int, n_params: int, resync: bool = False
    ) -> tuple[int, int, list[int]]:
        # Protocol 0 status packet: FF FF id length error params... checksum.
        while True:
            rx, comm = self._ph.rxPacket(self._port)
            if self._c(comm) != CommResult.SUCCESS:
                return self._c(comm), 0, []
            if rx[2] != servo_id:
                continue
            if rx[3] - 2 == n_params:
                return CommResult.SUCCESS, rx[4], list(rx[5 : 5 + n_params])
            if not resync:
                self._port.is_using = False
                return CommResult.RX_CORRUPT, 0, []

    def _send_then_answer(
        self, packet: list[int], servo_id: int, n_params: int
    ) -> tuple[int, int, list[int]]:
        """Send an instruction packet to one servo and receive its status packet."""
        self._port.is_using = False
        comm = self._c(self._ph.txPacket(self._port, packet))
        if comm != CommResult.SUCCESS:
            self._port.is_using = False
            return comm, 0, []
        self._port.setPacketTimeout(n_params + 6)
        return self._rx_answer(servo_id, n_params)

    def _raw_ping(self, servo_id: int) -> RawOutcome:
        comm, error, _ = self._send_then_answer([0xFF, 0xFF, servo_id, 2, 0x01, 0], servo_id, 0)
        if comm != CommResult.SUCCESS:
            return RawOutcome(comm, error, None, servo_id)
        model = self._raw_read(servo_id, 3, 2)  # Model_Number
        return RawOutcome(model.comm, error | model.error_bits, model.value, servo_id)

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
        outcome = self._raw_read(servo_id, 0, 2)
        if outcome.comm != CommResult.SUCCESS or outcome.value is None:
            return None
        return f'{outcome.value & 0xFF}.{outcome.value >> 8}'

    def _raw_read(self, servo_id: int, address: int, size: int) -> RawOutcome:
        comm, error, data = self._send_then_answer(
            [0xFF, 0xFF, servo_id, 4, 0x02, address, size, 0], servo_id, size
        )
        value = _from_bytes(data) if comm == CommResult.SUCCESS else None
        return RawOutcome(comm, error, value, servo_id)

    def _raw_write(self, servo_id: int, address: int, size: int, value: int) -> RawOutcome:
        packet = [0xFF, 0xFF, servo_id, size + 3, 0x03, address, *_to_bytes(value, size), 0]
        comm, error, _ = self._send_then_answer(packet, servo_id, 0)
        return RawOutcome(comm, error, None, servo_id)

    def _raw_sync_read(self, address: int, size: int, ids: list[int]) -> RawOutcome:
        # The SDK's GroupSyncRead drops each status packet's error byte; sending the request and
        # receiving each answer ourselves keeps the error bits, so an overheating servo is
        # reported, not ignored, and checks each answer's length.
        self._port.is_using = False
        comm = self._ph.syncReadTx(self._port, address, size, list(ids), len(ids))
        if self._c(comm) != CommResult.SUCCESS:
            self._port.is_using = False
            return RawOutcome(self._c(comm))
        values: dict[int, int] = {}
        for servo_id in ids:
            result, error, data = self._rx_answer(servo_id, size)
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
