"""What a policy is to the suite: observation in, joint targets in radians out.

Everything that produces actions (SmolVLA through ``SmolVLAPolicy``, the simulator's scripted
expert, a replay of recorded chunks, the benchmark's oracles) implements :class:`Policy`. The
policy worker (``smolvla_ros.policy.worker``) is the one place that calls it, measures latency
and wraps the result into an :class:`~smolvla_ros.runtime.chunk.ActionChunk` on the executor's
time base, so the nodes, the standalone runner and the benchmarks share one path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from smolvla_ros.frames.frame import Frame
from smolvla_ros.runtime.executor import ObservationSnapshot


@dataclass(frozen=True)
class PolicyInput:
    """One inference request as the policy sees it.

    Attributes:
        snapshot: the executor's observation (measured joint positions in radians, in
            ``snapshot.joint_names`` order, and the observation time).
        frames: the frame used for each camera slot (only the slots the policy requires, plus
            any others available); every frame is no older than the worker's configured age.
        instruction: the task in words, e.g. 'pick up the red cube'.
    """

    snapshot: ObservationSnapshot
    frames: Mapping[str, Frame]
    instruction: str


@runtime_checkable
class Policy(Protocol):
    """Turns a :class:`PolicyInput` into a chunk of joint targets.

    Implementations must be safe to call from one worker thread (never concurrently).
    """

    @property
    def joint_names(self) -> tuple[str, ...]:
        """The arm's joint order of the returned columns (equals the executor's)."""
        ...

    @property
    def dt_s(self) -> float:
        """Seconds between consecutive actions of a chunk (1 / the policy's fps)."""
        ...

    @property
    def required_slots(self) -> tuple[str, ...]:
        """Camera slots a request must carry a fresh frame for (empty: the policy needs none)."""
        ...

    def predict(self, request: PolicyInput) -> np.ndarray:
        """Joint targets, radians, shape (n, J) in ``joint_names`` order; row i is meant for
        ``request.snapshot.time_s + (i + 1) * dt_s``.

        Raises:
            ValueError: the input cannot be used (names what is wrong); the worker counts and
                reports it and stays alive.
        """
        ...
