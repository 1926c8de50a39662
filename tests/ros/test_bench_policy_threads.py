"""scripts/bench_policy_threads.py runs the node graph with a tiny SmolVLA for one short goal
and writes well-formed figures (structure and sanity only; the speed is the benchmark's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from smolvla_checkpoints import make_checkpoint

from so_arm_driver.robots import SO101

REPO = Path(__file__).resolve().parents[2]


def test_one_run_reports_chunk_latency_and_clean_exits(tmp_path: Path) -> None:
    joints = [f'{j}.pos' for j in SO101.joint_names]
    ckpt = make_checkpoint(
        tmp_path / 'ckpt',
        state_stats={'mean': [0.0] * 6, 'std': [1.0] * 6},
        action_stats={'mean': [0.0] * 6, 'std': [0.1] * 6},
        state_names=joints,
        action_names=joints,
        units='radians',
        fps=30,
    )
    out = tmp_path / 'threads.json'
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(REPO), env.get('PYTHONPATH', '')])
    cmd = [sys.executable, str(REPO / 'scripts' / 'bench_policy_threads.py')]
    cmd += ['--threads', '1', '--runs', '1', '--time-limit', '2', '--image-size', '64']
    cmd += ['--checkpoint', str(ckpt), '--json', str(out)]
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'SmolVLA in the node graph' in proc.stdout
    data = json.loads(out.read_text())
    (run,) = data['runs']['1']
    assert run['chunks'] >= 1 and run['latency_median_s'] > 0
    assert run['latency_median_s'] <= run['latency_p90_s']
    assert run['chunks_executed'] >= 1 and run['starvation_ticks'] >= 0
    assert run['success'] is False  # random weights do not place the cube
    for name, p in run['processes'].items():
        assert p['exit_code'] == 0 and not p['traceback'], (name, p)
    assert data['median']['1']['chunks'] == run['chunks']
