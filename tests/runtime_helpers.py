"""Shared helpers of the runtime tests: an executor on simulated time with a recording policy."""

from __future__ import annotations

import numpy as np

from smolvla_ros.runtime import ActionChunk, ChunkExecutor, RuntimeConfig, SimClock
from so_arm_driver.robots import JOINT_NAMES

J = len(JOINT_NAMES)


class Recorder:
    """request_fn that only records the snapshots it is given."""

    def __init__(self) -> None:
        self.requests = []

    def __call__(self, snapshot) -> None:
        self.requests.append(snapshot)


def make(config: RuntimeConfig | None = None, start_s: float = 0.0):
    """(executor, clock, recorder) on simulated time."""
    clock = SimClock(start_s)
    rec = Recorder()
    ex = ChunkExecutor(config or RuntimeConfig(), rec, clock)
    return ex, clock, rec


def chunk_from(f, obs_t: float, n: int, dt: float, chunk_id: int = 0) -> ActionChunk:
    """A chunk sampling the trajectory f(t) -> (J,) at obs_t + (i+1)*dt."""
    actions = np.array([f(obs_t + (i + 1) * dt) for i in range(n)])
    return ActionChunk(JOINT_NAMES, actions, obs_t, dt, chunk_id)


def ramp(rate_rad_s: float = 0.5, joint: int = 0):
    """f(t): joint ``joint`` moves at ``rate_rad_s`` from 0, others stay at 0."""

    def f(t: float) -> np.ndarray:
        q = np.zeros(J)
        q[joint] = rate_rad_s * t
        return q

    return f
