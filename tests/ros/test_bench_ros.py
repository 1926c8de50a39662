"""scripts/bench_ros.py runs end to end with tiny durations and writes the promised fields."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_ros_writes_positive_figures(tmp_path: Path) -> None:
    out = tmp_path / 'bench.json'
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(REPO), env.get('PYTHONPATH', '')])
    cmd = [sys.executable, str(REPO / 'scripts' / 'bench_ros.py'), '--duration', '0.5']
    cmd += ['--runs', '1', '--size', '64', '--json', str(out)]
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    for kind in ('raw', 'jpeg', 'chunk'):
        r = data[kind]
        assert r['received'] > 0 and r['sent'] >= r['received'] / 3
        for key in ('latency_ms_p50', 'latency_ms_p99', 'pub_cpu_fraction', 'sub_cpu_fraction'):
            assert r[key] > 0, (kind, key, r[key])
        assert r['latency_ms_p99'] >= r['latency_ms_p50']
    assert data['conditions']['image_size'] == 64
