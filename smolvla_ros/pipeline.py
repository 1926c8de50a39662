"""One path from pixels to joint commands on the simulator, with no ROS: the reusable harness.

:class:`SimPipeline` wires the MuJoCo simulator's cameras, the frame store, the policy worker,
the chunk executor and the simulated arm on the simulator's own time::

    SimArm cameras --SimFrameSource.read()--> LatestFrames --select--> PolicyWorker.process
        --> Policy.predict (SmolVLA, scripted expert, ...) --> checked ActionChunk
        --(held until observation time + latency)--> PolicyWorker.deliver
        --> ChunkExecutor.submit_chunk; ChunkExecutor.tick --> safety --> SimArm.write_goals

Everything runs on the caller's thread, in a fixed order per control tick: render the cameras
when a camera period has passed, hand over the chunks whose latency has elapsed, tick the
executor on the measured joint positions (a request runs the policy there and then), send the
command, step the physics one control period. MuJoCo is single-threaded: nothing renders while
the physics steps, and a policy that reads simulator state (the scripted expert) sees it still.

Latency on simulated time: the simulator stands still while the policy computes, so the time a
chunk takes cannot pass by itself. By default the wall time of the worker's ``process`` (frame
selection, pre-processing, the model, post-processing and checks) is measured and the chunk is
delivered once that much *simulated* time has passed after its observation, as it would arrive
on a real robot driven by this computer; meanwhile the arm executes the previous chunk. A fixed
``latency_s`` makes runs reproducible instead. Either way the latency is stamped on the chunk
(``inference_latency_s``), counted in the worker's status and in the executor's metrics.

Typical use::

    with SimArm(config=SimConfig(image_width=64, image_height=48)) as arm:
        arm.sim.reset(3)
        policy = SmolVLAChunkPolicy.from_pretrained(path, arm.joint_names, units='degrees',
                                                    calibration=virtual_calibration())
        result = SimPipeline(arm, policy, instruction='put the cube in the bin').run(10.0)
        print(result.worker.median_latency_s, result.metrics['chunks_accepted'])
"""

from __future__ import annotations

import heapq
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from smolvla_ros.frames.latest import LatestFrames
from smolvla_ros.frames.sim_source import SimFrameSource
from smolvla_ros.policy.protocol import Policy
from smolvla_ros.policy.worker import PolicyWorker, WorkerConfig, WorkerStatus
from smolvla_ros.runtime.chunk import ActionChunk
from smolvla_ros.runtime.clock import SimClock
from smolvla_ros.runtime.config import RuntimeConfig
from smolvla_ros.runtime.executor import ChunkExecutor, ObservationSnapshot, TickOutput

# Simulated time is a sum of float steps (1/30 s thirty times is not exactly 1 s).
_TIME_EPS_S = 1e-9


@dataclass(frozen=True)
class PipelineConfig:
    """Settings of a :class:`SimPipeline`.

    Attributes:
        camera_period_s: simulated seconds between two renders of the cameras (1/30 for 30 fps).
            10 fps (the default) keeps CPU rendering cheap; frames are then at most 0.1 s old.
        camera_slots: the cameras to render; None renders the policy's required slots (or
            'top' when it requires none, so frames still flow).
        latency_s: None measures each chunk's latency as the wall time of the worker's
            ``process`` on this computer; a number (seconds, >= 0) uses that latency for every
            chunk (reproducible runs).
        max_frame_age_s: the oldest frame a request may use, seconds before its observation
            (``WorkerConfig.max_frame_age_s``); must exceed ``camera_period_s``.
    """

    camera_period_s: float = 0.1
    camera_slots: tuple[str, ...] | None = None
    latency_s: float | None = None
    max_frame_age_s: float = 0.2

    def __post_init__(self) -> None:
        if not (math.isfinite(self.camera_period_s) and self.camera_period_s > 0):
            raise ValueError(
                'camera_period_s must be a finite number > 0 seconds, got '
                f'{self.camera_period_s!r}'
            )
        if self.latency_s is not None and not (
            math.isfinite(self.latency_s) and self.latency_s >= 0
        ):
            raise ValueError(
                f'latency_s must be None (measured) or a finite number >= 0 seconds, got '
                f'{self.latency_s!r}'
            )
        if not self.max_frame_age_s > self.camera_period_s:
            raise ValueError(
                f'max_frame_age_s ({self.max_frame_age_s} s) must exceed camera_period_s '
                f'({self.camera_period_s} s), or every request between two renders is refused '
                'as stale'
            )


