"""The port lifecycle both vendor buses share: open, close, baud rate, input flush.

Feetech's and ROBOTIS's SDKs descend from one code base, so their PortHandlers behave the same;
only the packet handler (protocol) differs, which each vendor bus supplies.
"""

from __future__ import annotations

from collections.abc import Mapping

from so_arm_driver.bus.base import CommResult, RawOutcome, ServoBus
from so_arm_driver.bus.port import port_handler_class
from so_arm_driver.bus.sdk import load_sdk
from so_arm_driver.errors import SoArmPortError

# Bytes of the resynchronising marker read (from address 0). No register, ping or firmware read
# of either vendor answers with 5 data bytes, so a marker's answer is never taken for data.
MARKER_SIZE = 5


class SdkBus(ServoBus):
    """A ``ServoBus`` over a vendor SDK's PortHandler (wrapped by ``port_handler_class``).

    Answers are received through :meth:`_rx_answer`, which checks the answering id and the exact
    number of data bytes (the SDKs' own receive functions truncate a longer packet silently).
    """

    def __init__(
        self,
        port: str,
        baudrate: int = 1_000_000,
        retries: int = 2,
        labels: Mapping[int, str] | None = None,
        margin_ms: float = 50.0,
    ) -> None:
        super().__init__(port, baudrate, retries, labels)
        self.margin_ms = margin_ms
        self._sdk = None
        self._port = None
        self._ph = None

    def _packet_handler(self, sdk: object) -> object:
        """The SDK's PacketHandler for this vendor's protocol."""
        raise NotImplementedError

    def _raw_open(self) -> None:
        sdk = load_sdk(self.vendor)
        port = port_handler_class(sdk)(self.port)
        port.margin_ms = self.margin_ms
        port.baudrate = self.baudrate
        if not port.openPort():
            raise SoArmPortError(f'serial port {self.port}: baud rate {self.baudrate} refused')
        self._sdk, self._port = sdk, port
        self._translate(sdk)
        self._ph = self._packet_handler(sdk)

    def _raw_close(self) -> None:
        if self._port is not None:
            self._port.closePort()
        self._port = None

    def _raw_set_baudrate(self, baudrate: int) -> None:
        if not self._port.setBaudRate(baudrate):
            raise SoArmPortError(f'serial port {self.port}: baud rate {baudrate} refused')

    def _raw_discard_input(self) -> None:
        self._port.is_using = False
        self._port.ser.reset_input_buffer()

    def _rx_answer(
        self, servo_id: int, n_params: int, resync: bool = False
    ) -> tuple[int, int, list[int]]:
        """Receive the status packet of ``servo_id`` carrying exactly ``n_params`` data bytes.

        Packets of other servos are skipped (late answers of theirs). A packet of ``servo_id``
        with another length is out of step: ``RX_CORRUPT``, or, with ``resync``, skipped.
        The deadline is the one the last ``setPacketTimeout`` set.

        Returns:
            (CommResult code, error bits, data bytes).
        """
        raise NotImplementedError

    def _raw_resync(self, servo_id: int) -> RawOutcome:
        self._port.is_using = False
        comm = self._c(self._ph.readTx(self._port, servo_id, 0, MARKER_SIZE))
        if comm != CommResult.SUCCESS:
            self._port.is_using = False
            return RawOutcome(comm, 0, None, servo_id)
        comm, _error, _ = self._rx_answer(servo_id, MARKER_SIZE, resync=True)
        # Error bits do not matter here: the transaction that follows reports them.
        return RawOutcome(comm, 0, None, servo_id)
