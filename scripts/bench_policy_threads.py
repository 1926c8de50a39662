"""SmolVLA chunk latency in the node graph by torch CPU threads (policy_node ``num_threads``).

The graph a user runs with the simulator: sim_node (the bringup's defaults: three 256x256
cameras at 10 Hz, real time), policy_node with SmolVLA (the shipped checkpoint unless
``--checkpoint``) and executor_node, each in its own process, all on the simulator's clock. One
RunTask goal of ``--time-limit`` simulated seconds per run. Figures per run: the inference
latency of every chunk (``ActionChunk.inference_latency_s``, measured by the policy worker), the
chunks executed and the executor's starvation ticks (RunTask result), and whether the cube was
placed. Conditions are ``--threads`` values (0 = torch's default, one thread per core), run in
turn for ``--runs`` rounds; the table shows medians over runs.

Why: torch's parallel operators wait for their slowest thread, so on a 2-core machine a second
busy process (here sim_node rendering and stepping physics) can stall a policy that uses both
cores. See ``smolvla_model/threads.py``.

The script applies the network rule itself (discovery on this machine only, ROS_DOMAIN_ID 63
unless one is set)::

    source scripts/ros_env.sh
    python scripts/bench_policy_threads.py --threads 0 1 --runs 2 --json threads.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'scripts'))
sys.path.insert(0, str(REPO))

from smolvla_ros.bench.ros_network import localhost_only  # noqa: E402

localhost_only(63)  # before anything imports rclpy; the node processes inherit it
from bench_ros import _cpu_name  # noqa: E402
from bench_ros_graph import (  # noqa: E402 (the graph benchmark's process and ROS helpers)
    _spin,
    close_tester,
    start_node,
    stop_nodes,
    transition,
    wait_until,
)


def run_once(
    threads: int, checkpoint: str, time_limit_s: float, image_size: int
) -> dict[str, Any]:
    """One RunTask goal through a fresh graph whose policy_node uses ``threads`` threads."""
    import rclpy
    from lifecycle_msgs.msg import Transition
    from rclpy.action import ActionClient
    from rclpy.parameter import Parameter

    from smolvla_interfaces.action import RunTask
    from smolvla_interfaces.msg import ActionChunk
    from smolvla_ros.bench import host_load
    from smolvla_ros.nodes import topics
    from smolvla_ros.tasks import SIM_TASK

    sim_time = {'use_sim_time': True}
    procs = {
        'sim_node': start_node(
            'sim_node', {'image_width': image_size, 'image_height': image_size}
        ),
        # No checkpoint parameter: the node's default choice (an empty `-p x:=` is no value).
        'policy_node': start_node(
            'policy_node',
            {
                **sim_time,
                'num_threads': threads,
                'calibration': 'virtual',  # the simulator's, as the bringup sets for it
                **({'checkpoint': checkpoint} if checkpoint else {}),
            },
        ),
        'executor_node': start_node('executor_node', sim_time),
    }
    rclpy.init()
    node = rclpy.create_node(
        'bench_threads_tester', parameter_overrides=[Parameter('use_sim_time', value=True)]
    )
    latencies: list[float] = []
    node.create_subscription(
        ActionChunk,
        topics.ACTION_CHUNK,
        lambda msg: latencies.append(float(msg.inference_latency_s)),
        topics.CHUNK_QOS,
    )
    run_task = ActionClient(node, RunTask, topics.RUN_TASK)
    spinner, thread = _spin([node])
    out: dict[str, Any] = {'threads': threads}
    try:
        for name in ('policy_node', 'executor_node'):
            transition(node, name, Transition.TRANSITION_CONFIGURE)
            transition(node, name, Transition.TRANSITION_ACTIVATE)
        wait_until(lambda: run_task.wait_for_server(timeout_sec=0.1), 60.0, 'the RunTask server')
        cpu0 = host_load.snapshot()
        goal = run_task.send_goal_async(
            RunTask.Goal(instruction=SIM_TASK, time_limit_s=time_limit_s)
        )
        wait_until(goal.done, 60.0, 'the goal answer')
        handle = goal.result()
        if not handle.accepted:
            raise RuntimeError('the RunTask goal was rejected')
        future = handle.get_result_async()
        # Simulated seconds pass at most at wall speed; a stalled policy slows nothing else.
        wait_until(future.done, 3 * time_limit_s + 120.0, 'the RunTask result')
        load = host_load.usage_between(cpu0, host_load.snapshot())
        result = future.result().result
        lat = sorted(latencies)
        out.update(
            {
                'success': bool(result.success),
                'reason': result.reason,
                'chunks': len(lat),
                'latency_median_s': statistics.median(lat) if lat else None,
                'latency_p90_s': lat[int(0.9 * (len(lat) - 1))] if lat else None,
                'chunks_executed': int(result.chunks_executed),
                'starvation_ticks': int(result.starvation_ticks),
                'wall_s': load['wall_s'],
                'host_busy_other_s': load['host_busy_other_s'],
            }
        )
    finally:
        close_tester(spinner, thread, node, run_task)
        out['processes'] = stop_nodes(procs)
        for name, p in out['processes'].items():
            if p['exit_code'] != 0 or p['traceback']:
                print(
                    f'{name} exited {p["exit_code"]}:\n{p.get("output_tail", "")}', file=sys.stderr
                )
    return out


def main(argv: list[str] | None = None) -> int:
    from smolvla_ros.bench.tick_jitter import median_of_runs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--threads', type=int, nargs='+', default=[0, 1])
    parser.add_argument('--runs', type=int, default=2, help='rounds over the conditions')
    parser.add_argument('--time-limit', type=float, default=15.0, help='simulated s per goal')
    parser.add_argument('--image-size', type=int, default=256, help='camera renders, px')
    parser.add_argument(
        '--checkpoint', default='', help="SmolVLA checkpoint ('' = the node's default choice)"
    )
    parser.add_argument('--json', type=Path, default=None, help='write the results here')
    a = parser.parse_args(argv)
    if any(t < 0 for t in a.threads) or a.runs < 1 or a.time_limit <= 0:
        parser.error('--threads must be >= 0, --runs >= 1, --time-limit > 0')
    if a.json is not None and not a.json.parent.is_dir():
        parser.error(f'--json: the folder {a.json.parent} does not exist')
    t0 = time.monotonic()
    runs: dict[int, list[dict[str, Any]]] = {t: [] for t in a.threads}
    for i in range(a.runs):
        for t in a.threads:
            r = run_once(t, a.checkpoint, a.time_limit, a.image_size)
            runs[t].append(r)
            lat = r.get('latency_median_s')
            print(
                f'run {i + 1} threads {t}: {r.get("chunks")} chunks, latency median '
                f'{lat if lat is None else round(lat, 3)} s, starvation '
                f'{r.get("starvation_ticks")} ticks, placed {r.get("success")}',
                flush=True,
            )
    keys = ('latency_median_s', 'latency_p90_s', 'chunks', 'starvation_ticks', 'wall_s')
    table = {t: median_of_runs(rows, keys) for t, rows in runs.items()}
    print(f'\nSmolVLA in the node graph, medians over {a.runs} runs of {a.time_limit:g} sim s')
    print(f'{"threads":>8s} {"latency":>8s} {"p90":>7s} {"chunks":>7s} {"starved":>8s}')
    for t, r in table.items():
        cells = [r['latency_median_s'], r['latency_p90_s'], r['chunks'], r['starvation_ticks']]
        text = [
            '-' if v is None else f'{v:.3f}' if i < 2 else f'{v:.0f}' for i, v in enumerate(cells)
        ]
        print(f'{t:>8d} {text[0]:>8s} {text[1]:>7s} {text[2]:>7s} {text[3]:>8s}')
    results = {
        'conditions': {
            'threads': a.threads,
            'runs': a.runs,
            'time_limit_s': a.time_limit,
            'image_size': a.image_size,
            'checkpoint': a.checkpoint or '(default)',
            'cpu': _cpu_name(),
            'cpu_count': os.cpu_count(),
            'load_average_at_start': os.getloadavg(),
        },
        'median': table,
        'runs': runs,
        'wall_time_s': time.monotonic() - t0,
    }
    if a.json is not None:
        a.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
