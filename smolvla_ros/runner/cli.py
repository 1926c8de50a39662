"""``smolvla-run``: the whole pipeline without ROS, with a video, plots and a rosbag2.

Examples::

    smolvla-run                                   # simulator + SmolVLA (falls back, see below)
    smolvla-run --policy scripted --duration 12   # the simulator's expert through the runtime
    smolvla-run --policy replay chunks.npz
    smolvla-run --checkpoint ./my_finetune --instruction 'pick up the cube' --mode sync

Every option is checked before anything starts; a bad one prints one line naming it and what
to do, and exits with status 2 (nothing is created, nothing moves). Exit status 0: the run
reached its end; 130: stopped by Ctrl-C (the arm held, every file complete); 1: an unexpected
error.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from smolvla_ros.runner.run import DEFAULT_CHECKPOINT, RunnerError, RunOptions
from smolvla_ros.tasks import SIM_TASK

PROG = 'smolvla-run'
POLICIES = ('smolvla', 'scripted', 'replay')
SLOTS = ('top', 'wrist', 'side')
SIZES = ('tiny', 'small', 'full')
UNITS = ('radians', 'degrees', 'range_m100_100')
PRECISIONS = ('fp32', 'bf16', 'fp16')
BLENDS = ('crossfade', 'latest')
# The simulator's physics rate: the control period must be a whole number of physics steps.
PHYSICS_HZ = 600


class UsageError(ValueError):
    """A bad command line (exit status 2)."""


class UsageErrorParser(argparse.ArgumentParser):
    """An argument parser that raises :class:`UsageError` instead of exiting (so the CLIs
    print one line and return 2, and tests can catch it)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (no validation beyond types; see :func:`parse_options`)."""
    p = UsageErrorParser(
        prog=PROG,
        description='Run SmolVLA (or the scripted expert, or a replay) on the simulated SO-101 '
        'without ROS; write a video, plots, metrics and a rosbag2 (MCAP) of the run.',
    )
    p.add_argument(
        '--policy',
        nargs='+',
        default=['smolvla'],
        metavar='KIND [FILE]',
        help="'smolvla' (default), 'scripted' or 'replay FILE' (a .npz recording)",
    )
    p.add_argument(
        '--checkpoint',
        help=f'SmolVLA checkpoint folder or hub repo id; default {DEFAULT_CHECKPOINT} when the '
        'Hugging Face cache has it or it can be downloaded, else a fallback (see README)',
    )
    p.add_argument(
        '--random-size',
        default='full',
        help=f'size of the random SmolVLA used when no checkpoint can be had: {", ".join(SIZES)}',
    )
    p.add_argument('--instruction', default=SIM_TASK, help='the task in words')
    p.add_argument('--mode', default='async', help="'async' (default) or 'sync'")
    p.add_argument('--g', type=float, default=0.7, help='request threshold, 0..1 (0.7)')
    p.add_argument(
        '--epsilon',
        type=float,
        default=0.05,
        help='observation filter threshold in rad (0.05); 0 turns the filter off',
    )
    p.add_argument('--blending', default='crossfade', help="'crossfade' (default) or 'latest'")
    p.add_argument('--rate', type=float, default=30.0, help='control rate in Hz (30)')
    p.add_argument(
        '--duration', type=float, default=20.0, help='simulated seconds per episode (20)'
    )
    p.add_argument('--episodes', type=int, default=1, help='episodes, each on a new scene (1)')
    p.add_argument('--device', default='cpu', help="'cpu' (default), 'cuda' or 'cuda:N'")
    p.add_argument('--precision', default='fp32', help=f'{", ".join(PRECISIONS)} (fp32)')
    add_num_threads_argument(p)
    p.add_argument(
        '--cameras',
        help="camera slots to render and record, comma-separated from 'top,wrist,side'; "
        "default: the policy's slots",
    )
    p.add_argument(
        '--units', help=f"a checkpoint's units when it does not record them: {', '.join(UNITS)}"
    )
    p.add_argument(
        '--allow-units-mismatch',
        action='store_true',
        help="run a checkpoint whose state statistics do not fit the arm's (warns instead)",
    )
    p.add_argument('--seed', type=int, default=0, help='scene and sampling seed (0)')
    p.add_argument('--output', default='runs', help='folder for run folders (./runs)')
    p.add_argument(
        '--image-size', default='256x256', help='camera render size WIDTHxHEIGHT px (256x256)'
    )
    p.add_argument(
        '--latency',
        type=float,
        help='a fixed chunk latency in s instead of the measured one (reproducible runs)',
    )
    p.add_argument('--no-live', action='store_true', help='no live terminal display')
    real = p.add_argument_group('real arm (instead of the simulator)')
    real.add_argument('--arm', default='sim', help="'sim' (default) or 'feetech' (an SO arm)")
    real.add_argument('--port', help="the arm's serial port, e.g. /dev/ttyACM0")
    real.add_argument('--robot', default='so101', help="'so101' (default) or 'so100'")
    real.add_argument(
        '--calibration', help="the arm's LeRobot calibration JSON (default: LeRobot's location)"
    )
    real.add_argument(
        '--camera',
        action='append',
        default=[],
        metavar='SLOT=DEVICE',
        help='a camera for a slot: a device index (0), a /dev path or a video file; repeatable',
    )
    real.add_argument(
        '--keep-torque',
        action='store_true',
        help='keep the arm powered after the final hold (default: release its torque)',
    )
    return p


def check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``; else a UsageError naming the option."""
    if value not in choices:
        raise UsageError(f'{name} {value!r} is not one of {", ".join(choices)}')
    return value


