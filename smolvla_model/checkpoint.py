"""LeRobot SmolVLA checkpoint files: strict safetensors read/write and legacy key handling.

safetensors only (never pickle / ``torch.load``). Legacy handling, from LeRobot's own loaders:

* ``_orig_mod`` (torch.compile's wrapper name) is removed from every key;
* the old in-model normalization buffers (``normalize_inputs.*``, ``normalize_targets.*``,
  ``unnormalize_outputs.*``) are split off and returned to the caller (the processing module turns
  them into stats); they are never loaded into the network.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

from smolvla_model.errors import CheckpointError

WEIGHTS_NAME = 'model.safetensors'
NORMALIZATION_PREFIXES = ('normalize_inputs.', 'normalize_targets.', 'unnormalize_outputs.')


def strip_compile_prefix(key: str) -> str:
    """Remove torch.compile's ``_orig_mod`` component from a state-dict key."""
    return '.'.join(part for part in key.split('.') if part != '_orig_mod')


def split_normalization_buffers(
    state_dict: dict[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Separate old-layout normalization buffers from the network weights.

    Returns:
        (model_state_dict, norm_buffers); keys of both are kept as they are (after the caller's
        renames), e.g. ``normalize_inputs.buffer_observation_state.mean``.
    """
    model_sd, norm = {}, {}
    for key, value in state_dict.items():
        (norm if key.startswith(NORMALIZATION_PREFIXES) else model_sd)[key] = value
    return model_sd, norm


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read ``model.safetensors`` (file or its folder) with legacy renames applied.

    Raises:
        CheckpointError: the file is missing, unreadable, or two keys collide after renaming.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS_NAME
    if not path.is_file():
        raise CheckpointError(
            f'no weights file at {path}: a SmolVLA checkpoint folder holds {WEIGHTS_NAME} '
            '(safetensors; pickled .bin/.pt files are refused on purpose)'
        )
    try:
        raw = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f'{path} is not a readable safetensors file: {e}') from e
    out: dict[str, torch.Tensor] = {}
    for key, value in raw.items():
        new = strip_compile_prefix(key)
        if new in out:
            raise CheckpointError(f'{path}: keys {key!r} and {new!r} collide after renaming')
        out[new] = value
    return out


def _describe(keys: list[str], limit: int = 12) -> str:
    shown = ', '.join(keys[:limit])
    return shown + (f' ... (+{len(keys) - limit} more)' if len(keys) > limit else '')


def load_into(model: torch.nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """Copy ``state_dict`` into ``model`` strictly, casting each tensor to the parameter's dtype.

    Parameters may live on the meta device (built without memory); they are then replaced by
    the loaded tensors (cast to the planned dtype and device), so no second copy is held.

    Raises:
        CheckpointError: missing or unexpected keys, or shape mismatches (all named); the model is
            left untouched in that case.
    """
    expected = dict(model.state_dict(keep_vars=True))
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    shapes = [
        f'{k}: checkpoint {list(state_dict[k].shape)} vs model {list(expected[k].shape)}'
        for k in sorted(set(expected) & set(state_dict))
        if tuple(state_dict[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f'{len(missing)} missing keys: {_describe(missing)}')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected keys: {_describe(unexpected)}')
    if shapes:
        problems.append(f'{len(shapes)} shape mismatches: {_describe(shapes)}')
    if problems:
        raise CheckpointError(
            f'{source} does not match the SmolVLA architecture built from its config: '
            + '; '.join(problems)
        )
    device = next((t.device for t in expected.values() if t.device.type != 'meta'), None)
    device = device or torch.device('cpu')
    for name, target in expected.items():
        module_name, _, attr = name.rpartition('.')
        module = model.get_submodule(module_name)
        value = state_dict[name].to(device=device, dtype=target.dtype).contiguous()
        if target.device.type == 'meta':
            if isinstance(target, torch.nn.Parameter):
                value = torch.nn.Parameter(value, requires_grad=target.requires_grad)
            if attr in module._parameters:
                module._parameters[attr] = value
            elif attr in module._buffers:
                module._buffers[attr] = value
        else:
            with torch.no_grad():
                target.copy_(value)


def save_checkpoint(
    model: torch.nn.Module,
    config_dict: dict,
    out_dir: str | os.PathLike[str],
    extra_tensors: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``config.json`` + ``model.safetensors`` (LeRobot's layout) atomically.

    Tensors are written in the model's current dtypes (LeRobot casts on load). Files are written
    to temporaries in ``out_dir`` and renamed, so a failure leaves no half-written checkpoint.

    Raises:
        CheckpointError: the model holds quantized or meta (unmaterialized) weights.
    """
    from safetensors.torch import save_file

    out = Path(out_dir)
    tensors: dict[str, torch.Tensor] = {}
    for name, t in model.state_dict().items():
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise CheckpointError(
                f'cannot save {name}: not a plain float tensor (a quantized model, e.g. '
                'precision="int8", cannot be saved; save from an fp32/reference model)'
            )
        if t.device.type == 'meta':
            raise CheckpointError(f'cannot save {name}: it was never materialized (meta tensor)')
        tensors[name] = t.detach().to('cpu').contiguous()
    tensors.update(extra_tensors or {})
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    try:
        with tempfile.NamedTemporaryFile(dir=out, suffix='.tmp', delete=False) as f:
            paths.append(Path(f.name))
        save_file(tensors, str(paths[-1]), metadata={'format': 'pt'})
        with tempfile.NamedTemporaryFile('w', dir=out, suffix='.tmp', delete=False) as f:
            json.dump(config_dict, f, indent=4)
            paths.append(Path(f.name))
        os.replace(paths[0], out / WEIGHTS_NAME)
        os.replace(paths[1], out / 'config.json')
    finally:
        for p in paths:
            p.unlink(missing_ok=True)
    return out
