"""``smolvla-sim``: render the simulator's cameras and run the scripted pick-and-place expert.

    smolvla-sim render --out DIR [--seed S] [--width W --height H]
    smolvla-sim pick-place --episodes N --seed S --json PATH [--video PATH] [--record DIR]

Renders on the CPU through OSMesa unless MUJOCO_GL is already set (egl on a GPU machine).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

from so_arm_driver.cli_args import (
    OneLineParser,
    UsageError,
    check_output_dir,
    check_output_file,
    int_in_range,
)
from so_arm_driver.sim.config import CAMERA_SLOTS, SimConfig
from so_arm_driver.sim.errors import SimError
from so_arm_driver.sim.expert import run_episode
from so_arm_driver.sim.simulator import Simulator

VIDEO_SUFFIXES = ('.mp4', '.gif')


def _write_png(path: Path, image: np.ndarray) -> None:
    import imageio.v2 as imageio

    tmp = path.with_name(path.stem + '.tmp.png')
    imageio.imwrite(tmp, image)
    tmp.replace(path)


def cmd_render(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = SimConfig(image_width=args.width, image_height=args.height, seed=args.seed)
    with Simulator(config) as sim:
        sim.step(round(0.5 / config.effective_control_dt_s))  # let the arm settle at home
        for slot, image in sim.render().items():
            _write_png(out / f'{slot}.png', image)
            print(out / f'{slot}.png')
    return 0


def _write_video(path: Path, frames: list[np.ndarray], fps: float) -> None:
    import imageio.v2 as imageio

    if path.suffix.lower() == '.gif':
        imageio.mimsave(path, frames, duration=1.0 / fps, loop=0)
        return
    try:
        writer = imageio.get_writer(path, fps=fps)
    except (ImportError, ValueError, RuntimeError) as e:
        raise SimError(
            f'cannot write {path}: MP4 needs imageio-ffmpeg (pip install imageio-ffmpeg); '
            'or pass a .gif path'
        ) from e
    with writer:
        for frame in frames:
            writer.append_data(frame)


def cmd_pick_place(args: argparse.Namespace) -> int:
    video = Path(args.video) if args.video else None
    record_dir = Path(args.record) if args.record else None
    config = SimConfig(image_width=args.width, image_height=args.height, seed=args.seed)
    results = []
    video_frames: list[np.ndarray] = []
    stride = 2  # every other control step keeps videos small and still smooth at 15 fps
    with Simulator(config) as sim:
        for i in range(args.episodes):
            seed = args.seed + i
            record = record_dir is not None or (video is not None and i == 0)
            result = run_episode(sim, seed, record=record)
            results.append(result)
            print(
                f'episode {i} seed {seed}: success={result.success} '
                f'sim_time={result.duration_s:.2f}s'
            )
            if record and video is not None and i == 0:
                for t in range(0, len(result.actions), stride):
                    video_frames.append(
                        np.concatenate([result.frames[s][t] for s in CAMERA_SLOTS], axis=1)
                    )
            if record_dir is not None:
                record_dir.mkdir(parents=True, exist_ok=True)
                np.savez_compressed(
                    record_dir / f'episode_{seed:05d}.npz',
                    states=result.states,
                    actions=result.actions,
                    control_dt_s=config.effective_control_dt_s,
                    success=result.success,
                    **{f'images_{s}': result.frames[s] for s in CAMERA_SLOTS},
                )
    summary = {
        'episodes': len(results),
        'successes': sum(r.success for r in results),
        'success_rate': sum(r.success for r in results) / len(results),
        'mean_time_s': float(np.mean([r.duration_s for r in results])),
        'seeds': [r.seed for r in results],
        'success_per_episode': [r.success for r in results],
    }
    if args.json:
        path = Path(args.json)
        tmp = path.with_name(path.name + '.tmp')
        tmp.write_text(json.dumps(summary, indent=2), encoding='utf-8')
        tmp.replace(path)
    if video is not None:
        _write_video(video, video_frames, fps=1.0 / (config.effective_control_dt_s * stride))
        print(f'video: {video}')
    print(json.dumps(summary))
    return 0


SEED_MAX = 2**32 - 1  # numpy's seeds are 32-bit unsigned


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog='smolvla-sim', description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command', required=True, parser_class=OneLineParser)
    for name, func, helptext in (
        ('render', cmd_render, 'write top.png, wrist.png, side.png'),
        ('pick-place', cmd_pick_place, 'run the scripted pick-and-place expert'),
    ):
        p = sub.add_parser(name, help=helptext)
        p.set_defaults(func=func)
        p.add_argument('--seed', type=int_in_range(0, SEED_MAX), default=0)
        # SimConfig's camera limits, checked here so a bad size fails before MuJoCo starts.
        p.add_argument('--width', type=int_in_range(16, 2048), default=256, help='pixels')
        p.add_argument('--height', type=int_in_range(16, 2048), default=256, help='pixels')
        if name == 'render':
            p.add_argument('--out', required=True, help='output folder (created if missing)')
        else:
            p.add_argument('--episodes', type=int_in_range(1, 1_000_000), default=10)
            p.add_argument('--json', help='write the summary JSON here (folder must exist)')
            p.add_argument('--video', help='save the first episode as .mp4 or .gif')
            p.add_argument('--record', help='save every episode as npz in this folder')
    return parser


def preflight(args: argparse.Namespace) -> None:
    """Reject impossible arguments and unwritable outputs before any episode runs.

    Raises:
        UsageError: naming the argument and what to do.
    """
    if args.command == 'render':
        check_output_dir(args.out, '--out')
        return
    last_seed = args.seed + args.episodes - 1
    if last_seed > SEED_MAX:
        raise UsageError(
            f'--seed {args.seed} with --episodes {args.episodes} would reach seed {last_seed}, '
            f'above {SEED_MAX}; lower --seed'
        )
    if args.json:
        check_output_file(args.json, '--json')
    if args.video:
        video = Path(args.video)
        if video.suffix.lower() not in VIDEO_SUFFIXES:
            raise UsageError(f'--video must end in {VIDEO_SUFFIXES}, got {video.name!r}')
        check_output_file(video, '--video')
        if video.suffix.lower() == '.mp4' and importlib.util.find_spec('imageio_ffmpeg') is None:
            raise UsageError(
                f'--video {video}: MP4 needs imageio-ffmpeg (pip install imageio-ffmpeg); '
                'or pass a .gif path'
            )
    if args.record:
        check_output_dir(args.record, '--record')


def main(argv: list[str] | None = None) -> int:
    """Run ``smolvla-sim``; returns the exit status (0 success, 2 bad arguments or sim error)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse: usage error (2) or --help (0), already printed
        return int(e.code or 0)
    try:
        preflight(args)
        return args.func(args)
    except (SimError, UsageError) as e:
        print(f'smolvla-sim: error: {e}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    raise SystemExit(main())
