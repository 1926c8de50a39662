"""The simulator's scripted pick-and-place expert as a ``Policy`` (see ``protocol.py``).

``ScriptedExpertPolicy`` wraps ``so_arm_driver.sim.ScriptedExpert``. On its first request (and
after :meth:`ScriptedExpertPolicy.reset`) it plans the whole pick-and-place from the measured
joints of the snapshot and the cube and bin poses: privileged simulator state, not something a
camera policy could know. By default it reads them from the simulator it is given; a ``poses``
provider (a callable) supplies them instead, e.g. from the simulator's pose topics in the policy
node, and then no simulator is needed (the kinematics come from the SO-101 model itself). The
plan is anchored at that observation time; every request then gets the plan's next
``chunk_size`` targets after its own observation time, so chunks from late requests stay aligned
in time. After the plan ends the expert holds its last pose.

Threading: ``predict`` reads the simulator's cube and bin poses (on the first request only). When
it runs on the worker's thread, do not step the simulator at the same moment (wait for the worker
between ticks, or use the worker's synchronous ``process`` path).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from smolvla_ros.policy.protocol import PolicyInput
from so_arm_driver.robots import robot_spec
from so_arm_driver.sim import (
    ExpertConfig,
    JointPlan,
    Kinematics,
    Observation,
    ScriptedExpert,
    SimConfig,
)
from so_arm_driver.sim.scene import build_model
from so_arm_driver.sim.simulator import Simulator

# () -> (cube centre [m] (3,), cube yaw about z [rad], bin floor centre [m] (3,)), base frame.
PoseProvider = Callable[[], tuple[np.ndarray, float, np.ndarray]]


class ScriptedExpertPolicy:
    """Chunks of the scripted expert's plan.

    Args:
        sim: the simulator whose cube and bin the expert plans for (None: ``poses`` must be
            given; the kinematics are built from ``config``'s model without running it).
        chunk_size: actions per chunk, n >= 1.
        dt_s: seconds between actions (default the simulator's control period).
        required_slots: camera slots requests must carry (the expert uses no images; naming
            slots here makes the worker check that the cameras run, as a real policy needs).
        expert: a configured expert (default one with the simulator's kinematics and dt).
        poses: where the cube and bin poses come from, called once per plan (default: read
            ``sim``). It may raise ``ValueError`` (e.g. no pose known yet): ``predict`` passes it
            on and plans again on the next request.
        config: the scene whose model gives the kinematics, joint names and default dt when
            ``sim`` is None (default ``SimConfig()``); ignored with a simulator.

    Raises:
        ValueError: chunk_size < 1, dt_s not a finite number > 0, or neither sim nor poses.
    """

    def __init__(
        self,
        sim: Simulator | None = None,
        *,
        chunk_size: int = 50,
        dt_s: float | None = None,
        required_slots: tuple[str, ...] = (),
        expert: ScriptedExpert | None = None,
        poses: PoseProvider | None = None,
        config: SimConfig | None = None,
    ) -> None:
        if sim is None and poses is None:
            raise ValueError(
                'ScriptedExpertPolicy needs the cube and bin poses: pass the simulator or a '
                'poses provider'
            )
        cfg = sim.config if sim is not None else (config or SimConfig())
        dt = cfg.effective_control_dt_s if dt_s is None else float(dt_s)
        if chunk_size < 1 or not (math.isfinite(dt) and dt > 0):
            raise ValueError(
                f'ScriptedExpertPolicy: chunk_size must be >= 1 and dt_s > 0, got '
                f'{chunk_size}, {dt}'
            )
        if poses is None:
            assert sim is not None

            def poses() -> tuple[np.ndarray, float, np.ndarray]:
                cube, yaw = sim.cube_pose()
                return cube, yaw, sim.bin_center()

        self._poses = poses
        self._joint_names = sim.spec.joint_names if sim is not None else _joints(cfg)
        self._n, self._dt = int(chunk_size), dt
        self._slots = tuple(required_slots)
        if expert is None:
            # Without a simulator, compile the same scene's model for FK/IK only (no stepping).
            model = sim.model if sim is not None else build_model(cfg)
            expert = ScriptedExpert(Kinematics(model), ExpertConfig(control_dt_s=dt))
        self._expert = expert
        self._plan: JointPlan | None = None
        self._t0 = 0.0

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self._joint_names

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
            ValueError: the poses provider has no poses (raised by it; nothing is planned).
        """
        snap = request.snapshot
        if self._plan is None:
            cube, yaw, bin_center = self._poses()
            observation = Observation(
                time_s=snap.time_s,
                joint_positions_rad=np.asarray(snap.positions_rad, dtype=np.float64),
                cube_pos_m=np.asarray(cube, dtype=np.float64),
                cube_yaw_rad=float(yaw),
                bin_center_m=np.asarray(bin_center, dtype=np.float64),
            )
            self._plan = self._expert.plan(observation)
            self._t0 = snap.time_s
        offsets = snap.time_s - self._t0 + self._dt * np.arange(1, self._n + 1)
        return np.stack([self._plan.at(float(t)) for t in offsets])


def _joints(config: SimConfig) -> tuple[str, ...]:
    return tuple(robot_spec(config.robot).joint_names)