def add_num_threads_argument(p: argparse.ArgumentParser) -> None:
    """``--num-threads`` (smolvla-run and smolvla-eval); check it with :func:`check_threads`."""
    p.add_argument(
        '--num-threads',
        type=int,
        default=None,
        help='torch CPU threads for SmolVLA (default: one per core; 1 when another process '
        'keeps a core busy on a 2-core machine)',
    )


def check_threads(num_threads: int | None) -> int | None:
    """``--num-threads`` if unset or >= 1; else a UsageError."""
    if num_threads is not None and num_threads < 1:
        raise UsageError(f'--num-threads must be >= 1, got {num_threads}')
    return num_threads


def check_finite(name: str, value: float, lo: float, hi: float = math.inf) -> float:
    """``value`` if finite and within [lo, hi]; else a UsageError naming the option."""
    if not (math.isfinite(value) and lo <= value <= hi):
        rng = f'>= {lo}' if hi == math.inf else f'in [{lo}, {hi}]'
        raise UsageError(f'{name} must be a finite number {rng}, got {value}')
    return value


def parse_options(argv: Sequence[str] | None = None) -> RunOptions:
    """Parse and validate a command line into :class:`RunOptions`; nothing is created here.

    Raises:
        UsageError: a bad option; the message names it and what to do.
    """
    a = build_parser().parse_args(argv)
    kind = a.policy[0]
    check_choice('--policy', kind, POLICIES)
    replay_file = None
    if kind == 'replay':
        if len(a.policy) != 2:
            raise UsageError('--policy replay needs exactly one FILE: --policy replay chunks.npz')
        replay_file = Path(a.policy[1])
        if not replay_file.is_file():
            raise UsageError(f'--policy replay: {replay_file} is not a file')
    elif len(a.policy) != 1:
        raise UsageError(f'--policy {kind} takes no argument, got {a.policy[1:]}')
    if a.checkpoint is not None and kind != 'smolvla':
        raise UsageError(f'--checkpoint applies to --policy smolvla, not {kind}')
    check_choice('--random-size', a.random_size, SIZES)
    check_choice('--mode', a.mode, ('async', 'sync'))
    check_choice('--blending', a.blending, BLENDS)
    check_choice('--precision', a.precision, PRECISIONS)
    if a.units is not None:
        check_choice('--units', a.units, UNITS)
    check_threads(a.num_threads)
    check_finite('--g', a.g, 0.0, 1.0)
    check_finite('--epsilon', a.epsilon, 0.0)
    check_finite('--rate', a.rate, 1.0, float(PHYSICS_HZ))
    steps = PHYSICS_HZ / a.rate
    if abs(steps - round(steps)) > 1e-9:
        raise UsageError(
            f'--rate {a.rate:g} Hz is not a whole number of {PHYSICS_HZ} Hz physics steps; '
            'use a rate that divides 600, e.g. 30, 50, 60 or 100'
        )
    check_finite('--duration', a.duration, 0.0)
    if a.duration <= 0:
        raise UsageError(f'--duration must be > 0 seconds, got {a.duration}')
    if a.episodes < 1:
        raise UsageError(f'--episodes must be >= 1, got {a.episodes}')
    if a.latency is not None:
        check_finite('--latency', a.latency, 0.0)
    cameras = None
    if a.cameras is not None:
        cameras = tuple(s.strip() for s in a.cameras.split(',') if s.strip())
        bad = [s for s in cameras if s not in SLOTS]
        if not cameras or bad or len(set(cameras)) != len(cameras):
            raise UsageError(
                f'--cameras {a.cameras!r}: give distinct slots from {",".join(SLOTS)}, '
                'comma-separated'
            )
    try:
        w_text, h_text = a.image_size.lower().split('x')
        size = (int(w_text), int(h_text))
    except ValueError:
        raise UsageError(
            f'--image-size {a.image_size!r} is not WIDTHxHEIGHT, e.g. 256x256'
        ) from None
    if not all(16 <= v <= 1024 for v in size):
        raise UsageError(f'--image-size {a.image_size}: width and height must be 16..1024 px')
    device = a.device
    if not (device in {'cpu', 'cuda'} or device.startswith('cuda:')):
        raise UsageError(f"--device {device!r}: use 'cpu', 'cuda' or 'cuda:N'")
    if device != 'cpu' and kind == 'smolvla':
        import torch

        if not torch.cuda.is_available():
            raise UsageError(f'--device {device}: no CUDA device here; use --device cpu')
    check_choice('--arm', a.arm, ('sim', 'feetech'))
    check_choice('--robot', a.robot, ('so101', 'so100'))
    camera_sources: list[tuple[str, str]] = []
    for spec in a.camera:
        slot, sep, device = spec.partition('=')
        if not sep or slot not in SLOTS or not device:
            raise UsageError(
                f'--camera {spec!r}: give SLOT=DEVICE with a slot from {",".join(SLOTS)} and a '
                'device index, /dev path or video file'
            )
        if slot in dict(camera_sources):
            raise UsageError(f'--camera: slot {slot!r} given twice')
        camera_sources.append((slot, device))
    if a.arm == 'sim':
        for name, value in (
            ('--port', a.port),
            ('--calibration', a.calibration),
            ('--camera', a.camera or None),
        ):
            if value is not None:
                raise UsageError(f'{name} applies to --arm feetech; the simulator has its own')
    else:
        if not a.port:
            raise UsageError('--arm feetech needs --port, e.g. --port /dev/ttyACM0')
        if kind == 'scripted':
            raise UsageError('--policy scripted plans from the simulator; use it with --arm sim')
        if a.episodes != 1:
            raise UsageError('--episodes: a real scene is not reset by the runner; run one')
        if a.cameras is not None:
            raise UsageError('--cameras names simulator renders; use --camera SLOT=DEVICE')
        if a.calibration is not None and not Path(a.calibration).is_file():
            raise UsageError(f'--calibration {a.calibration} is not a file')
    output = Path(a.output)
    if output.exists() and not output.is_dir():
        raise UsageError(f'--output {output} exists and is not a folder')
    return RunOptions(
        policy=kind,
        checkpoint=a.checkpoint,
        replay_file=replay_file,
        random_size=a.random_size,
        instruction=a.instruction,
        mode=a.mode,
        g=a.g,
        epsilon_rad=a.epsilon,
        blending=a.blending,
        rate_hz=a.rate,
        duration_s=a.duration,
        episodes=a.episodes,
        device=device,
        precision=a.precision,
        num_threads=a.num_threads,
        cameras=cameras,
        units=a.units,
        allow_units_mismatch=a.allow_units_mismatch,
        seed=a.seed,
        output=output,
        image_size=size,
        latency_s=a.latency,
        live=not a.no_live,
        arm=a.arm,
        port=a.port,
        robot=a.robot,
        calibration=None if a.calibration is None else Path(a.calibration),
        camera_sources=tuple(camera_sources),
        release_torque=not a.keep_torque,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit status (0, 2, 130; see the module docstring)."""
    try:
        opts = parse_options(argv)
    except UsageError as e:
        print(f'{PROG}: error: {e} (see {PROG} --help)', file=sys.stderr)
        return 2
    from rich.console import Console

    from smolvla_ros.runner.run import execute

    console = Console(highlight=False)
    try:
        code, _ = execute(opts, console)
    except RunnerError as e:
        print(f'{PROG}: error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Ctrl-C before the run loop (loading the policy) or a second one during it: the video
        # and the bag, if started, were closed on the way out; plots and metrics were skipped.
        print(f'{PROG}: aborted by Ctrl-C', file=sys.stderr)
        return 130
    return code


if __name__ == '__main__':
    sys.exit(main())
