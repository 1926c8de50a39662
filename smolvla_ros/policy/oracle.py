"""The benchmark's oracle as a :class:`~smolvla_ros.policy.protocol.Policy`.

``OraclePolicy`` plans the repeating pick-and-place loop of ``smolvla_ros.bench.pick_place`` from
the observation it is given: the measured joints of the snapshot and whether the object is held.
The held flag is privileged world state (what a camera would show), read from the
:class:`PickPlaceWorld` when ``predict`` runs; the worker runs it right after the request, and on
simulated time in the same instant. It never reads the executor's queue, so a stale observation
gives a stale plan that the runtime's time alignment has to make up for.
"""

from __future__ import annotations

import math

import numpy as np

from smolvla_ros.bench.pick_place import PickPlaceTask, PickPlaceWorld
from smolvla_ros.policy.protocol import PolicyInput
from so_arm_driver.robots import SO101


class OraclePolicy:
    """Plans ``chunk_size`` targets at ``dt_s`` along the task loop from each observation.

    Args:
        task: the waypoint loop; its ``oracle_lead_s`` is the plan's lead over the observed
            joints (the arm backend's servo lag).
        world: the object state (held or not) the plan depends on.
        chunk_size: actions per chunk, n >= 1.
        dt_s: seconds between actions (> 0).
        joint_names: the order of the task's waypoint columns (the SO-101's joints).

    Raises:
        ValueError: chunk_size < 1, dt_s not > 0, or joint_names not as many as the waypoints'
            columns.
    """

    def __init__(
        self,
        task: PickPlaceTask,
        world: PickPlaceWorld,
        *,
        chunk_size: int,
        dt_s: float,
        joint_names: tuple[str, ...] = SO101.joint_names,
    ) -> None:
        if chunk_size < 1 or not (math.isfinite(dt_s) and dt_s > 0):
            raise ValueError(
                f'OraclePolicy: chunk_size must be >= 1 and dt_s > 0, got {chunk_size}, {dt_s}'
            )
        if len(joint_names) != task.waypoints.shape[1]:
            raise ValueError(
                f'OraclePolicy: {len(joint_names)} joint names for waypoints with '
                f'{task.waypoints.shape[1]} columns'
            )
        self._task, self._world = task, world
        self._n, self._dt = int(chunk_size), float(dt_s)
        self._names = tuple(joint_names)

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self._names

    @property
    def dt_s(self) -> float:
        return self._dt

    @property
    def required_slots(self) -> tuple[str, ...]:
        return ()

    def predict(self, request: PolicyInput) -> np.ndarray:
        """The next n loop samples after the observed joints, radians, shape (n, J)."""
        q = np.asarray(request.snapshot.positions_rad, dtype=np.float64)
        return self._task.plan(
            q, self._world.held, self._n, self._dt, lead_s=self._task.oracle_lead_s
        )
