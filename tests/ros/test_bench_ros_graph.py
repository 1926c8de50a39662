"""scripts/bench_ros_graph.py runs its parts end to end with tiny durations and writes sane,
well-formed figures (structure and sanity only; the speed is the benchmark's to report)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / 'bench.json'
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(REPO), env.get('PYTHONPATH', '')])
    cmd = [sys.executable, str(REPO / 'scripts' / 'bench_ros_graph.py'), '--runs', '1']
    cmd += [*args, '--json', str(out)]
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def _clean_exit(processes: dict[str, dict[str, Any]]) -> None:
    for name, p in processes.items():
        assert p['exit_code'] == 0 and not p['traceback'], (name, p)


def test_jitter_part_measures_every_condition(tmp_path: Path) -> None:
    data = _run(
        tmp_path, '--parts', 'jitter', '--model-size', 'tiny', '--rates', '30',
        '--duration', '1', '--warmup', '0',
    )  # fmt: skip
    runs = data['jitter']['runs']
    assert set(runs) == {'baseline', 'same_process', 'other_process'}
    for condition, by_rate in runs.items():
        (row,) = by_rate['30.0']
        assert row['condition'] == condition and row['nominal_rate_hz'] == 30.0
        assert row['ticks'] > 0, (condition, row)
        p50, p99, top = (row[f'period_error_{k}_ms'] for k in ('p50', 'p99', 'max'))
        assert 0 <= p50 <= p99 <= top, (condition, row)
        assert 0 <= row['lateness_p50_ms'] <= row['lateness_p99_ms'] <= row['lateness_max_ms']
        assert row['rate_hz'] > 0 and row['sim_s'] > 0 and row['wall_s'] > 0
        if condition == 'baseline':
            assert row['inference_latency_median_s'] is None  # no policy: no chunk
        else:
            assert row['inference_latency_median_s'] > 0, (condition, row)
        _clean_exit(row['processes'])
    assert set(runs['other_process']['30.0'][0]['processes']) == {'policy_node'}
    _clean_exit({'sim_node': data['jitter']['sim_node']})
    median = data['jitter']['median']['same_process']['30.0']
    assert median['ticks'] == runs['same_process']['30.0'][0]['ticks']


def test_throughput_part_runs_the_graph_and_the_pipeline(tmp_path: Path) -> None:
    # 8 s of simulated time: the pipeline (simulated time, no deadlines) completes the task in
    # about 5 s; the graph's outcome depends on the host keeping real time, so only its figures'
    # form is checked.
    data = _run(tmp_path, '--parts', 'throughput', '--time-limit', '8')
    (graph,) = data['throughput']['runs']['graph']
    (pipe,) = data['throughput']['runs']['pipeline']
    assert pipe['success'] and 0 < pipe['time_to_success_sim_s'] <= 8.0
    assert pipe['ticks_per_sim_s'] > 0 and pipe['first_chunk_sim_s'] >= 0
    assert pipe['picks_per_sim_min'] == 60.0 / pipe['time_to_success_sim_s']
    assert graph['ticks'] > 0 and graph['elapsed_sim_s'] > 0
    assert 0 <= graph['starvation_percent'] <= 100
    _clean_exit(graph['processes'])
    assert set(graph['processes']) == {'sim_node', 'policy_node', 'executor_node'}
    assert data['throughput']['median']['pipeline']['successes'] == 1
