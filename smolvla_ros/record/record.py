"""Record demonstrations in the simulator as a LeRobot v3.0 dataset (the core of smolvla-record).

Each episode resets the simulator with scene seed ``seed_start + k`` (randomised cube pose), then
drives it through the project's one path, :class:`smolvla_ros.pipeline.SimPipeline`: the cameras
render at the dataset fps, the policy worker runs the policy (the scripted expert, or SmolVLA
through the runner's ``load_policy``), the chunk executor ticks at the dataset fps and the arm
follows. Every control tick becomes one dataset frame:

- ``observation.state``: the measured joints at the frame time (before the physics step);
- ``action``: the command sent to the arm at that tick;
- ``observation.images.top`` / ``.wrist`` / ``.side``: the renders at that time.

Joints are stored in LeRobot's so101_follower convention (columns ``shoulder_pan.pos`` ...
``gripper.pos``, degrees for the body, 0..100 for the gripper), converted by
:class:`smolvla_ros.action_space.ActionSpace` with the simulator's ``virtual_calibration()``:
the same conversion that feeds a LeRobot-unit checkpoint, so recording and inference agree.

An episode ends when the cube has rested in the bin for ``settle_s`` (success) or after
``max_seconds``. Failed episodes are dropped or kept with ``success = False`` in the episodes
metadata. After every saved episode the output folder is a complete dataset; Ctrl-C discards
the episode in progress and ends with the saved ones intact.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from smolvla_model.datasets import LeRobotDatasetWriter
from smolvla_ros.action_space import ActionSpace, ModelUnits, virtual_calibration
from smolvla_ros.ctrl_c import CtrlC
from smolvla_ros.pipeline import PipelineConfig, SimPipeline
from smolvla_ros.tasks import SIM_TASK

# The three camera slots of the simulator and their dataset features (LeRobot's image keys).
CAMERA_SLOTS = ('top', 'wrist', 'side')
IMAGE_KEY = 'observation.images.{slot}'
ROBOT_TYPE = 'so101_follower'
# Exit status of a recording stopped by Ctrl-C (the shell's 128 + SIGINT).
EXIT_INTERRUPTED = 130
# The simulator's physics step is 1/600 s; a control period must be a whole number of them.
PHYSICS_HZ = 600


class RecordError(Exception):
    """A recording cannot start: a bad option or a policy that cannot be loaded (exit code 2).
    Raised before anything is written."""


@dataclass(frozen=True)
class RecordOptions:
    """What to record (units in brackets).

    Attributes:
        output: the dataset folder to create (must not exist, or be empty).
        episodes: how many episodes to save (>= 1); failed ones dropped do not count.
        seed_start: episode attempt k uses scene seed ``seed_start + k`` (held-out evaluation
            uses seeds >= 100000, so keep recordings below that).
        policy: 'scripted' (the simulator's expert) or 'smolvla' (needs ``checkpoint``);
            ignored with ``leader_port``.
        checkpoint: SmolVLA checkpoint folder for ``policy='smolvla'``.
        task: the instruction stored with every frame.
        fps: dataset frame rate and control rate [Hz]; must divide 600.
        image_size: square render size of every camera [px], even.
        max_seconds: longest episode [s of simulated time].
        settle_s: how long the cube must rest in the bin before success ends the episode [s].
        failed: 'drop' (do not save failed episodes) or 'keep' (save with success=False).
        max_attempts: with failed='drop', stop after this many attempts even if fewer
            episodes succeeded (None: 3 x episodes + 10).
        device: where SmolVLA runs ('cpu', 'cuda').
        latency_s: SmolVLA's chunk latency on simulated time [s]: None measures each
            inference's wall time (what this computer would impose on a real arm); a number
            makes recordings reproducible. The scripted expert and a leader always use 0.
        leader_port: serial port of an SO-101 leader arm (Feetech bus) that drives the
            simulated arm instead of a policy (teleoperation).
        leader_calibration: the leader's LeRobot calibration file (None: LeRobot's default
            location for robot id 'leader').
        progress: show a progress bar (stderr).
    """

    output: Path
    episodes: int = 1
    seed_start: int = 0
    policy: str = 'scripted'
    checkpoint: str | None = None
    task: str = SIM_TASK
    fps: int = 30
    image_size: int = 128
    max_seconds: float = 20.0
    settle_s: float = 0.5
    failed: str = 'drop'
    max_attempts: int | None = None
    device: str = 'cpu'
    latency_s: float | None = None
    leader_port: str | None = None
    leader_calibration: Path | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise RecordError(f'--episodes must be >= 1, got {self.episodes}')
        if self.seed_start < 0:
            raise RecordError(f'--seed-start must be >= 0, got {self.seed_start}')
        if self.policy not in ('scripted', 'smolvla'):
            raise RecordError(f"--policy must be 'scripted' or 'smolvla', got {self.policy!r}")
        if self.leader_port is not None and (self.policy != 'scripted' or self.checkpoint):
            raise RecordError('--leader drives the arm itself; do not combine it with --policy')
        if self.policy == 'smolvla' and not self.checkpoint:
            raise RecordError('--policy smolvla needs --checkpoint PATH')
        if not self.task.strip():
            raise RecordError('--task must not be empty')
        if self.fps < 1 or PHYSICS_HZ % self.fps:
            raise RecordError(
                f'--fps {self.fps} must divide the simulator physics rate {PHYSICS_HZ} Hz '
                '(e.g. 10, 15, 20, 30, 50, 60)'
            )
        if self.image_size < 16 or self.image_size % 2 or self.image_size > 1024:
            raise RecordError(
                f'--image-size {self.image_size} must be an even number of pixels in 16..1024'
            )
        if not (math.isfinite(self.max_seconds) and self.max_seconds > 0):
            raise RecordError(f'--max-seconds must be > 0, got {self.max_seconds}')
        if not (math.isfinite(self.settle_s) and self.settle_s >= 0):
            raise RecordError(f'settle_s must be >= 0, got {self.settle_s}')
        if self.latency_s is not None and not (
            math.isfinite(self.latency_s) and self.latency_s >= 0
        ):
            raise RecordError(f'--latency must be >= 0 seconds, got {self.latency_s}')
        if self.failed not in ('drop', 'keep'):
            raise RecordError(f"--failed must be 'drop' or 'keep', got {self.failed!r}")
        if self.max_attempts is not None and self.max_attempts < self.episodes:
            raise RecordError(
                f'max_attempts {self.max_attempts} must be >= episodes {self.episodes}'
            )
        out = Path(self.output)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise RecordError(
                f'output {out} exists and is not an empty folder; choose a new path (a dataset '
                'is never appended to or overwritten)'
            )


@dataclass
class EpisodeReport:
    """One attempted episode: its scene seed, frames, simulated and wall seconds, success, and
    whether it was saved (its dataset episode index) or dropped (None)."""

    seed: int
    frames: int
    sim_time_s: float
    wall_time_s: float
    success: bool
    saved_as: int | None


@dataclass
class RecordReport:
    """What :func:`record` did: the attempts in order, whether Ctrl-C stopped it, the wall
    time and the exit code (0, or :data:`EXIT_INTERRUPTED`)."""

    output: Path
    attempts: list[EpisodeReport] = field(default_factory=list)
    interrupted: bool = False
    wall_time_s: float = 0.0

    @property
    def saved(self) -> int:
        return sum(a.saved_as is not None for a in self.attempts)

    @property
    def exit_code(self) -> int:
        return EXIT_INTERRUPTED if self.interrupted else 0


def joint_columns(joint_names: tuple[str, ...]) -> list[str]:
    """LeRobot's so101_follower column names: ``<joint>.pos``."""
    return [f'{j}.pos' for j in joint_names]


