"""The narrow servo-bus interface and the logic every vendor shares.

A vendor subclass only moves bytes through its SDK (the ``_raw_*`` primitives, which return the
SDK's communication result codes). This base class owns what must be the same for every vendor:
register encoding, bounded retries, a lock so one transaction runs at a time, and turning failures
into typed errors that name the port, the joints, the ids, the register and the tries.
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from so_arm_driver.errors import (
    SoArmCommError,
    SoArmConfigError,
    SoArmError,
    SoArmNotConnectedError,
    SoArmServoError,
    SoArmTimeoutError,
    SoArmTorqueError,
)
from so_arm_driver.tables import Register, RegisterSpec, decode_register, encode_register


class CommResult:
    """Result codes shared by both SDKs (the Feetech SDK is a fork of the Dynamixel one)."""

    SUCCESS = 0
    PORT_BUSY = -1
    TX_FAIL = -2
    RX_FAIL = -3
    TX_ERROR = -4
    RX_WAITING = -5
    RX_TIMEOUT = -6
    RX_CORRUPT = -7
    NOT_AVAILABLE = -9

    NAMES: ClassVar[dict[int, str]] = {
        0: 'success',
        -1: 'port busy',
        -2: 'transmit failed',
        -3: 'receive failed',
        -4: 'bad instruction packet',
        -5: 'still receiving',
        -6: 'no status packet (timeout)',
        -7: 'corrupt status packet',
        -9: 'not available',
    }


@dataclass(frozen=True)
class ServoInfo:
    """What a ping tells about one servo."""

    servo_id: int
    model_number: int
    firmware: str | None = None


@dataclass(frozen=True)
class RawOutcome:
    """One SDK transaction: result code, servo error bits, and the value or values read."""

    comm: int
    error_bits: int = 0
    value: int | None = None
    failed_id: int | None = None


class ServoBus(ABC):
    """A serial bus of servos of one vendor.

    Values are the registers' signed meaning (sign-magnitude and two's complement are handled
    here). ``read``/``write`` address registers by :class:`Register` name.

    Args:
        port: serial device, e.g. ``/dev/ttyACM0``.
        baudrate: bits per second; the SO arms use 1,000,000.
        retries: extra tries after a failed transaction (so ``retries + 1`` tries in all).
        labels: optional id -> joint name, used in error messages.
    """

    vendor = 'base'
    table: Mapping[Register, RegisterSpec] = {}
    model_numbers: Mapping[str, int] = {}
    baud_codes: Mapping[int, int] = {}

    def __init__(
        self,
        port: str,
        baudrate: int = 1_000_000,
        retries: int = 2,
        labels: Mapping[int, str] | None = None,
    ) -> None:
        if retries < 0:
            raise SoArmConfigError(f'retries must be >= 0, got {retries}')
        if baudrate not in self.baud_codes:
            raise SoArmConfigError(
                f'{self.vendor} bus: unsupported baud rate {baudrate}; '
                f'choose one of {sorted(self.baud_codes)}'
            )
        self.port = port
        self.baudrate = baudrate
        self.retries = retries
        self.labels: dict[int, str] = dict(labels or {})
        self._lock = threading.RLock()
        self._open = False
        # Ids that may still send answers to requests we gave up on (a try failed); see _run.
        self._out_of_step: set[int] = set()

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._open

    def open(self) -> None:
        """Open the serial port at ``baudrate``.

        Raises:
            SoArmPortError: the port is absent, busy or cannot be configured.
            SoArmSdkMissingError: the vendor SDK is not installed.
        """
        with self._lock:
            if not self._open:
                self._raw_open()
                self._open = True

    def close(self) -> None:
        """Close the port. Idempotent."""
        with self._lock:
            if self._open:
                self._open = False
                self._raw_close()

    def __enter__(self) -> ServoBus:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_baudrate(self, baudrate: int) -> None:
        """Change the host side's baud rate (the servos keep theirs).

        Raises:
            SoArmConfigError: unsupported rate.
        """
        if baudrate not in self.baud_codes:
            raise SoArmConfigError(
                f'{self.vendor} bus: unsupported baud rate {baudrate}; '
                f'choose one of {sorted(self.baud_codes)}'
            )
        with self._lock:
            self._require_open()
            self._raw_set_baudrate(baudrate)
            self.baudrate = baudrate

    # ---- identity --------------------------------------------------------------------------

    def ping(self, servo_id: int) -> ServoInfo:
        """Ping one servo and read its model number (and firmware where the vendor has it).

        Raises:
            SoArmTimeoutError: no answer after every try.
            SoArmCommError: corrupt answers after every try.
        """
        outcome = self._run(lambda: self._raw_ping(servo_id), 'ping', [servo_id], None)
        with self._lock:
            firmware = self._firmware(servo_id)
        return ServoInfo(servo_id, int(outcome.value or 0), firmware)

    def scan(self, ids: Iterable[int] = range(0, 253)) -> list[ServoInfo]:
        """Ping every id in ``ids`` once and return the servos that answered, by id."""
        found = []
        with self._lock:
            self._require_open()
            for servo_id in ids:
                outcome = self._raw_ping(servo_id)
                if outcome.comm == CommResult.SUCCESS:
                    found.append(
                        ServoInfo(servo_id, int(outcome.value or 0), self._firmware(servo_id))
                    )
        return found

    def broadcast_ping(self) -> list[int]:
        """Ids of every servo that answers a broadcast ping at the current baud rate, sorted.

        The default pings ids one by one; vendors with a broadcast ping override it.
        """
        return [info.servo_id for info in self.scan()]

    def _firmware(self, servo_id: int) -> str | None:
        return None

    # ---- registers -------------------------------------------------------------------------

    def spec(self, register: Register) -> RegisterSpec:
        """The address/size/encoding of ``register`` on this vendor.

        Raises:
            SoArmConfigError: the vendor's table has no such register.
        """
        try:
            return self.table[register]
        except KeyError:
            raise SoArmConfigError(
                f'{self.vendor} servos have no register {register.value}'
            ) from None

    def read(self, register: Register, ids: Iterable[int]) -> dict[int, int]:
        """Read ``register`` from every id in one synchronised transaction where possible.

        Returns:
            id -> decoded value. Every id is present; a failure raises instead of guessing.

        Raises:
            SoArmTimeoutError / SoArmCommError / SoArmServoError after ``retries + 1`` tries.
        """
        ids = list(ids)
        spec = self.spec(register)
        outcome = self._run(
            lambda: self._raw_sync_read(spec.address, spec.size, ids), 'read', ids, register
        )
        raw: dict[int, int] = outcome.value  # type: ignore[assignment]
        return {i: decode_register(spec, raw[i]) for i in ids}

    def read_one(self, register: Register, servo_id: int) -> int:
        """Read one register of one servo (with a status packet). Raises as :meth:`read`."""
        spec = self.spec(register)
        outcome = self._run(
            lambda: self._raw_read(servo_id, spec.address, spec.size), 'read', [servo_id], register
        )
        return decode_register(spec, int(outcome.value or 0))

    def write(self, register: Register, values: Mapping[int, int]) -> None:
        """Write ``register`` on several servos in one broadcast packet (no status answer).

        Raises:
            SoArmConfigError: a value does not fit the register (nothing is sent).
        """
        spec = self.spec(register)
        encoded = {i: self._encode(spec, register, i, v) for i, v in values.items()}
        self._run(
            lambda: self._raw_sync_write(spec.address, spec.size, encoded),
            'write',
            list(values),
            register,
            answers=False,
        )

    def write_one(self, register: Register, servo_id: int, value: int) -> None:
        """Write one register of one servo and wait for its status packet.

        Raises:
            SoArmConfigError: the value does not fit (nothing is sent).
            SoArmTimeoutError / SoArmCommError / SoArmServoError after every try.
        """
        spec = self.spec(register)
        raw = self._encode(spec, register, servo_id, value)
        self._run(
            lambda: self._raw_write(servo_id, spec.address, spec.size, raw),
            'write',
            [servo_id],
            register,
        )

    def _encode(self, spec: RegisterSpec, register: Register, servo_id: int, value: int) -> int:
        try:
            return encode_register(spec, int(value))
        except ValueError as e:
            raise SoArmConfigError(
                f'{self._who([servo_id])}: value {value} does not fit {register.value}: {e}'
            ) from None

    def set_torque(self, enabled: bool, ids: Iterable[int]) -> None:
        """Enable or disable torque on every servo in ``ids``, each change acknowledged.

        Every servo is tried even when one fails: a silent servo must not leave the servos after
        it torqued. Disabling first sends one broadcast write (no answer), which releases every
        listening servo at once, then confirms each servo with an acknowledged write.

        Raises:
            SoArmTorqueError: one or more servos did not acknowledge; raised after all were tried,
                naming each failed joint and id (``failures``) and those that succeeded.
            SoArmNotConnectedError: the bus is not open (nothing was sent).
        """
        ids = list(ids)
        self._require_open()
        if not enabled:
            # Best effort: the acknowledged writes below find and report any servo it missed.
            with contextlib.suppress(SoArmCommError):
                self.write(Register.TORQUE_ENABLE, dict.fromkeys(ids, 0))
        failures: dict[int, SoArmError] = {}
        succeeded: list[int] = []
        for servo_id in ids:
            try:
                self._write_torque(servo_id, enabled)
            except SoArmCommError as e:
                failures[servo_id] = e
            else:
                succeeded.append(servo_id)
        if failures:
            state = 'on' if enabled else 'off'
            done = self._labelled(succeeded) or 'none'
            reasons = '; '.join(str(e) for e in failures.values())
            advice = (
                'the failed joints may still hold torque: cut the servo power before handling '
                'the arm'
                if not enabled
                else 'torque is not on everywhere'
            )
            raise SoArmTorqueError(
                f'torque {state} failed on port {self.port} for {self._labelled(failures)} '
                f'({len(failures)} of {len(ids)} servos; confirmed {state}: {done}). {advice}. '
                f'Details: {reasons}',
                failures,
                succeeded,
            )

    def _write_torque(self, servo_id: int, enabled: bool) -> None:
        """One servo's acknowledged torque change (vendors add their own side effects)."""
        self.write_one(Register.TORQUE_ENABLE, servo_id, int(enabled))

    # ---- retries and errors ----------------------------------------------------------------

    def _require_open(self) -> None:
        if not self._open:
            raise SoArmNotConnectedError(
                f'{self.vendor} bus on {self.port} is not open: call open() or use it as a '
                'context manager'
            )

    def _who(self, ids: Iterable[int]) -> str:
        return f'port {self.port}, ' + self._labelled(ids)

    def _labelled(self, ids: Iterable[int]) -> str:
        """'joint (id N), ...' for ``ids``, 'id N' where no joint name is known."""
        parts = []
        for i in ids:
            name = self.labels.get(i)
            parts.append(f'{name} (id {i})' if name else f'id {i}')
        return ', '.join(parts)

    def _run(
        self,
        transaction: object,
        action: str,
        ids: list[int],
        register: Register | None,
        answers: bool = True,
    ) -> RawOutcome:
        """Run ``transaction`` up to ``retries + 1`` times; raise a typed error if all fail.

        Stale answers. The protocols carry no sequence number, so an answer that comes after we
        gave up on its request (a slow servo, a busy line) looks exactly like the answer to the
        next request, and flushing the input first does not help when it lands after the flush.
        So every id of a failed try is marked out of step, and before the next transaction that
        expects an answer from it the bus re-synchronises with it (``_raw_resync``): it sends a
        marker read whose answer has a length no other transaction uses and discards everything
        from that servo until the marker's answer arrives. A servo answers in order, so by then
        every late answer has arrived and been dropped. Until that succeeds the id stays out of
        step and its transactions fail: a late, stale value is never returned. Every data answer
        must also have exactly the expected length, so a late marker answer is never data.

        Args:
            answers: the transaction expects status packets (False for broadcast writes).
        """
        tries = self.retries + 1
        outcome = RawOutcome(CommResult.TX_FAIL)
        with self._lock:
            self._require_open()
            for _ in range(tries):
                # Bytes already waiting are answers to nothing we will ask; one ioctl.
                self._raw_discard_input()
                if answers:
                    outcome = self._resync(ids)
                    if outcome.comm != CommResult.SUCCESS:
                        continue
                outcome = transaction()  # type: ignore[operator]
                if outcome.comm == CommResult.SUCCESS and not outcome.error_bits:
                    return outcome
                if answers and outcome.comm != CommResult.SUCCESS:
                    # We stop listening now; an answer to this request may still come.
                    self._out_of_step.update(ids)
        self._raise(outcome, action, ids, register, tries)
        raise AssertionError('unreachable')

    def _resync(self, ids: list[int]) -> RawOutcome:
        """Re-synchronise with every out-of-step id in ``ids`` (see :meth:`_run`)."""
        for servo_id in ids:
            if servo_id in self._out_of_step:
                outcome = self._raw_resync(servo_id)
                if outcome.comm != CommResult.SUCCESS:
                    return RawOutcome(outcome.comm, 0, None, servo_id)
                self._out_of_step.discard(servo_id)
        return RawOutcome(CommResult.SUCCESS)

    def _raise(
        self,
        outcome: RawOutcome,
        action: str,
        ids: list[int],
        register: Register | None,
        tries: int,
    ) -> None:
        failed = [outcome.failed_id] if outcome.failed_id is not None else ids
        what = f'{action} {register.value}' if register is not None else action
        where = f'{self._who(failed)}: {what} failed after {tries} tries'
        if outcome.comm == CommResult.SUCCESS and outcome.error_bits:
            raise SoArmServoError(
                f'{where}: the servo reports {self.describe_error_bits(outcome.error_bits)} '
                f'(error bits 0x{outcome.error_bits:02x}); check the supply voltage, let it cool, '
                'or reduce the load',
                outcome.error_bits,
            )
        reason = CommResult.NAMES.get(outcome.comm, f'result {outcome.comm}')
        if outcome.comm == CommResult.RX_TIMEOUT:
            raise SoArmTimeoutError(
                f'{where}: {reason}. Check the servo is powered and cabled, its id, and the baud '
                f'rate ({self.baudrate}); `so-arm scan --port {self.port}` lists what answers'
            )
        raise SoArmCommError(f'{where}: {reason}; check the cabling and the power supply')

    def _translate(self, sdk: object) -> None:
        """Map the SDK's result codes onto CommResult (the two SDKs use different numbers)."""
        names = (
            'SUCCESS',
            'PORT_BUSY',
            'TX_FAIL',
            'RX_FAIL',
            'TX_ERROR',
            'RX_WAITING',
            'RX_TIMEOUT',
            'RX_CORRUPT',
            'NOT_AVAILABLE',
        )
        self._codes = {getattr(sdk, f'COMM_{n}'): getattr(CommResult, n) for n in names}

    def _c(self, code: int) -> int:
        """The CommResult of an SDK result code."""
        return self._codes.get(code, CommResult.RX_FAIL)

    def describe_error_bits(self, bits: int) -> str:
        """Human words for a status packet's error bits."""
        return f'error bits 0x{bits:02x}'

    # ---- vendor primitives -----------------------------------------------------------------

    @abstractmethod
    def _raw_open(self) -> None: ...

    @abstractmethod
    def _raw_close(self) -> None: ...

    @abstractmethod
    def _raw_set_baudrate(self, baudrate: int) -> None: ...

    @abstractmethod
    def _raw_discard_input(self) -> None: ...

    @abstractmethod
    def _raw_resync(self, servo_id: int) -> RawOutcome:
        """Send a marker read to ``servo_id`` and drop its answers until the marker's arrives."""

    @abstractmethod
    def _raw_ping(self, servo_id: int) -> RawOutcome: ...

    @abstractmethod
    def _raw_read(self, servo_id: int, address: int, size: int) -> RawOutcome: ...

    @abstractmethod
    def _raw_write(self, servo_id: int, address: int, size: int, value: int) -> RawOutcome: ...

    @abstractmethod
    def _raw_sync_read(self, address: int, size: int, ids: list[int]) -> RawOutcome:
        """Read ``size`` bytes at ``address`` from every id; ``value`` is {id: raw}."""

    @abstractmethod
    def _raw_sync_write(
        self, address: int, size: int, values: Mapping[int, int]
    ) -> RawOutcome: ...


def monotonic_ms() -> float:
    """Milliseconds of a monotonic clock (packet timeouts must not jump with wall-clock time)."""
    return time.monotonic() * 1000.0
