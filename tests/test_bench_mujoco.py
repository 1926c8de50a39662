"""``--sim mujoco``: the MuJoCo SO-101 stepped on the benchmark's clock (real physics, simulated
time)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip('mujoco')

import mujoco

from smolvla_ros.bench.async_bench import Scenario, run_mode
from smolvla_ros.bench.mujoco_arm import ClockSyncedSimArm
from smolvla_ros.bench.pick_place import LOOP, TABLE_CLEAR_LOOP, PickPlaceTask
from smolvla_ros.bench.sim_arm import SIM_ARMS, SIM_TASKS
from smolvla_ros.runtime import SimClock
from so_arm_driver.arm import Arm
from so_arm_driver.sim import SimConfig, SimGoalError, Simulator

ROOT = Path(__file__).resolve().parents[1]
PHYSICS_DT = 1.0 / 600.0


def test_registered_lazily_and_is_an_arm():
    arm = SIM_ARMS['mujoco'](SimClock())
    try:
        assert isinstance(arm, Arm) and isinstance(arm, ClockSyncedSimArm)
        assert arm.control_step_s == pytest.approx(PHYSICS_DT)
    finally:
        arm.close()


def test_physics_follows_the_clock_in_whole_steps_and_never_runs_ahead():
    clock = SimClock(start_s=5.0)  # an arbitrary origin, as on the monotonic clock
    arm = ClockSyncedSimArm(clock)
    mj_time = arm.sim_arm.time_s  # MuJoCo's own clock, 0 after reset
    assert mj_time == 0.0
    clock.advance(0.1)
    arm.read_positions()
    # 0.1 s is 60 physics steps of 1/600 s: MuJoCo's time must be exactly there
    assert arm.sim_arm.time_s == pytest.approx(60 * PHYSICS_DT, abs=1e-12)
    # Advance by a third of a step at a time: the remainder is carried, so after 3k advances
    # exactly k more steps were taken, and MuJoCo's time never passes the clock's.
    for k in range(1, 301):
        clock.advance(PHYSICS_DT / 3)
        arm.write_goals(np.array(TABLE_CLEAR_LOOP[0]))
        assert arm.sim_arm.time_s == pytest.approx((60 + k // 3) * PHYSICS_DT, abs=1e-9)
        lag = (clock.now() - 5.0) - arm.sim_arm.time_s
        assert -1e-9 <= lag < PHYSICS_DT + 1e-9
    assert arm.sim_arm.time_s == pytest.approx(0.1 + 100 * PHYSICS_DT, abs=1e-9)
    # reading twice at the same clock time does not step again
    t = arm.sim_arm.time_s
    arm.read_positions()
    arm.set_torque(True)
    assert arm.sim_arm.time_s == t
    arm.close()


def test_holds_a_goal_within_the_servo_stiffness_bound():
    # A position servo holding against gravity needs torque = kp * error; the actuator can give
    # at most force_limit_nm, so a held joint settles within force_limit / kp of its goal (the
    # dry friction adds frictionloss / kp, 0.00005 rad) once the motion has died out.
    servo = SimConfig().servo
    bound = (servo.force_limit_nm + servo.frictionloss) / servo.kp  # about 0.003 rad
    clock = SimClock()
    arm = ClockSyncedSimArm(clock, initial_rad=np.array(TABLE_CLEAR_LOOP[0]))
    for goal in (TABLE_CLEAR_LOOP[1], TABLE_CLEAR_LOOP[3], TABLE_CLEAR_LOOP[0]):
        arm.write_goals(np.array(goal))
        clock.advance(3.0)
        err = np.abs(arm.read_positions() - np.array(goal))
        assert err.max() <= bound, err
    arm.close()


def test_bad_goals_raise_and_change_nothing():
    clock = SimClock()
    arm = ClockSyncedSimArm(clock, initial_rad=np.array(LOOP[1]))
    goals_before = arm.sim_arm.sim.goals()
    clamps_before = arm.clamp_counts
    for bad in (np.full(6, np.nan), np.array([0.0, 0.0, np.inf, 0.0, 0.0, 0.0]), np.zeros(5)):
        with pytest.raises(ValueError):
            arm.write_goals(bad)
        with pytest.raises(SimGoalError):
            arm.write_goals(bad)
    assert np.array_equal(arm.sim_arm.sim.goals(), goals_before)
    assert arm.clamp_counts == clamps_before
    clock.advance(0.5)
    # the servos still hold the old goal
    assert np.abs(arm.read_positions() - np.array(LOOP[1])).max() < 0.01
    arm.close()


def _clearance_m(sim: Simulator, q: np.ndarray) -> float:
    """Smallest distance (m) from any moving arm link to the table or the bin at joints q."""
    m, d = sim.model, sim.data
    for name, value in zip(sim.spec.joint_names, q, strict=True):
        d.qpos[m.joint(name).qposadr[0]] = value
    mujoco.mj_forward(m, d)
    scene = [m.geom(n).id for n in ('table', 'bin_floor', 'bin_wall_px', 'bin_wall_nx')]
    scene += [m.geom(n).id for n in ('bin_wall_py', 'bin_wall_ny')]
    base = m.body('base_link').id  # stands on the table by design
    arm_bodies = {m.jnt_bodyid[m.joint(n).id] for n in sim.spec.joint_names}
    links = [
        g
        for g in range(m.ngeom)
        if m.geom_contype[g] and m.geom_bodyid[g] != base and _under(m, g, arm_bodies)
    ]
    return min(mujoco.mj_geomDistance(m, d, g, s, 0.5, None) for g in links for s in scene)


def _under(m: mujoco.MjModel, geom: int, arm_bodies: set[int]) -> bool:
    body = m.geom_bodyid[geom]
    while body:
        if body in arm_bodies:
            return True
        body = m.body_parentid[body]
    return False


def test_mujoco_loop_clears_table_and_bin_where_the_kinematic_loop_does_not():
    sim = Simulator(SimConfig())
    try:
        # the kinematic arm's pick pose would put the jaw into the table
        assert _clearance_m(sim, np.array(LOOP[3])) < -0.02
        task = SIM_TASKS['mujoco']()
        u = np.linspace(0.0, task.loop_s, 400)
        clear = min(_clearance_m(sim, q) for q in task.position_at(u))
        assert clear >= 0.0095  # the 1 cm margin the waypoints were chosen for
    finally:
        sim.close()


def test_task_keeps_its_events_at_the_backends_poses():
    task = PickPlaceTask(waypoints=np.array(TABLE_CLEAR_LOOP))
    assert np.array_equal(task.grasp_pose, np.array(TABLE_CLEAR_LOOP[3]))
    assert np.array_equal(task.place_pose, np.array(TABLE_CLEAR_LOOP[0]))
    with pytest.raises(ValueError, match='oracle_lead_s'):
        PickPlaceTask(oracle_lead_s=-0.1)


def test_async_run_on_the_mujoco_arm_completes_the_task_without_starving():
    r = run_mode(Scenario(sim='mujoco'), 'async', 15.0, realtime=False)
    assert r['completions'] >= 1 and r['grasps'] >= 2
    assert r['starvation_ticks'] == 0
    assert r['arm_stepping_ms']['calls'] > 0


_NO_MUJOCO = """
import sys
sys.modules['mujoco'] = None  # as if MuJoCo were not installed: importing it raises
import smolvla_ros.bench.__main__ as cli  # the bench itself must still import
sys.exit(cli.main(sys.argv[1:]))
"""


def test_without_mujoco_the_bench_imports_and_sim_mujoco_says_what_to_install(tmp_path):
    out = tmp_path / 'bench.json'
    argv = ['async', '--sim', 'mujoco', '--simulated-time', '--duration', '2', '--no-sweep']
    proc = subprocess.run(
        [sys.executable, '-c', _NO_MUJOCO, *argv, '--json', str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert 'pip install .[sim]' in proc.stderr
    assert not out.exists()
    # and the kinematic backend still runs in the same situation
    proc = subprocess.run(
        [sys.executable, '-c', _NO_MUJOCO, *argv[:2], 'kinematic', *argv[3:], '--json', str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())['scenario']['sim'] == 'kinematic'