def dataset_features(joint_names: tuple[str, ...], image_size: int) -> dict[str, dict]:
    """The recorded features in LeRobot's info.json schema."""
    names = joint_columns(joint_names)
    features: dict[str, dict] = {
        'observation.state': {'dtype': 'float32', 'shape': [len(names)], 'names': names},
        'action': {'dtype': 'float32', 'shape': [len(names)], 'names': names},
    }
    for slot in CAMERA_SLOTS:
        features[IMAGE_KEY.format(slot=slot)] = {
            'dtype': 'video',
            'shape': [image_size, image_size, 3],
            'names': ['height', 'width', 'channels'],
        }
    return features


def units_info() -> dict[str, Any]:
    """The top-level info.json 'units' entry: LeRobot's loader keeps unknown keys, and the
    project's action space reads 'degrees' from it when a checkpoint trained on this data
    carries it on."""
    return {
        'units': ModelUnits.DEGREES.value,
        'units_detail': {
            'observation.state': 'degrees (body joints), 0..100 (gripper)',
            'action': 'degrees (body joints), 0..100 (gripper)',
            'calibration': 'smolvla_ros.action_space.virtual_calibration() (simulator)',
        },
    }


def _open_leader(opts: RecordOptions, joint_names: tuple[str, ...]) -> Any:
    """Connect the leader arm (torque stays off); RecordError when it cannot be used."""
    from so_arm_driver.errors import SoArmError
    from so_arm_driver.follower import ArmConfig, SoLeader

    try:
        config = ArmConfig(
            port=str(opts.leader_port),
            robot='so101',
            robot_id='leader',
            calibration_path=opts.leader_calibration,
        )
        leader = SoLeader(config)
        leader.connect()
    except (SoArmError, ValueError, OSError) as e:
        raise RecordError(f'--leader {opts.leader_port}: {e}') from e
    if tuple(leader.joint_names) != joint_names:
        leader.close()
        raise RecordError(
            f'--leader: joints {leader.joint_names} differ from the simulator {joint_names}'
        )
    return leader


