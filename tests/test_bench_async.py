"""The async benchmark's parts (task, oracle) and its CLI on simulated time (arm: see
test_kinematic_arm.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from smolvla_ros.bench.__main__ import main
from smolvla_ros.bench.async_bench import Scenario, no_starvation_bound_s, run_mode
from smolvla_ros.bench.pick_place import (
    GRASP_CLOSED,
    LOOP,
    PLACE_OPEN,
    PickPlaceTask,
    PickPlaceWorld,
)

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
