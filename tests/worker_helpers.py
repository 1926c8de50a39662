"""Small policies and snapshots for the policy worker tests (real Policy implementations)."""

from __future__ import annotations

import threading

import numpy as np

from smolvla_ros.policy import PolicyInput
from smolvla_ros.runtime import ObservationSnapshot
from so_arm_driver.robots import JOINT_NAMES

J = len(JOINT_NAMES)


def snap(request_id: int, time_s: float, names: tuple[str, ...] = JOINT_NAMES):
    """A snapshot with joint positions request_id * 0.01 rad (so outputs identify requests)."""
    return ObservationSnapshot(
        request_id=request_id,
        time_s=time_s,
        positions_rad=np.full(len(names), request_id * 0.01),
        joint_names=names,
        must_go=False,
    )


class EchoPolicy:
    """Returns n rows of the observed positions plus (i + 1) * 0.001 rad.

    Optional behaviours, all keyed by request id: ``gate`` (predict announces itself on
    ``started`` and waits for ``release``), ``fail`` (raise RuntimeError), ``output`` (return
    this object instead). ``advance`` moves a SimClock by that many seconds inside predict (a
    measured compute time on simulated time).
    """

    def __init__(self, n: int = 4, dt_s: float = 0.05, required_slots: tuple[str, ...] = ()):
        self.n, self._dt, self._slots = n, dt_s, required_slots
        self.gate = False
        self.started = threading.Event()
        self.release = threading.Event()
        self.fail: set[int] = set()
        self.output: dict[int, object] = {}
        self.clock = None
        self.advance = 0.0
        self.inputs: list[PolicyInput] = []

    @property
    def joint_names(self) -> tuple[str, ...]:
        return JOINT_NAMES

    @property
    def dt_s(self) -> float:
        return self._dt

    @property
    def required_slots(self) -> tuple[str, ...]:
        return self._slots

    def predict(self, request: PolicyInput) -> np.ndarray:
        self.inputs.append(request)
        rid = request.snapshot.request_id
        if self.gate:
            self.started.set()
            assert self.release.wait(10.0), 'test never released the policy'
        if self.clock is not None and self.advance:
            self.clock.advance(self.advance)
        if rid in self.fail:
            raise RuntimeError(f'policy broke on request {rid}')
        if rid in self.output:
            return self.output[rid]  # type: ignore[return-value]
        q = np.asarray(request.snapshot.positions_rad)
        return q[None, :] + 0.001 * np.arange(1, self.n + 1)[:, None]


class Sink:
    """A submit target that records chunks and accepts them (or refuses when told)."""

    def __init__(self, accept: bool = True) -> None:
        self.chunks = []
        self.accept = accept

    def __call__(self, chunk) -> bool:
        self.chunks.append(chunk)
        return self.accept
