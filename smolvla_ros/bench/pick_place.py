"""A repeating reach-grasp-place task in joint space and a scripted oracle policy for it.

The task is a closed loop of waypoints; each segment is traversed with a cosine (zero velocity at
the ends) profile. The world registers a grasp when the *measured* gripper closes at the pick
pose, and a completion when it opens at the place pose while holding the object.

The oracle plans from the observation it is given, as a policy would: it projects the observed
joints onto the half of the loop that the held/not-held state allows, and returns the next n
samples of the loop from there. It never reads the executor's queue, so a stale observation gives
a stale plan, and the runtime's time alignment has to make up for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Waypoints, radians, JOINT_NAMES order (gripper last: 1.2 open, 0.05 closed).
PLACE_OPEN = (-0.6, 0.2, 0.6, 0.8, 0.0, 1.2)
PRE_GRASP = (0.6, -0.3, 0.4, 0.6, 0.0, 1.2)
GRASP_OPEN = (0.6, 0.2, 0.6, 0.8, 0.0, 1.2)
GRASP_CLOSED = (0.6, 0.2, 0.6, 0.8, 0.0, 0.05)
LIFT = (0.6, -0.3, 0.4, 0.6, 0.0, 0.05)
PLACE_CLOSED = (-0.6, 0.2, 0.6, 0.8, 0.0, 0.05)
LOOP = (PLACE_OPEN, PRE_GRASP, GRASP_OPEN, GRASP_CLOSED, LIFT, PLACE_CLOSED)
GRASP_INDEX, PLACE_INDEX = 3, 0  # where the world's grasp and place events are checked

# The same loop for the MuJoCo SO-101, whose jaw would go 3 cm into the table at the pick and
# place poses above (the kinematic arm has no geometry). Only shoulder_lift changes: the highest
# value in 0.05 rad steps (pick -0.1, place -0.3, i.e. above the bin's rim) that keeps every arm
# link at least 1 cm from the table and the bin along the whole interpolated loop, measured with
# MuJoCo's geometry distance on the simulator's scene (tests/test_bench_mujoco.py checks it).
TABLE_CLEAR_LOOP = (
    (-0.6, -0.3, 0.6, 0.8, 0.0, 1.2),  # place, open
    PRE_GRASP,
    (0.6, -0.1, 0.6, 0.8, 0.0, 1.2),  # grasp, open
    (0.6, -0.1, 0.6, 0.8, 0.0, 0.05),  # grasp, closed
    LIFT,
    (-0.6, -0.3, 0.6, 0.8, 0.0, 0.05),  # place, closed
)

# How far the oracle plans ahead of the observed joints, seconds: each backend's servo lag.
# Kinematic arm: its first-order time constant. MuJoCo arm: the measured lag of its
# saturating PD servos behind a goal moving along the loop (README, "MuJoCo arm").
KINEMATIC_LEAD_S = 0.03
MUJOCO_LEAD_S = 0.003
FETCH_SEGMENTS = (0, 1, 2)  # place_open -> pre -> grasp_open -> grasp_closed (not holding)
DELIVER_SEGMENTS = (3, 4, 5)  # grasp_closed -> lift -> place_closed -> place_open (holding)


@dataclass(frozen=True)
class PickPlaceTask:
    """The waypoint loop and its timing.

    Attributes:
        mean_speed_rad_s: average speed of the fastest joint on each segment, rad/s (the cosine
            profile peaks at pi/2 times this; 0.9 -> 1.41 rad/s, under the 3 rad/s limit).
        min_segment_s: shortest segment duration, seconds.
        tolerance_rad: how close the arm joints must be to the pick/place pose for an event.
        oracle_lead_s: how far ahead of the observed point the oracle plans, seconds (the arm
            backend's servo lag; see ``plan``).
        waypoints: the loop, radians, shape (6, J); the grasp is checked at index GRASP_INDEX
            and the place at PLACE_INDEX.
    """

    mean_speed_rad_s: float = 0.9
    min_segment_s: float = 0.3
    tolerance_rad: float = 0.1
    oracle_lead_s: float = KINEMATIC_LEAD_S
    waypoints: np.ndarray = field(default_factory=lambda: np.array(LOOP, dtype=np.float64))

    def __post_init__(self) -> None:
        if self.mean_speed_rad_s <= 0 or self.min_segment_s <= 0 or self.tolerance_rad <= 0:
            raise ValueError('mean_speed_rad_s, min_segment_s and tolerance_rad must be > 0')
        if not 0 <= self.oracle_lead_s < self.min_segment_s:
            raise ValueError('oracle_lead_s must be >= 0 and shorter than min_segment_s')
        if self.waypoints.shape != (len(LOOP), len(LOOP[0])):
            raise ValueError(f'waypoints must have shape {(len(LOOP), len(LOOP[0]))}')

    @property
    def grasp_pose(self) -> np.ndarray:
        """Joints (radians) at which a closing gripper grasps, shape (J,)."""
        return self.waypoints[GRASP_INDEX]

    @property
    def place_pose(self) -> np.ndarray:
        """Joints (radians) at which an opening gripper places, shape (J,)."""
        return self.waypoints[PLACE_INDEX]

    @property
    def starts(self) -> np.ndarray:
        """Start point of each segment, shape (S, J)."""
        return self.waypoints

    @property
    def ends(self) -> np.ndarray:
        """End point of each segment, shape (S, J)."""
        return np.roll(self.waypoints, -1, axis=0)

    @property
    def durations_s(self) -> np.ndarray:
        """Duration of each segment, seconds, shape (S,)."""
        span = np.abs(self.ends - self.starts).max(axis=1)
        return np.maximum(span / self.mean_speed_rad_s, self.min_segment_s)

    @property
    def loop_s(self) -> float:
        """Duration of one loop at full speed, seconds: the latency-free cycle time."""
        return float(self.durations_s.sum())

    def position_at(self, u_s: np.ndarray) -> np.ndarray:
        """Planned joints at loop times ``u_s`` (seconds, wrapped), shape (k, J)."""
        durations = self.durations_s
        bounds = np.concatenate(([0.0], np.cumsum(durations)))
        u = np.mod(np.asarray(u_s, dtype=np.float64), bounds[-1])
        seg = np.clip(np.searchsorted(bounds, u, side='right') - 1, 0, len(durations) - 1)
        tau = (u - bounds[seg]) / durations[seg]
        s = 0.5 * (1.0 - np.cos(np.pi * tau))  # cosine profile: zero speed at each waypoint
        return self.starts[seg] + s[:, None] * (self.ends[seg] - self.starts[seg])

    def project(self, q_rad: np.ndarray, held: bool) -> float:
        """Loop time (seconds) of the point of the allowed half-loop nearest to ``q_rad``."""
        durations = self.durations_s
        bounds = np.concatenate(([0.0], np.cumsum(durations)))
        best_d, best_u = np.inf, 0.0
        for k in DELIVER_SEGMENTS if held else FETCH_SEGMENTS:
            a, b = self.starts[k], self.ends[k]
            ab = b - a
            s = float(np.clip(np.dot(q_rad - a, ab) / np.dot(ab, ab), 0.0, 1.0))
            d = float(np.linalg.norm(q_rad - (a + s * ab)))
            if d <= best_d + 1e-12:  # ties (segment joints) go to the later segment
                best_d = d
                best_u = bounds[k] + durations[k] * np.arccos(1.0 - 2.0 * s) / np.pi
        return best_u

    def plan(
        self, q_rad: np.ndarray, held: bool, n: int, dt_s: float, lead_s: float = 0.0
    ) -> np.ndarray:
        """The oracle: n targets for observation time + (i+1)*dt, radians, shape (n, J).

        ``lead_s`` (seconds) shifts the plan ahead of the observed point: a servo lags its goal
        by about its time constant, and demonstrations teach a policy the same lead (the leader
        arm's action is ahead of the follower's measured state).
        """
        u0 = self.project(np.asarray(q_rad, dtype=np.float64), held) + lead_s
        return self.position_at(u0 + dt_s * np.arange(1, n + 1))


class PickPlaceWorld:
    """The object: picked when the measured gripper closes at the pick pose, placed (one
    completion) when it opens at the place pose."""

    def __init__(self, task: PickPlaceTask) -> None:
        self.task = task
        self.held = False
        self.grasps = 0
        self.completion_times_s: list[float] = []

    def update(self, q_rad: np.ndarray, now_s: float) -> None:
        """Check the grasp and place conditions against measured joints ``q_rad``."""
        tol = self.task.tolerance_rad
        if not self.held:
            near = np.max(np.abs(q_rad[:5] - self.task.grasp_pose[:5])) <= tol
            if near and q_rad[5] <= 0.25:
                self.held = True
                self.grasps += 1
        else:
            near = np.max(np.abs(q_rad[:5] - self.task.place_pose[:5])) <= tol
            if near and q_rad[5] >= 1.0:
                self.held = False
                self.completion_times_s.append(now_s)
