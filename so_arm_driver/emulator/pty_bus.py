"""A pseudo-terminal with a thread that answers packets: the shared half of both emulators."""

from __future__ import annotations

import contextlib
import os
import select
import termios
import threading
import time
import tty
from typing import Any

# termios speed constants -> bits per second, for the baud rates the servos use.
_SPEEDS = {
    getattr(termios, f'B{b}'): b
    for b in (9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 1000000, 2000000)
    if hasattr(termios, f'B{b}')
}


class PtyBusEmulator:
    """Owns the pty and the answering thread; subclasses parse and answer packets.

    Attributes:
        port: the slave device path to open with pyserial (``/dev/pts/N``).
        busy_s: total seconds the emulator spent handling packets (for the benchmark).
        packets: number of instruction packets handled.
    """

    def __init__(self) -> None:
        self._master, self._slave = os.openpty()
        # Raw mode: no echo, no line editing, no CR/LF translation. The slave fd stays open so
        # the master never sees EIO while a client closes and reopens the port.
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._buffer = bytearray()
        self._stop_r, self._stop_w = os.pipe()
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self.busy_s = 0.0
        self.packets = 0
        # Answers wait here until their packet is counted, so a host that has an answer in hand
        # also sees the count of every packet up to it (the benchmark relies on that).
        self._outbox: list[bytes] = []

    def line_baudrate(self) -> int | None:
        """The baud rate the host configured on the port, or None if it is not a standard one."""
        speed = termios.tcgetattr(self._slave)[5]
        return _SPEEDS.get(speed)

    def start(self) -> PtyBusEmulator:
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name='servo-emulator', daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and close the pty. Idempotent."""
        if self._thread is not None:
            os.write(self._stop_w, b'x')
            self._thread.join(timeout=5)
            self._thread = None
        for fd in (self._master, self._slave, self._stop_r, self._stop_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._master = self._slave = self._stop_r = self._stop_w = -1

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        while True:
            ready, _, _ = select.select([self._master, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            try:
                chunk = os.read(self._master, 4096)
            except OSError:
                return
            self._buffer.extend(chunk)
            while True:
                start = time.perf_counter()
                with self._lock:
                    handled = self._consume(self._buffer)
                if not handled:
                    break
                self.busy_s += time.perf_counter() - start
                self.packets += 1
                self._flush()

    def send(self, data: bytes) -> None:
        """Queue an answer; it goes onto the line as soon as its packet is counted."""
        self._outbox.append(data)

    def _flush(self) -> None:
        for data in self._outbox:
            os.write(self._master, data)
        self._outbox.clear()

    def _consume(self, buffer: bytearray) -> bool:
        """Answer one packet of ``buffer`` and remove its bytes; False if it is incomplete."""
        raise NotImplementedError
