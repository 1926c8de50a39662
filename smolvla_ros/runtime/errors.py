"""The runtime's exception hierarchy: one base class, a few specific errors."""

from __future__ import annotations


class ChunkRuntimeError(Exception):
    """Base class of every error the async runtime raises."""


class ChunkRejectedError(ChunkRuntimeError, ValueError):
    """An action chunk failed validation; nothing was queued.

    Attributes:
        reason: a short machine-readable code ('joint_names', 'shape', 'non_finite', 'bad_dt',
            'bad_time', 'out_of_order', 'estop') used as the key of the rejection counters.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f'action chunk rejected ({reason}): {message}')
        self.reason = reason
