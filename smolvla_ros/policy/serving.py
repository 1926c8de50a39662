"""Serving chunk requests from outside the process (the policy node's ROS-free core).

Two pieces the policy node needs and that hold no ROS:

* :class:`PolicySettings` + :func:`build_policy`: which policy to load (SmolVLA checkpoint,
  the simulator's scripted expert, or a replay file) and how, validated in ``__post_init__``,
  loaded in one call that raises :class:`PolicyLoadError` with a message naming what failed.
* :func:`resolve_checkpoint`: an empty checkpoint means the default (pretrained SmolVLA if it is
  here, else the checkpoint shipped with the project), chosen as the runner chooses.
* :func:`snapshot_for_request`: turn a chunk request (id, observation stamp, must_go) and the
  latest measured joint state into the worker's :class:`ObservationSnapshot`, or refuse it with a
  named reason (:class:`RequestRefusedError`): nothing to serve yet, no joint state, or a joint
  state too old for the observation time.

Units: seconds for times and ages, radians for joint positions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from smolvla_ros.policy.protocol import Policy
from smolvla_ros.runtime.executor import ObservationSnapshot

POLICY_KINDS: tuple[str, ...] = ('smolvla', 'scripted', 'replay')
# '' = the units recorded in the checkpoint (config.json "units").
UNITS_CHOICES: tuple[str, ...] = ('', 'radians', 'degrees', 'range_m100_100')
CAMERA_SLOTS: tuple[str, ...] = ('top', 'wrist', 'side')
# Reasons a request is refused before it reaches the worker.
REQUEST_REFUSALS: tuple[str, ...] = ('not_serving', 'no_state', 'stale_state')


class PolicyLoadError(ValueError):
    """The configured policy could not be loaded; the message names the setting and the cause."""


class RequestRefusedError(ValueError):
    """A chunk request cannot be served; nothing was queued.

    Attributes:
        reason: one of REQUEST_REFUSALS.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f'request refused ({reason}): {message}')
        self.reason = reason


def parse_camera_map(text: str) -> dict[str, str]:
    """``'top=observation.images.cam1,wrist=observation.images.cam2'`` -> slot -> feature.

    An empty string is an empty map (the checkpoint's own names bind the slots).

    Raises:
        ValueError: an entry is not ``slot=feature``, the slot is not top/wrist/side, or a slot
            repeats.
    """
    out: dict[str, str] = {}
    for entry in (e.strip() for e in text.split(',')):
        if not entry:
            continue
        slot, sep, feature = (p.strip() for p in entry.partition('='))
        if not sep or not slot or not feature:
            raise ValueError(
                f'camera_map entry {entry!r} is not slot=feature (e.g. '
                "'top=observation.images.front')"
            )
        if slot not in CAMERA_SLOTS:
            raise ValueError(f'camera_map slot {slot!r} is not one of {CAMERA_SLOTS}')
        if slot in out:
            raise ValueError(f'camera_map names slot {slot!r} twice')
        out[slot] = feature
    return out


