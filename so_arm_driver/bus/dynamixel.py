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

    def _raw_ping(self, servo_id: int) -> RawOutcome:
        self._port.is_using = False
        model, comm, error = self._ph.ping(self._port, servo_id)
        return RawOutcome(self._c(comm), error, model, servo_id)

    def _raw_read(self, servo_id: int, address: int, size: int) -> RawOutcome:
        self._port.is_using = False
        reader = {1: self._ph.read1ByteTxRx, 2: self._ph.read2ByteTxRx, 4: self._ph.read4ByteTxRx}
        value, comm, error = reader[size](self._port, servo_id, address)
        return RawOutcome(
            self._c(comm), error, value if self._c(comm) == CommResult.SUCCESS else None, servo_id
        )

    def _raw_write(self, servo_id: int, address: int, size: int, value: int) -> RawOutcome:
        self._port.is_using = False
        writer = {
            1: self._ph.write1ByteTxRx,
            2: self._ph.write2ByteTxRx,
            4: self._ph.write4ByteTxRx,
        }
        comm, error = writer[size](self._port, servo_id, address, value)
        return RawOutcome(self._c(comm), error, None, servo_id)

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
