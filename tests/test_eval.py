"""smolvla-eval: closed-loop episodes on held-out seeds through the runner's path, sync vs async.

Fast checks of the evaluator (the benchmark itself is the lead's 50-seed run): one episode of a
tiny random checkpoint in both modes, two episodes of the scripted expert, the statistics, bad
options, Ctrl-C.
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from runner_helpers import ROOT, env_without_checkpoints, run_folder, video_frames
from smolvla_checkpoints import make_checkpoint

from smolvla_ros.runner.artifacts.video import frame_size
from smolvla_ros.runner.evaluate import SEED_START, SETTLE_S, main, wilson_interval
from so_arm_driver.robots import SO101

pytestmark = pytest.mark.filterwarnings('ignore::DeprecationWarning')

JOINTS = list(SO101.joint_names)
# One control tick of the runner's 30 Hz loop, seconds.
TICK_S = 1 / 30


def _tiny_checkpoint(folder: Path) -> Path:
    return make_checkpoint(
        folder,
        state_stats={'mean': [0.0] * 6, 'std': [1.0] * 6},
        action_stats={'mean': [0.0] * 6, 'std': [0.1] * 6},
        state_names=[f'{j}.pos' for j in JOINTS],
        action_names=[f'{j}.pos' for j in JOINTS],
        units='radians',
        fps=30,
    )


# -- statistics ---------------------------------------------------------------------------------
def test_wilson_interval_matches_hand_computation() -> None:
    # z = 1.96: 8/10 -> centre (0.8 + 0.19208) / 1.38415 = 0.71674, half-width
    # 1.96 * sqrt(0.016 + 0.009604) / 1.38415 = 0.22658 (the textbook (0.490, 0.943)).
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    # 0/10: centre = half-width = 0.19208 / 1.38415 = 0.13877 -> (0, 0.2775).
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    # 2/2: centre (1 + 0.96037) / 2.92073 = 0.67120, half-width 0.32880 -> (0.3424, 1).
    lo, hi = wilson_interval(2, 2)
    assert lo == pytest.approx(0.3424, abs=1e-4) and hi == pytest.approx(1.0)
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError, match=r'0\.\.n'):
        wilson_interval(3, 2)


# -- a tiny random checkpoint, both modes -------------------------------------------------------
def test_one_episode_of_a_tiny_checkpoint_in_both_modes(tmp_path: Path) -> None:
    ckpt = _tiny_checkpoint(tmp_path / 'ckpt')
    output = tmp_path / 'evals'
    json_path = tmp_path / 'result.json'
    argv = [str(ckpt), '--episodes', '1', '--max-seconds', '1.5', '--video-episodes', '1']
    argv += ['--image-size', '64x48', '--output', str(output), '--json', str(json_path)]
    assert main(argv) == 0
    doc = json.loads(json_path.read_text())
    assert doc['format'] == 'smolvla-eval/1' and doc['interrupted'] is False
    assert doc['policy']['kind'] == 'smolvla' and doc['policy']['source'] == str(ckpt)
    assert doc['latency'] == 'measured' and doc['options']['modes'] == ['async', 'sync']
    assert [(e['mode'], e['seed']) for e in doc['episodes']] == [
        ('async', SEED_START),
        ('sync', SEED_START),
    ]
    for ep in doc['episodes']:
        assert ep['complete'] is True
        # A random policy does not solve the task: the episode runs its full 1.5 s.
        assert ep['place_success'] is False and ep['time_to_success_s'] is None
        assert ep['sim_time_s'] == pytest.approx(1.5, abs=TICK_S / 2)
        assert ep['starvation_ticks'] >= 0 and ep['chunks'] >= 0
        assert ep['latency_median_s'] is None or ep['latency_median_s'] > 0
    for mode in ('async', 'sync'):
        s = doc['summary'][mode]
        assert s['episodes'] == 1
        assert s['place'] == {
            'successes': 0,
            'episodes': 1,
            'rate': 0.0,
            'ci95': pytest.approx(list(wilson_interval(0, 1))),
        }
        assert set(s) >= {'grasp', 'time_to_success_s', 'latency_s', 'starvation_ticks'}
    assert doc['comparison']['line'].startswith('async vs sync')
    # Videos of the first episode of each mode, with the runner's overlay strip: two 64x48
    # cameras (the checkpoint's top + wrist) and one frame per render, 10 per simulated second.
    folder = run_folder(output)
    assert sorted(p.name for p in folder.iterdir()) == sorted(doc['videos'])
    assert doc['videos'] == [
        f'video-async-seed{SEED_START}.mp4',
        f'video-sync-seed{SEED_START}.mp4',
    ]
    for name in doc['videos']:
        frames = video_frames(folder / name)
        assert frames.shape == (15, *frame_size((48, 64), 2), 3)


# -- the scripted expert: the evaluator's own check --------------------------------------------
def test_scripted_expert_places_every_cube_and_async_is_not_slower(tmp_path: Path) -> None:
    """The expert solves its scenes (its reliability on recorded seeds is the reason to expect
    2/2); async, requesting before the queue runs out, cannot finish later than sync."""
    output = tmp_path / 'evals'
    argv = ['--policy', 'scripted', '--episodes', '2', '--video-episodes', '0']
    argv += ['--image-size', '64x48', '--output', str(output)]
    assert main(argv) == 0
    folder = run_folder(output)
    doc = json.loads((folder / 'eval.json').read_text())
    assert list(folder.iterdir()) == [folder / 'eval.json']  # no videos asked for
    for mode in ('async', 'sync'):
        s = doc['summary'][mode]
        assert (s['place']['successes'], s['grasp']['successes'], s['episodes']) == (2, 2, 2)
        assert s['place']['ci95'] == pytest.approx(list(wilson_interval(2, 2)))
    for ep in doc['episodes']:
        # The episode stops SETTLE_S after the cube first rests in the bin (within one tick).
        tts = ep['time_to_success_s']
        assert 0 < tts < 30 - SETTLE_S
        assert ep['sim_time_s'] == pytest.approx(tts + SETTLE_S, abs=TICK_S + 1e-6)
    c = doc['comparison']
    assert c['median_time_to_success_async_s'] <= c['median_time_to_success_sync_s']
    assert c['place_rate_async'] == c['place_rate_sync'] == 1.0


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ('argv', 'named'),
    [
        (['{tmp}/no_such_ckpt'], 'CHECKPOINT'),
        (['--policy', 'scripted', '{tmp}'], 'CHECKPOINT'),
        (['--policy', 'random'], '--policy'),
        (['--policy', 'scripted', '--episodes', '0'], '--episodes'),
        (['--policy', 'scripted', '--seed-start', '-1'], '--seed-start'),
        (['--policy', 'scripted', '--modes', 'async,fast'], '--modes'),
        (['--policy', 'scripted', '--modes', 'sync,sync'], '--modes'),
        (['--policy', 'scripted', '--max-seconds', 'nan'], '--max-seconds'),
        (['--policy', 'scripted', '--max-seconds', '0'], '--max-seconds'),
        (['--policy', 'scripted', '--video-episodes', '-1'], '--video-episodes'),
        (['--policy', 'scripted', '--latency', 'fast'], '--latency'),
        (['--policy', 'scripted', '--latency', '-0.1'], '--latency'),
        (['--policy', 'scripted', '--json', '{tmp}/no_dir/e.json'], '--json'),
        (['--policy', 'scripted', '--image-size', '64'], '--image-size'),
        (['--policy', 'scripted', '--num-threads', '0'], '--num-threads'),
    ],
)
def test_bad_options_exit_2_and_write_nothing(tmp_path, capsys, argv, named) -> None:
    """Fault: a bad smolvla-eval option -> Expected: exit 2, one line naming it, nothing made."""
    output = tmp_path / 'evals'
    argv = [a.replace('{tmp}', str(tmp_path)) for a in argv] + ['--output', str(output)]
    before = sorted(tmp_path.rglob('*'))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('smolvla-eval: error:') and named in err[0]
    assert sorted(tmp_path.rglob('*')) == before and not output.exists()


def test_a_checkpoint_that_cannot_load_exits_2_before_any_episode(tmp_path, capsys) -> None:
    """Fault: CHECKPOINT is a folder without a checkpoint -> Expected: exit 2 naming it, no
    evaluation folder, no episode run."""
    bad = tmp_path / 'not_a_ckpt'
    bad.mkdir()
    output = tmp_path / 'evals'
    assert main([str(bad), '--output', str(output), '--image-size', '64x48']) == 2
    captured = capsys.readouterr()
    assert 'smolvla-eval: error:' in captured.err and str(bad) in captured.err
    assert 'seed' not in captured.out  # no episode line was printed
    assert not output.exists() and list(bad.iterdir()) == []


# -- Ctrl-C -------------------------------------------------------------------------------------
def test_ctrl_c_exits_130_with_the_finished_episodes_summarised(tmp_path: Path) -> None:
    output = tmp_path / 'evals'
    cmd = [sys.executable, '-m', 'smolvla_ros.runner.evaluate', '--policy', 'scripted']
    cmd += ['--episodes', '50', '--video-episodes', '0', '--image-size', '64x48']
    cmd += ['--output', str(output)]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env_without_checkpoints(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # wait until the first episode has finished
            if 'seed' in line:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    doc = json.loads((run_folder(output) / 'eval.json').read_text())
    assert doc['interrupted'] is True and doc['exit_code'] == 130
    done = [e for e in doc['episodes'] if e['complete']]
    assert 1 <= len(done) < 100  # stopped early, after at least the first episode
    assert doc['summary']['async']['episodes'] == sum(e['mode'] == 'async' for e in done)
    assert 'interrupted' in out and not math.isnan(doc['wall_time_s'])