def _load_policy(opts: RecordOptions, sim: Any, joint_names: tuple[str, ...]) -> Any:
    from smolvla_ros.runner.run import RunnerError, RunOptions, load_policy

    run_opts = RunOptions(
        policy=opts.policy,
        checkpoint=opts.checkpoint,
        instruction=opts.task,
        rate_hz=float(opts.fps),
        device=opts.device,
        seed=opts.seed_start,
        units=None,  # a checkpoint's own units (config.json), else LeRobot's degrees
    )
    try:
        return load_policy(run_opts, sim, joint_names, lambda msg: None).policy
    except RunnerError as e:
        raise RecordError(str(e)) from e


def record(
    opts: RecordOptions,
    *,
    say: Callable[[str], None] = lambda msg: None,
    interrupt: Any = None,
) -> RecordReport:
    """Record ``opts.episodes`` episodes into ``opts.output``.

    Args:
        opts: validated options.
        say: where progress messages go (the CLI prints them).
        interrupt: an object with a ``requested`` flag (default: Ctrl-C on the main thread).

    Returns:
        The :class:`RecordReport`.

    Raises:
        RecordError: the policy cannot be loaded (nothing written).
        smolvla_model.errors.DatasetError: the dataset cannot be written (saved episodes stay
            valid).
    """
    from so_arm_driver.sim import SimArm, SimConfig

    wall0 = time.perf_counter()
    report = RecordReport(output=Path(opts.output))
    sim_config = SimConfig(
        control_dt_s=1.0 / opts.fps,
        image_width=opts.image_size,
        image_height=opts.image_size,
        seed=opts.seed_start,
    )
    max_attempts = opts.max_attempts or (
        opts.episodes if opts.failed == 'keep' else 3 * opts.episodes + 10
    )
    with SimArm(config=sim_config) as arm, contextlib.ExitStack() as cleanup:
        joint_names = tuple(arm.joint_names)
        arm.sim.reset(opts.seed_start)
        if opts.leader_port is not None:
            from smolvla_ros.record.leader import LeaderPolicy

            leader = _open_leader(opts, joint_names)
            cleanup.callback(leader.close)
            policy: Any = LeaderPolicy(leader, 1.0 / opts.fps)
        else:
            policy = _load_policy(opts, arm.sim, joint_names)
        # One conversion path: the action space that feeds LeRobot-unit checkpoints.
        space = ActionSpace(joint_names, ModelUnits.DEGREES, calibration=virtual_calibration())
        writer = LeRobotDatasetWriter.create(
            opts.output,
            fps=opts.fps,
            robot_type=ROBOT_TYPE,
            features=dataset_features(joint_names, opts.image_size),
            extra_info=units_info(),
        )
        cleanup.callback(writer.close)
        bar = _progress(opts)
        if bar is not None:
            cleanup.callback(bar.close)
        with interrupt or CtrlC() as intr:
            for k in range(max_attempts):
                if report.saved >= opts.episodes or intr.requested:
                    break
                attempt = _episode(
                    opts, arm, policy, space, writer, seed=opts.seed_start + k, intr=intr
                )
                if attempt is None:  # interrupted mid-episode: discarded
                    report.interrupted = True
                    break
                report.attempts.append(attempt)
                if bar is not None:
                    bar.update(int(attempt.saved_as is not None))
                    bar.set_postfix(
                        attempts=len(report.attempts),
                        success=sum(a.success for a in report.attempts),
                    )
                saved = 'dropped' if attempt.saved_as is None else f'saved as {attempt.saved_as}'
                # Through the bar's writer so that the message does not tear the bar.
                msg = (
                    f'episode seed {attempt.seed}: {attempt.frames} frames, '
                    f'{"success" if attempt.success else "failed"}, {saved}'
                )
                if bar is None:
                    say(msg)
                else:
                    bar.write(msg, file=sys.stderr)
            report.interrupted = report.interrupted or intr.requested
    report.wall_time_s = time.perf_counter() - wall0
    return report


