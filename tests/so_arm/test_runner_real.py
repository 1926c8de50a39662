"""smolvla-run --arm feetech against the emulated SO-101 on a pty (the real servo protocol).

The runner drives the emulated bus in real time with the replay policy; the emulator's servo
registers are the independent witness (torque enable, goal positions), and a camera whose video
file is deleted mid-run must be reported without stopping the run.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from smolvla_ros.policy.replay import record
from smolvla_ros.runner.artifacts.bag import (
    TOPIC_CAMERA,
    TOPIC_JOINT_COMMAND,
    TOPIC_JOINT_STATES,
    read_bag,
)
from smolvla_ros.runner.cli import main
from so_arm_driver.follower import ArmConfig, SoFollower
from so_arm_driver.robots import JOINT_NAMES
from so_arm_driver.tables import Register

pytestmark = pytest.mark.filterwarnings('ignore::DeprecationWarning')
OFFSET_RAD = np.array([0.1, -0.1, 0.1, -0.1, 0.1, 0.1])


def _recording(emu, path: Path, tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A replay file whose every action is the arm's start pose plus OFFSET_RAD."""
    with SoFollower(ArmConfig(port=emu.port, calibration_path=path)) as arm:
        start = np.asarray(arm.read_positions(), dtype=np.float64)
    target = start + OFFSET_RAD
    chunks = np.stack([np.tile(target, (30, 1))] * 10)
    return record(tmp_path / 'rec.npz', chunks, JOINT_NAMES, 1 / 30), target


def _folder(output: Path) -> Path:
    (folder,) = [p for p in output.iterdir() if p.is_dir()]
    return folder


@pytest.mark.parametrize('keep_torque', [False, True])
def test_replay_on_the_emulated_arm_then_hold_and_release(
    calibrated, tmp_path: Path, keep_torque: bool
) -> None:
    emu, _, cal_path = calibrated
    rec, target = _recording(emu, cal_path, tmp_path)
    output = tmp_path / 'runs'
    argv = ['--arm', 'feetech', '--port', emu.port, '--calibration', str(cal_path)]
    argv += ['--policy', 'replay', str(rec), '--duration', '2', '--output', str(output)]
    argv += ['--no-live'] + (['--keep-torque'] if keep_torque else [])
    assert main(argv) == 0
    folder = _folder(output)
    metrics = json.loads((folder / 'metrics.json').read_text())
    assert metrics['arm']['backend'] == 'feetech'
    assert metrics['arm']['torque_released'] is (not keep_torque)
    # The emulator's registers: torque off after the run unless kept.
    torque = [emu.servo(i).get(Register.TORQUE_ENABLE) for i in range(1, 7)]
    assert torque == ([1] * 6 if keep_torque else [0] * 6)
    bag = read_bag(folder / 'bag')
    # 2 s at 30 Hz: at most 61 ticks; a loaded CPU skips missed deadlines, never adds ticks.
    assert 10 <= len(bag[TOPIC_JOINT_STATES]) <= 61
    assert len(bag[TOPIC_JOINT_COMMAND]) == len(bag[TOPIC_JOINT_STATES])
    # The safety layer ramps towards the replayed pose; 0.1 rad is reached well within 2 s.
    _, last = bag[TOPIC_JOINT_COMMAND][-1]
    np.testing.assert_allclose(last.position, target, atol=0.01)
    assert metrics['success_rate'] is None  # nothing measures success on a real scene


def test_a_camera_that_disappears_is_reported_and_the_run_goes_on(
    calibrated, tmp_path: Path
) -> None:
    """Fault: a camera's video file is deleted mid-run -> Expected: reported, the run ends
    normally (exit 0), the frames before the loss are in the bag."""
    import imageio.v2 as imageio

    emu, _, cal_path = calibrated
    rec, _ = _recording(emu, cal_path, tmp_path)
    video = tmp_path / 'cam.mp4'
    rng = np.random.default_rng(0)
    imageio.mimwrite(video, [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)] * 5, fps=10)
    output = tmp_path / 'runs'
    goal0 = emu.servo(1).get(Register.GOAL_POSITION)

    def delete_when_running() -> None:
        # The control loop runs once the replay's goal reaches the bus; the camera was opened
        # before the loop started. A loaded CPU may take seconds to get there.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if emu.servo(1).get(Register.GOAL_POSITION) != goal0:
                time.sleep(0.3)
                break
            time.sleep(0.02)
        video.unlink()

    deleter = threading.Thread(target=delete_when_running, daemon=True)
    deleter.start()
    argv = ['--arm', 'feetech', '--port', emu.port, '--calibration', str(cal_path)]
    argv += ['--policy', 'replay', str(rec), '--duration', '3']
    argv += ['--camera', f'top={video}', '--image-size', '64x48']
    argv += ['--output', str(output), '--no-live']
    assert main(argv) == 0
    deleter.join(timeout=30)
    assert not video.exists()
    folder = _folder(output)
    metrics = json.loads((folder / 'metrics.json').read_text())
    kinds = [e['kind'] for e in metrics['cameras']['top']['events']]
    assert 'opened' in kinds
    # A 5-frame file reaches its end at once (read_failed, then reopened from the start); only a
    # file that is gone fails to open.
    assert 'open_failed' in kinds
    bag = read_bag(folder / 'bag')
    assert len(bag[TOPIC_CAMERA.format(slot='top')]) >= 1
    assert metrics['exit_code'] == 0 and metrics['arm']['final'].startswith('held')


def test_ctrl_c_on_the_emulated_arm_holds_then_releases_torque(calibrated, tmp_path: Path) -> None:
    """Fault: Ctrl-C during a real-arm run -> Expected: exit 130, hold, torque released, files.

    SIGINT is sent to this process once the arm has received a goal from the replay (the
    emulator's goal register moved), so the runner's own handler is in place."""
    import os
    import signal

    emu, _, cal_path = calibrated
    rec, _ = _recording(emu, cal_path, tmp_path)
    output = tmp_path / 'runs'
    goal0 = emu.servo(1).get(Register.GOAL_POSITION)
    sent = threading.Event()

    def interrupt_when_moving() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if emu.servo(1).get(Register.GOAL_POSITION) != goal0:
                time.sleep(0.3)
                sent.set()
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=interrupt_when_moving, daemon=True)
    watcher.start()
    argv = ['--arm', 'feetech', '--port', emu.port, '--calibration', str(cal_path)]
    argv += ['--policy', 'replay', str(rec), '--duration', '60', '--output', str(output)]
    code = main([*argv, '--no-live'])
    watcher.join(timeout=5)
    assert sent.is_set()
    assert code == 130
    assert [emu.servo(i).get(Register.TORQUE_ENABLE) for i in range(1, 7)] == [0] * 6
    folder = _folder(output)
    metrics = json.loads((folder / 'metrics.json').read_text())
    assert metrics['interrupted'] is True
    assert metrics['arm']['final'] == 'held, then torque released'
    assert 0 < metrics['episodes'][0]['sim_time_s'] < 60
    bag = read_bag(folder / 'bag')
    assert len(bag[TOPIC_JOINT_STATES]) >= 5
