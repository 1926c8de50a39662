"""Runner faults: bad options, a checkpoint that cannot be had, Ctrl-C mid-run.

Each test names its fault and checks the safe outcome and that nothing else happened (no run
folder, no file touched, the arm held).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runner_helpers import env_without_checkpoints, png_size, run_folder, video_frames

from smolvla_ros.runner.artifacts.bag import TOPIC_JOINT_STATES, read_bag
from smolvla_ros.runner.cli import main

pytestmark = pytest.mark.filterwarnings('ignore::DeprecationWarning')


# -- bad options ---------------------------------------------------------------------------------
BAD = [
    (['--g', '1.5'], '--g'),
    (['--rate', '7'], '--rate'),
    (['--cameras', 'top,belly'], '--cameras'),
    (['--policy', 'replay'], '--policy replay'),
    (['--policy', 'replay', 'nope.npz'], 'nope.npz'),
    (['--policy', 'dance'], '--policy'),
    (['--duration', '0'], '--duration'),
    (['--duration', 'nan'], '--duration'),
    (['--episodes', '0'], '--episodes'),
    (['--image-size', '12x12'], '--image-size'),
    (['--image-size', 'big'], '--image-size'),
    (['--mode', 'fast'], '--mode'),
    (['--blending', 'smooth'], '--blending'),
    (['--policy', 'scripted', '--checkpoint', 'x'], '--checkpoint'),
    (['--device', 'tpu'], '--device'),
    (['--units', 'furlongs'], '--units'),
    (['--latency', '-1'], '--latency'),
    (['--num-threads', '0'], '--num-threads'),
    (['--frobnicate'], 'frobnicate'),
]


@pytest.mark.parametrize(('argv', 'named'), BAD)
def test_bad_option_exits_2_with_one_line_and_creates_nothing(
    argv: list[str], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fault: a bad smolvla-run option -> Expected: exit 2, one line naming it, no run folder."""
    output = tmp_path / 'runs'
    code = main([*argv, '--output', str(output), '--no-live'])
    out, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith('smolvla-run: error:') and named in lines[0]
    assert out == ''
    assert not output.exists()


def test_output_that_is_a_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fault: --output names a file -> Expected: exit 2, the file untouched."""
    target = tmp_path / 'runs'
    target.write_text('keep me')
    assert main(['--policy', 'scripted', '--output', str(target)]) == 2
    assert '--output' in capsys.readouterr().err
    assert target.read_text() == 'keep me'


def test_missing_checkpoint_is_an_error_not_a_silent_fallback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fault: an explicit --checkpoint that cannot be loaded -> Expected: exit 2, no fallback.

    Nothing is created: the run folder does not exist, the simulator never stepped."""
    output = tmp_path / 'runs'
    code = main(
        ['--checkpoint', str(tmp_path / 'no_such_ckpt'), '--output', str(output), '--no-live']
    )
    err = capsys.readouterr().err
    assert code == 2
    assert 'no_such_ckpt' in err and len(err.strip().splitlines()) == 1
    assert not output.exists()


# -- Ctrl-C --------------------------------------------------------------------------------------
def test_ctrl_c_holds_the_arm_and_leaves_complete_artifacts(tmp_path: Path) -> None:
    """Fault: Ctrl-C (SIGINT) mid-run -> Expected: exit 130, arm held, every artifact complete.

    The MP4 decodes, the bag reads back with one joint state per simulated tick, the plots and
    metrics.json are written."""
    output = tmp_path / 'runs'
    proc = subprocess.Popen(
        [
            sys.executable,
            '-m',
            'smolvla_ros.runner.cli',
            '--policy',
            'scripted',
            '--duration',
            '600',
            '--image-size',
            '64x48',
            '--output',
            str(output),
        ],
        env=env_without_checkpoints(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        # Wait until the run is under way: the bag's storage file exists and grows.
        while time.monotonic() < deadline:
            mcaps = list(output.glob('*/bag/*.mcap')) if output.exists() else []
            if mcaps and mcaps[0].stat().st_size > 50_000:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        else:
            pytest.fail('the run did not start within 120 s')
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert 'Interrupted' in out
    folder = run_folder(output)
    metrics = json.loads((folder / 'metrics.json').read_text())
    assert metrics['interrupted'] is True and metrics['exit_code'] == 130
    assert 0 < metrics['sim_time_s'] < 600
    assert metrics['arm']['final'] == 'held'
    # Held for 0.5 s on the pose it had when stopped: a position servo stopping from the
    # expert's speeds settles within a few hundredths of a radian.
    assert metrics['arm']['hold_drift_rad'] < 0.1
    frames = video_frames(folder / 'video.mp4')
    assert frames.shape[0] == metrics['artifacts']['video_frames'] > 0
    bag = read_bag(folder / 'bag')
    ticks = len(bag[TOPIC_JOINT_STATES])
    assert ticks == round(metrics['sim_time_s'] * 30)
    for name in ('queue.png', 'latency.png', 'joints.png'):
        assert png_size(folder / name) == (800, 450)


def test_missing_message_definition_stops_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fault: smolvla_interfaces/msg/ActionChunk.msg unreadable -> Expected: exit 2, no run."""
    from smolvla_ros.runner.artifacts import bag

    monkeypatch.setattr(bag, 'MSG_DIR', tmp_path / 'no_msgs')
    output = tmp_path / 'runs'
    code = main(['--policy', 'scripted', '--output', str(output), '--no-live'])
    err = capsys.readouterr().err
    assert code == 2
    assert 'ActionChunk' in err and len(err.strip().splitlines()) == 1
    assert not output.exists()
