"""Ctrl-C as a flag: the one SIGINT handler of the command-line loops (smolvla-run, its real-arm
path, smolvla-eval, smolvla-record).

The first Ctrl-C sets ``requested`` (and ``event``, for a loop that sleeps on it), so the loop
ends its tick or episode and writes complete artifacts; a second one raises KeyboardInterrupt
(the writers are still closed by the callers' ``finally`` blocks). The previous handler comes
back on exit.
"""

from __future__ import annotations

import signal
import threading
from typing import Any


class CtrlC:
    """Context manager: SIGINT -> ``requested`` (see the module docstring)."""

    def __init__(self, event: threading.Event | None = None) -> None:
        self.requested = False
        self.event = event
        self._previous: Any = None

    def __enter__(self) -> CtrlC:
        # Signal handlers can only be installed from the main thread; a loop started elsewhere
        # (embedded in another program) is stopped by that program instead.
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self.event is not None:
            self.event.set()

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
