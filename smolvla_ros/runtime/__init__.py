"""The ROS-free async action-chunk runtime.

A policy delivers :class:`ActionChunk` objects (n future joint targets stamped with the time of the
observation they were computed from). The :class:`ChunkExecutor` turns them into one command per
fixed-rate tick: it aligns chunks by time (dropping actions whose time has passed), requests the
next chunk when the queue falls to the threshold ``g``, blends overlapping chunks, skips requests
for near-identical observations, and passes every command through the safety limiter.

Typical use (the nodes and the benchmark do exactly this)::

    executor = ChunkExecutor(RuntimeConfig(), request_fn=policy.request, clock=MonotonicClock())
    # policy thread, later:  executor.submit_chunk(chunk)
    FixedRateLoop(clock, executor.config.tick_period_s).run(step, duration_s=60.0)
"""

from smolvla_ros.runtime.chunk import ActionChunk, validate_chunk
from smolvla_ros.runtime.clock import Clock, MonotonicClock, SimClock
from smolvla_ros.runtime.config import (
    BLEND_MODES,
    ObservationFilterConfig,
    RuntimeConfig,
    SafetyConfig,
)
from smolvla_ros.runtime.errors import ChunkRejectedError, ChunkRuntimeError
from smolvla_ros.runtime.executor import ChunkExecutor, ObservationSnapshot, TickOutput
from smolvla_ros.runtime.loop import FixedRateLoop
from smolvla_ros.runtime.metrics import RuntimeMetrics

__all__ = [
    'BLEND_MODES',
    'ActionChunk',
    'ChunkExecutor',
    'ChunkRejectedError',
    'ChunkRuntimeError',
    'Clock',
    'FixedRateLoop',
    'MonotonicClock',
    'ObservationFilterConfig',
    'ObservationSnapshot',
    'RuntimeConfig',
    'RuntimeMetrics',
    'SafetyConfig',
    'SimClock',
    'TickOutput',
    'validate_chunk',
]