@dataclass(frozen=True)
class PolicySettings:
    """What the policy node loads at configure.

    Attributes:
        policy: 'smolvla' (a checkpoint), 'scripted' (the simulator's expert; needs the cube and
            bin poses) or 'replay' (recorded chunks).
        joint_names: the arm's joints, the order of the joint state and of the chunks.
        checkpoint: SmolVLA checkpoint folder or hub repo id (from the local cache).
        device / precision: where and how SmolVLA runs ('cpu', 'cuda:0'; 'fp32', 'bf16', ...).
        num_threads: torch CPU threads of the process for SmolVLA (0 = one per core); see
            ``smolvla_model.threads`` for why 1 is faster on a busy 2-core machine.
        units: the checkpoint's units, '' = recorded in the checkpoint.
        calibration: LeRobot calibration JSON path, 'virtual' (the simulator's), or '' (none;
            fine for radian checkpoints).
        camera_map: slot -> checkpoint image feature overrides.
        dt_s: seconds between actions; 0 = from the checkpoint (smolvla), the simulator's
            control period (scripted) or the file (replay).
        seed: seeds SmolVLA's noise per request (identical requests, identical chunks); -1 =
            torch's global RNG.
        replay_file: the recording for 'replay'.
        required_slots: camera slots 'scripted' and 'replay' require (they use no images;
            naming slots makes the node check the cameras run, as for a real policy).
        chunk_size: actions per chunk of 'scripted'.
    """

    policy: str = 'smolvla'
    joint_names: tuple[str, ...] = ()
    checkpoint: str = ''
    device: str = 'cpu'
    precision: str = 'fp32'
    num_threads: int = 0
    units: str = ''
    calibration: str = ''
    camera_map: Mapping[str, str] = field(default_factory=dict)
    dt_s: float = 0.0
    seed: int = -1
    replay_file: str = ''
    required_slots: tuple[str, ...] = ()
    chunk_size: int = 50

    def __post_init__(self) -> None:
        if self.policy not in POLICY_KINDS:
            raise ValueError(f'policy {self.policy!r} is not one of {POLICY_KINDS}')
        if not self.joint_names or len(set(self.joint_names)) != len(self.joint_names):
            raise ValueError(f'joint_names must be non-empty and unique, got {self.joint_names}')
        if self.units not in UNITS_CHOICES:
            raise ValueError(
                f'units {self.units!r} is not one of {UNITS_CHOICES} ( = from the checkpoint)'
            )
        if not (math.isfinite(self.dt_s) and self.dt_s >= 0):
            raise ValueError(
                f'dt_s must be a finite number >= 0 seconds (0 = default), got {self.dt_s!r}'
            )
        if self.seed < -1:
            raise ValueError(f'seed must be >= 0, or -1 for no seed, got {self.seed}')
        if self.chunk_size < 1:
            raise ValueError(f'chunk_size must be >= 1, got {self.chunk_size}')
        if self.num_threads < 0:
            raise ValueError(
                f'num_threads must be >= 1, or 0 for one per core, got {self.num_threads}'
            )
        bad = [s for s in self.required_slots if s not in CAMERA_SLOTS]
        if bad:
            raise ValueError(f'required_slots {bad} are not camera slots {CAMERA_SLOTS}')
        if self.policy == 'smolvla' and not self.checkpoint:
            raise ValueError("policy 'smolvla' needs a checkpoint (folder or hub repo id)")
        if self.policy == 'replay' and not self.replay_file:
            raise ValueError("policy 'replay' needs replay_file (a file written by record())")

    @property
    def source(self) -> str:
        """What is loaded, for statuses: the checkpoint, the replay file or 'scripted'."""
        return {'smolvla': self.checkpoint, 'replay': self.replay_file}.get(
            self.policy, 'scripted'
        )


def resolve_checkpoint(policy: str, checkpoint: str) -> tuple[str, str]:
    """The checkpoint a node loads: ``checkpoint`` when given, else the default choice.

    An empty ``checkpoint`` with ``policy == 'smolvla'`` means "the default": the pretrained
    SmolVLA when it is available locally (folder or Hugging Face cache; nothing is downloaded),
    else the checkpoint shipped with the project
    (:func:`smolvla_ros.policy.default_checkpoint.choose_default_checkpoint`, the runner's
    choice too).

    Returns:
        (checkpoint to load, a line saying what was chosen and why; '' when nothing was chosen).

    Raises:
        PolicyLoadError: the default was asked for and neither checkpoint is here (the message
            names what was looked for and the parameter to set).
    """
    if policy != 'smolvla' or checkpoint:
        return checkpoint, ''
    from smolvla_ros.policy.default_checkpoint import choose_default_checkpoint

    choice = choose_default_checkpoint(download=False)
    if choice.checkpoint is None:
        raise PolicyLoadError(
            f'{choice.message}; set the checkpoint parameter to a SmolVLA checkpoint folder'
        )
    return choice.checkpoint, choice.message


