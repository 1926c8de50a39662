"""smolvla-record: simulator episodes -> LeRobot v3.0 dataset, read back through the reader.

The expected joint values are recomputed here from the simulator's radians with the LeRobot unit
definitions written out by hand (STS3215: 4096 ticks per turn, URDF zero at tick 2047; degrees =
(tick - 2047) * 360 / 4095; gripper 0..100 over ticks 1933..3185, the SO-101 URDF gripper
limits), not with the recorder's conversion code.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip('mujoco')
pytest.importorskip('pyarrow')
pytest.importorskip('av')

from smolvla_model.datasets import LeRobotDataset
from smolvla_ros.pipeline import PipelineConfig, SimPipeline
from smolvla_ros.policy.scripted_expert import ScriptedExpertPolicy
from smolvla_ros.record.cli import main

REPO = Path(__file__).resolve().parents[1]
JOINTS = ('shoulder_pan', 'shoulder_lift', 'elbow_flex', 'wrist_flex', 'wrist_roll', 'gripper')
CAMERAS = ('observation.images.top', 'observation.images.wrist', 'observation.images.side')
SIZE = 32  # px: the smallest renders that still show the scene; keeps the test fast
TICK_DEG = 360.0 / 4095  # one servo tick in LeRobot degrees
TICK_GRIP = 100.0 / (3185 - 1933)  # one servo tick on the gripper's 0..100 scale


def _lerobot_by_hand(q_rad: np.ndarray) -> np.ndarray:
    """(T, 6) radians (URDF) -> LeRobot degrees / gripper 0..100, from the definitions."""
    ticks = np.round(2047 + q_rad * 4096 / (2 * math.pi))
    out = (ticks - 2047) * 360.0 / 4095
    out[:, 5] = np.clip((ticks[:, 5] - 1933) / (3185 - 1933) * 100.0, 0.0, 100.0)
    return out


def _expert_run(seed: int, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """The scripted expert driving the simulator for ``frames`` ticks at 30 Hz, on its own:
    (measured joints, commands) in radians."""
    from so_arm_driver.sim import SimArm, SimConfig

    config = SimConfig(control_dt_s=1 / 30, image_width=SIZE, image_height=SIZE, seed=seed)
    with SimArm(config=config) as arm:
        arm.sim.reset(seed)
        policy = ScriptedExpertPolicy(arm.sim)
        ticks: list[int] = []
        pipeline = SimPipeline(
            arm,
            policy,
            config=PipelineConfig(camera_slots=('top',), latency_s=0.0),
        )
        with pipeline:
            result = pipeline.run(
                frames / 30 + 1.0,
                on_tick=lambda out: ticks.append(1),
                stop=lambda: len(ticks) >= frames,
            )
    return result.positions_rad[:frames], result.commands_rad[:frames]


def test_record_two_scripted_episodes(tmp_path: Path) -> None:
    out = tmp_path / 'ds'
    argv = [str(out), '--episodes', '2', '--seed-start', '3', '--image-size', str(SIZE)]
    assert main([*argv, '--no-progress', '--failed', 'keep']) == 0
    ds = LeRobotDataset(out)
    assert ds.num_episodes == 2
    assert ds.fps == 30 and ds.robot_type == 'so101_follower'
    assert ds.camera_keys == CAMERAS
    assert ds.tasks == ['pick up the red cube and place it in the bin']
    names = [f'{j}.pos' for j in JOINTS]
    assert ds.features['observation.state']['names'] == names
    assert ds.features['action']['names'] == names
    assert ds.info['units'] == 'degrees'
    assert ds.episodes['success'] == [True, True]
    assert ds.episodes['scene_seed'] == [3, 4]
    t = ds.table()
    assert t['action'].shape == (ds.num_frames, 6) and t['action'].dtype == np.float32
    np.testing.assert_allclose(t['timestamp'], t['frame_index'] / 30, atol=1e-6)
    for ep in range(2):
        a, b = ds.episode_bounds[ep]
        n = int(b - a)
        for key in CAMERAS:
            frames = ds.episode_frames(key, ep)
            assert frames.shape == (n, SIZE, SIZE, 3)
            assert frames.std() > 5  # a rendered scene, not a blank image
        measured, commands = _expert_run(3 + ep, n)
        assert len(commands) == n
        tol = np.array([TICK_DEG] * 5 + [TICK_GRIP]) + 1e-4  # a tick of rounding, float32
        err_action = np.abs(t['action'][a:b] - _lerobot_by_hand(commands))
        err_state = np.abs(t['observation.state'][a:b] - _lerobot_by_hand(measured))
        assert (err_action < tol).all(), err_action.max(axis=0)
        assert (err_state < tol).all(), err_state.max(axis=0)
        # The state is the measured arm, not the command: they differ while the arm moves.
        assert np.abs(t['action'][a:b] - t['observation.state'][a:b]).max() > 1.0
        # The expert opens the gripper and closes it on the cube: the action's gripper column
        # spans a real part of its 0..100 range.
        grip = t['action'][a:b, 5]
        assert grip.max() - grip.min() > 20
        # The episode ended by success: the cube rested in the bin for the settle time (0.5 s),
        # well before the 20 s limit.
        assert n < 20 * 30


def test_failed_episodes_dropped_or_kept(tmp_path: Path) -> None:
    """Fault: episodes that fail (0.5 s is too short to place the cube) -> Expected: with
    --failed drop nothing is saved (exit 1: fewer episodes than asked); with keep they are saved
    with success=False."""
    drop = tmp_path / 'drop'
    args = ['--image-size', str(SIZE), '--max-seconds', '0.5', '--no-progress']
    assert main([str(drop), '--episodes', '1', '--max-attempts', '2', *args]) == 1
    info = json.loads((drop / 'meta/info.json').read_text())
    assert info['total_episodes'] == 0 and info['total_frames'] == 0
    assert not (drop / 'data').exists() and not (drop / 'videos').exists()
    assert not (drop / '.staging').exists()
    assert LeRobotDataset(drop).num_episodes == 0

    keep = tmp_path / 'keep'
    assert main([str(keep), '--episodes', '2', '--failed', 'keep', *args]) == 0
    ds = LeRobotDataset(keep)
    assert ds.num_episodes == 2 and ds.episodes['success'] == [False, False]
    np.testing.assert_array_equal(ds.episode_bounds, [[0, 15], [15, 30]])  # 0.5 s at 30 Hz


@pytest.mark.parametrize(
    'bad',
    [
        ['--episodes', '0'],
        ['--fps', '7'],
        ['--image-size', '33'],
        ['--max-seconds', '0'],
        ['--failed', 'maybe'],
        ['--latency', '-1'],
        ['--policy', 'smolvla'],
        ['--policy', 'smolvla', '--checkpoint', '/nonexistent/ckpt'],
    ],
)
def test_bad_options_exit_2_and_write_nothing(tmp_path: Path, bad: list[str]) -> None:
    """Fault: an invalid option or an unloadable checkpoint -> Expected: exit 2, no output."""
    out = tmp_path / 'ds'
    assert main([str(out), '--no-progress', *bad]) == 2
    assert not out.exists()


def test_existing_output_is_refused(tmp_path: Path) -> None:
    """Fault: the output folder already holds files -> Expected: exit 2, the files untouched."""
    out = tmp_path / 'ds'
    out.mkdir()
    (out / 'mine.txt').write_text('keep me')
    assert main([str(out), '--no-progress']) == 2
    assert sorted(p.name for p in out.iterdir()) == ['mine.txt']
    assert (out / 'mine.txt').read_text() == 'keep me'


def test_ctrl_c_keeps_saved_episodes_and_exits_130(tmp_path: Path) -> None:
    """Fault: Ctrl-C (SIGINT) during the second episode -> Expected: exit 130, the episode in
    progress discarded, the first episode a valid dataset, no staging leftovers."""
    out = tmp_path / 'ds'
    env = {**os.environ, 'PYTHONPATH': str(REPO), 'MUJOCO_GL': os.environ.get('MUJOCO_GL', '')}
    cmd = [sys.executable, '-m', 'smolvla_ros.record.cli', str(out), '--episodes', '5']
    proc = subprocess.Popen(
        [*cmd, '--image-size', str(SIZE), '--no-progress'],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        info = out / 'meta/info.json'
        while time.monotonic() < deadline:
            if info.exists() and json.loads(info.read_text())['total_episodes'] >= 1:
                break
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        else:
            pytest.fail('no episode saved within 120 s')
        time.sleep(0.5)  # into the next episode
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    ds = LeRobotDataset(out)
    assert 1 <= ds.num_episodes < 5
    assert ds.episodes['success'] == [True] * ds.num_episodes
    for ep in range(ds.num_episodes):
        a, b = ds.episode_bounds[ep]
        assert ds.episode_frames(CAMERAS[0], ep).shape == (b - a, SIZE, SIZE, 3)
    assert not (out / '.staging').exists()
    assert len(list((out / 'data/chunk-000').iterdir())) == ds.num_episodes


def test_record_with_a_smolvla_checkpoint(tmp_path: Path) -> None:
    """--policy smolvla goes through the runner's load_policy: a micro checkpoint whose action
    std is 0 always predicts its action mean (LeRobot degrees), so the recorded actions must
    settle on exactly that mean."""
    from smolvla_checkpoints import make_checkpoint

    # Near the simulator's home pose (0, -91.7, 22.9, 85.9, 160.4 deg, gripper 56), so the arm
    # gets there well within the episode even when a loaded CPU makes the measured latency long.
    target_deg = [10.0, -80.0, 30.0, 80.0, 150.0, 40.0]
    names = [f'{j}.pos' for j in JOINTS]
    ckpt = make_checkpoint(
        tmp_path / 'ckpt',
        state_stats={'mean': [0.0] * 6, 'std': [50.0] * 6},
        action_stats={'mean': target_deg, 'std': [0.0] * 6},
        state_names=names,
        action_names=names,
        units='degrees',
        fps=30,
        chunk_size=10,
    )
    out = tmp_path / 'ds'
    argv = [str(out), '--policy', 'smolvla', '--checkpoint', str(ckpt), '--no-progress']
    # A fixed latency: the measured one (first inference included) varies with the host's load.
    argv += ['--latency', '0.2']
    assert main([*argv, '--image-size', str(SIZE), '--max-seconds', '3', '--failed', 'keep']) == 0
    ds = LeRobotDataset(out)
    assert ds.num_episodes == 1 and ds.episodes['success'] == [False]
    action = ds.table()['action']
    assert action.shape == (90, 6)
    # Degrees -> ticks -> radians (the executor) -> ticks -> degrees: within one tick.
    tol = np.array([TICK_DEG] * 5 + [TICK_GRIP]) + 1e-4
    assert (np.abs(action[-1] - target_deg) < tol).all(), action[-1]


def test_leader_arm_drives_the_recording(tmp_path: Path) -> None:
    """--leader PORT: an SO-101 leader on the emulated Feetech bus (a pty speaking the servo
    protocol) is read every tick; the simulated arm follows it. The leader's calibration puts
    each joint's zero at the middle of its range, so a shaft `d` ticks from there is `d` ticks
    of the simulator's virtual servo too: `d` * 360/4095 LeRobot degrees."""
    from so_arm_driver.calibration import MotorCalibration, save_calibration
    from so_arm_driver.emulator import so_arm_emulator
    from so_arm_driver.tables import Register, encode_sign_magnitude

    ranges = [(1000, 3000), (900, 3100), (1000, 3000), (1100, 2900), (0, 4094), (2000, 3000)]
    offsets_ticks = [150, -120, 90, 60, -80, 0]  # leader shaft, ticks from each range middle
    cal = {j: MotorCalibration(k + 1, 0, 0, *ranges[k]) for k, j in enumerate(JOINTS)}
    path = save_calibration(cal, tmp_path / 'leader.json')
    with so_arm_emulator('so101') as emu:
        for k, c in enumerate(cal.values()):
            servo = emu.servo(c.id)
            servo.set(Register.HOMING_OFFSET, encode_sign_magnitude(0, 11))
            servo.set(Register.MIN_POSITION_LIMIT, c.range_min)
            servo.set(Register.MAX_POSITION_LIMIT, c.range_max)
            servo.actual_ticks = (c.range_min + c.range_max) // 2 + offsets_ticks[k]
        out = tmp_path / 'ds'
        argv = [str(out), '--leader', emu.port, '--leader-calibration', str(path)]
        args = ['--image-size', str(SIZE), '--max-seconds', '4', '--failed', 'keep']
        assert main([*argv, *args, '--no-progress']) == 0
        assert all(emu.servo(i).get(Register.TORQUE_ENABLE) == 0 for i in range(1, 7))
    ds = LeRobotDataset(out)
    assert ds.num_episodes == 1 and ds.num_frames == 120
    action = ds.table()['action']
    want = np.array(offsets_ticks[:5], dtype=float) * TICK_DEG
    # Leader and virtual servo share the tick grid: equal to float32 rounding once the arm
    # has come from its home pose (wrist_roll 2.8 rad away, under the executor's soft start).
    np.testing.assert_allclose(action[-1, :5], want, atol=1e-3)
    # Gripper: URDF zero is virtual tick 2047 on the 1933..3185 scale.
    np.testing.assert_allclose(action[-1, 5], (2047 - 1933) / (3185 - 1933) * 100, atol=1e-3)


def test_leader_port_that_does_not_exist_exits_2(tmp_path: Path) -> None:
    """Fault: --leader names a port with nothing on it -> Expected: exit 2, nothing written."""
    out = tmp_path / 'ds'
    assert main([str(out), '--leader', str(tmp_path / 'no-tty'), '--no-progress']) == 2
    assert not out.exists()
