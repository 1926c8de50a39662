"""The runtime's exception hierarchy: one base class, a few specific errors."""

from __future__ import annotations

from smolvla_ros.runtime.enums import RejectReason


class ChunkRuntimeError(Exception):
    """Base class of every error the async runtime raises."""


class ChunkRejectedError(ChunkRuntimeError, ValueError):
    """An action chunk failed validation; nothing was queued.

    Args:
        reason: a RejectReason or its string value.
        message: what was wrong and what to do.

    Attributes:
        reason: the :class:`RejectReason` (a ``str``, so ``reason == 'future'`` holds); its value
            is the key of the rejection counters.

    Raises:
        ValueError: ``reason`` is not a RejectReason value.
    """

    def __init__(self, reason: RejectReason | str, message: str) -> None:
        self.reason = RejectReason(reason)
        super().__init__(f'action chunk rejected ({self.reason.value}): {message}')
