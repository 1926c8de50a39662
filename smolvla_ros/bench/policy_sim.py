"""Deliver the oracle's chunks after a sampled latency: on simulated time or from a real thread.

Both take the executor's ObservationSnapshot, add the world state a camera would show at that
moment (whether the object is held), plan with the oracle and hand an ActionChunk to the executor
after the latency. The executor never waits on either.
"""

from __future__ import annotations

import heapq
import math
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from smolvla_ros.bench.pick_place import KINEMATIC_LEAD_S, PickPlaceTask, PickPlaceWorld
from smolvla_ros.runtime.chunk import ActionChunk
from smolvla_ros.runtime.clock import Clock
from smolvla_ros.runtime.executor import ObservationSnapshot

# The oracle's lead over the measured state of the kinematic arm (its servo time constant);
# each task carries its backend's lead as ``PickPlaceTask.oracle_lead_s``.
ORACLE_LEAD_S = KINEMATIC_LEAD_S


@dataclass(frozen=True)
class LatencyModel:
    """Log-normal request-to-delivery latency.

    Attributes:
        median_s: median latency, seconds (0 gives a latency-free policy).
        sigma: log-space standard deviation (0.1 -> p99 about 1.26 x median).
        seed: random seed.
    """

    median_s: float = 0.35
    sigma: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.median_s) and self.median_s >= 0) or self.sigma < 0:
            raise ValueError('latency median_s must be >= 0 and sigma >= 0')

    def sampler(self) -> Callable[[], float]:
        """A function returning successive latency samples, seconds."""
        rng = np.random.default_rng(self.seed)
        if self.median_s == 0:
            return lambda: 0.0
        return lambda: float(self.median_s * np.exp(self.sigma * rng.standard_normal()))


def _plan_chunk(
    task: PickPlaceTask, obs: ObservationSnapshot, *, held: bool, n: int, dt_s: float, lat: float
) -> ActionChunk:
    return ActionChunk(
        joint_names=obs.joint_names,
        actions=task.plan(obs.positions_rad, held, n, dt_s, lead_s=task.oracle_lead_s),
        observation_time_s=obs.time_s,
        dt_s=dt_s,
        chunk_id=obs.request_id,
        inference_latency_s=lat,
    )


class ScheduledOracle:
    """Simulated-time policy: chunks become due at observation time + latency.

    Call :meth:`deliver_due` before each tick to hand over the chunks that are due.
    """

    def __init__(
        self,
        task: PickPlaceTask,
        world: PickPlaceWorld,
        latency: LatencyModel,
        *,
        n: int,
        dt_s: float,
    ) -> None:
        self._task, self._world, self._n, self._dt = task, world, n, dt_s
        self._sample = latency.sampler()
        self._pending: list[tuple[float, int, ActionChunk]] = []

    def request(self, obs: ObservationSnapshot) -> None:
        lat = self._sample()
        chunk = _plan_chunk(
            self._task, obs, held=self._world.held, n=self._n, dt_s=self._dt, lat=lat
        )
        heapq.heappush(self._pending, (obs.time_s + lat, obs.request_id, chunk))

    def deliver_due(self, now_s: float, submit: Callable[[ActionChunk], bool]) -> None:
        while self._pending and self._pending[0][0] <= now_s:
            submit(heapq.heappop(self._pending)[2])


class ThreadedOracle:
    """Real-time policy on its own thread: plans, sleeps until observation time + latency on the
    monotonic clock, then submits from that thread (as a ROS callback or gRPC thread would)."""

    def __init__(
        self,
        task: PickPlaceTask,
        world: PickPlaceWorld,
        latency: LatencyModel,
        *,
        n: int,
        dt_s: float,
        clock: Clock,
    ) -> None:
        self._task, self._world, self._n, self._dt = task, world, n, dt_s
        self._clock = clock
        self._submit: Callable[[ActionChunk], bool] | None = None
        self._sample = latency.sampler()
        self._jobs: queue.Queue[tuple[ObservationSnapshot, bool] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name='oracle-policy', daemon=True)
        self._thread.start()

    def bind(self, submit: Callable[[ActionChunk], bool]) -> None:
        """Set where finished chunks go (the executor's submit_chunk)."""
        self._submit = submit

    def request(self, obs: ObservationSnapshot) -> None:
        if self._submit is None:
            raise RuntimeError('ThreadedOracle.request before bind(submit)')
        self._jobs.put((obs, self._world.held))  # the "camera frame" is taken now

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            obs, held = job
            lat = self._sample()
            chunk = _plan_chunk(self._task, obs, held=held, n=self._n, dt_s=self._dt, lat=lat)
            self._clock.sleep_until(obs.time_s + lat)
            measured = self._clock.now() - obs.time_s
            assert self._submit is not None
            self._submit(
                ActionChunk(
                    chunk.joint_names,
                    chunk.actions,
                    chunk.observation_time_s,
                    chunk.dt_s,
                    chunk.chunk_id,
                    measured,
                )
            )

    def close(self) -> None:
        """Stop the worker thread (after its current job)."""
        self._jobs.put(None)
        self._thread.join(timeout=5.0)
