"""The resumable part of a training run (``training_state/`` of a LeRobot-layout checkpoint).

Files (safetensors and JSON only; nothing is pickled):

* ``optimizer_state.safetensors``: every per-parameter optimizer tensor, keyed
  ``<param index>.<name>`` (AdamW: ``step``, ``exp_avg``, ``exp_avg_sq``);
* ``optimizer_param_groups.json``: the optimizer's param groups (lr, betas, ...);
* ``scheduler_state.json``: the LR scheduler's state (its step count drives the schedule);
* ``rng_state.safetensors``: torch's global RNG and the run's noise generator;
* ``numpy_rng.json``: the batch sampler's numpy generator state;
* ``training_step.json``: ``{"step": n}``, the number of optimisation steps done.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smolvla_model.errors import TrainingError

OPTIMIZER_STATE = 'optimizer_state.safetensors'
OPTIMIZER_GROUPS = 'optimizer_param_groups.json'
SCHEDULER_STATE = 'scheduler_state.json'
RNG_STATE = 'rng_state.safetensors'
NUMPY_RNG = 'numpy_rng.json'
TRAINING_STEP = 'training_step.json'


def save_training_state(
    folder: str | os.PathLike[str],
    step: int,
    *,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
    rng: np.random.Generator,
) -> Path:
    """Write the training state into ``folder`` (created; the caller renames it into place)."""
    from safetensors.torch import save_file

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    sd = optimizer.state_dict()
    tensors = {
        f'{index}.{name}': value.detach().cpu().contiguous()
        for index, group in sd['state'].items()
        for name, value in group.items()
        if isinstance(value, torch.Tensor)
    }
    save_file(tensors, str(out / OPTIMIZER_STATE))
    (out / OPTIMIZER_GROUPS).write_text(json.dumps(sd['param_groups'], indent=2))
    sched = {k: v for k, v in scheduler.state_dict().items() if k != 'lr_lambdas'}
    (out / SCHEDULER_STATE).write_text(json.dumps(sched, indent=2))
    save_file(
        {'torch': torch.get_rng_state(), 'generator': generator.get_state()},
        str(out / RNG_STATE),
    )
    (out / NUMPY_RNG).write_text(json.dumps(rng.bit_generator.state))
    (out / TRAINING_STEP).write_text(json.dumps({'step': int(step)}))
    return out


def read_step(folder: str | os.PathLike[str]) -> int:
    """The step count stored in a ``training_state`` folder.

    Raises:
        TrainingError: the file is missing or malformed.
    """
    path = Path(folder) / TRAINING_STEP
    try:
        step = json.loads(path.read_text())['step']
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise TrainingError(
            f'cannot read the step count from {path} ({e}); the checkpoint is '
            'incomplete: resume from an earlier one'
        ) from e
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise TrainingError(f'{path}: step must be an integer >= 0, got {step!r}')
    return step


def load_training_state(
    folder: str | os.PathLike[str],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
    rng: np.random.Generator,
) -> int:
    """Restore what ``save_training_state`` wrote; returns the step count.

    Raises:
        TrainingError: a file is missing or unreadable, or the optimizer state does not fit the
            model's trainable parameters (a different size or freezing policy).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    src = Path(folder)
    step = read_step(src)
    try:
        flat = load_file(str(src / OPTIMIZER_STATE))
        groups: list[dict[str, Any]] = json.loads((src / OPTIMIZER_GROUPS).read_text())
        sched = json.loads((src / SCHEDULER_STATE).read_text())
        rng_tensors = load_file(str(src / RNG_STATE))
        np_state = json.loads((src / NUMPY_RNG).read_text())
    except (OSError, ValueError, SafetensorError) as e:
        raise TrainingError(
            f'cannot read the training state in {src} ({e}); resume from an earlier checkpoint'
        ) from e
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in flat.items():
        index, _, name = key.partition('.')
        state.setdefault(int(index), {})[name] = value
    for group in groups:
        if 'betas' in group:
            group['betas'] = tuple(group['betas'])
    expected = sum(len(g['params']) for g in optimizer.param_groups)
    saved = sum(len(g['params']) for g in groups)
    if saved != expected:
        raise TrainingError(
            f'{src}: the optimizer state covers {saved} parameters but the model trains '
            f'{expected}; it was written by a different model or freezing policy'
        )
    try:
        optimizer.load_state_dict({'state': state, 'param_groups': groups})
    except (ValueError, KeyError, RuntimeError) as e:
        raise TrainingError(f'{src}: the optimizer state does not fit the model ({e})') from e
    scheduler.load_state_dict({**scheduler.state_dict(), **sched})
    torch.set_rng_state(rng_tensors['torch'])
    generator.set_state(rng_tensors['generator'])
    rng.bit_generator.state = np_state
    return step


__all__ = ['load_training_state', 'read_step', 'save_training_state']
