"""``smolvla-train DATASET --output DIR``: train SmolVLA on a LeRobot dataset (CPU or GPU-free).

Examples::

    smolvla-train data/so101_pick --output runs/pick --size sim --steps 4000 --batch-size 16
    smolvla-train data/so101_pick --output runs/pick --resume          # continue from last
    smolvla-train data/my_arm --output runs/ft --from-checkpoint lerobot/smolvla_base

Exit status: 0 on success, 2 on bad input (the message says what was wrong and what to do;
nothing was written), 130 when interrupted (the last saved checkpoint stays resumable).
"""

from __future__ import annotations

import argparse
import sys

from smolvla_model.sizes import MODEL_SIZES


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='smolvla-train',
        description='Train SmolVLA on a LeRobot v3 dataset: from scratch at a named size, or '
        "fine-tuning a checkpoint (LeRobot's default: expert and state projection only).",
    )
    p.add_argument('dataset', help='LeRobot v3 dataset folder')
    p.add_argument('--output', required=True, help='run folder (checkpoints, log, loss curve)')
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        '--size',
        choices=MODEL_SIZES,
        default=None,
        help='architecture to train from scratch (default: sim, made for a 2-core CPU)',
    )
    src.add_argument('--from-checkpoint', default=None, help='checkpoint folder to fine-tune')
    p.add_argument(
        '--train-all',
        action='store_true',
        help='with --from-checkpoint: train every part, not only the expert and projections '
        '(to continue a checkpoint trained from scratch)',
    )
    p.add_argument('--steps', type=int, default=None, help='total steps (default 4000)')
    p.add_argument('--batch-size', type=int, default=None, help='frames per step (default 16)')
    p.add_argument(
        '--save-every', type=int, default=None, help='steps between checkpoints (default 500)'
    )
    p.add_argument('--resume', action='store_true', help='continue the run in --output')
    p.add_argument(
        '--image-size',
        type=int,
        default=None,
        help="square training resolution in pixels (scratch only; default: the size's)",
    )
    p.add_argument('--seed', type=int, default=None, help='random seed (default 0)')
    p.add_argument('--num-threads', type=int, default=None, help='torch CPU threads')
    p.add_argument('--no-augment', action='store_true', help='no random image shift / brightness')
    p.add_argument('--units', default=None, help="joint units for config.json, e.g. 'degrees'")
    p.add_argument(
        '--save-dtype',
        choices=('fp32', 'bf16'),
        default=None,
        help='weight dtype in checkpoints (default fp32)',
    )
    p.add_argument(
        '--lr',
        type=float,
        default=None,
        help="peak learning rate (default: LeRobot's SmolVLA preset, 1e-4)",
    )
    p.add_argument('--no-progress', action='store_true', help='no progress bars')
    return p


def settings_from_args(args: argparse.Namespace) -> object:
    """Build TrainSettings; with --resume, unset options take the saved run's values."""
    import json
    from pathlib import Path

    from smolvla_model.errors import TrainingError
    from smolvla_model.train.trainer import SETTINGS_NAME, TrainSettings

    given = {
        'size': args.size,
        'from_checkpoint': args.from_checkpoint,
        'train_all': True if args.train_all else None,
        'steps': args.steps,
        'batch_size': args.batch_size,
        'save_every': args.save_every,
        'image_size': args.image_size,
        'seed': args.seed,
        'augment': False if args.no_augment else None,
        'units': args.units,
        'save_dtype': args.save_dtype,
        'lr': args.lr,
    }
    base: dict = {}
    if args.resume:
        path = Path(args.output) / SETTINGS_NAME
        try:
            base = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise TrainingError(
                f'--resume: cannot read {path} ({e}); is {args.output} a smolvla-train run?'
            ) from e
    values = {k: v for k, v in base.items() if k in given}
    values.update({k: v for k, v in given.items() if v is not None})
    values.setdefault('size', 'sim')
    return TrainSettings(
        dataset=args.dataset,
        output=args.output,
        num_threads=args.num_threads,
        resume=args.resume,
        progress=not args.no_progress,
        **values,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from smolvla_model.errors import SmolVLAError
    from smolvla_model.train.trainer import train

    try:
        result = train(settings_from_args(args))
    except SmolVLAError as e:
        print(f'smolvla-train: error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('smolvla-train: interrupted; resume with --resume', file=sys.stderr)
        return 130
    last = result.checkpoints[-1] if result.checkpoints else None
    print(
        f'done: step {result.step}, median {result.seconds_per_step:.3f} s/step'
        + (f', last loss {result.losses[-1]:.4f}' if result.losses else '')
        + (f', checkpoint {last}' if last else '')
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
