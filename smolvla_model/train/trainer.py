"""Train SmolVLA on a LeRobot dataset: from scratch at a named size, or fine-tuning a checkpoint.

Usage (the CLI ``smolvla-train`` wraps this)::

    from smolvla_model.train import TrainSettings, train
    result = train(TrainSettings(dataset='data/so101_pick', output='runs/pick', size='sim',
                                 steps=4000, batch_size=16))

What it does:

* from scratch (``size``): every part trains (vision tower, connector, text layers, expert and
  projections); the byte-level stand-in tokenizer (``smolvla_model.sizes``) is used;
* fine-tune (``from_checkpoint``): LeRobot's default, the action expert and the state/action/time
  projections train, the VLM stays frozen; the dataset must have the checkpoint's cameras and
  state/action widths;
* LeRobot's AdamW + warmup-cosine preset (``training.make_optimizer``, shrunk to the run length),
  the project's flow-matching loss and training step, MEAN_STD normalisation with the dataset's
  statistics, chunks padded past episode ends (``data``), image augmentation (``data``);
* output folder ``DIR``: ``train_config.json`` (the settings), ``train_log.jsonl`` (one line a
  step), ``loss_curve.png`` (redrawn at each save) and ``checkpoints/<step:06d>/`` with
  ``pretrained_model/`` (loadable by ``SmolVLAPolicy.from_pretrained`` with no network: weights,
  config with column names, units and fps, processor files with the dataset statistics, and the
  backbone config + tokenizer) and ``training_state/`` (``state``); ``checkpoints/last`` links the
  newest. ``resume`` continues from ``last`` exactly (step, LR schedule, RNG streams).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smolvla_model.errors import SmolVLAError, TrainingError
from smolvla_model.train.data import ACTION_KEY, STATE_KEY, TrainingData, augment_images

BACKBONE_DIRNAME = 'smolvla_backbone'  # backbone folder inside each pretrained_model/
SETTINGS_NAME = 'train_config.json'
LOG_NAME = 'train_log.jsonl'
CURVE_NAME = 'loss_curve.png'
CHECKPOINTS = 'checkpoints'
PRETRAINED = 'pretrained_model'
TRAINING_STATE = 'training_state'
SAVE_DTYPES = ('fp32', 'bf16')
# Settings a resumed run must share with the run it continues (they shape the model, the data
# or the schedule); the rest (threads, progress) may change.
_RUN_DEFINING = (
    'size',
    'from_checkpoint',
    'train_all',
    'steps',
    'batch_size',
    'save_every',
    'image_size',
    'seed',
    'augment',
    'units',
    'save_dtype',
    'lr',
)


@dataclass
class TrainSettings:
    """One training run.

    Attributes:
        dataset: LeRobot v3 dataset folder.
        output: run folder (must not exist or be empty, unless ``resume``).
        size: architecture for training from scratch (``smolvla_model.sizes``); ignored with
            ``from_checkpoint``.
        from_checkpoint: SmolVLA checkpoint folder (or cached hub id) to fine-tune.
        train_all: with ``from_checkpoint``, train every part (LeRobot's ``train_expert_only``
            and ``freeze_vision_encoder`` both off) instead of LeRobot's fine-tuning default
            (expert and projections). For continuing a checkpoint this project trained from
            scratch, whose vision encoder is not a pretrained one worth freezing.
        steps: total optimisation steps of the run (the LR schedule spans them).
        batch_size: frames per step.
        save_every: steps between checkpoints (the last step is always saved).
        image_size: square training resolution in pixels (scratch only; default: the size's).
        seed: seeds the weights, the batch sampler, the augmentation and the flow-matching noise.
        num_threads: torch CPU threads (None: torch's default).
        augment: random image shift + brightness during training.
        units: the joint units written into config.json (e.g. 'degrees'); default: the dataset's
            ``units`` in info.json, else 'degrees' for SO-100/SO-101 datasets (LeRobot's units).
        save_dtype: 'fp32' or 'bf16' weights in the checkpoints (loading casts back).
        lr: peak learning rate replacing the preset's 1e-4 (the warmup-cosine shape and the
            2.5e-6 floor stay); None keeps the preset (or the resumed run's).
        resume: continue the run in ``output`` from ``checkpoints/last``.
        progress: show tqdm bars.
    """

    dataset: str
    output: str
    size: str = 'sim'
    from_checkpoint: str | None = None
    train_all: bool = False
    steps: int = 4000
    batch_size: int = 16
    save_every: int = 500
    image_size: int | None = None
    seed: int = 0
    num_threads: int | None = None
    augment: bool = True
    units: str | None = None
    save_dtype: str = 'fp32'
    lr: float | None = None
    resume: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        from smolvla_model.sizes import MODEL_SIZES

        for name, low in (('steps', 1), ('batch_size', 1), ('save_every', 1), ('seed', 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise TrainingError(f'{name} must be an integer >= {low}, got {value!r}')
        if self.num_threads is not None and (
            isinstance(self.num_threads, bool)
            or not isinstance(self.num_threads, int)
            or self.num_threads < 1
        ):
            raise TrainingError(f'num_threads must be an integer >= 1, got {self.num_threads!r}')
        if self.image_size is not None:
            if self.from_checkpoint is not None:
                raise TrainingError(
                    'image_size applies to training from scratch only; a fine-tune uses the '
                    "checkpoint's resize_imgs_with_padding. Drop --image-size"
                )
            if isinstance(self.image_size, bool) or not isinstance(self.image_size, int):
                raise TrainingError(f'image_size must be an integer, got {self.image_size!r}')
        if self.train_all and self.from_checkpoint is None:
            raise TrainingError(
                'train_all applies to fine-tuning (--from-checkpoint); a run from scratch '
                'already trains every part. Drop --train-all'
            )
        if self.from_checkpoint is None and self.size not in MODEL_SIZES:
            raise TrainingError(f'size must be one of {MODEL_SIZES}, got {self.size!r}')
        if self.save_dtype not in SAVE_DTYPES:
            raise TrainingError(
                f'save_dtype must be one of {SAVE_DTYPES}, got {self.save_dtype!r}'
            )
        if self.lr is not None and (
            isinstance(self.lr, bool)
            or not isinstance(self.lr, (int, float))
            or not 0 < self.lr < 1
            or not math.isfinite(self.lr)
        ):
            raise TrainingError(f'lr must be a number in (0, 1), e.g. 1e-4, got {self.lr!r}')

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TrainResult:
    """What a run did: its final step, the losses of this process's steps, the checkpoints."""

    step: int
    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    checkpoints: list[Path] = field(default_factory=list)
    seconds_per_step: float = float('nan')


# -- checks -----------------------------------------------------------------------------------


def _open_dataset(root: str) -> Any:
    from smolvla_model.datasets import DatasetError, LeRobotDataset

    if not Path(root).is_dir():
        raise DatasetError(
            f'dataset folder {root} does not exist; record one (smolvla-sim record ...) or give '
            'the path of a LeRobot v3 dataset'
        )
    return LeRobotDataset(root)


def _feature_names(spec: Any) -> list[str] | None:
    names = spec.get('names') if isinstance(spec, dict) else None
    if isinstance(names, dict):  # LeRobot's older {"axes": [...]} / {"motors": [...]} form
        names = next(iter(names.values()), None)
    if isinstance(names, list) and all(isinstance(n, str) for n in names):
        return list(names)
    return None


def _dataset_dims(ds: Any) -> tuple[int, int]:
    from smolvla_model.datasets import DatasetError

    dims = []
    for key in (STATE_KEY, ACTION_KEY):
        spec = ds.features.get(key)
        if not isinstance(spec, dict) or not spec.get('shape'):
            raise DatasetError(
                f'{ds.root}: meta/info.json has no {key!r} feature; SmolVLA training needs '
                f'{STATE_KEY!r} and {ACTION_KEY!r}'
            )
        dims.append(int(spec['shape'][-1]))
    if not ds.camera_keys:
        raise DatasetError(f'{ds.root}: the dataset has no camera (video) feature to train on')
    return dims[0], dims[1]


def check_dataset_fits(ds: Any, config: Any, source: str) -> None:
    """Raise TrainingError when the dataset's cameras or state/action widths differ from the
    model config's (``source`` names the config in the message)."""
    state_dim, action_dim = _dataset_dims(ds)
    problems = []
    if config.state_dim != state_dim:
        problems.append(f'state has {state_dim} dims, the model {config.state_dim}')
    if config.action_dim != action_dim:
        problems.append(f'action has {action_dim} dims, the model {config.action_dim}')
    cams, model_cams = sorted(ds.camera_keys), sorted(config.image_keys)
    if cams != model_cams:
        problems.append(f'cameras {cams}, the model {model_cams}')
    # Column names, when both sides carry them (config.json 'names' read by the caller).
    for key in (STATE_KEY, ACTION_KEY):
        model_names = config.extra.get('feature_names', {}).get(key)
        data_names = _feature_names(ds.features.get(key))
        if model_names and data_names and list(model_names) != data_names:
            problems.append(f'{key} columns {data_names}, the model {list(model_names)}')
    if problems:
        raise TrainingError(
            f'dataset {ds.root} does not match {source}: ' + '; '.join(problems) + '. Train '
            'from scratch (--size) or use a checkpoint made for this robot and these cameras'
        )


def _units(settings: TrainSettings, ds: Any) -> str:
    if settings.units:
        return settings.units
    units = ds.info.get('units')
    if isinstance(units, str) and units:
        return units
    robot = (ds.robot_type or '').lower()
    if robot.startswith(('so100', 'so101', 'so_100', 'so_101')):
        return 'degrees'  # LeRobot's SO-100/SO-101 followers record degrees, gripper 0..100
    raise TrainingError(
        f'{ds.root}: cannot tell the joint units (robot_type {ds.robot_type!r}, no "units" in '
        "meta/info.json); pass --units (e.g. 'degrees' or 'radians')"
    )


def _prepare_output(settings: TrainSettings) -> Path | None:
    """Check the output folder; returns the ``last`` checkpoint to resume from (or None)."""
    out = Path(settings.output)
    if out.exists() and not out.is_dir():
        raise TrainingError(f'output {out} is a file; give a folder path for the run')
    if not settings.resume:
        if out.is_dir() and any(out.iterdir()):
            raise TrainingError(
                f'output folder {out} already exists and is not empty; pass --resume to '
                'continue that run, or choose a new folder'
            )
        return None
    last = out / CHECKPOINTS / 'last'
    if not (last / PRETRAINED).is_dir() or not (last / TRAINING_STATE).is_dir():
        raise TrainingError(
            f'--resume: no checkpoint at {last} (with {PRETRAINED}/ and {TRAINING_STATE}/); '
            'start the run without --resume'
        )
    try:
        saved = json.loads((out / SETTINGS_NAME).read_text())
    except (OSError, ValueError) as e:
        raise TrainingError(f'--resume: cannot read {out / SETTINGS_NAME} ({e})') from e
    # A setting added after the run was started is absent from its file: it had the default.
    defaults = {f.name: f.default for f in dataclasses.fields(TrainSettings)}
    differing = [
        f'{k} ({saved.get(k, defaults[k])!r} -> {getattr(settings, k)!r})'
        for k in _RUN_DEFINING
        if saved.get(k, defaults[k]) != getattr(settings, k)
    ]
    if differing:
        raise TrainingError(
            f'--resume: these settings differ from the run in {out}: {", ".join(differing)}; '
            'resume with the same settings (see its train_config.json) or start a new run'
        )
    return last.resolve()


# -- model building ---------------------------------------------------------------------------


@dataclass
class _Built:
    model: Any
    config: Any
    backbone_raw: dict[str, Any] | None  # scratch: the backbone config mapping to write
    backbone_src: Path | None  # fine-tune/resume: the folder whose config + tokenizer we copy
    tokenizer: Any


def _scratch_model(settings: TrainSettings, ds: Any) -> _Built:
    from smolvla_model.config import SmolVLAConfig
    from smolvla_model.hub import backbone_config_from_dict
    from smolvla_model.loading import build_model
    from smolvla_model.sizes import backbone_dict, layers_kept, stand_in_tokenizer

    try:
        raw = backbone_dict(settings.size, settings.image_size)
    except SmolVLAError as e:
        raise TrainingError(f'--image-size: {e}') from e
    image = int(raw['vision_config']['image_size'])
    state_dim, action_dim = _dataset_dims(ds)
    features: dict[str, Any] = {
        k: {'type': 'VISUAL', 'shape': [3, image, image]} for k in ds.camera_keys
    }
    features[STATE_KEY] = {'type': 'STATE', 'shape': [state_dim]}
    config = SmolVLAConfig(
        input_features=features,
        output_features={ACTION_KEY: {'type': 'ACTION', 'shape': [action_dim]}},
        resize_imgs_with_padding=(image, image),
        num_vlm_layers=layers_kept(settings.size),
        vlm_model_name=BACKBONE_DIRNAME,
        # From scratch nothing is pretrained: every part must learn.
        train_expert_only=False,
        freeze_vision_encoder=False,
    )
    model = build_model(config, backbone_config_from_dict(raw), 'fp32', seed=settings.seed)
    return _Built(model, config, raw, None, stand_in_tokenizer())


def _loaded_model(path: str | Path, fine_tune: bool, train_all: bool = False) -> _Built:
    from smolvla_model.loading import load_model
    from smolvla_model.processing.tokenization import load_tokenizer

    loaded = load_model(path, precision='fp32')
    config = loaded.model.config
    if fine_tune:
        # LeRobot's fine-tuning default (or everything), whatever the source was trained with.
        config.train_expert_only = not train_all
        config.freeze_vision_encoder = not train_all
        config.train_state_proj = True
    tokenizer = load_tokenizer(loaded.vlm_dir)
    return _Built(loaded.model, config, None, loaded.vlm_dir, tokenizer)


def _config_dict(built: _Built, ds: Any, units: str) -> dict[str, Any]:
    """config.json: the model config plus what the suite reads (names, units, fps)."""
    d = built.config.to_dict()
    d['vlm_model_name'] = BACKBONE_DIRNAME
    for key, group in ((STATE_KEY, 'input_features'), (ACTION_KEY, 'output_features')):
        names = _feature_names(ds.features.get(key))
        if names is not None:
            d[group][key]['names'] = names
    d['units'] = units
    d['fps'] = ds.fps
    d.pop('feature_names', None)
    return d


# -- saving -----------------------------------------------------------------------------------


def _write_backbone(built: _Built, folder: Path) -> None:
    from smolvla_model.sizes import BACKBONE_FILE_PATTERNS, write_backbone_folder

    if built.backbone_raw is not None:
        write_backbone_folder(folder, built.backbone_raw, built.tokenizer)
        return
    folder.mkdir(parents=True)
    assert built.backbone_src is not None
    for pattern in BACKBONE_FILE_PATTERNS:
        for src in built.backbone_src.glob(pattern):
            if src.is_file():
                shutil.copy2(src, folder / src.name)


def _save_pretrained(built: _Built, pre: Any, config_dict: dict, folder: Path, dtype: str) -> None:
    from smolvla_model.checkpoint import save_checkpoint

    extra = None
    if dtype == 'bf16':
        # Every weight in bf16: half the bytes; the loader casts back to the model's dtype.
        extra = {
            k: v.detach().to(torch.bfloat16).contiguous()
            for k, v in built.model.state_dict().items()
        }
    save_checkpoint(built.model, config_dict, folder, extra_tensors=extra)
    pre.save_pretrained(folder)
    _write_backbone(built, folder / BACKBONE_DIRNAME)


def _link_last(ckpt_root: Path, name: str) -> None:
    tmp = ckpt_root / f'.last-{os.getpid()}'
    tmp.unlink(missing_ok=True)
    os.symlink(name, tmp)
    os.replace(tmp, ckpt_root / 'last')


def _plot(log_path: Path, png: Path) -> None:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    steps, losses = [], []
    for line in log_path.read_text().splitlines():
        rec = json.loads(line)
        steps.append(rec['step'])
        losses.append(rec['loss'])
    if not losses:
        return
    window = max(1, min(50, len(losses) // 10))
    smooth = np.convolve(losses, np.ones(window) / window, mode='valid')
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, losses, alpha=0.3, label='loss (per step)')
    ax.plot(steps[window - 1 :], smooth, label=f'mean of {window}')
    ax.set_yscale('log')
    ax.set_xlabel('step')
    ax.set_ylabel('flow-matching loss (normalized units)')
    ax.legend()
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    tmp = png.with_name(f'.{png.name}.tmp.png')
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, png)


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines of steps after ``step`` (written after the checkpoint we resume from)."""
    if not path.is_file():
        return
    keep = [ln for ln in path.read_text().splitlines() if ln and json.loads(ln)['step'] <= step]
    path.write_text(''.join(ln + '\n' for ln in keep))


# -- the run ----------------------------------------------------------------------------------


def train(settings: TrainSettings) -> TrainResult:
    """Run (or resume) training; see the module docstring.

    Raises:
        DatasetError: the dataset is missing or unreadable.
        TrainingError: bad settings, an output folder in the way, nothing to resume, or a
            dataset that does not fit the checkpoint (all before anything is written).
        CheckpointError / ConfigError / HubResolutionError: an unusable checkpoint.
    """
    from tqdm import tqdm

    from smolvla_model.processing.config import ProcessorConfig
    from smolvla_model.processing.normalization import stats_from_mapping
    from smolvla_model.processing.pipeline import Preprocessor
    from smolvla_model.processing.tokenization import InstructionTokenizer
    from smolvla_model.train.state import load_training_state, read_step
    from smolvla_model.training import make_optimizer, train_step

    # Everything that can fail on bad input runs before the first byte is written.
    resume_from = _prepare_output(settings)
    ds = _open_dataset(settings.dataset)
    units = _units(settings, ds)
    if resume_from is not None:
        if read_step(resume_from / TRAINING_STATE) >= settings.steps:
            raise TrainingError(
                f'--resume: the run in {settings.output} already did its {settings.steps} '
                'steps; start a new run to train longer'
            )
        built = _loaded_model(resume_from / PRETRAINED, fine_tune=False)
        check_dataset_fits(ds, built.config, str(resume_from / PRETRAINED))
    elif settings.from_checkpoint is not None:
        from smolvla_model.config import SmolVLAConfig
        from smolvla_model.hub import resolve_folder

        # Check the features from config.json before loading any weights.
        src = resolve_folder(settings.from_checkpoint, allow_patterns=['*.json', '*.safetensors'])
        raw = (
            json.loads((src / 'config.json').read_text())
            if (src / 'config.json').is_file()
            else {}
        )
        config = SmolVLAConfig.from_json(src)
        names = {
            k: _feature_names(raw.get(g, {}).get(k))
            for k, g in ((STATE_KEY, 'input_features'), (ACTION_KEY, 'output_features'))
        }
        config.extra['feature_names'] = {k: v for k, v in names.items() if v}
        check_dataset_fits(ds, config, f'checkpoint {src}')
        built = _loaded_model(src, fine_tune=True, train_all=settings.train_all)
    else:
        _dataset_dims(ds)
        built = _scratch_model(settings, ds)
    config = built.config
    if settings.lr is not None and resume_from is None:
        config.optimizer_lr = float(settings.lr)  # saved in config.json, so resume keeps it
    if settings.num_threads is not None:
        torch.set_num_threads(settings.num_threads)
    image = int(config.resize_imgs_with_padding[1])
    stats = stats_from_mapping({k: v for k, v in ds.stats.items() if k in (STATE_KEY, ACTION_KEY)})
    pconfig = ProcessorConfig.from_policy_config(
        {**config.to_dict(), 'vlm_model_name': BACKBONE_DIRNAME}
    )
    tokenizer = InstructionTokenizer(
        built.tokenizer, max_length=config.tokenizer_max_length, padding=config.pad_language_to
    )
    pre = Preprocessor(pconfig, tokenizer, stats, stats_source=f'{ds.root}/meta/stats.json')
    config_dict = _config_dict(built, ds, units)
    data = TrainingData(
        ds, image, config.chunk_size, camera_keys=config.image_keys, progress=settings.progress
    )

    model = built.model
    optimizer, scheduler = make_optimizer(model, total_steps=settings.steps)
    generator = torch.Generator().manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    out = Path(settings.output)
    log_path = out / LOG_NAME
    step = 0
    if resume_from is not None:
        step = load_training_state(
            resume_from / TRAINING_STATE, optimizer, scheduler, generator, rng
        )
        _truncate_log(log_path, step)
    else:
        out.mkdir(parents=True, exist_ok=True)
        (out / SETTINGS_NAME).write_text(json.dumps(settings.to_json(), indent=2))
    ckpt_root = out / CHECKPOINTS
    ckpt_root.mkdir(exist_ok=True)

    result = TrainResult(step=step)
    bar = tqdm(
        total=settings.steps,
        initial=step,
        desc='training',
        unit='step',
        disable=not settings.progress,
    )
    times = []
    try:
        with log_path.open('a') as log:
            while step < settings.steps:
                t0 = time.perf_counter()
                batch = data.sample(settings.batch_size, rng)
                inputs = pre(batch.observation())
                if settings.augment:
                    inputs.images = augment_images(inputs.images, rng)
                actions = pre.normalizer.normalize(ACTION_KEY, torch.from_numpy(batch.actions))
                res = train_step(
                    model,
                    optimizer,
                    scheduler,
                    inputs,
                    actions,
                    action_is_pad=torch.from_numpy(batch.action_is_pad),
                    generator=generator,
                )
                step += 1
                dt = time.perf_counter() - t0
                times.append(dt)
                if not math.isfinite(res.loss):
                    raise TrainingError(
                        f'step {step}: the loss is {res.loss}; training diverged (check the '
                        'dataset statistics for zero spreads); resume from an earlier checkpoint'
                    )
                result.losses.append(res.loss)
                result.lrs.append(res.lr)
                rec = {
                    'step': step,
                    'loss': res.loss,
                    'grad_norm': res.grad_norm,
                    'lr': res.lr,
                    'seconds': round(dt, 4),
                }
                log.write(json.dumps(rec) + '\n')
                bar.update(1)
                bar.set_postfix(loss=f'{res.loss:.4f}', lr=f'{res.lr:.2e}')
                if step % settings.save_every == 0 or step == settings.steps:
                    log.flush()
                    result.checkpoints.append(
                        _save(
                            built=built,
                            pre=pre,
                            config_dict=config_dict,
                            ckpt_root=ckpt_root,
                            step=step,
                            optimizer=optimizer,
                            scheduler=scheduler,
                            generator=generator,
                            rng=rng,
                            dtype=settings.save_dtype,
                        )
                    )
                    _plot(log_path, out / CURVE_NAME)
    finally:
        bar.close()
    result.step = step
    if times:
        result.seconds_per_step = float(np.median(times))
    return result


def _save(
    *,
    built: _Built,
    pre: Any,
    config_dict: dict,
    ckpt_root: Path,
    step: int,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    generator: torch.Generator,
    rng: np.random.Generator,
    dtype: str,
) -> Path:
    """Write checkpoints/<step>/ via a temporary folder renamed into place, then point last."""
    from smolvla_model.train.state import save_training_state

    name = f'{step:06d}'
    final = ckpt_root / name
    tmp = Path(tempfile.mkdtemp(prefix=f'.{name}-', dir=ckpt_root))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; a checkpoint is meant to be shared
    try:
        _save_pretrained(built, pre, config_dict, tmp / PRETRAINED, dtype)
        save_training_state(
            tmp / TRAINING_STATE,
            step,
            optimizer=optimizer,
            scheduler=scheduler,
            generator=generator,
            rng=rng,
        )
        if final.exists():  # a resumed run re-saving a step it had saved before
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _link_last(ckpt_root, name)
    return final


__all__ = ['TrainResult', 'TrainSettings', 'check_dataset_fits', 'train']