@dataclass(frozen=True)
class PipelineResult:
    """What one :meth:`SimPipeline.run` did.

    Attributes:
        sim_time_s: simulated seconds run.
        wall_time_s: wall seconds the run took.
        tick_times_s: simulator time of each tick, seconds, shape (T,).
        positions_rad: measured joint positions at each tick, radians, shape (T, J).
        commands_rad: the command sent to the arm at each tick, radians, shape (T, J).
        states: executor states ('startup', 'tracking', 'starved', ...) -> tick count.
        chunks: the chunks handed to the executor, in order (latency stamped).
        latencies_s: the latency of every chunk the policy produced, seconds.
        worker: the worker's status at the end.
        metrics: the executor's metrics summary (``RuntimeMetrics.summary``).
        arm_clamps: commands the arm itself clamped to its joint limits, per joint.
        cube_lifted: the cube was lifted at some tick (``Simulator.cube_lifted``).
        cube_in_bin: the cube rests in the bin at the end (``Simulator.cube_in_bin``).
    """

    sim_time_s: float
    wall_time_s: float
    tick_times_s: np.ndarray
    positions_rad: np.ndarray
    commands_rad: np.ndarray
    states: Mapping[str, int]
    chunks: tuple[ActionChunk, ...]
    latencies_s: tuple[float, ...]
    worker: WorkerStatus
    metrics: dict[str, Any]
    arm_clamps: Mapping[str, int]
    cube_lifted: bool
    cube_in_bin: bool