def build_policy(
    settings: PolicySettings,
    *,
    poses: object | None = None,
    **smolvla_kwargs: object,
) -> Policy:
    """Load the policy ``settings`` describe.

    Args:
        settings: validated settings.
        poses: the scripted expert's pose provider (``scripted_expert.PoseProvider``), required
            for 'scripted'.
        smolvla_kwargs: passed to ``SmolVLAChunkPolicy.from_pretrained`` (e.g. ``vlm_dir``).

    Raises:
        PolicyLoadError: the checkpoint, calibration or replay file is missing or invalid, the
            units do not fit, or 'scripted' has no poses provider (the message names which).
    """
    kind = settings.policy
    try:
        if kind == 'replay':
            from smolvla_ros.policy.replay import ReplayPolicy

            policy: Policy = ReplayPolicy(settings.replay_file, settings.required_slots)
            if tuple(policy.joint_names) != tuple(settings.joint_names):
                raise ValueError(
                    f'{settings.replay_file} was recorded for joints {policy.joint_names}; the '
                    f'arm has {settings.joint_names}'
                )
            if settings.dt_s and abs(settings.dt_s - policy.dt_s) > 1e-9:
                raise ValueError(
                    f'dt_s={settings.dt_s} s but {settings.replay_file} was recorded at '
                    f'{policy.dt_s} s; set dt_s to 0 (from the file)'
                )
            return policy
        if kind == 'scripted':
            if poses is None:
                raise ValueError('the scripted expert needs a poses provider (cube and bin)')
            from smolvla_ros.policy.scripted_expert import ScriptedExpertPolicy

            expert = ScriptedExpertPolicy(
                chunk_size=settings.chunk_size,
                dt_s=settings.dt_s or None,
                required_slots=settings.required_slots,
                poses=poses,  # type: ignore[arg-type]
            )
            if tuple(expert.joint_names) != tuple(settings.joint_names):
                raise ValueError(
                    f'the scripted expert drives joints {expert.joint_names}; the arm has '
                    f'{settings.joint_names}'
                )
            return expert
        from smolvla_model.threads import set_cpu_threads
        from smolvla_ros.action_space import virtual_calibration
        from smolvla_ros.policy.smolvla import SmolVLAChunkPolicy
        from so_arm_driver.calibration import load_calibration

        set_cpu_threads(settings.num_threads)

        calibration = None
        if settings.calibration == 'virtual':
            calibration = virtual_calibration()
        elif settings.calibration:
            calibration = load_calibration(settings.calibration, settings.joint_names)
        return SmolVLAChunkPolicy.from_pretrained(
            settings.checkpoint,
            settings.joint_names,
            units=settings.units or None,
            calibration=calibration,
            precision=settings.precision,
            device=settings.device,
            dt_s=settings.dt_s or None,
            seed=None if settings.seed < 0 else settings.seed,
            camera_map=dict(settings.camera_map) or None,
            **smolvla_kwargs,  # type: ignore[arg-type]
        )
    except Exception as e:  # every loader error becomes one named, configure-time failure
        raise PolicyLoadError(f'cannot load the {kind} policy ({settings.source}): {e}') from e


def snapshot_for_request(
    request_id: int,
    time_s: float,
    must_go: bool,
    *,
    serving: bool,
    joint_names: Sequence[str],
    state: tuple[np.ndarray, float] | None,
    max_state_age_s: float,
) -> ObservationSnapshot:
    """The worker's snapshot for a chunk request, from the latest measured joint state.

    Args:
        request_id: the request's id (the chunk carries it back).
        time_s: the observation time (the request's stamp), seconds on the node clock.
        must_go: the executor's queue is empty.
        serving: whether the node serves requests now (a task or instruction was given).
        joint_names: the order of ``state``'s positions.
        state: (positions [rad], stamp [s]) of the latest joint state, or None.
        max_state_age_s: oldest joint state accepted, seconds before ``time_s``.

    Raises:
        RequestRefusedError: 'not_serving', 'no_state' or 'stale_state' (the message says what
            to do).
    """
    if not serving:
        raise RequestRefusedError(
            'not_serving',
            f'request {request_id}: no instruction set and no RunTask goal active; set one '
            '(instruction topic, set_instruction service or a run_task goal)',
        )
    if state is None:
        raise RequestRefusedError(
            'no_state',
            f'request {request_id}: no joint state received yet; is the driver or sim node '
            'publishing joint_states?',
        )
    positions, stamp_s = state
    age = time_s - stamp_s
    if age > max_state_age_s:
        raise RequestRefusedError(
            'stale_state',
            f'request {request_id}: the latest joint state (stamp {stamp_s:.3f} s) is {age:.3f} s '
            f'older than the observation time {time_s:.3f} s (max_state_age_s '
            f'{max_state_age_s} s); the driver stalled or the clocks differ',
        )
    return ObservationSnapshot(
        request_id=int(request_id),
        time_s=float(time_s),
        positions_rad=np.array(positions, dtype=np.float64),
        joint_names=tuple(joint_names),
        must_go=bool(must_go),
    )
