"""The runtime's closed vocabularies: executor states, chunk rejection reasons, blend modes.

They will cross into the ROS ``ExecutorStatus`` message, so each is an enum with one string value
per member. The members subclass ``str`` (``class X(str, enum.Enum)``; ``enum.StrEnum`` is 3.11+
and ROS Humble runs 3.10), so ``state == 'tracking'``, dictionary look-ups by the plain string,
``json.dumps`` and f-strings keep giving the bare value.
"""

from __future__ import annotations

import enum
from typing import TypeVar

_E = TypeVar('_E', bound='_StrValueEnum')


class _StrValueEnum(str, enum.Enum):
    """A str enum whose str() and format() are the bare value on every Python version (3.11
    changed the default of mixed-in enums to 'ClassName.MEMBER')."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @classmethod
    def parse(cls: type[_E], value: str, field: str) -> _E:
        """The member whose value is ``value``.

        Raises:
            ValueError: ``value`` is not one of the values; the message names ``field`` and the
                accepted values.
        """
        try:
            return cls(value)
        except ValueError:
            allowed = ', '.join(m.value for m in cls)
            raise ValueError(f'{field} must be one of {allowed}; got {value!r}') from None


class ExecutorState(_StrValueEnum):
    """What the executor did on a tick."""

    TRACKING = 'tracking'  # following a chunk
    STARTUP = 'startup'  # no chunk yet since (re)start; holding
    STARVED = 'starved'  # the queue ran empty; holding
    WATCHDOG = 'watchdog'  # no valid chunk for too long; queue dropped, holding
    ESTOP = 'estop'  # emergency stop latched; holding


class RejectReason(_StrValueEnum):
    """Why a chunk was rejected (``ChunkRejectedError.reason``; metrics count it by value)."""

    JOINT_NAMES = 'joint_names'  # names or order differ from the executor's
    SHAPE = 'shape'  # actions not n x J with n >= 1
    NON_FINITE = 'non_finite'  # NaN or inf action
    BAD_DT = 'bad_dt'  # dt not finite > 0
    BAD_TIME = 'bad_time'  # observation time or latency not finite
    TOO_LONG = 'too_long'  # more actions than RuntimeConfig.max_chunk_length
    FUTURE = 'future'  # observed after the executor's now (+ tolerance): clock skew
    OUT_OF_ORDER = 'out_of_order'  # not newer than an accepted chunk: duplicate or late
    ESTOP = 'estop'  # emergency stop latched
    BEFORE_ESTOP = 'before_estop'  # observed at or before the last emergency stop
    BEFORE_HOLD = 'before_hold'  # observed at or before the last hold (ChunkExecutor.hold)


class BlendMode(_StrValueEnum):
    """How an arriving chunk is merged with the queued one over their time overlap."""

    CROSSFADE = 'crossfade'  # new chunk's weight ramps 0 -> 1 over the overlap (no seam jump)
    LATEST = 'latest'  # the new chunk replaces the queue (LeRobot 'latest_only')
    WEIGHTED = 'weighted'  # 0.3 * old + 0.7 * new (LeRobot 'weighted_average', its default)
    AVERAGE = 'average'  # 0.5 * old + 0.5 * new (LeRobot 'average')
    CONSERVATIVE = 'conservative'  # 0.7 * old + 0.3 * new (LeRobot 'conservative')
