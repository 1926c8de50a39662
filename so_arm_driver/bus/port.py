"""A PortHandler subclass, built on either SDK's class, that fixes three things without editing it.

1. Packet timeout. The PyPI feetech-servo-sdk computes ``tx_time_per_byte * n + 2 * 16 + 2`` ms
   from a latency timer, which is Feetech's bug IBY2S6 (https://gitee.com/ftservo/SCServoSDK/issues/
   IBY2S6; fixed in the unpublished FTServo_Python). We own the rule instead: the bytes' wire time,
   three bytes of slack and a configurable margin (``margin_ms``, 50 ms by default).
2. Clock. The SDK measures timeouts with ``time.time()``, which jumps with NTP; we use a monotonic
   clock.
3. Busy waiting. The SDK polls a non-blocking port in a tight loop while it waits for a status
   packet, burning a CPU core (and the GIL) for the whole wait. We block in ``select`` until bytes
   arrive or the packet deadline passes, so the answer is read as soon as it lands.

Opening the port asks for an exclusive lock, so a second program on the same port gets a clear
"busy" error instead of interleaved packets.
"""

from __future__ import annotations

import errno
import select
import time
from types import ModuleType
from typing import Any

import serial

from so_arm_driver.errors import SoArmPortError

_CLASSES: dict[str, type] = {}


def port_handler_class(sdk: ModuleType) -> type:
    """Return our PortHandler subclass built on ``sdk.PortHandler`` (cached per SDK)."""
    key = sdk.__name__
    if key in _CLASSES:
        return _CLASSES[key]

    class SafePortHandler(sdk.PortHandler):  # type: ignore[misc, name-defined]
        margin_ms = 50.0

        def setupPort(self, cflag_baud: int) -> bool:  # noqa: N802
            if self.is_open:
                self.closePort()
            try:
                self.ser = serial.Serial(
                    port=self.port_name,
                    baudrate=self.baudrate,
                    bytesize=serial.EIGHTBITS,
                    timeout=0,
                    exclusive=True,
                )
            except (serial.SerialException, OSError) as e:
                raise SoArmPortError(_explain_open_error(self.port_name, e)) from e
            self.is_open = True
            self.ser.reset_input_buffer()
            # 10 bits per byte on the wire (start + 8 data + stop), in milliseconds.
            self.tx_time_per_byte = (1000.0 / self.baudrate) * 10.0
            return True

        def setPacketTimeout(self, packet_length: int) -> None:  # noqa: N802
            self.packet_start_time = self.getCurrentTime()
            self.packet_timeout = self.tx_time_per_byte * (packet_length + 3) + self.margin_ms

        def getCurrentTime(self) -> float:  # noqa: N802
            return time.monotonic() * 1000.0

        def readPort(self, length: int) -> Any:  # noqa: N802
            data = self.ser.read(length)
            if data:
                return data
            remaining_s = (self.packet_timeout - self.getTimeSinceStart()) / 1000.0
            if remaining_s > 0:
                select.select([self.ser.fileno()], [], [], remaining_s)
                data = self.ser.read(length)
            return data

    _CLASSES[key] = SafePortHandler
    return SafePortHandler


def _explain_open_error(port: str, error: BaseException) -> str:
    text = str(error)
    if getattr(error, 'errno', None) == errno.ENOENT or 'No such file' in text:
        return (
            f'serial port {port} does not exist: check the USB cable and run '
            f'`so-arm find-port` ({text})'
        )
    if 'exclusively lock' in text or getattr(error, 'errno', None) == errno.EBUSY:
        return (
            f'serial port {port} is busy: another program holds it (a running driver, '
            f'lerobot, a serial monitor); stop it and retry ({text})'
        )
    if getattr(error, 'errno', None) == errno.EACCES or 'Permission denied' in text:
        return (
            f'no permission to open serial port {port}: add yourself to the dialout group '
            f'(`sudo usermod -aG dialout $USER`, then log in again) ({text})'
        )
    return f'serial port {port} could not be opened or configured: {text}'
