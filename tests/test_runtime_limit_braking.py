"""Regression: the safety limiter brakes ahead of a position limit.

Fault seen in the node graph test (tests/ros/test_graph_inprocess.py): a target beyond the
gripper's limit, approached at speed, was cut off by the final position clamp within one tick
(1.6 rad/s to 0 in 1/30 s, about 48 rad/s^2 against a_max 20), and the simulated servo
overshot the limit (1.752-1.757 rad against 1.745). Expected values by hand from the limits.
"""

from __future__ import annotations

import math

import numpy as np

from smolvla_ros.runtime.config import SafetyConfig
from smolvla_ros.runtime.safety import SafetyLimiter

DT = 1.0 / 30.0
A_MAX = 20.0  # rad/s^2


def _run_into_the_limit(start_rad: float, target_rad: float, ticks: int = 60) -> np.ndarray:
    """Gripper commands (rad) from rest at `start_rad` towards `target_rad`, other joints 0."""
    config = SafetyConfig.from_robot('so101', acceleration_limit_rad_s2=A_MAX)
    limiter = SafetyLimiter(config, lambda kind, mask: None, DT)
    n = len(config.lower_rad)
    cmd = np.zeros(n)
    cmd[-1] = start_rad
    vel = np.zeros(n)
    target = np.zeros(n)
    target[-1] = target_rad
    out = [cmd[-1]]
    for _ in range(ticks):
        new = limiter.limit(target, cmd, vel, dt_s=DT, soft_start=False)
        vel = (new - cmd) / DT
        cmd = new
        out.append(cmd[-1])
    return np.array(out)


def test_a_target_beyond_the_limit_is_approached_braking_at_a_max():
    """Fault: the target lies beyond the joint limit and the joint runs towards it at speed ->
    Expected: the commands stop exactly at the limit, never beyond it, and no tick changes the
    velocity by more than a_max * dt."""
    upper = SafetyConfig.from_robot('so101').upper_rad[-1]
    q = _run_into_the_limit(0.9, 2.0)
    assert q[-1] == upper and np.all(q <= upper)
    v = np.diff(q) / DT
    dv = np.abs(np.diff(v))
    # Braking from v to 0 at a_max takes v / a_max; a one-tick stop (the fault) changed the
    # velocity by ~v (up to 3 rad/s) at once.
    assert np.max(dv) <= A_MAX * DT + 1e-9, np.max(dv)
    # It did reach speed and then slowed down ahead of the limit (not a crawl all the way).
    assert np.max(v) > 1.0
    i_peak = int(np.argmax(v))
    assert upper - q[i_peak + 1] >= np.max(v) ** 2 / (2 * A_MAX) * 0.5


def test_moving_away_from_a_limit_is_not_braked():
    """Starting at the upper limit, a target inside the range is approached at the usual
    acceleration: the first step is a_max * dt * dt (from rest), not held back."""
    upper = SafetyConfig.from_robot('so101').upper_rad[-1]
    q = _run_into_the_limit(upper, 0.9, ticks=3)
    assert math.isclose(q[0] - q[1], A_MAX * DT * DT, rel_tol=1e-9)
