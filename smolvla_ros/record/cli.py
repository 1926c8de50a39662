"""``smolvla-record``: record simulator episodes as a LeRobot v3.0 dataset.

Examples::

    smolvla-record datasets/sim_pick --episodes 200                 # the scripted expert
    smolvla-record datasets/eval --policy smolvla --checkpoint ckpt/ --seed-start 100000
    smolvla-record datasets/short --episodes 5 --failed keep --max-seconds 8

Exit codes: 0 done; 1 fewer successful episodes than asked (with --failed drop) or a
write error; 2 bad options or a policy that cannot be loaded (nothing written);
130 Ctrl-C (the episode in progress is discarded, the saved ones form a valid dataset).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from smolvla_model.errors import DatasetError
from smolvla_ros.record.record import RecordError, RecordOptions, record
from smolvla_ros.tasks import SIM_TASK


def build_parser() -> argparse.ArgumentParser:
    """The command line of smolvla-record."""
    p = argparse.ArgumentParser(
        prog='smolvla-record',
        description='Record simulator episodes (randomised cube poses) as a LeRobot v3.0 '
        'dataset: observation.images.top/wrist/side, observation.state and action in degrees '
        '(gripper 0..100), the task string, timestamps.',
    )
    p.add_argument('output', type=Path, help='dataset folder to create (new or empty)')
    p.add_argument('--episodes', type=int, default=1, help='episodes to save (default 1)')
    p.add_argument(
        '--seed-start',
        type=int,
        default=0,
        help='attempt k uses scene seed START+k (default 0; evaluation uses >= 100000)',
    )
    p.add_argument(
        '--policy',
        choices=('scripted', 'smolvla'),
        default='scripted',
        help='who drives the arm: the scripted expert (default) or a SmolVLA checkpoint',
    )
    p.add_argument('--checkpoint', help='SmolVLA checkpoint folder (with --policy smolvla)')
    p.add_argument('--device', default='cpu', help='SmolVLA device (cpu, cuda)')
    p.add_argument(
        '--latency',
        type=float,
        default=None,
        help='SmolVLA: fixed chunk latency in seconds instead of the measured inference time',
    )
    p.add_argument(
        '--task',
        default=SIM_TASK,
        help='instruction stored with every frame',
    )
    p.add_argument('--fps', type=int, default=30, help='frame and control rate, Hz (default 30)')
    p.add_argument(
        '--image-size', type=int, default=128, help='square camera renders, px (default 128)'
    )
    p.add_argument(
        '--max-seconds',
        type=float,
        default=20.0,
        help='longest episode, simulated seconds (default 20)',
    )
    p.add_argument(
        '--failed',
        choices=('drop', 'keep'),
        default='drop',
        help='failed episodes: drop them (default) or keep them with success=False',
    )
    p.add_argument(
        '--leader',
        metavar='PORT',
        help='teleoperate: an SO-101 leader arm on this Feetech bus port drives the simulator',
    )
    p.add_argument(
        '--leader-calibration',
        type=Path,
        help="the leader's LeRobot calibration file (default: LeRobot's location for 'leader')",
    )
    p.add_argument(
        '--max-attempts',
        type=int,
        default=None,
        help='with --failed drop: give up after this many attempts (default 3 x episodes + 10)',
    )
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    return p


def parse_options(argv: Sequence[str] | None) -> RecordOptions:
    """Parse and validate; raises SystemExit(2) with the parser's message on bad options."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return RecordOptions(
            output=args.output,
            episodes=args.episodes,
            seed_start=args.seed_start,
            policy=args.policy,
            checkpoint=args.checkpoint,
            task=args.task,
            fps=args.fps,
            image_size=args.image_size,
            max_seconds=args.max_seconds,
            failed=args.failed,
            device=args.device,
            max_attempts=args.max_attempts,
            latency_s=args.latency,
            leader_port=args.leader,
            leader_calibration=args.leader_calibration,
            progress=not args.no_progress,
        )
    except RecordError as e:
        parser.error(str(e))
        raise  # unreachable: parser.error exits


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0, 2 or 130)."""
    try:
        opts = parse_options(argv)
    except SystemExit as e:
        return int(e.code or 0)
    try:
        report = record(opts, say=lambda msg: print(msg, file=sys.stderr))
    except RecordError as e:
        print(f'smolvla-record: error: {e}', file=sys.stderr)
        return 2
    except DatasetError as e:  # writing failed; the episodes saved before stay valid
        print(f'smolvla-record: dataset error: {e}', file=sys.stderr)
        return 1
    n = len(report.attempts)
    per_ep = report.wall_time_s / max(n, 1)
    print(
        f'{"Interrupted" if report.interrupted else "Done"}: {report.saved} episode(s) saved of '
        f'{n} attempted in {report.wall_time_s:.1f} s ({per_ep:.1f} s per attempt) -> '
        f'{report.output}',
        file=sys.stderr,
    )
    if not report.interrupted and report.saved < opts.episodes:
        print(
            f'smolvla-record: only {report.saved} of {opts.episodes} episodes succeeded; the '
            'dataset holds those (see --failed keep, --max-seconds)',
            file=sys.stderr,
        )
        return 1
    return report.exit_code


if __name__ == '__main__':
    sys.exit(main())
