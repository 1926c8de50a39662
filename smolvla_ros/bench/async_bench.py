"""Sync vs async vs latency-free on the simulated pick-and-place task, plus a g x blending sweep.

Headline modes run in real time (a real control thread on the monotonic clock, chunks delivered
from a policy thread) so tick jitter is real; the sweep runs on simulated time (deterministic,
fast). Completion rate is measured in steady state: between the first and the last completion.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from smolvla_ros.bench import host_load
from smolvla_ros.bench.model_policy import (
    ModelLatencyPolicy,
    SyntheticFrameSource,
    latency_summary,
)
from smolvla_ros.bench.pick_place import PickPlaceTask, PickPlaceWorld
from smolvla_ros.bench.policy_sim import LatencyModel, LatencyPolicy, ScheduledDelivery
from smolvla_ros.bench.sim_arm import SIM_ARMS, SIM_TASKS
from smolvla_ros.frames.latest import LatestFrames
from smolvla_ros.frames.pump import FramePump
from smolvla_ros.policy.oracle import OraclePolicy
from smolvla_ros.policy.protocol import Policy
from smolvla_ros.policy.worker import PolicyWorker, WorkerConfig
from smolvla_ros.runtime.chunk import ActionChunk
from smolvla_ros.runtime.clock import Clock, MonotonicClock, SimClock
from smolvla_ros.runtime.config import BLEND_MODES, RuntimeConfig
from smolvla_ros.runtime.executor import ChunkExecutor
from smolvla_ros.runtime.loop import FixedRateLoop
from smolvla_ros.tasks import SIM_TASK

MODES: tuple[str, ...] = ('async', 'sync', 'latency_free')
SWEEP_G: tuple[float, ...] = (0.0, 0.3, 0.5, 0.7, 0.9)
# What a language-conditioned model is asked to do (the oracle ignores it).
INSTRUCTION = SIM_TASK
# Frame rate of the model's cameras (simulator renders or synthetic frames), Hz.
DEFAULT_CAMERA_FPS = 15.0


@dataclass(frozen=True)
class Scenario:
    """The benchmark's settings.

    Attributes:
        chunk_size: n, actions per chunk.
        dt_s: policy step, seconds.
        latency: request-to-delivery latency distribution.
        g: queue threshold of the async mode.
        blending: blending mode of the async modes.
        tick_rate_hz: executor rate, Hz.
        sim: arm backend name in SIM_ARMS.
    """

    chunk_size: int = 50
    dt_s: float = 1.0 / 30.0
    latency: LatencyModel = field(default_factory=LatencyModel)
    g: float = 0.7
    blending: str = 'crossfade'
    tick_rate_hz: float = 30.0
    sim: str = 'kinematic'

    def __post_init__(self) -> None:
        if self.chunk_size < 1 or not (math.isfinite(self.dt_s) and self.dt_s > 0):
            raise ValueError('chunk_size must be >= 1 and dt_s > 0')
        if self.sim not in SIM_ARMS:
            raise ValueError(f'unknown --sim {self.sim!r}; available: {sorted(SIM_ARMS)}')

    def runtime_config(self, mode: str) -> RuntimeConfig:
        """The executor config of a benchmark mode ('async', 'sync', 'latency_free')."""
        return RuntimeConfig(
            tick_rate_hz=self.tick_rate_hz,
            mode='sync' if mode == 'sync' else 'async',
            g=self.g,
            blending=self.blending,
        )


def no_starvation_bound_s(g: float, n: int, dt_s: float) -> float:
    """Largest latency (seconds) that never starves the queue with time-aligned merging.

    A chunk arriving L late brings n - L/dt fresh actions. If that is above g*n, the next request
    goes (1-g)*n*dt after the arrival and lands L later: no gap iff L <= g*n*dt. Otherwise the
    next request goes at once and lands while the n*dt - L left are consumed: no gap iff
    L <= n*dt/2. Together: L <= min(g, 1/2) * n * dt (0 for g = 0, which is sync).
    """
    return min(g, 0.5) * n * dt_s


def _rate(completions: list[float]) -> tuple[float | None, float | None]:
    """(completions per minute, mean seconds per completion) between first and last completion."""
    if len(completions) < 2:
        return None, None
    mean = (completions[-1] - completions[0]) / (len(completions) - 1)
    return 60.0 / mean, mean


def run_mode(
    scenario: Scenario,
    mode: str,
    duration_s: float,
    realtime: bool,
    *,
    model: Policy | None = None,
    camera_fps: float = DEFAULT_CAMERA_FPS,
) -> dict[str, Any]:
    """Run the task for ``duration_s`` seconds in one mode; return its results.

    Args:
        model: a policy (SmolVLA) run on every request for its latency through
            :class:`ModelLatencyPolicy` (the oracle's actions are executed); its camera frames
            come from the simulator's renders (``--sim mujoco``) or synthetic images (other
            backends) through a frame pump. None: the sampled latency model. Not used in the
            'latency_free' mode (the reference without any latency).
        camera_fps: frame rate of those cameras, Hz.

    Raises:
        ValueError: unknown mode, or a model on simulated time (it cannot measure a latency).
    """
    if mode not in MODES:
        raise ValueError(f'unknown mode {mode!r}; choose one of {MODES}')
    if mode == 'latency_free':
        model = None
    if model is not None and not realtime:
        raise ValueError(
            'a model latency can only be measured in real time: simulated time stands still '
            'while the model computes'
        )
    latency = (
        replace(scenario.latency, median_s=0.0) if mode == 'latency_free' else scenario.latency
    )
    config = scenario.runtime_config(mode)
    task = SIM_TASKS.get(scenario.sim, PickPlaceTask)()  # a backend's own task, if it has one
    world = PickPlaceWorld(task)
    n, dt = scenario.chunk_size, scenario.dt_s
    clock = MonotonicClock() if realtime else SimClock()
    oracle = OraclePolicy(task, world, chunk_size=n, dt_s=dt, joint_names=config.joint_names)
    executor: ChunkExecutor | None = None

    def submit(chunk: ActionChunk) -> bool:
        assert executor is not None  # requests only come from the executor's ticks
        return executor.submit_chunk(chunk)

    arm = SIM_ARMS[scenario.sim](clock)
    # MuJoCo must not render while the control thread steps it: both hold this lock.
    sim_lock = threading.Lock()
    frames, source, wrapper = None, None, None
    if model is not None:
        wrapper = ModelLatencyPolicy(model, oracle)
        frames = LatestFrames()
        source = _camera_source(arm, model.required_slots, clock, camera_fps, sim_lock)
    # One worker path for both time bases: a thread delivering after a real sleep (or after the
    # real model ran), or the same worker's process/deliver scheduled on simulated time.
    if wrapper is not None:
        policy: Policy = wrapper
    elif realtime:
        policy = LatencyPolicy(oracle, latency.sampler(), clock)
    else:
        policy = oracle
    worker = PolicyWorker(
        policy,
        submit,
        frames=frames,
        instruction=INSTRUCTION,
        config=WorkerConfig(name='model-policy' if wrapper else 'oracle-policy'),
        now=clock.now,
        start=realtime,
    )
    sched = None if realtime else ScheduledDelivery(worker, latency)
    executor = ChunkExecutor(config, worker.request if sched is None else sched.request, clock)
    arm.write_goals(np.asarray(task.waypoints[0]))  # start at the loop's first waypoint
    pump = None if source is None else FramePump(source, frames.put, name='bench-cameras')
    if pump is not None:
        pump.start()
    if realtime:
        clock.sleep_until(clock.now() + 0.2)
    else:
        clock.sleep_until(clock.now() + 1.0)
    if pump is not None:
        with sim_lock:
            arm.read_positions()  # a clock-synced simulator catches up: its cameras render now
        _wait_for_frames(frames, source.slots, clock, timeout_s=5.0)

    def step(_deadline: float) -> None:
        if sched is not None:
            sched.deliver_due(clock.now())
        with sim_lock:
            q = arm.read_positions()
        world.update(q, clock.now())
        out = executor.tick(q)
        with sim_lock:
            arm.write_goals(out.command_rad)

    t0 = clock.now()
    # CPython hands the GIL over every 5 ms by default, so a control thread waking while another
    # thread computes can start up to 5 ms late; 0.5 ms bounds that wait.
    switch = sys.getswitchinterval()
    if realtime:
        sys.setswitchinterval(0.0005)
    cpu_before = host_load.snapshot()
    try:
        loop = FixedRateLoop(clock, config.tick_period_s, executor.metrics)
        loop.run(step, duration_s=duration_s)
        cpu = host_load.usage_between(cpu_before, host_load.snapshot())
    finally:
        sys.setswitchinterval(switch)
        if pump is not None:
            source.close()
            pump.close()
        worker.close()
        arm.close()
    summary = executor.metrics.summary()
    status = worker.status()
    cpm, mean = _rate(world.completion_times_s)
    # A physics backend reports what stepping it to the clock cost per tick (wall time).
    stepping = getattr(arm, 'stepping_stats_ms', None)
    return {
        'arm_stepping_ms': stepping() if stepping is not None else None,
        'host_cpu': cpu,
        'completions_per_min': cpm,
        'mean_completion_s': mean,
        'starvation_ticks': summary['starvation_ticks'],
        'max_seam_jump_rad': summary['max_seam_jump_rad'],
        'tick_jitter_p99_ms': summary['tick_jitter_p99_ms'],
        'completions': len(world.completion_times_s),
        'grasps': world.grasps,
        'duration_s': duration_s,
        'time_base': 'real' if realtime else 'simulated',
        'metrics': summary,
        'worker': {
            'chunks_submitted': status.chunks_submitted,
            'chunks_rejected': status.chunks_rejected,
            'requests_refused': dict(status.requests_refused),
            'requests_replaced': status.requests_replaced,
            'inference_errors': status.inference_errors,
            'last_error': status.last_error,
        },
        'model_latency': None if wrapper is None else latency_summary(wrapper.latencies_s),
        'camera_frames': None if pump is None else pump.status.frames,
        'queue_history': [(t - t0, q) for t, q in executor.metrics.queue_history],
    }


def _wait_for_frames(
    frames: LatestFrames, slots: tuple[str, ...], clock: Clock, timeout_s: float
) -> None:
    """Block until every slot has a frame no older than the worker's limit (so the first
    request is not refused), at most ``timeout_s`` real seconds; the run starts either way and
    counts any refusal."""
    deadline = time.monotonic() + timeout_s
    limit = WorkerConfig().max_frame_age_s
    while time.monotonic() < deadline:
        try:
            frames.select(slots, clock.now(), limit)
            return
        except ValueError:
            time.sleep(0.005)


def _camera_source(
    arm: Any, slots: tuple[str, ...], clock: Clock, fps: float, lock: threading.Lock
) -> Any:
    """The model's cameras: the MuJoCo arm's renders, stamped with its physics time on the
    benchmark clock, or synthetic frames for an arm without cameras."""
    period = 1.0 / fps
    sim_arm = getattr(arm, 'sim_arm', None)
    if sim_arm is not None:
        from smolvla_ros.frames.sim_source import SimFrameSource

        return SimFrameSource(
            sim_arm.sim, slots, now=lambda: arm.sim_time_s, period_s=period, lock=lock
        )
    return SyntheticFrameSource(slots, clock.now, period)


def sweep(scenario: Scenario, duration_s: float) -> list[dict[str, Any]]:
    """Async runs on simulated time for every g in SWEEP_G and every blending mode."""
    rows = []
    for g in SWEEP_G:
        for blending in BLEND_MODES:
            r = run_mode(replace(scenario, g=g, blending=blending), 'async', duration_s, False)
            m = r['metrics']
            rows.append(
                {
                    'g': g,
                    'blending': blending,
                    'completions_per_min': r['completions_per_min'],
                    'starvation_ticks': r['starvation_ticks'],
                    'max_seam_jump_rad': r['max_seam_jump_rad'],
                    'requests_sent': m['requests_sent'],
                    'requests_filtered': m['requests_filtered'],
                    'velocity_clamps': sum(m['clamps']['velocity'].values()),
                    'no_starvation_bound_holds': bool(
                        scenario.latency.median_s
                        <= no_starvation_bound_s(g, scenario.chunk_size, scenario.dt_s)
                    ),
                }
            )
    return rows


def plot_queue(results: dict[str, dict[str, Any]], path: str, window_s: float = 20.0) -> None:
    """Save a PNG of queue length (actions) over time for sync and async."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=120)
    for mode, style in (('sync', '-'), ('async', '-')):
        hist = [(t, q) for t, q in results[mode]['queue_history'] if t <= window_s]
        if hist:
            t, q = zip(*hist, strict=True)
            ax.step(t, q, style, where='post', label=mode, linewidth=1.2)
    ax.set_xlabel('time (s)')
    ax.set_ylabel('queued actions')
    ax.set_title('Action queue length, sync vs async (g = 0.7, n = 50, latency 0.35 s)')
    ax.legend(loc='upper right')
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def evaluate_targets(scenario: Scenario, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets, each with the measured value and whether it is met."""
    a, s, lf = results['async'], results['sync'], results['latency_free']
    n_dt = scenario.chunk_size * scenario.dt_s
    lat = scenario.latency.median_s
    theory = (n_dt + lat) / n_dt
    vmax_dt = 3.0 * scenario.dt_s  # SO-101 velocity limit x policy dt

    def ratio(x: float | None, y: float | None) -> float | None:
        return None if not x or not y else x / y

    a_lf = ratio(a['completions_per_min'], lf['completions_per_min'])
    a_s = ratio(a['completions_per_min'], s['completions_per_min'])
    jit = a['tick_jitter_p99_ms']
    return {
        'async_over_latency_free': a_lf,
        'async_over_latency_free_ok': a_lf is not None and a_lf >= 0.95,
        'async_starvation_ok': a['starvation_ticks'] == 0,
        'latency_within_issue_bound': lat <= (1 - scenario.g) * n_dt,
        'latency_within_bound': lat
        <= no_starvation_bound_s(scenario.g, scenario.chunk_size, scenario.dt_s),
        'async_over_sync': a_s,
        'async_over_sync_theory': theory,
        'async_over_sync_ok': a_s is not None and a_s >= 0.95 * theory,
        'seam_limit_rad': vmax_dt,
        'seam_ok': a['max_seam_jump_rad'] <= vmax_dt,
        'jitter_p99_ok': jit is not None and jit <= 2.0,
    }