def _progress(opts: RecordOptions) -> Any:
    if not opts.progress:
        return None
    from tqdm import tqdm

    return tqdm(total=opts.episodes, desc='recording', unit='episode', file=sys.stderr)


def _episode(
    opts: RecordOptions,
    arm: Any,
    policy: Any,
    space: ActionSpace,
    writer: LeRobotDatasetWriter,
    *,
    seed: int,
    intr: Any,
) -> EpisodeReport | None:
    """Run one episode and save or drop it; None when interrupted (the episode is discarded)."""
    wall0 = time.perf_counter()
    arm.sim.reset(seed)
    if hasattr(policy, 'reset'):
        policy.reset()
    slots = CAMERA_SLOTS
    config = PipelineConfig(
        camera_period_s=1.0 / opts.fps,
        camera_slots=slots,
        # The expert's "latency" is a few ms of planning; fixing it at 0 makes a recording
        # depend on its seed only. SmolVLA's measured latency is part of what it would face.
        latency_s=(
            opts.latency_s if opts.policy == 'smolvla' and opts.leader_port is None else 0.0
        ),
        max_frame_age_s=2.0 / opts.fps,
    )
    pipeline = SimPipeline(arm, policy, instruction=opts.task, config=config)
    in_bin_since: list[float | None] = [None]
    half_period = 0.5 / opts.fps

    def on_tick(out: Any) -> None:
        # The physics has not stepped yet: the measured joints are those the executor saw.
        measured = np.asarray(arm.read_positions(), dtype=np.float64)
        frame: dict[str, np.ndarray] = {
            'observation.state': space.state_to_model(measured),
            'action': space.state_to_model(np.asarray(out.command_rad, dtype=np.float64)),
        }
        for slot in slots:
            f = pipeline.frames.get(slot)
            if f is None or abs(f.capture_time_s - out.time_s) > half_period:
                raise RuntimeError(
                    f'camera {slot} has no render at t={out.time_s:.4f} s (latest '
                    f'{None if f is None else f.capture_time_s}); the camera period must '
                    'equal the control period'
                )
            frame[IMAGE_KEY.format(slot=slot)] = np.asarray(f.rgb)
        writer.add_frame(frame, opts.task)

    def stop() -> bool:
        if intr.requested:
            return True
        now = arm.sim.time_s
        if arm.sim.cube_in_bin():
            if in_bin_since[0] is None:
                in_bin_since[0] = now
            return now - in_bin_since[0] >= opts.settle_s - 1e-9
        in_bin_since[0] = None
        return False

    try:
        with pipeline:
            result = pipeline.run(opts.max_seconds, on_tick=on_tick, stop=stop)
    except BaseException:
        writer.clear_episode()
        raise
    if intr.requested:
        writer.clear_episode()
        return None
    success = bool(result.cube_in_bin)
    frames = writer.episode_length
    saved_as = None
    if success or opts.failed == 'keep':
        saved_as = writer.save_episode(success=success, scene_seed=seed)
    else:
        writer.clear_episode()
    return EpisodeReport(
        seed=seed,
        frames=frames,
        sim_time_s=float(result.sim_time_s),
        wall_time_s=time.perf_counter() - wall0,
        success=success,
        saved_as=saved_as,
    )


__all__ = [
    'CAMERA_SLOTS',
    'EXIT_INTERRUPTED',
    'EpisodeReport',
    'RecordError',
    'RecordOptions',
    'RecordReport',
    'dataset_features',
    'joint_columns',
    'record',
]
