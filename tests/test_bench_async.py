"""The async benchmark's parts (task, oracle) and its CLI on simulated time (arm: see
test_kinematic_arm.py), and its --policy smolvla mode (a tiny SmolVLA, a few real seconds)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from smolvla_checkpoints import make_checkpoint

from smolvla_model.errors import ConfigError
from smolvla_ros.bench.__main__ import main
from smolvla_ros.bench.async_bench import Scenario, no_starvation_bound_s, run_mode
from smolvla_ros.bench.model_policy import (
    ModelLatencyPolicy,
    SyntheticFrameSource,
    build_random_smolvla,
    load_checkpoint_policy,
    model_chunk_size,
)
from smolvla_ros.bench.pick_place import (
    GRASP_CLOSED,
    LOOP,
    PLACE_OPEN,
    PickPlaceTask,
    PickPlaceWorld,
)
from smolvla_ros.frames.errors import FrameSourceClosedError
from smolvla_ros.policy.oracle import OraclePolicy
from smolvla_ros.policy.protocol import PolicyInput
from smolvla_ros.runtime.executor import ObservationSnapshot
from so_arm_driver.robots import SO101

ROOT = Path(__file__).resolve().parents[1]


def test_task_loop_passes_through_its_waypoints_and_projection_inverts_it():
    task = PickPlaceTask()
    bounds = np.concatenate(([0.0], np.cumsum(task.durations_s)))
    assert np.allclose(task.position_at(bounds[:-1]), np.array(LOOP))
    # the fastest joint moves 1.2 rad on the first segment at 0.9 rad/s on average
    assert task.durations_s[0] == pytest.approx(1.2 / 0.9)
    mid = bounds[4] + 0.3  # inside the lift segment (holding)
    q = task.position_at(np.array([mid]))[0]
    assert task.project(q, held=True) == pytest.approx(mid, abs=1e-6)
    plan = task.plan(q, True, 5, 0.1)
    assert np.allclose(plan, task.position_at(mid + 0.1 * np.arange(1, 6)), atol=1e-6)


def test_world_counts_a_completion_only_after_a_grasp():
    world = PickPlaceWorld(PickPlaceTask())
    world.update(np.array(PLACE_OPEN), 1.0)
    assert world.completion_times_s == []  # nothing held yet
    world.update(np.array(GRASP_CLOSED), 2.0)
    assert world.held
    world.update(np.array(PLACE_OPEN), 3.0)
    assert world.completion_times_s == [3.0] and not world.held


def test_no_starvation_bound():
    assert no_starvation_bound_s(0.7, 50, 0.02) == pytest.approx(0.5)  # capped at n*dt/2
    assert no_starvation_bound_s(0.3, 50, 0.02) == pytest.approx(0.3)
    assert no_starvation_bound_s(0.0, 50, 0.02) == 0.0


def test_async_beats_sync_by_the_latency_ratio_on_simulated_time():
    sc = Scenario()
    a = run_mode(sc, 'async', 45.0, realtime=False)
    s = run_mode(sc, 'sync', 45.0, realtime=False)
    assert a['starvation_ticks'] == 0 and s['starvation_ticks'] > 0
    # sync executes n*dt of motion per n*dt + L of time; async keeps moving
    theory = (50 / 30 + 0.35) / (50 / 30)
    assert a['completions_per_min'] / s['completions_per_min'] >= 0.95 * theory
    assert a['max_seam_jump_rad'] <= 3.0 / 30


def test_cli_writes_the_report_with_the_issue_keys(tmp_path):
    out = tmp_path / 'bench.json'
    png = tmp_path / 'queue.png'
    argv = ['async', '--simulated-time', '--duration', '15', '--no-sweep']
    assert main([*argv, '--json', str(out), '--plot', str(png)]) == 0
    report = json.loads(out.read_text())
    assert set(report['scenario']) >= {'chunk_size', 'dt_s', 'latency_s_median', 'g'}
    keys = {
        'completions_per_min',
        'mean_completion_s',
        'starvation_ticks',
        'max_seam_jump_rad',
        'tick_jitter_p99_ms',
    }
    for mode in ('async', 'sync', 'latency_free'):
        assert set(report[mode]) >= keys
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_cli_rejects_bad_arguments_and_writes_nothing(tmp_path):
    out = tmp_path / 'bench.json'
    proc = subprocess.run(
        [sys.executable, '-m', 'smolvla_ros.bench', 'async', '--g', '1.5', '--json', str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert 'g (queue threshold)' in proc.stderr
    assert not out.exists()


# -- --policy smolvla: the real SmolVLA architecture sets the latency -----------------------------


def _request(t_s: float, frames: dict) -> PolicyInput:
    snap = ObservationSnapshot(
        0, t_s, np.array(LOOP[0], dtype=np.float64), SO101.joint_names, True
    )
    return PolicyInput(snap, frames, 'put the cube in the bin')


def test_model_latency_policy_runs_the_model_and_returns_the_oracle_plan():
    model = build_random_smolvla('tiny', SO101.joint_names, chunk_size=10)
    task = PickPlaceTask()
    oracle = OraclePolicy(task, PickPlaceWorld(task), chunk_size=10, dt_s=1 / 30)
    wrapped = ModelLatencyPolicy(model, oracle)
    assert wrapped.required_slots == ('top', 'wrist', 'side')  # the model's cameras
    assert wrapped.joint_names == SO101.joint_names and wrapped.dt_s == pytest.approx(1 / 30)
    source = SyntheticFrameSource(wrapped.required_slots, lambda: 1.0, 0.1, height=48, width=64)
    req = _request(1.0, {f.slot: f for f in source.read()})
    out = wrapped.predict(req)
    # Exactly the oracle's plan for the same observation, not the model's random actions.
    np.testing.assert_array_equal(out, oracle.predict(req))
    assert not np.allclose(model.predict(req), out)
    assert len(wrapped.latencies_s) == 1 and wrapped.latencies_s[0] > 0
    # Without the model's cameras the model raises, so no plan comes back (as a real failure).
    with pytest.raises(ValueError, match='no frame for camera slot'):
        wrapped.predict(_request(1.0, {}))
    assert len(wrapped.latencies_s) == 1
    other = OraclePolicy(task, PickPlaceWorld(task), chunk_size=10, dt_s=1 / 15)
    with pytest.raises(ValueError, match='dt'):
        ModelLatencyPolicy(model, other)


def test_synthetic_frames_come_on_absolute_deadlines_and_stop_on_close():
    source = SyntheticFrameSource(('top', 'wrist'), time.monotonic, 0.02, height=8, width=8)
    sets = [source.read() for _ in range(5)]
    times = [s[0].capture_time_s for s in sets]
    assert [[f.slot for f in s] for s in sets] == [['top', 'wrist']] * 5
    assert all(s[0].capture_time_s == s[1].capture_time_s for s in sets)
    # Absolute deadlines: frame k never comes before start + k periods (1 ms of timer slack).
    # A late wake-up is caught up on (the next frame comes sooner), so consecutive spacing is
    # not a property: on a loaded host it fell below one period.
    assert np.all(np.array(times) >= times[0] + 0.02 * np.arange(5) - 1e-3), np.diff(times)
    assert np.all(np.diff(times) >= 0)
    assert [s[0].sequence for s in sets] == [0, 1, 2, 3, 4]
    source.close()
    with pytest.raises(FrameSourceClosedError):
        source.read()


def test_cli_smolvla_tiny_measures_the_model_latency_in_real_time(tmp_path, capsys):
    out = tmp_path / 'bench.json'
    argv = ['async', '--policy', 'smolvla', '--model-size', 'tiny', '--duration', '2.5']
    assert main([*argv, '--no-sweep', '--json', str(out)]) == 0
    printed = capsys.readouterr().out
    assert 'latency from the real model; actions from the oracle' in printed
    assert 'model latency (measured): median' in printed
    report = json.loads(out.read_text())
    sc = report['scenario']
    assert sc['policy'] == 'smolvla' and sc['latency_source'] == 'measured'
    assert sc['model']['source'] == 'random tiny' and sc['model']['parameters'] > 0
    assert sc['chunk_size'] == 50  # the model's own chunk size (the --chunk-size default)
    assert sc['latency_s_median'] > 0  # the measured request-to-delivery median
    for mode in ('async', 'sync'):
        r = report[mode]
        lat, worker, m = r['model_latency'], r['worker'], r['metrics']
        assert lat['calls'] >= 1 and 0 < lat['median_s'] <= lat['p90_s'] <= lat['max_s']
        assert m['chunks_accepted'] >= 1 and m['chunks_rejected'] == {}
        assert worker['chunks_submitted'] == m['chunks_accepted'] <= lat['calls']
        assert worker['inference_errors'] == 0 and worker['chunks_rejected'] == 0
        assert sum(worker['requests_refused'].values()) == 0, worker['last_error']
        assert m['request_errors'] == 0 and m['inference_latency_median_s'] > 0
        assert r['camera_frames'] > 0
    # The reference mode has no latency and no model.
    assert report['latency_free']['model_latency'] is None
    assert report['sweep'] == []


@pytest.mark.parametrize(
    ('extra', 'message'),
    [
        (['--policy', 'smolvla', '--simulated-time'], 'needs real time'),
        (['--model-size', 'tiny'], 'need --policy smolvla'),
        (['--policy', 'smolvla', '--checkpoint', '/nonexistent/ckpt'], 'no such folder'),
    ],
)
def test_cli_refuses_impossible_model_options_and_writes_nothing(tmp_path, capsys, extra, message):
    out = tmp_path / 'bench.json'
    assert main(['async', *extra, '--json', str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_checkpoint_is_timed_with_its_own_chunk_size_and_fps(tmp_path):
    # A degrees checkpoint (LeRobot units): the simulator's virtual calibration binds it, its
    # chunk (12) and fps (30) come from the checkpoint, and the oracle plans to match.
    ckpt = make_checkpoint(
        tmp_path / 'ckpt',
        state_stats={'mean': [0] * 6, 'std': [60] * 6},
        action_stats={'mean': [0] * 6, 'std': [10] * 6},
        cameras=('observation.images.top', 'observation.images.wrist'),
        units='degrees',
        fps=30,
        chunk_size=12,
    )
    model = load_checkpoint_policy(ckpt, SO101.joint_names, dt_s=None)
    assert model_chunk_size(model) == 12 and model.dt_s == pytest.approx(1 / 30)
    assert model.required_slots == ('top', 'wrist')
    task = PickPlaceTask()
    oracle = OraclePolicy(task, PickPlaceWorld(task), chunk_size=12, dt_s=model.dt_s)
    wrapped = ModelLatencyPolicy(model, oracle)
    source = SyntheticFrameSource(wrapped.required_slots, lambda: 2.0, 0.1, height=48, width=64)
    req = _request(2.0, {f.slot: f for f in source.read()})
    np.testing.assert_array_equal(wrapped.predict(req), oracle.predict(req))
    assert wrapped.latencies_s[0] > 0
    # A dt that disagrees with the checkpoint's fps is refused (as from_pretrained does).
    with pytest.raises(ConfigError, match='fps'):
        load_checkpoint_policy(ckpt, SO101.joint_names, dt_s=1 / 15)
