"""smolvla-run: bad options, the fallback banner, real runs and their artifacts, Ctrl-C.

Every run here is the real runner on the real MuJoCo simulator; the artifacts are checked by
reading them back with independent readers (imageio/ffmpeg for the MP4, Pillow for the PNGs,
rosbags for the bag), and the expected counts come from the run's settings (ticks = duration x
rate, video frames = duration x 10 renders per second).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from runner_helpers import (
    STRIP_LINE_PX,
    env_without_checkpoints,
    png_size,
    run_folder,
    text_in_band,
    video_frames,
)
from smolvla_checkpoints import make_checkpoint

from smolvla_ros.runner.artifacts.bag import (
    TOPIC_ACTION_CHUNK,
    TOPIC_CAMERA,
    TOPIC_JOINT_COMMAND,
    TOPIC_JOINT_STATES,
    bag_custom_data,
    read_bag,
)
from smolvla_ros.runner.artifacts.metrics import METRICS_FIELDS
from smolvla_ros.runner.cli import main
from smolvla_ros.runner.run import RANDOM_BANNER
from so_arm_driver.robots import SO101

pytestmark = pytest.mark.filterwarnings('ignore::DeprecationWarning')

JOINTS = list(SO101.joint_names)


# -- a full run with the scripted expert ---------------------------------------------------------
@pytest.fixture(scope='module')
def scripted_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp('scripted') / 'runs'
    code = main(
        [
            '--policy',
            'scripted',
            '--duration',
            '12',
            '--cameras',
            'top,wrist',
            '--image-size',
            '64x48',
            '--output',
            str(output),
            '--no-live',
        ]
    )
    assert code == 0
    return run_folder(output)


def test_scripted_run_succeeds_and_metrics_have_every_field(scripted_run: Path) -> None:
    metrics = json.loads((scripted_run / 'metrics.json').read_text())
    assert set(METRICS_FIELDS) <= set(metrics)
    assert metrics['banner'] == ''
    assert metrics['interrupted'] is False and metrics['exit_code'] == 0
    # The expert puts the cube in the bin in about 6 s of its 12.
    assert metrics['episodes'][0]['success'] is True
    assert metrics['success_rate'] == 1.0
    assert metrics['sim_time_s'] == pytest.approx(12.0, abs=1e-6)
    assert metrics['latency_s']['count'] >= 5
    assert metrics['arm']['final'] == 'held'


def test_scripted_run_video_decodes_with_one_frame_per_render(scripted_run: Path) -> None:
    frames = video_frames(scripted_run / 'video.mp4')
    # 12 s at one render per 0.1 s; two 64x48 cameras side by side above a 64 px strip.
    assert frames.shape == (120, 48 + 64, 2 * 64, 3)
    # The cameras show the scene, not black.
    assert frames[-1, :48].mean() > 20
    # No banner: the fourth text line (the banner's) is empty.
    assert text_in_band(frames[-1], 48 + 2 + 3 * STRIP_LINE_PX) == 0
    # The first line (the instruction) is drawn.
    assert text_in_band(frames[-1], 48 + 2) > 30


def test_scripted_run_plots_are_readable_pngs(scripted_run: Path) -> None:
    for name in ('queue.png', 'latency.png', 'joints.png'):
        # 8 x 4.5 inches at 100 dpi
        assert png_size(scripted_run / name) == (800, 450)


def test_scripted_run_bag_reads_back(scripted_run: Path) -> None:
    bag = read_bag(scripted_run / 'bag')
    assert (scripted_run / 'bag' / 'metadata.yaml').is_file()
    assert list((scripted_run / 'bag').glob('*.mcap'))
    metrics = json.loads((scripted_run / 'metrics.json').read_text())
    ticks = 12 * 30  # duration x control rate
    assert len(bag[TOPIC_JOINT_STATES]) == ticks
    assert len(bag[TOPIC_JOINT_COMMAND]) == ticks
    for slot in ('top', 'wrist'):
        images = bag[TOPIC_CAMERA.format(slot=slot)]
        assert len(images) == 120
        assert images[0][1].format == 'jpeg'
        assert bytes(images[0][1].data[:2]) == b'\xff\xd8'  # the JPEG start-of-image marker
    chunks = bag[TOPIC_ACTION_CHUNK]
    assert len(chunks) == metrics['episodes'][0]['chunks'] >= 5
    _, chunk = chunks[1]
    assert list(chunk.trajectory.joint_names) == JOINTS
    assert len(chunk.trajectory.points) == 50  # the expert's chunk size
    assert chunk.dt_s == pytest.approx(1 / 30)
    last = chunk.trajectory.points[-1].time_from_start
    assert last.sec + last.nanosec * 1e-9 == pytest.approx(50 / 30, abs=1e-6)
    assert chunk.header.stamp == chunk.trajectory.header.stamp
    assert chunk.inference_latency_s >= 0
    assert chunk.request_id > 0
    # Joint states are in radians and in the arm's order; the first is the start pose.
    _, js = bag[TOPIC_JOINT_STATES][0]
    assert list(js.name) == JOINTS and js.position.shape == (6,)
    assert np.all(np.abs(js.position) < 2 * np.pi)


# -- the fallback: no checkpoint to be had ------------------------------------------------------
def test_fallback_banner_everywhere_when_no_checkpoint(tmp_path: Path) -> None:
    """Fault: offline, empty HF cache, no shipped checkpoint -> Expected: random SmolVLA + banner.

    The banner is on stdout, in metrics.json, in the bag's metadata and in the video strip."""
    output = tmp_path / 'runs'
    proc = subprocess.run(
        [
            sys.executable,
            '-m',
            'smolvla_ros.runner.cli',
            '--random-size',
            'tiny',
            '--duration',
            '1',
            '--image-size',
            '64x48',
            '--output',
            str(output),
        ],
        env=env_without_checkpoints(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert 'lerobot/smolvla_base' in proc.stdout and 'HF_HUB_OFFLINE' in proc.stdout
    assert RANDOM_BANNER in proc.stdout
    folder = run_folder(output)
    metrics = json.loads((folder / 'metrics.json').read_text())
    assert metrics['banner'] == RANDOM_BANNER
    assert metrics['policy']['kind'] == 'random-smolvla'
    assert bag_custom_data(folder / 'bag')['banner'] == RANDOM_BANNER
    frames = video_frames(folder / 'video.mp4')
    # Three 64x48 cameras (the random SmolVLA needs top, wrist, side); 1 s = 10 renders.
    assert frames.shape == (10, 48 + 64, 3 * 64, 3)
    assert text_in_band(frames[0], 48 + 2 + 3 * STRIP_LINE_PX) > 30  # the banner line


# -- a real SmolVLA checkpoint built here -------------------------------------------------------
TARGET_RAD = [0.2, -0.6, 0.4, 0.9, 0.1, 0.4]


def test_checkpoint_run_drives_the_arm_to_the_action_mean(tmp_path: Path) -> None:
    """A checkpoint whose action std is 0 predicts its action mean for every step, whatever the
    random weights say, so the simulated arm must end at that pose (radians checkpoint)."""
    ckpt = make_checkpoint(
        tmp_path / 'ckpt',
        state_stats={'mean': [0.0] * 6, 'std': [1.0] * 6},
        action_stats={'mean': TARGET_RAD, 'std': [0.0] * 6},
        state_names=[f'{j}.pos' for j in JOINTS],
        action_names=[f'{j}.pos' for j in JOINTS],
        units='radians',
        fps=30,
        chunk_size=10,
    )
    output = tmp_path / 'runs'
    code = main(
        [
            '--checkpoint',
            str(ckpt),
            '--duration',
            '4',
            '--image-size',
            '64x48',
            '--output',
            str(output),
            '--no-live',
            '--latency',
            '0.1',
        ]
    )
    assert code == 0
    folder = run_folder(output)
    metrics = json.loads((folder / 'metrics.json').read_text())
    assert metrics['banner'] == '' and metrics['policy']['kind'] == 'smolvla'
    bag = read_bag(folder / 'bag')
    _, chunk = bag[TOPIC_ACTION_CHUNK][0]
    np.testing.assert_allclose(chunk.trajectory.points[0].positions, TARGET_RAD, atol=1e-5)
    _, command = bag[TOPIC_JOINT_COMMAND][-1]
    np.testing.assert_allclose(command.position, TARGET_RAD, atol=1e-5)
    # The position servos hold the pose against gravity to within a few hundredths of a rad.
    _, measured = bag[TOPIC_JOINT_STATES][-1]
    np.testing.assert_allclose(measured.position, TARGET_RAD, atol=0.1)
    assert png_size(folder / 'joints.png') == (800, 450)


def test_replay_run_replays_the_recording(tmp_path: Path) -> None:
    from smolvla_ros.policy.replay import record

    pose = np.asarray(TARGET_RAD)
    chunks = np.stack([np.tile(pose, (30, 1))] * 4)  # 4 chunks of 30 steps at the same pose
    path = record(tmp_path / 'rec.npz', chunks, JOINTS, 1 / 30)
    output = tmp_path / 'runs'
    code = main(
        [
            '--policy',
            'replay',
            str(path),
            '--duration',
            '3',
            '--cameras',
            'top',
            '--image-size',
            '64x48',
            '--output',
            str(output),
            '--no-live',
        ]
    )
    assert code == 0
    bag = read_bag(run_folder(output) / 'bag')
    replayed = [m.trajectory.points[0].positions for _, m in bag[TOPIC_ACTION_CHUNK]]
    assert 1 <= len(replayed) <= 4
    np.testing.assert_allclose(replayed[0], pose, atol=1e-12)


def test_live_display_shows_progress_queue_latency_clamps_and_banner() -> None:
    from rich.console import Console

    from smolvla_ros.runner.display import Display

    console = Console(record=True, force_terminal=True, width=100)
    display = Display(console, enabled=True, title='smolvla-run test', banner=RANDOM_BANNER)
    display.stats.time_s, display.stats.duration_s = 5.0, 20.0
    display.stats.queue, display.stats.queue_capacity = 25, 50
    display.stats.last_latency_s, display.stats.chunks, display.stats.clamps = 1.25, 3, 7
    display.start()
    display.update(force=True)
    display.stop()
    text = console.export_text()
    assert '5.0 / 20.0 s' in text
    assert '25 actions' in text and '50 %' in text  # 25 of a 50-action chunk
    assert '1.250 s' in text and '3 (last' in text
    assert 'clamps' in text and '7' in text
    assert 'RANDOM WEIGHTS' in text


def test_checkpoint_without_fps_runs_at_30_fps_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """smolvla_base records no fps (LeRobot keeps it in the dataset): the runner assumes the
    SO-100/101 datasets' 30 fps, says so, and the chunk's points are 1/30 s apart."""
    ckpt = make_checkpoint(
        tmp_path / 'ckpt',
        state_stats={'mean': [0.0] * 6, 'std': [1.0] * 6},
        action_stats={'mean': TARGET_RAD, 'std': [0.0] * 6},
        units='radians',
        fps=None,
        chunk_size=10,
    )
    output = tmp_path / 'runs'
    argv = ['--checkpoint', str(ckpt), '--duration', '1', '--image-size', '64x48']
    assert main([*argv, '--output', str(output), '--no-live', '--latency', '0.1']) == 0
    assert 'records no fps; assuming 30 fps' in capsys.readouterr().out
    folder = run_folder(output)
    assert json.loads((folder / 'metrics.json').read_text())['policy']['dt_s'] == pytest.approx(
        1 / 30
    )
    _, chunk = read_bag(folder / 'bag')[TOPIC_ACTION_CHUNK][0]
    assert chunk.dt_s == pytest.approx(1 / 30)


def test_two_episodes_run_on_new_scenes_with_one_time_line(tmp_path: Path) -> None:
    output = tmp_path / 'runs'
    argv = ['--policy', 'scripted', '--episodes', '2', '--duration', '1', '--seed', '4']
    assert main([*argv, '--image-size', '64x48', '--output', str(output), '--no-live']) == 0
    folder = run_folder(output)
    metrics = json.loads((folder / 'metrics.json').read_text())
    assert [e['scene_seed'] for e in metrics['episodes']] == [4, 5]
    assert metrics['sim_time_s'] == pytest.approx(2.0, abs=1e-6)
    bag = read_bag(folder / 'bag')
    stamps = [ns for ns, _ in bag[TOPIC_JOINT_STATES]]
    assert len(stamps) == 2 * 30  # two episodes of 1 s at 30 Hz
    # The second episode continues the run's time line: stamps strictly increase by 1/30 s.
    np.testing.assert_allclose(np.diff(stamps), 1e9 / 30, atol=2)
    assert video_frames(folder / 'video.mp4').shape[0] == 20