class SimPipeline:
    """Simulator cameras -> frame store -> policy worker -> executor -> SimArm, on sim time.

    The pipeline does not own the arm (close it yourself) and does not reset the simulator
    (reset it before building the policy, whose first request may read the scene).

    Args:
        arm: a ``so_arm_driver.sim.SimArm``.
        policy: any :class:`~smolvla_ros.policy.protocol.Policy` whose joints are the arm's.
        instruction: the task in words.
        runtime: executor settings; default: ``RuntimeConfig`` ticking at the simulator's
            control rate.
        config: pipeline settings.

    Raises:
        ValueError: the policy's joints differ from the arm's, a tick rate other than the
            simulator's control rate, or a camera slot the simulator lacks.
    """

    def __init__(
        self,
        arm: Any,
        policy: Policy,
        *,
        instruction: str = '',
        runtime: RuntimeConfig | None = None,
        config: PipelineConfig | None = None,
    ) -> None:
        self.arm = arm
        self.sim = arm.sim
        self.config = config or PipelineConfig()
        dt = self.sim.config.effective_control_dt_s
        self.runtime = runtime or RuntimeConfig(tick_rate_hz=1.0 / dt)
        if abs(self.runtime.tick_period_s - dt) > 1e-9:
            raise ValueError(
                f'the executor ticks every {self.runtime.tick_period_s} s but the simulator '
                f'steps {dt} s per control step; set RuntimeConfig(tick_rate_hz=1 / {dt})'
            )
        if tuple(policy.joint_names) != tuple(arm.joint_names):
            raise ValueError(
                f'the policy outputs joints {tuple(policy.joint_names)} but the arm has '
                f'{tuple(arm.joint_names)}; bind the policy to the arm joint order'
            )
        if tuple(self.runtime.joint_names) != tuple(arm.joint_names):
            raise ValueError(
                f'the runtime safety config names joints {self.runtime.joint_names}, the arm '
                f'{tuple(arm.joint_names)}'
            )
        slots = self.config.camera_slots or tuple(policy.required_slots) or ('top',)
        self.clock = SimClock(self.sim.time_s)
        self.frames = LatestFrames()
        # Stamped with the simulator's time (the executor's time base); read only when a camera
        # period has passed, so read() never waits.
        self.source = SimFrameSource(self.sim, slots, period_s=self.config.camera_period_s)
        self._chunks: list[ActionChunk] = []
        self._latencies: list[float] = []
        # (due time s, request id, chunk, latency s): chunks waiting for their latency to pass
        self._pending: list[tuple[float, int, ActionChunk, float]] = []
        self.worker = PolicyWorker(
            policy,
            self._submit,
            frames=self.frames,
            instruction=instruction,
            config=WorkerConfig(max_frame_age_s=self.config.max_frame_age_s),
            now=self.clock.now,
            start=False,  # synchronous process/deliver: the simulator stays single-threaded
        )
        self.executor = ChunkExecutor(self.runtime, self._request, self.clock)
        self._next_frame_t: float | None = None

    # -- the executor's and the worker's callbacks ---------------------------------------------
    def _request(self, snapshot: ObservationSnapshot) -> bool:
        t0 = time.perf_counter()
        chunk = self.worker.process(snapshot)
        wall = time.perf_counter() - t0
        if chunk is None:  # refused or failed: counted in the worker's status; ask again later
            return False
        latency = wall if self.config.latency_s is None else self.config.latency_s
        self._latencies.append(latency)
        heapq.heappush(
            self._pending, (snapshot.time_s + latency, snapshot.request_id, chunk, latency)
        )
        return True

    def _submit(self, chunk: ActionChunk) -> bool:
        self._chunks.append(chunk)
        return self.executor.submit_chunk(chunk)

    @property
    def chunks(self) -> tuple[ActionChunk, ...]:
        """The chunks handed to the executor so far, in order (latency stamped); a recorder
        watching the run from ``on_tick`` reads the new ones here."""
        return tuple(self._chunks)

    # -- running -------------------------------------------------------------------------------
    def run(
        self,
        duration_s: float,
        on_tick: Callable[[TickOutput], None] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> PipelineResult:
        """Run ``duration_s`` simulated seconds (or until ``stop()`` returns True after a tick).

        Args:
            duration_s: simulated seconds, > 0.
            on_tick: called after each command is sent and before the physics steps, with the
                executor's output (to watch the arm from outside).
            stop: checked after every physics step; True ends the run early.

        Returns:
            The run's :class:`PipelineResult`. The pipeline can run again (it continues).

        Raises:
            ValueError: ``duration_s`` is not a finite number > 0 (nothing runs).
        """
        if not (math.isfinite(duration_s) and duration_s > 0):
            raise ValueError(f'duration_s must be a finite number > 0 seconds, got {duration_s!r}')
        start_t = self.sim.time_s
        end_t = start_t + duration_s
        times, positions, commands = [], [], []
        states: Counter[str] = Counter()
        lifted = False
        wall0 = time.perf_counter()
        while self.sim.time_s < end_t - _TIME_EPS_S:
            now = self.clock.now()
            if self._next_frame_t is None or now >= self._next_frame_t - _TIME_EPS_S:
                for frame in self.source.read():
                    self.frames.put(frame)
                self._next_frame_t = now + self.config.camera_period_s
            while self._pending and self._pending[0][0] <= now + _TIME_EPS_S:
                _, _, chunk, latency = heapq.heappop(self._pending)
                self.worker.deliver(chunk, latency)
            measured = self.arm.read_positions()
            out = self.executor.tick(measured)
            self.arm.write_goals(out.command_rad)
            times.append(now)
            positions.append(measured)
            commands.append(out.command_rad)
            states[str(out.state)] += 1
            if on_tick is not None:
                on_tick(out)
            self.arm.step(1)
            self.clock.sleep_until(self.sim.time_s)
            lifted = lifted or bool(self.sim.cube_lifted())
            if stop is not None and stop():
                break
        j = len(self.arm.joint_names)
        return PipelineResult(
            sim_time_s=self.sim.time_s - start_t,
            wall_time_s=time.perf_counter() - wall0,
            tick_times_s=np.asarray(times, dtype=np.float64),
            positions_rad=np.asarray(positions, dtype=np.float64).reshape(-1, j),
            commands_rad=np.asarray(commands, dtype=np.float64).reshape(-1, j),
            states=dict(states),
            chunks=tuple(self._chunks),
            latencies_s=tuple(self._latencies),
            worker=self.worker.status(),
            metrics=self.executor.metrics.summary(),
            arm_clamps=dict(self.arm.clamp_counts),
            cube_lifted=lifted,
            cube_in_bin=bool(self.sim.cube_in_bin()),
        )

    def close(self) -> None:
        """Close the worker and the frame source (not the arm). Idempotent."""
        self.worker.close()
        self.source.close()

    def __enter__(self) -> SimPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ['PipelineConfig', 'PipelineResult', 'SimPipeline']
