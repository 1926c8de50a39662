"""The benchmark's policy side: the oracle behind the policy worker, with an injected latency.

Both time bases run the same worker code (``PolicyWorker``: request -> frames/input -> predict
-> checked, stamped ActionChunk) around :class:`~smolvla_ros.policy.oracle.OraclePolicy`:

- real time: a threaded :class:`PolicyWorker` around :class:`LatencyPolicy`, which holds each
  chunk until observation time + a sampled latency on the monotonic clock, then the worker
  submits it from its own thread (as a ROS callback or a remote policy would);
- simulated time: :class:`ScheduledDelivery` calls the worker's synchronous ``process`` at the
  request and ``deliver`` once observation time + the sampled latency has come.

The executor never waits on either.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from smolvla_ros.bench.pick_place import KINEMATIC_LEAD_S
from smolvla_ros.policy.protocol import Policy, PolicyInput
from smolvla_ros.policy.worker import PolicyWorker
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


class LatencyPolicy:
    """Wraps a policy so its answer is ready no earlier than observation time + a latency.

    ``predict`` runs the inner policy, draws one latency sample per request and sleeps on
    ``clock`` until ``snapshot.time_s + sample`` (returning at once if that has passed, e.g.
    when the inner policy itself took longer): a stand-in for a slow model on a real thread.

    Args:
        inner: the policy whose output is delayed.
        sample: returns successive latencies, seconds (``LatencyModel.sampler()``).
        clock: the executor's clock.
    """

    def __init__(self, inner: Policy, sample: Callable[[], float], clock: Clock) -> None:
        self._inner, self._sample, self._clock = inner, sample, clock

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self._inner.joint_names

    @property
    def dt_s(self) -> float:
        return self._inner.dt_s

    @property
    def required_slots(self) -> tuple[str, ...]:
        return self._inner.required_slots

    def predict(self, request: PolicyInput) -> np.ndarray:
        """The inner policy's actions, returned at observation time + a sampled latency."""
        out = self._inner.predict(request)
        self._clock.sleep_until(request.snapshot.time_s + self._sample())
        return out


class ScheduledDelivery:
    """Simulated-time delivery: chunks become due at observation time + a sampled latency.

    Use :meth:`request` as the executor's ``request_fn`` and call :meth:`deliver_due` before
    each tick. The chunk is computed by ``worker.process`` at the request (the observation is
    taken then) and handed over by ``worker.deliver`` with the latency as its measured one.

    Args:
        worker: a worker (``start=False`` is enough) whose ``submit`` is the executor's.
        latency: the latency distribution.
    """

    def __init__(self, worker: PolicyWorker, latency: LatencyModel) -> None:
        self._worker = worker
        self._sample = latency.sampler()
        self._pending: list[tuple[float, int, ActionChunk, float]] = []

    def request(self, obs: ObservationSnapshot) -> None:
        lat = self._sample()
        chunk = self._worker.process(obs)
        if chunk is not None:  # a failure is counted in the worker's status
            heapq.heappush(self._pending, (obs.time_s + lat, obs.request_id, chunk, lat))

    def deliver_due(self, now_s: float) -> None:
        """Submit every chunk due at or before ``now_s`` (seconds), in due order."""
        while self._pending and self._pending[0][0] <= now_s:
            _, _, chunk, lat = heapq.heappop(self._pending)
            self._worker.deliver(chunk, lat)
