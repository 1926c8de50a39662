"""The ROS-free async action-chunk runtime.

A policy delivers :class:`ActionChunk` objects (n future joint targets in radians, stamped with
the executor-clock time of the observation they were computed from). The :class:`ChunkExecutor`
turns them into one command per fixed-rate tick: it aligns chunks by time (dropping actions
whose time has passed), requests the next chunk when the queue falls to the threshold ``g``,
blends overlapping chunks, skips requests for near-identical observations, rejects chunks that
cannot be trusted (malformed, too long, stamped in the future, older than the newest chunk or
than the last e-stop) and passes every command through the safety limiter (position, velocity
and acceleration limits; no command steps more than the velocity limit times the tick period).

The executor is driven by the caller: ``request_fn`` receives an :class:`ObservationSnapshot`
when a chunk is wanted, and ``tick`` is called once per period, e.g. by :class:`FixedRateLoop`
on a :class:`MonotonicClock` with a step that reads the arm, ticks and writes the command (the
benchmark in ``smolvla_ros.bench.async_bench`` does this). On simulated time:

>>> import numpy as np
>>> requests = []
>>> clock = SimClock()
>>> executor = ChunkExecutor(RuntimeConfig(), requests.append, clock)
>>> out = executor.tick(np.zeros(6))  # no chunk yet: hold and ask for one
>>> print(out.state, out.requested)
startup True
>>> snap = requests[0]  # the policy answers for the snapshot's time
>>> executor.submit_chunk(ActionChunk(snap.joint_names, np.zeros((50, 6)), snap.time_s, 1 / 30))
True
>>> _ = clock.advance(1 / 30)
>>> print(executor.tick(np.zeros(6)).state)
tracking

States, rejection reasons and blend modes are str enums (:class:`ExecutorState`,
:class:`RejectReason`, :class:`BlendMode`), so they compare equal to their string values.
"""

from smolvla_ros.runtime.chunk import ActionChunk, validate_chunk
from smolvla_ros.runtime.clock import CallableClock, Clock, MonotonicClock, SimClock
from smolvla_ros.runtime.config import (
    BLEND_MODES,
    ObservationFilterConfig,
    RuntimeConfig,
    SafetyConfig,
)
from smolvla_ros.runtime.enums import BlendMode, ExecutorState, RejectReason
from smolvla_ros.runtime.errors import ChunkRejectedError, ChunkRuntimeError
from smolvla_ros.runtime.executor import ChunkExecutor, ObservationSnapshot, TickOutput
from smolvla_ros.runtime.loop import DeadlineTracker, FixedRateLoop
from smolvla_ros.runtime.metrics import RuntimeMetrics, status_text

__all__ = [
    'BLEND_MODES',
    'ActionChunk',
    'BlendMode',
    'CallableClock',
    'ChunkExecutor',
    'ChunkRejectedError',
    'ChunkRuntimeError',
    'Clock',
    'DeadlineTracker',
    'ExecutorState',
    'FixedRateLoop',
    'MonotonicClock',
    'ObservationFilterConfig',
    'ObservationSnapshot',
    'RejectReason',
    'RuntimeConfig',
    'RuntimeMetrics',
    'SafetyConfig',
    'SimClock',
    'TickOutput',
    'status_text',
    'validate_chunk',
]
