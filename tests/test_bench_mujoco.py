"""``--sim mujoco``: the MuJoCo SO-101 stepped on the benchmark's clock (real physics, simulated
time). The adapter itself is tested in test_sim_clock_synced.py."""

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
from smolvla_ros.bench.pick_place import LOOP, TABLE_CLEAR_LOOP, PickPlaceTask
from smolvla_ros.bench.sim_arm import SIM_ARMS, SIM_TASKS
from smolvla_ros.runtime import SimClock
from so_arm_driver.arm import Arm
from so_arm_driver.sim import SimConfig, Simulator
from so_arm_driver.sim.clock_synced import ClockSyncedSimArm

ROOT = Path(__file__).resolve().parents[1]
PHYSICS_DT = 1.0 / 600.0


def test_registered_lazily_and_is_an_arm():
    arm = SIM_ARMS['mujoco'](SimClock())
    try:
        assert isinstance(arm, Arm) and isinstance(arm, ClockSyncedSimArm)
        assert arm.control_step_s == pytest.approx(PHYSICS_DT)
    finally:
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
