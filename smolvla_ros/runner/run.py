"""The standalone runner's wiring: the simulator, a policy, the pipeline and the run folder.

One process, no ROS. The simulator backend reuses :class:`smolvla_ros.pipeline.SimPipeline`
(the simulator's cameras -> frame store -> policy worker -> chunk executor -> SimArm, on
simulated time with each chunk's measured latency added back), so the runner, the policy node
and the benchmarks share one worker, one executor and one action space.

The run folder (``<output>/<UTC time>-<policy>/``) holds, once the run ends by itself or by
Ctrl-C:

- ``video.mp4``: the cameras side by side with a text strip (instruction, queue fill, latency,
  success, banner), one frame per camera render;
- ``queue.png``, ``latency.png``, ``joints.png``: see :mod:`.artifacts.plots`;
- ``metrics.json``: see :mod:`.artifacts.metrics`;
- ``bag/``: a rosbag2 in MCAP storage, see :mod:`.artifacts.bag`.

The video and the bag are written while the run goes; the plots and the metrics at the end.
Every writer is closed on every exit path, so an interrupted run leaves complete files.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from smolvla_ros.ctrl_c import CtrlC
from smolvla_ros.pipeline import PipelineConfig, SimPipeline

# DEFAULT_CHECKPOINT / SHIPPED_CHECKPOINT: re-exported (the runner's public names since #15).
from smolvla_ros.policy.default_checkpoint import (
    DEFAULT_CHECKPOINT,
    SHIPPED_CHECKPOINT,
    choose_default_checkpoint,
)
from smolvla_ros.policy.protocol import Policy
from smolvla_ros.runner.artifacts.bag import BagError, BagWriter, check_bag_support
from smolvla_ros.runner.artifacts.metrics import METRICS_FORMAT, stats_s, write_metrics
from smolvla_ros.runner.artifacts.plots import plot_joints, plot_latency, plot_queue
from smolvla_ros.runner.artifacts.video import VideoWriter, compose
from smolvla_ros.runner.display import Display
from smolvla_ros.runtime.config import ObservationFilterConfig, RuntimeConfig
from smolvla_ros.tasks import SIM_TASK

log = logging.getLogger(__name__)

RANDOM_BANNER = (
    'RANDOM WEIGHTS: no SmolVLA checkpoint could be loaded, so this run uses a randomly '
    'initialised SmolVLA; its actions are meaningless'
)
# The banner where space is short (plot titles, the video strip).
RANDOM_BANNER_SHORT = 'RANDOM WEIGHTS: actions are meaningless'
# Frames per second of the video: one per simulator camera render (PipelineConfig's 0.1 s).
VIDEO_FPS = 10.0
# The control rate assumed for a checkpoint that records none, Hz.
ASSUMED_FPS = 30.0
# Seconds the simulated arm holds after the run (or Ctrl-C) before the files are finished: long
# enough for the position servos to settle on the hold pose.
HOLD_S = 0.5
# On the simulator the policy runs inside the tick (SimPipeline), so a request is answered or
# refused at once and can never be lost; the executor's default 5 s timeout would only re-request
# a chunk still waiting out its measured latency (tens of seconds for a full SmolVLA on a CPU) and
# pay for a second inference. Simulated seconds.
SIM_REQUEST_TIMEOUT_S = 300.0
# Exit status of a run stopped by Ctrl-C (the shell's 128 + SIGINT): the artifacts are complete,
# but the run did not reach its planned end.
EXIT_INTERRUPTED = 130


class RunnerError(Exception):
    """A run cannot start: a bad option or input found before anything moved (exit code 2)."""


@dataclass(frozen=True)
class RunOptions:
    """Everything a run needs; :func:`smolvla_ros.runner.cli.parse_options` builds it validated.

    Attributes (units in brackets):
        policy: 'smolvla', 'scripted' or 'replay'.
        checkpoint: SmolVLA checkpoint folder or hub repo id; None tries DEFAULT_CHECKPOINT and
            falls back (see :func:`load_policy`).
        replay_file: the ``.npz`` recording for 'replay'.
        random_size: size of the random SmolVLA used as the last fallback ('tiny', 'small',
            'full'; 'full' is smolvla_base's architecture).
        instruction: the task in words.
        mode: 'async' or 'sync'. g: request threshold [fraction of a chunk, 0..1].
        epsilon_rad: observation filter threshold [rad]; 0 turns the filter off.
        blending: 'crossfade' or 'latest'.
        rate_hz: control rate [Hz]; must divide the simulator's 600 Hz physics rate.
        duration_s: simulated length of each episode [s]. episodes: how many (>= 1).
        num_threads: torch CPU threads for SmolVLA (None: one per core); 1 on a busy 2-core
            machine (``smolvla_model.threads``).
        device / precision: where and how SmolVLA runs ('cpu', 'cuda', 'cuda:1'; 'fp32',
            'bf16', 'fp16').
        cameras: camera slots rendered and recorded; None: the policy's slots (all three for
            the random SmolVLA, 'top' when the policy needs none).
        units: a checkpoint's units override ('radians', 'degrees', 'range_m100_100'); None
            reads them from the checkpoint.
        allow_units_mismatch: run a checkpoint whose state statistics do not fit the arm.
        seed: the scene layout of episode k is ``seed + k``; also the sampling noise seed.
        output: the folder the run folder is created in.
        image_size: camera render size (width, height) [px].
        latency_s: a fixed latency per chunk [s] instead of the measured one.
        live: draw the live display on a terminal.
        arm: 'sim' (the MuJoCo SO-101) or 'feetech' (a real SO arm, see ``real.py``).
        port / robot / calibration: the real arm's serial port, 'so101' or 'so100', and its
            LeRobot calibration file (None: LeRobot's default location).
        camera_sources: (slot, device index or path) per real camera.
        release_torque: release the real arm's torque after the final hold.
    """

    policy: str = 'smolvla'
    checkpoint: str | None = None
    replay_file: Path | None = None
    random_size: str = 'full'
    instruction: str = SIM_TASK
    mode: str = 'async'
    g: float = 0.7
    epsilon_rad: float = 0.05
    blending: str = 'crossfade'
    rate_hz: float = 30.0
    duration_s: float = 20.0
    episodes: int = 1
    device: str = 'cpu'
    precision: str = 'fp32'
    num_threads: int | None = None
    cameras: tuple[str, ...] | None = None
    units: str | None = None
    allow_units_mismatch: bool = False
    seed: int = 0
    output: Path = Path('runs')
    image_size: tuple[int, int] = (256, 256)
    latency_s: float | None = None
    live: bool = True
    arm: str = 'sim'
    port: str | None = None
    robot: str = 'so101'
    calibration: Path | None = None
    camera_sources: tuple[tuple[str, str], ...] = ()
    release_torque: bool = True

    def runtime_config(self) -> RuntimeConfig:
        """The executor's settings for these options."""
        return RuntimeConfig(
            tick_rate_hz=self.rate_hz,
            request_timeout_s=SIM_REQUEST_TIMEOUT_S,
            mode=self.mode,
            g=self.g,
            blending=self.blending,
            observation_filter=ObservationFilterConfig(
                enabled=self.epsilon_rad > 0, epsilon_rad=self.epsilon_rad
            ),
        )


@dataclass
class PolicyChoice:
    """The policy a run uses and how it was chosen.

    Attributes:
        policy: the bound policy. kind: 'smolvla', 'scripted', 'replay' or 'random-smolvla'.
        source: the checkpoint folder, repo id, replay file or random layout used.
        banner: non-empty when the actions are meaningless (random weights).
        notes: what the fallback tried, in order, for the terminal and the metrics.
    """

    policy: Policy
    kind: str
    source: str
    banner: str = ''
    notes: list[str] = field(default_factory=list)


def _load_checkpoint(
    path: str,
    opts: RunOptions,
    joint_names: tuple[str, ...],
    calibration: Mapping[str, Any] | None,
    say: Callable[[str], None],
) -> Policy:
    import json

    from smolvla_model.hub import resolve_folder
    from smolvla_ros.action_space import virtual_calibration
    from smolvla_ros.policy.smolvla import SmolVLAChunkPolicy

    folder = resolve_folder(path)
    dt_s = None
    # LeRobot keeps the training fps in the dataset, not the policy config (smolvla_base has
    # none); the SO-100/101 datasets are recorded at 30 fps.
    if json.loads((folder / 'config.json').read_text(encoding='utf-8')).get('fps') is None:
        dt_s = 1.0 / ASSUMED_FPS
        say(f'{path} records no fps; assuming {ASSUMED_FPS:g} fps (the SO-100/101 datasets)')
    return SmolVLAChunkPolicy.from_pretrained(
        folder,
        joint_names,
        units=opts.units,
        calibration=virtual_calibration() if calibration is None else calibration,
        precision=opts.precision,
        device=opts.device,
        dt_s=dt_s,
        seed=opts.seed,
        allow_units_mismatch=opts.allow_units_mismatch,
    )


def load_policy(
    opts: RunOptions,
    sim: Any,
    joint_names: tuple[str, ...],
    say: Callable[[str], None],
    calibration: Mapping[str, Any] | None = None,
) -> PolicyChoice:
    """Build the policy ``opts`` asks for, bound to the simulated arm's joints.

    SmolVLA without ``--checkpoint``: ``lerobot/smolvla_base`` from a local folder or the
    Hugging Face cache (downloaded unless ``HF_HUB_OFFLINE`` is set); when that cannot be had,
    say why, then try the checkpoint shipped with the project (the choice is
    :func:`smolvla_ros.policy.default_checkpoint.choose_default_checkpoint`, shared with the
    policy node), and last a random-initialised SmolVLA of ``opts.random_size`` with
    :data:`RANDOM_BANNER`. An explicit ``--checkpoint`` never falls back: asking for one model
    and silently getting another would mislead.
    ``calibration``: the real arm's (LeRobot units of a checkpoint); None: the simulator's
    virtual calibration. ``sim``: the simulator (the scripted expert needs it), or None.

    Raises:
        RunnerError: an explicit checkpoint or replay file cannot be loaded or does not fit.
    """
    from smolvla_model.errors import HubResolutionError, SmolVLAError

    if opts.policy == 'scripted':
        from smolvla_ros.policy.scripted_expert import ScriptedExpertPolicy

        return PolicyChoice(ScriptedExpertPolicy(sim), 'scripted', 'so_arm_driver.sim expert')
    if opts.policy == 'replay':
        from smolvla_ros.policy.replay import ReplayError, ReplayPolicy

        try:
            policy = ReplayPolicy(opts.replay_file)  # type: ignore[arg-type]
        except ReplayError as e:
            raise RunnerError(f'--policy replay: {e}') from e
        if tuple(policy.joint_names) != joint_names:
            raise RunnerError(
                f'--policy replay: {opts.replay_file} records joints '
                f'{list(policy.joint_names)}, the simulated arm has {list(joint_names)}'
            )
        return PolicyChoice(policy, 'replay', str(opts.replay_file))
    from smolvla_model.threads import set_cpu_threads

    set_cpu_threads(opts.num_threads)  # validated by the CLIs; process-wide, so set once here
    errors = (HubResolutionError, SmolVLAError, ValueError, OSError)
    if opts.checkpoint is not None:
        try:
            policy = _load_checkpoint(opts.checkpoint, opts, joint_names, calibration, say)
        except errors as e:
            raise RunnerError(f'--checkpoint {opts.checkpoint}: {e}') from e
        return PolicyChoice(policy, 'smolvla', opts.checkpoint)
    # The same choice as the policy node's (default_checkpoint.py); a candidate that is there
    # but fails to load is excluded and the choice asked again for the next one.
    failed: list[str] = []
    load_notes: list[str] = []
    while True:
        default = choose_default_checkpoint(download=True, exclude=failed)
        notes = list(default.notes)
        if default.checkpoint is None:
            say(default.message)
            break
        try:
            policy = _load_checkpoint(default.checkpoint, opts, joint_names, calibration, say)
        except errors as e:
            failed.append(default.checkpoint)
            load_notes.append(f'{default.checkpoint} failed to load: {e}')
            say(load_notes[-1])
            continue
        say(default.message)
        return PolicyChoice(policy, 'smolvla', default.checkpoint, notes=[*notes, *load_notes])
    notes = [*notes, *load_notes]
    from smolvla_ros.policy.random_smolvla import build_random_smolvla

    say(f'Building a random-initialised {opts.random_size} SmolVLA (nothing is downloaded)...')
    policy = build_random_smolvla(
        opts.random_size,
        joint_names,
        dt_s=1.0 / opts.rate_hz,
        precision=opts.precision,
        device=opts.device,
        seed=opts.seed,
    )
    return PolicyChoice(
        policy, 'random-smolvla', f'random {opts.random_size} SmolVLA', RANDOM_BANNER, notes
    )


def make_run_folder(output: Path, policy: str) -> Path:
    """A new folder ``output/<UTC stamp>-<policy>[-k]`` (never an existing one)."""
    stamp = datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')
    output.mkdir(parents=True, exist_ok=True)
    for k in range(1000):
        folder = output / (f'{stamp}-{policy}' + (f'-{k}' if k else ''))
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise RunnerError(f'cannot create a run folder in {output}: 1000 names taken')


class RunRecorder:
    """Watches a rig tick by tick and feeds the video, the bag and the display.

    ``rig`` has ``arm``, ``frames`` (LatestFrames), ``chunks`` (the chunks handed to the
    executor so far) and ``executor``: a SimPipeline, or the real-arm rig of ``real.py``.
    ``t0_s`` is the rig clock's time at the start; run time = time_offset_s + clock - t0_s.
    """

    def __init__(
        self,
        pipeline: Any,
        *,
        t0_s: float,
        slots: tuple[str, ...],
        video: VideoWriter,
        bag: BagWriter | None,
        display: Display,
        image_hw: tuple[int, int],
        instruction: str,
        banner: str,
        time_offset_s: float,
    ) -> None:
        self.pipeline = pipeline
        self.slots = slots
        self.video = video
        self.bag = bag
        self.display = display
        self.image_hw = image_hw
        self.instruction = instruction
        self.banner = banner
        self.offset = time_offset_s
        self.t0 = t0_s
        self.last_video_t = -math.inf
        self._clamps_t = -math.inf
        self._media_queue: queue.Queue[Any] | None = None
        self._media_thread: threading.Thread | None = None
        self.media_errors = 0
        self.n_chunks = 0
        self.last_frame_t: dict[str, float] = {}
        self.times: list[float] = []
        self.queue: list[int] = []
        self.commands: list[np.ndarray] = []
        self.measured: list[np.ndarray] = []

    def run_time(self, sim_t: float) -> float:
        return self.offset + (sim_t - self.t0)

    def on_tick(self, out: Any, measured_rad: np.ndarray | None = None) -> None:
        """Record one tick: the executor's output and the measured joints (read from the arm
        when not given; the simulator's physics has not stepped yet, so it is the same)."""
        t = self.run_time(out.time_s)
        if measured_rad is None:
            measured_rad = self.pipeline.arm.read_positions()
        measured = np.asarray(measured_rad, dtype=np.float64)
        self.times.append(t)
        self.queue.append(int(out.queue_length))
        self.commands.append(np.asarray(out.command_rad, dtype=np.float64))
        self.measured.append(measured)
        chunks = self.pipeline.chunks
        if self.bag is not None:
            self.bag.joint_state(t, measured)
            self.bag.joint_command(t, out.command_rad)
            for chunk in chunks[self.n_chunks :]:
                self.bag.action_chunk(
                    t, replace(chunk, observation_time_s=self.run_time(chunk.observation_time_s))
                )
        self.n_chunks = len(chunks)
        stats = self.display.stats
        stats.time_s = t - self.offset
        stats.state = str(out.state)
        stats.queue = int(out.queue_length)
        if chunks:
            stats.queue_capacity = len(chunks[-1].actions)
            stats.last_latency_s = float(chunks[-1].inference_latency_s)
        stats.chunks = self.n_chunks
        # The executor's summary computes percentiles over its whole history: refresh the clamp
        # count a few times a second, not on every tick of the control loop.
        if t - self._clamps_t >= 0.25:
            self._clamps_t = t
            stats.clamps = _clamp_total(self.pipeline.executor.metrics.summary()['clamps'])
        self._frames(t, stats)
        self.display.update()

    def _frames(self, t: float, stats: Any) -> None:
        frames = {s: self.pipeline.frames.get(s) for s in self.slots}
        new = False
        for slot, frame in frames.items():
            if frame is None or self.last_frame_t.get(slot) == frame.capture_time_s:
                continue
            new = True
            self.last_frame_t[slot] = frame.capture_time_s
            if self.bag is not None:
                self._media(self.bag.image, slot, self.run_time(frame.capture_time_s), frame.rgb)
        # At most VIDEO_FPS frames a second (the simulator renders exactly that often).
        if not new or t - self.last_video_t < 1.0 / VIDEO_FPS - 1e-6:
            return
        self.last_video_t = t
        lat = stats.last_latency_s
        lines = [
            f'"{self.instruction}"',
            f't {t:5.1f} s  {stats.state}  queue {stats.queue:3d}/{stats.queue_capacity}  '
            f'latency {"-" if math.isnan(lat) else f"{lat:.2f} s"}  chunks {stats.chunks}',
            f'episode {stats.episode}/{stats.episodes}  success {stats.successes}'
            + ('  cube lifted' if stats.lifted else ''),
        ]
        if self.banner:
            lines += [RANDOM_BANNER_SHORT]
        images = [None if frames[s] is None else frames[s].rgb for s in self.slots]
        self._media(self._video_frame, images, lines)

    def _video_frame(self, images: list[Any], lines: list[str]) -> None:
        self.video.append(compose(images, self.image_hw, lines))

    def _media(self, fn: Callable[..., None], *args: Any) -> None:
        """JPEG encoding and video composing: inline, or on the media thread when started."""
        if self._media_queue is None:
            fn(*args)
        else:
            self._media_queue.put((fn, args))

    def start_media_thread(self) -> None:
        """Encode images and video frames on a thread of their own (a real-time control loop
        must not wait for them). Frames are immutable and read-only, so handing them over
        needs no copy; the bag writer serialises its writes."""
        self._media_queue = queue.Queue()
        self._media_thread = threading.Thread(
            target=self._media_loop, name='runner-media', daemon=True
        )
        self._media_thread.start()

    def _media_loop(self) -> None:
        assert self._media_queue is not None
        while True:
            item = self._media_queue.get()
            if item is None:
                return
            fn, args = item
            try:
                fn(*args)
            except Exception as e:  # a bad frame must not kill the recording of the rest
                log.warning('recording a camera frame failed: %s', e)
                self.media_errors += 1

    def stop_media_thread(self) -> None:
        """Finish the queued encodes and stop the media thread. Idempotent."""
        if self._media_queue is not None and self._media_thread is not None:
            self._media_queue.put(None)
            self._media_thread.join()
            self._media_thread = None


def _clamp_total(clamps: dict[str, dict[str, int]]) -> int:
    return int(sum(sum(c.values()) for c in clamps.values()))


def _hold(arm: Any, hold_s: float) -> dict[str, Any]:
    """Hold the simulated arm where it is for ``hold_s`` seconds; report how far it moved."""
    start = np.asarray(arm.read_positions(), dtype=np.float64)
    arm.write_goals(start)
    steps = max(1, round(hold_s / arm.sim.config.effective_control_dt_s))
    arm.step(steps)
    end = np.asarray(arm.read_positions(), dtype=np.float64)
    return {
        'final': 'held',
        'hold_s': steps * arm.sim.config.effective_control_dt_s,
        'hold_goal_rad': start.tolist(),
        'hold_drift_rad': float(np.max(np.abs(end - start))),
    }


def execute(opts: RunOptions, console: Any) -> tuple[int, Path]:
    """Run ``opts`` on the simulator (or a real arm: ``real.execute_real``); write the run
    folder.

    Args:
        opts: validated options.
        console: a rich Console for the live display and messages.

    Returns:
        (exit code: 0 or :data:`EXIT_INTERRUPTED`, the run folder).

    Raises:
        RunnerError: the policy cannot be loaded or does not fit (nothing was created or moved).
    """
    try:
        check_bag_support()
    except BagError as e:
        raise RunnerError(str(e)) from e
    if opts.arm != 'sim':
        from smolvla_ros.runner.real import execute_real

        return execute_real(opts, console)
    from so_arm_driver.sim import SimArm, SimConfig

    def say(msg: str) -> None:
        console.print(msg, markup=False, highlight=False, soft_wrap=True)

    width, height = opts.image_size
    sim_config = SimConfig(
        control_dt_s=1.0 / opts.rate_hz, image_width=width, image_height=height, seed=opts.seed
    )
    wall0 = time.perf_counter()
    with SimArm(config=sim_config) as arm:
        arm.sim.reset(opts.seed)
        joint_names = tuple(arm.joint_names)
        t_load = time.perf_counter()
        choice = load_policy(opts, arm.sim, joint_names, say)
        say(
            f'Policy: {choice.kind} ({choice.source}), ready in '
            f'{time.perf_counter() - t_load:.1f} s'
        )
        slots = opts.cameras or tuple(choice.policy.required_slots) or ('top',)
        missing = [s for s in choice.policy.required_slots if s not in slots]
        if missing:
            raise RunnerError(
                f'--cameras {",".join(slots)} lacks the slot(s) {missing} the policy needs; '
                f'add them (the simulator has top, wrist, side)'
            )
        if choice.banner:
            say('!' * 78)
            say(choice.banner)
            say('!' * 78)
        folder = make_run_folder(opts.output, opts.policy)
        say(f'Run folder: {folder}')
        custom = {
            'banner': choice.banner,
            'policy': choice.kind,
            'policy_source': choice.source,
            'instruction': opts.instruction,
        }
        pconfig = PipelineConfig(camera_slots=slots, latency_s=opts.latency_s)
        # One video frame per camera render.
        video = VideoWriter(folder / 'video.mp4', fps=VIDEO_FPS)
        bag = None
        display = Display(
            console,
            enabled=opts.live and console.is_terminal,
            title=f'smolvla-run: {choice.kind} - "{opts.instruction}"',
            banner=choice.banner,
        )
        episodes: list[dict[str, Any]] = []
        latencies: list[float] = []
        recorders: list[RunRecorder] = []
        worker_status: Any = None
        executor_summary: dict[str, Any] = {}
        arm_report: dict[str, Any] = {}
        interrupted = False
        try:
            bag = BagWriter(folder / 'bag', joint_names, slots, time.time_ns(), custom)
            display.stats.episodes = opts.episodes
            display.stats.duration_s = opts.duration_s
            display.start()
            offset = 0.0
            with CtrlC() as interrupt:
                for k in range(opts.episodes):
                    if k:
                        arm.sim.reset(opts.seed + k)
                        if hasattr(choice.policy, 'reset'):
                            choice.policy.reset()
                    display.stats.episode = k + 1
                    display.stats.lifted = False
                    pipeline = SimPipeline(
                        arm,
                        choice.policy,
                        instruction=opts.instruction,
                        runtime=opts.runtime_config(),
                        config=pconfig,
                    )
                    rec = RunRecorder(
                        pipeline,
                        t0_s=arm.sim.time_s,
                        slots=slots,
                        video=video,
                        bag=bag,
                        display=display,
                        image_hw=(height, width),
                        instruction=opts.instruction,
                        banner=choice.banner,
                        time_offset_s=offset,
                    )
                    recorders.append(rec)

                    def stop(p: SimPipeline = pipeline) -> bool:
                        display.stats.lifted = display.stats.lifted or bool(p.sim.cube_lifted())
                        return interrupt.requested

                    with pipeline:
                        result = pipeline.run(opts.duration_s, on_tick=rec.on_tick, stop=stop)
                    latencies += list(result.latencies_s)
                    worker_status = result.worker
                    executor_summary = result.metrics
                    success = bool(result.cube_in_bin)
                    display.stats.successes += int(success)
                    episodes.append(
                        {
                            'episode': k,
                            'scene_seed': opts.seed + k,
                            'sim_time_s': result.sim_time_s,
                            'wall_time_s': result.wall_time_s,
                            'success': success,
                            'cube_lifted': bool(result.cube_lifted),
                            'chunks': len(result.chunks),
                            'states': dict(result.states),
                            'arm_clamps': dict(result.arm_clamps),
                        }
                    )
                    offset += result.sim_time_s
                    if interrupt.requested:
                        interrupted = True
                        break
                arm_report = _hold(arm, HOLD_S)
        finally:
            display.stop()
            video.close()
            if bag is not None:
                bag.close()
        code = finish_run(
            folder=folder,
            opts=opts,
            choice=choice,
            recorders=recorders,
            latencies=latencies,
            episodes=episodes,
            worker_status=worker_status,
            executor_summary=executor_summary,
            arm_report={'backend': 'sim', **arm_report},
            video=video,
            bag=bag,
            interrupted=interrupted,
            wall0=wall0,
            joint_names=joint_names,
            say=say,
        )
        return code, folder


def finish_run(
    *,
    folder: Path,
    opts: RunOptions,
    choice: PolicyChoice,
    recorders: list[RunRecorder],
    latencies: list[float],
    episodes: list[dict[str, Any]],
    worker_status: Any,
    executor_summary: dict[str, Any],
    arm_report: dict[str, Any],
    video: VideoWriter,
    bag: BagWriter | None,
    interrupted: bool,
    wall0: float,
    joint_names: tuple[str, ...],
    say: Callable[[str], None],
    extra: dict[str, Any] | None = None,
) -> int:
    """Write the plots and metrics.json of a run whose video and bag are closed; print where
    everything is; return the exit code (0, or EXIT_INTERRUPTED)."""
    times = np.concatenate([np.asarray(r.times) for r in recorders] or [np.zeros(0)])
    j = len(joint_names)
    cmd = np.concatenate(
        [np.asarray(r.commands).reshape(-1, j) for r in recorders] or [np.zeros((0, j))]
    )
    meas = np.concatenate(
        [np.asarray(r.measured).reshape(-1, j) for r in recorders] or [np.zeros((0, j))]
    )
    queue = np.concatenate([np.asarray(r.queue) for r in recorders] or [np.zeros(0)])
    short = RANDOM_BANNER_SHORT if choice.banner else ''
    plot_queue(folder / 'queue.png', times, queue, short)
    plot_latency(folder / 'latency.png', latencies, short)
    plot_joints(
        folder / 'joints.png',
        times,
        commanded_rad=cmd,
        measured_rad=meas,
        joint_names=joint_names,
        banner=short,
    )
    code = EXIT_INTERRUPTED if interrupted else 0
    successes = sum(bool(e['success']) for e in episodes)
    measured = [e for e in episodes if e['success'] is not None]
    metrics = {
        'format': METRICS_FORMAT,
        'banner': choice.banner,
        'interrupted': interrupted,
        'exit_code': code,
        'options': {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(opts).items()},
        'policy': {
            'kind': choice.kind,
            'source': choice.source,
            'fallback_notes': choice.notes,
            'required_slots': list(choice.policy.required_slots),
            'dt_s': float(choice.policy.dt_s),
        },
        'episodes': episodes,
        # None where nothing measures success (a real scene).
        'success_rate': successes / len(measured) if measured else None,
        'sim_time_s': float(sum(e['sim_time_s'] for e in episodes)),
        'wall_time_s': time.perf_counter() - wall0,
        'latency_s': stats_s(latencies),
        'queue': {
            'mean': float(queue.mean()) if queue.size else None,
            'min': int(queue.min()) if queue.size else None,
            'max': int(queue.max()) if queue.size else None,
        },
        'executor': executor_summary,
        'worker': {} if worker_status is None else vars(worker_status),
        'arm': {'joint_names': list(joint_names), **arm_report},
        **(extra or {}),
        'artifacts': {
            'video': 'video.mp4',
            'video_frames': video.frames,
            'plots': ['queue.png', 'latency.png', 'joints.png'],
            'bag': 'bag',
            'bag_storage': 'mcap',
            'bag_messages': {} if bag is None else dict(bag.counts),
        },
    }
    write_metrics(folder / 'metrics.json', metrics)
    median = metrics['latency_s']['median']
    say(
        f'{"Interrupted" if interrupted else "Done"}: {len(episodes)} episode(s), '
        + (f'{successes} success(es), ' if measured else '')
        + f'{len(latencies)} chunk(s), median latency '
        + ('-' if median is None else f'{median:.3g} s')
    )
    if choice.banner:
        say(choice.banner)
    say(f'Video:   {folder / "video.mp4"}')
    say(f'Plots:   {folder / "queue.png"}, {folder / "latency.png"}, {folder / "joints.png"}')
    say(f'Metrics: {folder / "metrics.json"}')
    say(f'Bag:     {folder / "bag"} (rosbag2, MCAP; open in Foxglove or `ros2 bag play`)')
    return code


__all__ = [
    'DEFAULT_CHECKPOINT',
    'EXIT_INTERRUPTED',
    'RANDOM_BANNER',
    'SHIPPED_CHECKPOINT',
    'PolicyChoice',
    'RunOptions',
    'RunnerError',
    'execute',
    'load_policy',
]
