"""ROBOTIS Dynamixel X-series servos over dynamixel-sdk, protocol 2.0, behind the same interface.

Reads go one servo at a time (READ with a status packet each); goal writes use SYNC_WRITE. That
keeps the wire protocol to ping/read/write/sync-write, which every protocol-2.0 servo supports.
"""

from __future__ import annotations

from collections.abc import Mapping

from so_arm_driver.bus.base import CommResult, RawOutcome
from so_arm_driver.bus.sdk_bus import SdkBus
from so_arm_driver.tables import DYNAMIXEL_BAUD_CODES, DYNAMIXEL_MODEL_NUMBERS, DYNAMIXEL_X

_DXL_ERRORS = {
    1: 'result fail',
    2: 'instruction error',
    3: 'CRC error',
    4: 'data range error',
    5: 'data length error',
    6: 'data limit error',
    7: 'access error',
}


class DynamixelBus(SdkBus):
    """A bus of Dynamixel protocol-2.0 servos."""

    vendor = 'dynamixel'
    table = DYNAMIXEL_X
    model_numbers = DYNAMIXEL_MODEL_NUMBERS
    baud_codes = DYNAMIXEL_BAUD_CODES

    def _packet_handler(self, sdk: object) -> object:
        return sdk.PacketHandler(2.0)

    def _rx_answer(
        self, servo_id: int, n_params: int, resync: bool = False
    ) -> tuple[int, int, list[int]]:
        # Protocol 2.0 status packet (unstuffed by the SDK): FF FF FD 00 id len_l len_h 0x55
        # error params... crc_l crc_h, where len counts 0x55, error, params and the CRC.
        while True:
            rx, comm = self._ph.rxPacket(self._port, False)
            if self._c(comm) != CommResult.SUCCESS:
                return self._c(comm), 0, []
            if rx[4] != servo_id:
                continue
            if rx[5] + (rx[6] << 8) - 4 == n_params:
                return CommResult.SUCCESS, rx[8], list(rx[9 : 9 + n_params])
            if not resync:
                self._port.is_using = False
                return CommResult.RX_CORRUPT, 0, []

    def _raw_ping(self, servo_id: int) -> RawOutcome:
        self._port.is_using = False
        packet = [0] * 10
        packet[4], packet[5], packet[7] = servo_id, 3, 0x01  # id, length, PING
        comm = self._c(self._ph.txPacket(self._port, packet))
        if comm != CommResult.SUCCESS:
            self._port.is_using = False
            return RawOutcome(comm, 0, None, servo_id)
        self._port.setPacketTimeout(3 + 11)
        comm, error, data = self._rx_answer(servo_id, 3)  # model number (2 bytes), firmware
        model = data[0] | (data[1] << 8) if comm == CommResult.SUCCESS else None
        return RawOutcome(comm, error, model, servo_id)

    def _raw_read(self, servo_id: int, address: int, size: int) -> RawOutcome:
        self._port.is_using = False
        comm = self._c(self._ph.readTx(self._port, servo_id, address, size))
        if comm != CommResult.SUCCESS:
            self._port.is_using = False
            return RawOutcome(comm, 0, None, servo_id)
        comm, error, data = self._rx_answer(servo_id, size)
        ok = comm == CommResult.SUCCESS
        value = sum(b << (8 * k) for k, b in enumerate(data)) if ok else None
        return RawOutcome(comm, error, value, servo_id)

    def _raw_write(self, servo_id: int, address: int, size: int, value: int) -> RawOutcome:
        self._port.is_using = False
        data = [(value >> (8 * k)) & 0xFF for k in range(size)]
        comm = self._c(self._ph.writeTxOnly(self._port, servo_id, address, size, data))
        if comm != CommResult.SUCCESS:
            self._port.is_using = False
            return RawOutcome(comm, 0, None, servo_id)
        self._port.setPacketTimeout(11)
        comm, error, _ = self._rx_answer(servo_id, 0)
        return RawOutcome(comm, error, None, servo_id)

    def _raw_sync_read(self, address: int, size: int, ids: list[int]) -> RawOutcome:
        values: dict[int, int] = {}
        for servo_id in ids:
            outcome = self._raw_read(servo_id, address, size)
            if outcome.comm != CommResult.SUCCESS or outcome.error_bits:
                return outcome
            values[servo_id] = int(outcome.value or 0)
        return RawOutcome(CommResult.SUCCESS, 0, values)  # type: ignore[arg-type]

    def _raw_sync_write(self, address: int, size: int, values: Mapping[int, int]) -> RawOutcome:
        self._port.is_using = False
        group = self._sdk.GroupSyncWrite(self._port, self._ph, address, size)
        for servo_id, value in values.items():
            group.addParam(servo_id, [(value >> (8 * k)) & 0xFF for k in range(size)])
        return RawOutcome(self._c(group.txPacket()))

    def describe_error_bits(self, bits: int) -> str:
        if bits & 0x80:
            return 'hardware alert (read Hardware_Error_Status)'
        return _DXL_ERRORS.get(bits & 0x7F, f'error 0x{bits:02x}')
