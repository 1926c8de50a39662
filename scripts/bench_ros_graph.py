"""Node-graph benchmarks through real DDS on loopback: (c) executor tick jitter under policy
inference load, (d) end-to-end throughput of the simulated pick-and-place, node graph vs the
ROS-free SimPipeline. The transport figures (a, b) are scripts/bench_ros.py.

(c) Tick jitter. One sim_node process (the MuJoCo SO-101, 3 x 256x256 rgb8 cameras at 10 Hz,
/clock at ``--clock-rate`` Hz) runs for the whole part. For each run, rate and condition (in
that order, so conditions interleave) a fresh worker process spins the real executor_node
(lifecycle driven in-process, ``use_sim_time``, g = 1 and no observation filter, so a chunk
request goes out whenever none is in flight: the policy computes back to back) on the suite's
``make_executor`` and measures ``--duration`` seconds of its ticks:

- ``baseline``: no policy node; the executor ticks and its requests go unanswered;
- ``same_process``: a policy_node with a random SmolVLA (``--model-size``, default ``small``,
  ~35 M parameters; written by this script with ``save_random_smolvla``) in the worker, on the
  same multi-threaded executor;
- ``other_process``: the same policy_node in its own process (``python -m
  smolvla_ros.nodes.policy_node``), lifecycle driven through its services.

Tick times are the executor core's own records (``RuntimeMetrics.queue_history``, one per tick,
on the node clock = simulated time); the period error is ``|t[i] - t[i-1] - period|``
(``smolvla_ros.bench.tick_jitter``). The core's lateness behind its tick grid
(``tick_jitter_s``) and the inference latency of the chunks that arrived are reported too.

(d) Throughput. The scripted expert's pick-and-place of the cube into the bin (seed 0):
(1) the node graph as a user runs it, sim_node + policy_node (``policy:=scripted``) +
executor_node each in its own process, a RunTask goal from the worker; (2) ``SimPipeline``
(smolvla_ros/pipeline.py) with the same expert, the same chunk size (50), control rate (30 Hz)
and executor defaults, in one thread on simulated time. The shared metric: simulated seconds from
start to success (cube in bin), i.e. picks per simulated minute, executed ticks per simulated
second (nominal 30) and starvation ticks; wall time and real-time factor differ by design (the
graph runs paced at real time, the pipeline unpaced). The graph's times are read on the script's
own sim-time clock (its tester node has ``use_sim_time``).

The default (2 runs of 3 s per condition and rate, 12 worker processes) took 6 minutes on a
2-core host saturated by other jobs (load average 7-9), less on a quiet one; the README quotes
``--runs 3 --duration 4``.

Medians over ``--runs`` runs; each run records the host load (smolvla_ros.bench.host_load).
The script applies the network rule itself (discovery on this machine only, ROS_DOMAIN_ID 61
unless one is set; ``smolvla_ros.bench.ros_network``)::

    source scripts/ros_env.sh
    python scripts/bench_ros_graph.py --runs 3 --duration 4 --json bench_ros_graph.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'scripts'))
sys.path.insert(0, str(REPO))

from smolvla_ros.bench.ros_network import localhost_only  # noqa: E402

localhost_only(61)  # before anything imports rclpy; nodes and workers inherit it
from bench_ros import _cpu_name, _json_of  # noqa: E402 (the transport script's helpers)

CONDITIONS = ('baseline', 'same_process', 'other_process')
JITTER_KEYS = (
    'period_error_p50_ms',
    'period_error_p99_ms',
    'period_error_max_ms',
    'lateness_p50_ms',
    'lateness_p99_ms',
    'rate_hz',
    'ticks',
    'long_periods',
    'inference_latency_median_s',
    'chunks_in_window',
    'host_busy_other_s',
    'host_steal_s',
    'worker_cpu_fraction',
)
THROUGHPUT_KEYS = (
    'time_to_success_sim_s',
    'first_chunk_sim_s',
    'success_after_first_chunk_sim_s',
    'picks_per_sim_min',
    'ticks_per_sim_s',
    'starvation_percent',
    'chunks_executed',
    'wall_s',
    'real_time_factor',
    'host_busy_other_s',
)
TASK = 'put the cube in the bin'


# -- process and ROS helpers ---------------------------------------------------------------------
def _env() -> dict[str, str]:
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(REPO), env.get('PYTHONPATH', '')])
    return env


def start_node(module: str, params: dict[str, Any]) -> subprocess.Popen:
    """``python -m smolvla_ros.nodes.<module>`` with ``params`` as ROS parameters (os.environ)."""
    cmd = [sys.executable, '-m', f'smolvla_ros.nodes.{module}', '--ros-args']
    for k, v in params.items():
        value = str(v).lower() if isinstance(v, bool) else str(v)
        cmd += ['-p', f'{k}:={value}']
    return subprocess.Popen(
        cmd, env=_env(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def stop_nodes(procs: dict[str, subprocess.Popen]) -> dict[str, dict[str, Any]]:
    """SIGINT every process, wait (kill after 30 s); exit code and whether it printed a
    traceback, per name."""
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    out = {}
    for name, proc in procs.items():
        try:
            text, _ = proc.communicate(timeout=30.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            text, _ = proc.communicate()
        out[name] = {'exit_code': proc.returncode, 'traceback': 'Traceback' in (text or '')}
        if proc.returncode != 0 or out[name]['traceback']:
            out[name]['output_tail'] = (text or '')[-1500:]
    return out


def wait_until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``cond`` every 10 ms; TimeoutError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f'timed out after {timeout} s waiting for {what}')
        time.sleep(0.01)


def call(client: Any, request: Any, timeout: float) -> Any:
    """Call a service (the caller's executor spins in another thread) and return the answer."""
    wait_until(client.service_is_ready, 60.0, f'the service {client.srv_name}')
    future = client.call_async(request)
    wait_until(future.done, timeout, f'an answer from {client.srv_name}')
    return future.result()


def transition(node: Any, target: str, transition_id: int, timeout: float = 120.0) -> None:
    """One lifecycle transition of the node named ``target`` through its change_state service.

    Raises:
        RuntimeError: the node refused the transition.
    """
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    client = node.create_client(ChangeState, f'{target}/change_state')
    try:
        answer = call(
            client, ChangeState.Request(transition=Transition(id=transition_id)), timeout
        )
    finally:
        node.destroy_client(client)
    if not answer.success:
        raise RuntimeError(f'{target}: lifecycle transition {transition_id} failed (see its log)')


def _stop_spinning(spinner: Any, thread: threading.Thread) -> None:
    """Shut the executor down and join its thread; on a loaded host a running callback can
    take seconds to return, hence the generous wait."""
    spinner.shutdown(timeout_sec=30.0)
    thread.join(timeout=30.0)
    if thread.is_alive():
        print('warning: the executor thread did not stop within 30 s', file=sys.stderr)


def close_tester(spinner: Any, thread: threading.Thread, node: Any, run_task: Any) -> None:
    """Stop a tester node's spinning, destroy its RunTask client and the node (only once the
    executor thread has ended: never what it still waits on), and shut rclpy down."""
    import rclpy

    _stop_spinning(spinner, thread)
    if not thread.is_alive():
        run_task.destroy()
        node.destroy_node()
    rclpy.try_shutdown()


def _copy(series: Any) -> list[Any]:
    """A list copy of a deque another thread appends to (retry if it changed meanwhile)."""
    for _ in range(100):
        try:
            return list(series)
        except RuntimeError:
            time.sleep(0.001)
    return list(series)


# -- (c) tick jitter -----------------------------------------------------------------------------
def make_checkpoint(folder: Path, size: str) -> Path:
    """The random SmolVLA the policy nodes load; its action mean is the home pose with std 0,
    so the arm stays at home whatever the weights (the load is the same)."""
    from smolvla_ros.policy.random_smolvla import save_random_smolvla
    from so_arm_driver.robots import SO101
    from so_arm_driver.sim.simulator import HOME_POSE_RAD

    return save_random_smolvla(
        folder, size, SO101.joint_names, action_mean_rad=tuple(float(v) for v in HOME_POSE_RAD)
    )


def _policy_params(checkpoint: str) -> dict[str, Any]:
    # Frames are 10 Hz of simulated time: 0.5 s leaves room for a slow request under load.
    return {
        'checkpoint': checkpoint,
        'use_sim_time': True,
        'max_frame_age_s': 0.5,
        'max_state_age_s': 0.5,
    }


def run_jitter_worker(
    condition: str, rate: float, duration_s: float, warmup_s: float, checkpoint: str
) -> dict[str, Any]:
    """One run of one condition at one rate: the executor_node in this process.

    One rate per process: switching rates means deactivating the executor node, and entities
    destroyed while a multi-threaded executor waits on them crash rclpy's wait set
    (InvalidHandle); a fresh process also keeps one condition's leftovers out of the next.
    """
    import rclpy
    from lifecycle_msgs.msg import Transition
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    from smolvla_interfaces.srv import SetInstruction
    from smolvla_ros.nodes import topics
    from smolvla_ros.nodes.executor_node import ExecutorNode
    from smolvla_ros.nodes.policy_node import PolicyNode

    ok = TransitionCallbackReturn.SUCCESS
    rclpy.init()
    timed = [Parameter('use_sim_time', value=True)]
    executor = ExecutorNode(
        parameter_overrides=[
            *timed,
            Parameter('g', value=1.0),  # request whenever none is in flight: continuous load
            Parameter('epsilon_rad', value=0.0),  # the arm stands still: never filter
            Parameter('tick_rate_hz', value=float(rate)),
        ]
    )
    helper = rclpy.create_node('bench_jitter_helper')
    nodes = [executor, helper]
    policy = None
    procs: dict[str, subprocess.Popen] = {}
    if condition == 'same_process':
        params = _policy_params(checkpoint)
        policy = PolicyNode(parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
        nodes.append(policy)
    out: dict[str, Any] = {'condition': condition, 'nominal_rate_hz': rate}
    spinner, thread = _spin(nodes)
    try:
        if condition == 'other_process':
            procs['policy_node'] = start_node('policy_node', _policy_params(checkpoint))
            transition(helper, 'policy_node', Transition.TRANSITION_CONFIGURE)
            transition(helper, 'policy_node', Transition.TRANSITION_ACTIVATE)
        elif policy is not None and (
            policy.trigger_configure() != ok or policy.trigger_activate() != ok
        ):
            raise RuntimeError('the in-process policy_node did not configure/activate')
        if condition != 'baseline':
            client = helper.create_client(SetInstruction, topics.SET_INSTRUCTION)
            answer = call(client, SetInstruction.Request(instruction=TASK), 30.0)
            if not answer.success:
                raise RuntimeError(f'set_instruction refused: {answer.message}')
        out.update(
            _measure_rate(executor, rate, duration_s, warmup_s, wait_chunk=condition != 'baseline')
        )
    finally:
        _stop_spinning(spinner, thread)
        out['processes'] = stop_nodes(procs)
        if policy is not None:
            policy.close()
        if not thread.is_alive():  # never destroy what an executor still waits on
            executor.trigger_shutdown()
            for node in nodes:
                node.destroy_node()
        rclpy.try_shutdown()
    return out


def _spin(nodes: list[Any]) -> tuple[Any, threading.Thread]:
    """A ``make_executor`` executor spinning ``nodes`` on a background thread."""
    from smolvla_ros.nodes.executors import make_executor

    spinner = make_executor()
    for node in nodes:
        spinner.add_node(node)
    thread = threading.Thread(target=spinner.spin, name='bench-executor', daemon=True)
    thread.start()
    return spinner, thread


def _measure_rate(
    executor: Any, rate: float, duration_s: float, warmup_s: float, wait_chunk: bool
) -> dict[str, Any]:
    """Configure and activate the executor node (built ticking at ``rate`` Hz) by in-process
    transitions, wait for its first tick (and chunk), then measure ``duration_s`` s of ticks."""
    from rclpy.lifecycle import TransitionCallbackReturn

    from smolvla_ros.bench import host_load
    from smolvla_ros.bench.tick_jitter import jitter_summary, lateness_summary

    ok = TransitionCallbackReturn.SUCCESS
    if executor.trigger_configure() != ok or executor.trigger_activate() != ok:
        raise RuntimeError(f'executor_node did not configure/activate at {rate} Hz')
    m = executor._core.metrics  # the core's own records are the measurement
    wait_until(lambda: m.ticks > 0, 60.0, 'the first executor tick (is sim_node up?)')
    if wait_chunk:
        wait_until(lambda: m.chunks_accepted > 0, 120.0, 'the first chunk from the policy')
    time.sleep(warmup_s)
    n_late = len(m.tick_jitter_s)
    chunks0, cpu0 = m.chunks_accepted, host_load.snapshot()
    t0 = executor._now()
    time.sleep(duration_s)
    t1, cpu1 = executor._now(), host_load.snapshot()
    chunks = m.chunks_accepted - chunks0
    times = [t for t, _ in _copy(m.queue_history) if t0 <= t <= t1]
    late = _copy(m.tick_jitter_s)[n_late:]
    # Every chunk since activation: one inference can outlast the window.
    inference = sorted(_copy(m.inference_latency_s))
    load = host_load.usage_between(cpu0, cpu1)
    summary = m.summary()
    return {
        **jitter_summary(times, 1.0 / rate),
        **lateness_summary(late),
        'chunks_in_window': chunks,
        'inference_latency_median_s': inference[len(inference) // 2] if inference else None,
        'sim_s': t1 - t0,
        'wall_s': load['wall_s'],
        'worker_cpu_fraction': load['process_cpu_s'] / load['wall_s'],
        'host_busy_other_s': load['host_busy_other_s'],
        'host_steal_s': load['host_steal_s'],
        'stalls_total': summary['stalls'],
        'overruns_total': summary['overruns'],
    }


# -- (d) throughput ------------------------------------------------------------------------------
def run_graph_worker(time_limit_s: float, request_timeout_s: float | None) -> dict[str, Any]:
    """sim_node + policy_node (scripted) + executor_node, each in its own process; one RunTask
    goal from this process; the figures of that goal."""
    import rclpy
    from lifecycle_msgs.msg import Transition
    from rclpy.action import ActionClient
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Bool

    from smolvla_interfaces.action import RunTask
    from smolvla_interfaces.msg import ActionChunk
    from smolvla_ros.bench import host_load
    from smolvla_ros.nodes import topics
    from smolvla_ros.nodes.conversions import time_from_msg
    from smolvla_ros.nodes.executors import make_executor

    procs = {
        # Cameras at 1 Hz: the expert uses none (as tests/ros/test_graph_multiprocess.py).
        'sim_node': start_node(
            'sim_node', {'image_width': 64, 'image_height': 48, 'camera_rate_hz': 1.0}
        ),
        'policy_node': start_node('policy_node', {'policy': 'scripted', 'use_sim_time': True}),
        'executor_node': start_node(
            'executor_node',
            {'use_sim_time': True}
            if request_timeout_s is None
            else {'use_sim_time': True, 'request_timeout_s': request_timeout_s},
        ),
    }
    rclpy.init()
    # On sim time like the graph, so the arrival of a chunk is read on the simulator's clock.
    node = rclpy.create_node(
        'bench_graph_tester', parameter_overrides=[Parameter('use_sim_time', value=True)]
    )
    stamps: list[float] = []
    chunk_arrivals: list[float] = []
    node.create_subscription(
        JointState,
        topics.JOINT_COMMAND,
        lambda msg: stamps.append(time_from_msg(msg.header.stamp)),
        topics.STATE_QOS,
    )
    node.create_subscription(
        ActionChunk,
        topics.ACTION_CHUNK,
        lambda msg: chunk_arrivals.append(node.get_clock().now().nanoseconds / 1e9),
        topics.CHUNK_QOS,
    )
    successes: list[float] = []  # sim time of each True on the simulator's success topic
    node.create_subscription(
        Bool,
        topics.TASK_SUCCESS,
        lambda msg: (
            successes.append(node.get_clock().now().nanoseconds / 1e9) if msg.data else None
        ),
        topics.STATUS_QOS,
    )
    run_task = ActionClient(node, RunTask, topics.RUN_TASK)
    spinner = make_executor()
    spinner.add_node(node)
    thread = threading.Thread(target=spinner.spin, name='bench-graph', daemon=True)
    thread.start()
    out: dict[str, Any] = {}
    try:
        for name in ('policy_node', 'executor_node'):
            transition(node, name, Transition.TRANSITION_CONFIGURE)
            transition(node, name, Transition.TRANSITION_ACTIVATE)
        wait_until(lambda: node.count_publishers(topics.JOINT_COMMAND) >= 1, 30.0, 'commands')
        wait_until(lambda: len(stamps) >= 5, 60.0, 'the executor commanding the sim arm')
        wait_until(
            lambda: (
                node.count_subscribers(topics.CHUNK_REQUEST) >= 1
                and node.count_subscribers(topics.ACTION_CHUNK) >= 1
            ),
            30.0,
            'the chunk request and chunk topics matched',
        )
        wait_until(lambda: run_task.wait_for_server(timeout_sec=0.1), 30.0, 'the RunTask server')
        cpu0 = host_load.snapshot()
        goal = run_task.send_goal_async(RunTask.Goal(instruction=TASK, time_limit_s=time_limit_s))
        wait_until(goal.done, 30.0, 'the goal answer')
        handle = goal.result()
        if not handle.accepted:
            raise RuntimeError('the RunTask goal was rejected')
        start_sim = node.get_clock().now().nanoseconds / 1e9
        future = handle.get_result_async()
        wait_until(future.done, 4 * time_limit_s + 60.0, 'the RunTask result')
        cpu1 = host_load.snapshot()
        result = future.result().result
        # On this process's sim clock (not RunTask's elapsed_s, which starts from the policy
        # process's clock at acceptance: a stalled process reads it late).
        if result.success:  # the result can overtake the success message on its way here
            with contextlib.suppress(TimeoutError):  # then reported as no time to success
                wait_until(lambda: any(t >= start_sim for t in successes), 10.0, 'success')
        done = [t for t in _copy(successes) if t >= start_sim][:1]
        end_sim = done[0] if done else node.get_clock().now().nanoseconds / 1e9
        elapsed = end_sim - start_sim
        ticks = sum(1 for t in _copy(stamps) if start_sim < t <= end_sim)
        first = [t - start_sim for t in _copy(chunk_arrivals) if t >= start_sim][:1]
        load = host_load.usage_between(cpu0, cpu1)
        out = {
            'success': bool(result.success),
            'reason': result.reason,
            'time_to_success_sim_s': elapsed if result.success and done else None,
            'elapsed_sim_s': elapsed,
            'runtask_elapsed_s': result.elapsed_s,
            'ticks': ticks,
            'ticks_per_sim_s': ticks / elapsed if elapsed > 0 else None,
            'starvation_ticks': int(result.starvation_ticks),
            'starvation_percent': 100.0 * result.starvation_ticks / ticks if ticks else None,
            'chunks_executed': int(result.chunks_executed),
            'first_chunk_sim_s': first[0] if first else None,
            'wall_s': load['wall_s'],
            'real_time_factor': elapsed / load['wall_s'],
            'host_busy_other_s': load['host_busy_other_s'],
            'host_steal_s': load['host_steal_s'],
        }
    finally:
        close_tester(spinner, thread, node, run_task)
        out['processes'] = stop_nodes(procs)
    return _derived(out)


def _derived(out: dict[str, Any]) -> dict[str, Any]:
    """Picks per simulated minute and the time from the first chunk to success."""
    done, first = out.get('time_to_success_sim_s'), out.get('first_chunk_sim_s')
    out['picks_per_sim_min'] = 60.0 / done if done else None
    out['success_after_first_chunk_sim_s'] = done - first if done and first is not None else None
    return out


def run_pipeline(time_limit_s: float) -> dict[str, Any]:
    """The same pick-and-place through SimPipeline (no ROS), on simulated time, unpaced."""
    from smolvla_ros.bench import host_load
    from smolvla_ros.pipeline import PipelineConfig, SimPipeline
    from smolvla_ros.policy.scripted_expert import ScriptedExpertPolicy
    from so_arm_driver.sim import SimArm, SimConfig

    # sim_node's scene: seed 0, 64x48 cameras at 1 Hz, the expert's default 50-action chunks.
    with SimArm(config=SimConfig(image_width=64, image_height=48)) as arm:
        arm.sim.reset(0)
        start = arm.sim.time_s
        policy = ScriptedExpertPolicy(arm.sim, chunk_size=50)
        config = PipelineConfig(camera_period_s=1.0, max_frame_age_s=1.5)
        cpu0 = host_load.snapshot()
        with SimPipeline(arm, policy, instruction=TASK, config=config) as pipe:
            result = pipe.run(time_limit_s, stop=arm.sim.cube_in_bin)
        load = host_load.usage_between(cpu0, host_load.snapshot())
    ticks = len(result.tick_times_s)
    starved = int(result.metrics['starvation_ticks'])
    out = {
        'success': result.cube_in_bin,
        'time_to_success_sim_s': result.sim_time_s if result.cube_in_bin else None,
        'elapsed_sim_s': result.sim_time_s,
        'ticks': ticks,
        'ticks_per_sim_s': ticks / result.sim_time_s,
        'starvation_ticks': starved,
        'starvation_percent': 100.0 * starved / ticks if ticks else None,
        'chunks_executed': int(result.metrics['chunks_accepted']),
        # delivered once its latency passed after its observation (SimPipeline's model)
        'first_chunk_sim_s': result.chunks[0].observation_time_s
        + result.chunks[0].inference_latency_s
        - start
        if result.chunks
        else None,
        'wall_s': result.wall_time_s,
        'real_time_factor': result.sim_time_s / result.wall_time_s,
        'host_busy_other_s': load['host_busy_other_s'],
        'host_steal_s': load['host_steal_s'],
    }
    return _derived(out)


# -- main ----------------------------------------------------------------------------------------
def _spawn(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), *args],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _fmt(v: Any, spec: str = '.2f') -> str:
    return '-' if v is None else format(v, spec)


def bench_jitter(a: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Part (c): every condition, ``a.runs`` times, interleaved (run-major order)."""
    from smolvla_ros.bench.tick_jitter import median_of_runs

    t0 = time.monotonic()
    checkpoint = make_checkpoint(workdir / 'random_smolvla', a.model_size)
    print(f'random SmolVLA {a.model_size} written in {time.monotonic() - t0:.1f} s', flush=True)
    sim = {
        'sim_node': start_node(
            'sim_node', {'step_rate_hz': a.clock_rate, 'camera_rate_hz': 10.0, 'seed': 0}
        )
    }
    # runs[condition][rate] -> one row per run; conditions interleaved within each run
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        c: {str(r): [] for r in a.rates} for c in a.conditions
    }
    try:
        for i in range(a.runs):
            for rate in a.rates:
                for condition in a.conditions:
                    args = ['--role', 'jitter', '--condition', condition, '--checkpoint']
                    args += [str(checkpoint), '--duration', str(a.duration)]
                    args += ['--warmup', str(a.warmup), '--rates', str(rate)]
                    row = _json_of(_spawn(args), 600.0)
                    runs[condition][str(rate)].append(row)
                    print(
                        f'run {i + 1} {condition:13s} {rate:5.0f} Hz: period error p50 '
                        f'{_fmt(row["period_error_p50_ms"])} p99 '
                        f'{_fmt(row["period_error_p99_ms"])} max '
                        f'{_fmt(row["period_error_max_ms"])} ms; {row["ticks"]} ticks, '
                        f'{row["chunks_in_window"]} chunks, inference '
                        f'{_fmt(row["inference_latency_median_s"], ".3f")} s',
                        flush=True,
                    )
    finally:
        sim_exit = stop_nodes(sim)
    table = {
        condition: {rate: median_of_runs(rows, JITTER_KEYS) for rate, rows in by_rate.items()}
        for condition, by_rate in runs.items()
    }
    return {'median': table, 'runs': runs, 'sim_node': sim_exit['sim_node']}


def bench_throughput(a: argparse.Namespace) -> dict[str, Any]:
    """Part (d): the node graph and the pipeline, ``a.runs`` times each, interleaved."""
    from smolvla_ros.bench.tick_jitter import median_of_runs

    runs: dict[str, list[dict[str, Any]]] = {'graph': [], 'pipeline': []}
    for i in range(a.runs):
        args = ['--role', 'graph', '--time-limit', str(a.time_limit)]
        if a.request_timeout is not None:
            args += ['--request-timeout', str(a.request_timeout)]
        g = _json_of(_spawn(args), 600.0)
        p = run_pipeline(a.time_limit)
        for name, r in (('graph', g), ('pipeline', p)):
            runs[name].append(r)
            print(
                f'run {i + 1} {name:8s}: success {r["success"]}, '
                f'{_fmt(r["time_to_success_sim_s"])} sim s to success (first chunk at '
                f'{_fmt(r["first_chunk_sim_s"])} s), '
                f'{_fmt(r["ticks_per_sim_s"], ".1f")} ticks/sim s, starvation '
                f'{_fmt(r["starvation_percent"], ".1f")} %, wall {r["wall_s"]:.1f} s '
                f'(RTF {r["real_time_factor"]:.2f})',
                flush=True,
            )
    table = {
        name: {
            **median_of_runs(rs, THROUGHPUT_KEYS),
            'successes': sum(bool(r['success']) for r in rs),
            'runs': len(rs),
        }
        for name, rs in runs.items()
    }
    return {'median': table, 'runs': runs}


def print_tables(results: dict[str, Any]) -> None:
    """The median tables, for a person."""
    if 'jitter' in results:
        print('\n(c) executor tick period error, ms (medians over runs; node clock = sim time)')
        print(
            f'{"condition":14s} {"rate":>5s} {"p50":>7s} {"p99":>7s} {"max":>7s} '
            f'{"late p99":>8s} {"ticks/s":>8s} {"infer s":>8s} {"chunks":>6s}'
        )
        for condition, rows in results['jitter']['median'].items():
            for rate, r in rows.items():
                print(
                    f'{condition:14s} {float(rate):5.0f} {_fmt(r["period_error_p50_ms"]):>7s} '
                    f'{_fmt(r["period_error_p99_ms"]):>7s} {_fmt(r["period_error_max_ms"]):>7s} '
                    f'{_fmt(r["lateness_p99_ms"]):>8s} {_fmt(r["rate_hz"], ".1f"):>8s} '
                    f'{_fmt(r["inference_latency_median_s"], ".3f"):>8s} '
                    f'{_fmt(r["chunks_in_window"], ".0f"):>6s}'
                )
    if 'throughput' in results:
        print('\n(d) scripted pick-and-place, medians over runs')
        print(
            f'{"side":9s} {"ok":>5s} {"sim s":>6s} {"1st chk":>7s} {"picks/min":>9s} '
            f'{"ticks/s":>8s} {"starv %":>7s} {"chunks":>6s} {"wall s":>7s} {"RTF":>5s}'
        )
        for name, r in results['throughput']['median'].items():
            print(
                f'{name:9s} {r["successes"]:>2d}/{r["runs"]:<2d} '
                f'{_fmt(r["time_to_success_sim_s"]):>6s} {_fmt(r["first_chunk_sim_s"]):>7s} '
                f'{_fmt(r["picks_per_sim_min"]):>9s} '
                f'{_fmt(r["ticks_per_sim_s"], ".1f"):>8s} '
                f'{_fmt(r["starvation_percent"], ".1f"):>7s} '
                f'{_fmt(r["chunks_executed"], ".0f"):>6s} {_fmt(r["wall_s"], ".1f"):>7s} '
                f'{_fmt(r["real_time_factor"]):>5s}'
            )


def _worker_exit(out: dict[str, Any]) -> None:
    """Print a worker's JSON and end the process at once. A policy inference still running on
    the worker's daemon thread (PolicyWorker.close gives up after 5 s on a loaded host) would
    abort the interpreter's normal exit inside torch ('terminate called without an active
    exception'); everything the worker owns is already closed and its figures are written."""
    print(json.dumps(out), flush=True)
    sys.stderr.flush()
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--role', choices=('main', 'jitter', 'graph'), default='main')
    parser.add_argument(
        '--parts', nargs='+', choices=('jitter', 'throughput'), default=['jitter', 'throughput']
    )
    parser.add_argument('--runs', type=int, default=2, help='runs per condition (median taken)')
    parser.add_argument(
        '--duration', type=float, default=3.0, help='(c) seconds measured per rate'
    )
    parser.add_argument('--warmup', type=float, default=1.0, help='(c) seconds before measuring')
    parser.add_argument(
        '--rates', type=float, nargs='+', default=[30.0, 100.0], help='(c) executor tick rates, Hz'
    )
    parser.add_argument('--conditions', nargs='+', choices=CONDITIONS, default=list(CONDITIONS))
    parser.add_argument('--model-size', choices=('tiny', 'small', 'full'), default='small')
    parser.add_argument(
        '--clock-rate',
        type=float,
        default=500.0,
        help="(c) sim_node's /clock rate, Hz (sim-time timer resolution)",
    )
    parser.add_argument(
        '--time-limit',
        type=float,
        default=30.0,
        help='(d) simulated seconds allowed for the pick-and-place',
    )
    parser.add_argument(
        '--request-timeout',
        type=float,
        default=None,
        help="(d) the graph executor_node's request_timeout_s, s (default: the node's)",
    )
    parser.add_argument('--condition', choices=CONDITIONS, default='baseline', help='(worker)')
    parser.add_argument('--checkpoint', default='', help='(worker) the random SmolVLA folder')
    parser.add_argument('--json', type=Path, default=None, help='write the results here')
    a = parser.parse_args(argv)
    if a.request_timeout is not None and not 0.01 <= a.request_timeout <= 600.0:
        parser.error('--request-timeout must be within 0.01..600 s (executor_node range)')
    if a.duration <= 0 or a.warmup < 0 or a.runs < 1 or a.time_limit <= 0:
        parser.error('--duration and --time-limit must be > 0, --warmup >= 0, --runs >= 1')
    if any(not 1.0 <= r <= 1000.0 for r in a.rates) or not 1.0 <= a.clock_rate <= 1000.0:
        parser.error('--rates and --clock-rate must be within 1..1000 Hz')
    if a.role == 'jitter':
        if a.condition != 'baseline' and not a.checkpoint:
            parser.error('--checkpoint is required for the policy conditions')
        if len(a.rates) != 1:
            parser.error('a jitter worker measures one rate (--rates R)')
        out = run_jitter_worker(a.condition, a.rates[0], a.duration, a.warmup, a.checkpoint)
        _worker_exit(out)
    if a.role == 'graph':
        _worker_exit(run_graph_worker(a.time_limit, a.request_timeout))
    if a.json is not None and not a.json.parent.is_dir():
        parser.error(f'--json: the folder {a.json.parent} does not exist')
    t_start = time.monotonic()
    results: dict[str, Any] = {
        'conditions': {
            'runs': a.runs,
            'duration_s': a.duration,
            'warmup_s': a.warmup,
            'rates_hz': a.rates,
            'model_size': a.model_size,
            'clock_rate_hz': a.clock_rate,
            'time_limit_s': a.time_limit,
            'graph_request_timeout_s': a.request_timeout,
            'cpu': _cpu_name(),
            'cpu_count': os.cpu_count(),
            'load_average_at_start': os.getloadavg(),
            'rmw': os.environ.get('RMW_IMPLEMENTATION', 'default (Fast DDS)'),
        }
    }
    with tempfile.TemporaryDirectory(prefix='bench_ros_graph_') as tmp:
        if 'jitter' in a.parts:
            results['jitter'] = bench_jitter(a, Path(tmp))
        if 'throughput' in a.parts:
            results['throughput'] = bench_throughput(a)
    results['wall_time_s'] = time.monotonic() - t_start
    results['load_average_at_end'] = os.getloadavg()
    print_tables(results)
    print(f'\ntotal {results["wall_time_s"]:.0f} s; load average {os.getloadavg()}')
    if a.json is not None:
        a.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
