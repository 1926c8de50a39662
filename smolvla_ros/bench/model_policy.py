"""``smolvla-bench async --policy smolvla``: the real SmolVLA architecture sets the latency.

Latency from the real model; actions from the oracle, since a random model's actions mean
nothing. :class:`ModelLatencyPolicy` runs a SmolVLA forward pass (pre-processing, the VLM prefix,
the flow-matching steps, post-processing) on each request's camera frames and joint state, times
it, throws its actions away and returns the oracle's plan for the same observation. It goes
through the same :class:`~smolvla_ros.policy.worker.PolicyWorker` as every policy, so the
executor sees chunks arriving exactly as late as the model makes them.

The model is either a checkpoint (``--checkpoint``) or a random-initialised SmolVLA at one of
:data:`~smolvla_ros.policy.random_smolvla.MODEL_SIZES` (tiny, small, full; built offline by
:mod:`smolvla_ros.policy.random_smolvla`, shared with the standalone runner).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from smolvla_ros.frames.errors import FrameSourceClosedError
from smolvla_ros.frames.frame import Frame
from smolvla_ros.frames.source import SourceBase
from smolvla_ros.policy.protocol import Policy, PolicyInput

# Re-exported: the benchmark's CLI and tests import the builder from here.
from smolvla_ros.policy.random_smolvla import (  # noqa: F401
    MODEL_SIZES,
    MODEL_SLOTS,
    NUM_STEPS,
    build_random_smolvla,
    stand_in_tokenizer,
)
from smolvla_ros.tasks import SIM_TASK

# What the benchmark says wherever it shows figures from this mode.
LATENCY_NOTE = (
    "latency from the real model; actions from the oracle, since a random model's actions mean "
    'nothing'
)


def load_checkpoint_policy(
    path: Path, joint_names: tuple[str, ...], dt_s: float | None, device: str = 'cpu'
) -> Policy:
    """A SmolVLA checkpoint bound to the simulated SO-101 (its units read from the checkpoint;
    LeRobot units use the simulator's virtual calibration). The units check only warns: the
    benchmark discards the actions, so a checkpoint trained on another arm still times right.

    Raises:
        see ``SmolVLAChunkPolicy.from_pretrained``.
    """
    from smolvla_ros.action_space import virtual_calibration
    from smolvla_ros.policy.smolvla import SmolVLAChunkPolicy

    return SmolVLAChunkPolicy.from_pretrained(
        path,
        joint_names,
        calibration=virtual_calibration(),
        device=device,
        dt_s=dt_s,
        seed=0,
        allow_units_mismatch=True,
    )


def model_chunk_size(policy: Any) -> int:
    """Actions per chunk of a SmolVLAChunkPolicy (its checkpoint's ``chunk_size``)."""
    return int(policy.policy.chunk_size)


def model_parameters(policy: Any) -> int:
    """Parameter count of a SmolVLAChunkPolicy's model (materialised weights only)."""
    return int(sum(p.numel() for p in policy.policy.model.parameters() if not p.is_meta))


def warm_up(policy: Policy, joint_names: tuple[str, ...] | None = None) -> float:
    """Run one request on synthetic frames and a zero state, so the first timed call does not
    pay for allocations and kernel selection; returns its wall time, seconds.

    Raises:
        whatever the model raises on that request.
    """
    from smolvla_ros.runtime.executor import ObservationSnapshot

    names = tuple(joint_names or policy.joint_names)
    snap = ObservationSnapshot(0, 0.0, np.zeros(len(names)), names, must_go=True)
    source = SyntheticFrameSource(tuple(policy.required_slots), lambda: 0.0, 1.0)
    frames = {f.slot: f for f in source.read()} if policy.required_slots else {}
    t0 = time.perf_counter()
    policy.predict(PolicyInput(snap, frames, SIM_TASK))
    return time.perf_counter() - t0


class ModelLatencyPolicy:
    """Runs ``model`` for its latency and returns ``oracle``'s actions (see the module docstring).

    Args:
        model: the timed policy (SmolVLA); its camera slots are the ones requests need.
        oracle: the policy whose actions are returned; same joints and dt as ``model``.

    Raises:
        ValueError: the two disagree on joints or dt.
    """

    def __init__(self, model: Policy, oracle: Policy) -> None:
        if tuple(model.joint_names) != tuple(oracle.joint_names):
            raise ValueError(
                f'model joints {tuple(model.joint_names)} differ from the oracle joints '
                f'{tuple(oracle.joint_names)}'
            )
        if abs(float(model.dt_s) - float(oracle.dt_s)) > 1e-9:
            raise ValueError(
                f'model dt {model.dt_s} s differs from the oracle dt {oracle.dt_s} s; build the '
                'oracle with the model dt'
            )
        self._model, self._oracle = model, oracle
        self._lock = threading.Lock()
        self._latencies: list[float] = []

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(self._oracle.joint_names)

    @property
    def dt_s(self) -> float:
        return float(self._oracle.dt_s)

    @property
    def required_slots(self) -> tuple[str, ...]:
        return tuple(self._model.required_slots)

    @property
    def latencies_s(self) -> list[float]:
        """Wall time of every model call so far, seconds (a copy)."""
        with self._lock:
            return list(self._latencies)

    def predict(self, request: PolicyInput) -> np.ndarray:
        """The oracle's plan for ``request``, returned after the model has run on it.

        Raises:
            whatever the model raises (no plan is returned then, as a real model failure).
        """
        t0 = time.perf_counter()
        actions = self._model.predict(request)
        elapsed = time.perf_counter() - t0
        # The random model's actions are checked for shape only and then discarded: the task
        # metric needs a policy that can do the task, which only the oracle is.
        if np.asarray(actions).ndim != 2:
            raise ValueError(f'the model returned shape {np.shape(actions)}, not (n, J)')
        with self._lock:
            self._latencies.append(elapsed)
        return self._oracle.predict(request)


def latency_summary(latencies_s: list[float]) -> dict[str, float | int | None]:
    """Count, median, p90 and max of model latencies, seconds (None when there are none)."""
    if not latencies_s:
        return {'calls': 0, 'median_s': None, 'p90_s': None, 'max_s': None}
    return {
        'calls': len(latencies_s),
        'median_s': float(statistics.median(latencies_s)),
        'p90_s': float(np.percentile(latencies_s, 90)),
        'max_s': float(max(latencies_s)),
    }


class SyntheticFrameSource(SourceBase):
    """Camera frames for an arm without cameras (the kinematic backend): fixed random RGB
    images, one per slot per ``period_s``, stamped on ``now``. The pixels carry no information;
    they make the model do the work real frames would (the pre-processor resizes them).

    Args:
        slots: the camera slots.
        now: the executor's clock, seconds.
        period_s: seconds between frame sets (1/15 for 15 fps).
        height / width: image size, pixels.
        seed: seed of the images.
    """

    def __init__(
        self,
        slots: tuple[str, ...],
        now: Callable[[], float],
        period_s: float,
        *,
        height: int = 256,
        width: int = 256,
        seed: int = 0,
    ) -> None:
        if not period_s > 0:
            raise ValueError(f'period_s must be > 0 seconds, got {period_s}')
        rng = np.random.default_rng(seed)
        self._images = {s: rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for s in slots}
        self._slots, self._now, self._period = tuple(slots), now, float(period_s)
        self._next: float | None = None
        self._sequence = 0
        self._closed = threading.Event()

    @property
    def slots(self) -> tuple[str, ...]:
        return self._slots

    def read(self) -> list[Frame]:
        """The next frame set, released on absolute deadlines every ``period_s``.

        Raises:
            FrameSourceClosedError: the source was closed (also when closed while waiting).
        """
        if self._closed.is_set():
            raise FrameSourceClosedError('synthetic frame source is closed')
        t = self._now()
        if self._next is not None and t < self._next:
            self._closed.wait(self._next - t)  # close() ends the wait
            t = self._now()
        self._next = t + self._period if self._next is None else max(self._next + self._period, t)
        if self._closed.is_set():
            raise FrameSourceClosedError('synthetic frame source is closed')
        frames = [Frame(s, self._images[s], t, self._sequence) for s in self._slots]
        self._sequence += 1
        return frames

    def close(self) -> None:
        self._closed.set()
