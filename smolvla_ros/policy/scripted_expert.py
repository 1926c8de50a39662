"""The simulator's scripted pick-and-place expert as a ``Policy`` (see ``protocol.py``).

``ScriptedExpertPolicy`` wraps ``so_arm_driver.sim.ScriptedExpert``. On its first request (and
after :meth:`ScriptedExpertPolicy.reset`) it plans the whole pick-and-place from the measured
joints of the snapshot and the cube and bin poses, which it reads from the simulator it is given:
privileged simulator state, not something a camera policy could know. The plan is anchored at
that observation time; every request then gets the plan's next ``chunk_size`` targets after its
own observation time, so chunks from late requests stay aligned in time. After the plan ends the
expert holds its last pose.

Threading: ``predict`` reads the simulator's cube and bin poses (on the first request only). When
it runs on the worker's thread, do not step the simulator at the same moment (wait for the worker
between ticks, or use the worker's synchronous ``process`` path).
"""

from __future__ import annotations

import math

import numpy as np

from smolvla_ros.policy.protocol import PolicyInput
from so_arm_driver.sim import ExpertConfig, JointPlan, Kinematics, Observation, ScriptedExpert
from so_arm_driver.sim.simulator import Simulator


class ScriptedExpertPolicy:
    """Chunks of the scripted expert's plan.

    Args:
        sim: the simulator whose cube and bin the expert plans for.
        chunk_size: actions per chunk, n >= 1.
        dt_s: seconds between actions (default the simulator's control period).
        required_slots: camera slots requests must carry (the expert uses no images; naming
            slots here makes the worker check that the cameras run, as a real policy needs).
        expert: a configured expert (default one with the simulator's kinematics and dt).

    Raises:
        ValueError: chunk_size < 1 or dt_s not a finite number > 0.
    """

    def __init__(
        self,
        sim: Simulator,
        *,
        chunk_size: int = 50,
        dt_s: float | None = None,
        required_slots: tuple[str, ...] = (),
        expert: ScriptedExpert | None = None,
    ) -> None:
        dt = sim.config.effective_control_dt_s if dt_s is None else float(dt_s)
        if chunk_size < 1 or not (math.isfinite(dt) and dt > 0):
            raise ValueError(
                f'ScriptedExpertPolicy: chunk_size must be >= 1 and dt_s > 0, got '
                f'{chunk_size}, {dt}'
            )
        self._sim = sim
        self._n, self._dt = int(chunk_size), dt
        self._slots = tuple(required_slots)
        self._expert = expert or ScriptedExpert(
            Kinematics(sim.model), ExpertConfig(control_dt_s=dt)
        )
        self._plan: JointPlan | None = None
        self._t0 = 0.0

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self._sim.spec.joint_names

    @property
    def dt_s(self) -> float:
        return self._dt

    @property
    def required_slots(self) -> tuple[str, ...]:
        return self._slots

    @property
    def plan(self) -> JointPlan | None:
        """The current plan (None before the first request or after reset)."""
        return self._plan

    @property
    def plan_end_time_s(self) -> float | None:
        """When the plan's last target is due, seconds on the observation clock (None: no plan)."""
        return None if self._plan is None else self._t0 + self._plan.duration_s

    def reset(self) -> None:
        """Forget the plan; the next request plans again (a new episode)."""
        self._plan = None

    def predict(self, request: PolicyInput) -> np.ndarray:
        """The plan's targets at observation time + (i + 1) * dt_s, radians, shape (n, 6).

        Raises:
            IKError: the cube or bin is out of reach (first request after a reset).
        """
        snap = request.snapshot
        if self._plan is None:
            cube, yaw = self._sim.cube_pose()
            observation = Observation(
                time_s=snap.time_s,
                joint_positions_rad=np.asarray(snap.positions_rad, dtype=np.float64),
                cube_pos_m=cube,
                cube_yaw_rad=yaw,
                bin_center_m=self._sim.bin_center(),
            )
            self._plan = self._expert.plan(observation)
            self._t0 = snap.time_s
        offsets = snap.time_s - self._t0 + self._dt * np.arange(1, self._n + 1)
        return np.stack([self._plan.at(float(t)) for t in offsets])
