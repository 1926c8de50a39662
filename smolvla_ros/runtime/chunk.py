"""The action chunk: n future joint targets stamped with the observation time they came from."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from smolvla_ros.runtime.errors import ChunkRejectedError


@dataclass(frozen=True)
class ActionChunk:
    """A policy output on a time base.

    Attributes:
        joint_names: the order of the action columns.
        actions: joint targets, radians, shape (n, J). Stored as a read-only float64 copy.
        observation_time_s: time of the observation the chunk was computed from, seconds, on the
            executor's clock.
        dt_s: the policy's step, seconds. Action i is meant for observation_time_s + (i+1)*dt_s.
        chunk_id: the producer's id, increasing per producer (the policy worker counts its
            chunks), for logs and the executor's sample tags.
        inference_latency_s: measured time from request to delivery (or the policy's own
            measurement), seconds; reported in the metrics.
        request_id: the ``ObservationSnapshot.request_id`` this chunk answers; -1 when produced
            unrequested (the ROS message carries the same field).
        frame_times_s: capture time of the camera frame used for each slot, seconds, on the
            same clock as ``observation_time_s`` (empty when the policy used no camera). The
            joint state's time is ``observation_time_s``; the frames may be older, and how much
            older is what ``oldest_frame_time_s`` and the policy status report. Stored as a
            copy (a plain dict, so chunks pickle and deep-copy); do not mutate it.
    """

    joint_names: tuple[str, ...]
    actions: np.ndarray
    observation_time_s: float
    dt_s: float
    chunk_id: int = 0
    inference_latency_s: float = 0.0
    request_id: int = -1
    frame_times_s: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        arr = np.array(self.actions, dtype=np.float64, copy=True)
        arr.setflags(write=False)
        object.__setattr__(self, 'actions', arr)
        object.__setattr__(self, 'joint_names', tuple(self.joint_names))
        times = {str(k): float(v) for k, v in dict(self.frame_times_s).items()}
        bad = sorted(k for k, v in times.items() if not math.isfinite(v))
        if bad:
            raise ValueError(
                f'chunk {self.chunk_id}: frame_times_s for slot(s) {bad} are not finite; '
                'pass the capture times (seconds) of the frames the chunk was computed from'
            )
        object.__setattr__(self, 'frame_times_s', times)
        object.__setattr__(self, 'request_id', int(self.request_id))

    @property
    def oldest_frame_time_s(self) -> float | None:
        """Capture time of the oldest frame the chunk used, seconds; None without frames."""
        return min(self.frame_times_s.values()) if self.frame_times_s else None

    @property
    def n(self) -> int:
        """Number of actions."""
        return int(self.actions.shape[0]) if self.actions.ndim >= 1 else 0

    def sample_times(self) -> np.ndarray:
        """Times the actions are meant for, seconds, shape (n,)."""
        return self.observation_time_s + self.dt_s * np.arange(1, self.n + 1, dtype=np.float64)


def validate_chunk(
    chunk: ActionChunk, joint_names: tuple[str, ...], max_length: int | None = None
) -> None:
    """Check a chunk against the executor's joint order; the single place for chunk rules.

    The checks that need the executor's clock or state ('future', 'out_of_order', 'estop',
    'before_estop') are made by ``ChunkExecutor.submit_chunk``.

    Args:
        chunk: the chunk to check.
        joint_names: the executor's command order.
        max_length: most actions allowed (``RuntimeConfig.max_chunk_length``); None: no bound.

    Raises:
        ChunkRejectedError: with reason 'joint_names' (names or order differ), 'shape' (not
            n x J with n >= 1), 'too_long' (more than ``max_length`` actions), 'non_finite' (NaN
            or inf action), 'bad_dt' (dt not finite > 0) or 'bad_time' (observation time or
            latency not finite).
    """
    if tuple(chunk.joint_names) != tuple(joint_names):
        raise ChunkRejectedError(
            'joint_names',
            f'chunk {chunk.chunk_id} has joints {chunk.joint_names}; the executor commands '
            f'{joint_names} in that order. Reorder the chunk columns or fix the policy config.',
        )
    a = chunk.actions
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] != len(joint_names):
        raise ChunkRejectedError(
            'shape',
            f'chunk {chunk.chunk_id} actions have shape {a.shape}; expected (n >= 1, '
            f'{len(joint_names)})',
        )
    if max_length is not None and a.shape[0] > max_length:
        raise ChunkRejectedError(
            'too_long',
            f'chunk {chunk.chunk_id} has {a.shape[0]} actions; at most {max_length} are accepted '
            '(RuntimeConfig.max_chunk_length). Send shorter chunks or raise the bound.',
        )
    if not np.all(np.isfinite(a)):
        bad = sorted({joint_names[j] for j in np.argwhere(~np.isfinite(a))[:, 1]})
        raise ChunkRejectedError(
            'non_finite', f'chunk {chunk.chunk_id} has NaN or inf actions for joints {bad}'
        )
    if not (math.isfinite(chunk.dt_s) and chunk.dt_s > 0):
        raise ChunkRejectedError(
            'bad_dt', f'chunk {chunk.chunk_id} dt_s must be finite and > 0, got {chunk.dt_s}'
        )
    if not (math.isfinite(chunk.observation_time_s) and math.isfinite(chunk.inference_latency_s)):
        raise ChunkRejectedError(
            'bad_time',
            f'chunk {chunk.chunk_id} observation_time_s={chunk.observation_time_s} and '
            f'inference_latency_s={chunk.inference_latency_s} must be finite',
        )
