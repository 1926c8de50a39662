"""Scripted pick-and-place expert: inverse kinematics on waypoints, joint-space interpolation.

``ScriptedExpert.plan(observation)`` looks at the cube pose and the bin, solves IK for a short
list of gripper waypoints (above the cube, at the cube, lifted, above the bin) and returns a
``JointPlan``: joint targets (radians, JOINT_NAMES order) at evenly spaced times. It needs the
observed poses only, so it can serve as the oracle of the runtime benchmark, and ``run_episode``
drives a ``Simulator`` with it and can record the demonstration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from so_arm_driver.sim.kinematics import Kinematics, grasp_rotation
from so_arm_driver.sim.simulator import Observation, Simulator

GRIPPER_OPEN_RAD = 0.9
# Closed beyond contact: the servo keeps squeezing the cube with its force limit.
GRIPPER_CLOSED_RAD = -0.15
# Grasp site above the cube centre when gripping: keeps the finger tips off the table.
GRASP_HEIGHT_OFFSET_M = 0.004
APPROACH_HEIGHT_M = 0.07  # grasp site height above the table before descending
CARRY_HEIGHT_M = 0.065  # grasp site height over the bin (the cube clears the 35 mm rim)


@dataclass(frozen=True)
class JointPlan:
    """Joint targets over time.

    Attributes:
        times_s: shape (T,), seconds from the start of the plan, increasing.
        positions_rad: shape (T, 6), joint targets in JOINT_NAMES order.
        phases: shape (T,), the name of the phase each target belongs to.
    """

    times_s: np.ndarray
    positions_rad: np.ndarray
    phases: tuple[str, ...] = field(default_factory=tuple)

    @property
    def duration_s(self) -> float:
        return float(self.times_s[-1]) if len(self.times_s) else 0.0

    def at(self, t_s: float) -> np.ndarray:
        """Targets at time ``t_s`` (linear interpolation; held at the ends), radians."""
        return np.array([np.interp(t_s, self.times_s, self.positions_rad[:, j]) for j in range(6)])


@dataclass(frozen=True)
class ExpertConfig:
    """Timing of the scripted expert, seconds per segment."""

    control_dt_s: float = 1.0 / 30.0
    move_s: float = 1.2
    descend_s: float = 0.8
    grip_s: float = 0.6
    release_s: float = 0.6

    def __post_init__(self) -> None:
        for name in ('control_dt_s', 'move_s', 'descend_s', 'grip_s', 'release_s'):
            if not getattr(self, name) > 0:
                raise ValueError(f'ExpertConfig.{name} must be positive')


def _closing_direction(cube_yaw_rad: float, radial_xy: np.ndarray) -> np.ndarray:
    """The cube face normal (of the four, 90° apart) closest to the arm's natural closing
    direction, the horizontal perpendicular to the reach direction; keeps wrist roll small."""
    natural = np.array([-radial_xy[1], radial_xy[0]]) / np.linalg.norm(radial_xy)
    best, best_dot = natural, -np.inf
    for k in range(4):
        a = cube_yaw_rad + k * np.pi / 2
        d = np.array([np.cos(a), np.sin(a)])
        if d @ natural > best_dot:
            best, best_dot = d, d @ natural
    return best


class ScriptedExpert:
    """Plans a pick-and-place from an observation of the cube and the bin."""

    def __init__(self, kinematics: Kinematics, config: ExpertConfig | None = None) -> None:
        self.kin = kinematics
        self.config = config or ExpertConfig()

    def plan(self, observation: Observation) -> JointPlan:
        """Joint targets that pick the observed cube and drop it in the observed bin.

        Raises:
            IKError: a waypoint is out of reach (cube or bin placed outside the workspace).
        """
        cube = np.asarray(observation.cube_pos_m, dtype=float)
        bin_c = np.asarray(observation.bin_center_m, dtype=float)
        q_now = np.asarray(observation.joint_positions_rad, dtype=float)
        close_dir = _closing_direction(observation.cube_yaw_rad, cube[:2])
        bin_dir = _closing_direction(0.0, bin_c[:2])
        grasp_z = cube[2] + GRASP_HEIGHT_OFFSET_M

        def ik(xyz: np.ndarray, direction: np.ndarray, q0: np.ndarray) -> np.ndarray:
            return self.kin.solve(
                np.asarray(xyz, dtype=float), grasp_rotation(direction), q0
            ).q_rad

        above = ik([cube[0], cube[1], APPROACH_HEIGHT_M], close_dir, q_now[:5])
        at = ik([cube[0], cube[1], grasp_z], close_dir, above)
        over_bin = ik([bin_c[0], bin_c[1], CARRY_HEIGHT_M], bin_dir, above)

        c = self.config
        o, g = GRIPPER_OPEN_RAD, GRIPPER_CLOSED_RAD
        keyframes = [  # (arm q, gripper, seconds to reach from the previous keyframe, phase)
            (q_now[:5], q_now[5], 0.0, 'start'),
            (above, o, c.move_s, 'approach'),
            (at, o, c.descend_s, 'descend'),
            (at, g, c.grip_s, 'grip'),
            (above, g, c.descend_s, 'lift'),
            (over_bin, g, c.move_s, 'transport'),
            (over_bin, o, c.release_s, 'release'),
            (over_bin, o, c.release_s, 'settle'),
        ]
        times, targets, phases = [], [], []
        t = 0.0
        prev = np.append(keyframes[0][0], keyframes[0][1])
        times.append(0.0)
        targets.append(prev)
        phases.append('start')
        for arm_q, grip, duration, phase in keyframes[1:]:
            goal = np.append(arm_q, grip)
            n = max(1, round(duration / c.control_dt_s))
            for i in range(1, n + 1):
                s = i / n
                s = s * s * (3 - 2 * s)  # smoothstep: zero velocity at both ends
                times.append(t + i * c.control_dt_s)
                targets.append(prev + s * (goal - prev))
                phases.append(phase)
            t += n * c.control_dt_s
            prev = goal
        return JointPlan(np.array(times), np.array(targets), tuple(phases))


@dataclass(frozen=True)
class EpisodeResult:
    """Outcome of one scripted episode; ``frames``/``states``/``actions`` only when recorded."""

    seed: int
    success: bool
    duration_s: float
    lifted: bool
    frames: dict[str, np.ndarray] = field(default_factory=dict)
    states: np.ndarray | None = None
    actions: np.ndarray | None = None


def run_episode(
    sim: Simulator,
    seed: int,
    expert: ScriptedExpert | None = None,
    *,
    record: bool = False,
    extra_settle_s: float = 0.5,
) -> EpisodeResult:
    """Reset ``sim`` with ``seed``, execute the expert's plan at the control rate, score it.

    With ``record`` the camera images (slot -> (T, H, W, 3) uint8), the measured joint states
    (T, 6) and the commanded actions (T, 6) of every control step are returned.
    """
    expert = expert or ScriptedExpert(
        Kinematics(sim.model), ExpertConfig(control_dt_s=sim.config.effective_control_dt_s)
    )
    obs = sim.reset(seed)
    plan = expert.plan(obs)
    dt = sim.config.effective_control_dt_s
    steps = int(np.ceil((plan.duration_s + extra_settle_s) / dt))
    lifted = False
    frames: dict[str, list[np.ndarray]] = {}
    states, actions = [], []
    for k in range(steps):
        action = plan.at((k + 1) * dt)
        if record:
            for slot, img in sim.render().items():
                frames.setdefault(slot, []).append(img)
            states.append(sim.joint_positions())
            actions.append(action)
        sim.set_goals(action)
        sim.step()
        lifted = lifted or sim.cube_lifted()
    return EpisodeResult(
        seed=seed,
        success=bool(sim.cube_in_bin() and lifted),
        duration_s=sim.time_s,
        lifted=lifted,
        frames={k: np.stack(v) for k, v in frames.items()},
        states=np.array(states) if record else None,
        actions=np.array(actions) if record else None,
    )
