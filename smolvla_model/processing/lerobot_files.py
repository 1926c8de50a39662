"""Reading and writing LeRobot's on-disk processing metadata.

Two layouts are read:

* LeRobot >= 0.4: ``policy_preprocessor.json`` / ``policy_postprocessor.json``, each
  ``{"name": ..., "steps": [{"registry_name": ..., "config": {...}, "state_file"?: ...}]}``. The
  step ``normalizer_processor`` (pre) / ``unnormalizer_processor`` (post) carries
  ``config = {"eps", "features": {name: {"type", "shape"}}, "norm_map": {TYPE: MODE}}`` and a
  ``state_file``: a flat safetensors file with keys ``<feature>.<stat>``. The step
  ``tokenizer_processor`` carries ``max_length``, ``padding``, ``padding_side``, ``truncation``,
  ``tokenizer_name``; ``rename_observations_processor`` carries ``rename_map``.
* LeRobot 0.3: statistics stored as buffers inside ``model.safetensors``, keys
  ``normalize_inputs.buffer_observation_state.mean``, ``normalize_targets.buffer_action.std``,
  ``unnormalize_outputs.buffer_action.mean`` ... (the feature name with dots as underscores).

Only the LeRobot >= 0.4 layout is written. Writing is all-or-nothing: files go to a temporary
folder beside the target and are moved in place only when every one was written.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from smolvla_model.processing.config import (
    FeatureSpec,
    FeatureType,
    NormMode,
    ProcessorConfig,
    ProcessorFileError,
)
from smolvla_model.processing.normalization import Stats, flatten_stats, unflatten_stats

PREPROCESSOR_FILE = 'policy_preprocessor.json'
POSTPROCESSOR_FILE = 'policy_postprocessor.json'
# LeRobot names a step's state file <pipeline>_step_<index>_<registry_name>.safetensors; SmolVLA's
# normalizer is step 5 of the pre-processor and the unnormalizer step 0 of the post-processor.
NORMALIZER_STEP = 'normalizer_processor'
UNNORMALIZER_STEP = 'unnormalizer_processor'
TOKENIZER_STEP = 'tokenizer_processor'
RENAME_STEP = 'rename_observations_processor'
LEGACY_BUFFER_PREFIXES = ('normalize_inputs.', 'normalize_targets.', 'unnormalize_outputs.')


@dataclass
class ProcessorFiles:
    """What the processor files of a checkpoint say (anything absent is None / empty)."""

    pre_stats: Stats = field(default_factory=dict)
    post_stats: Stats = field(default_factory=dict)
    norm_map: dict[FeatureType, NormMode] | None = None
    eps: float | None = None
    tokenizer: dict[str, Any] = field(default_factory=dict)
    rename_map: dict[str, str] = field(default_factory=dict)
    source: str = ''


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, json.JSONDecodeError) as e:
        raise ProcessorFileError(f'{path}: cannot read JSON ({e})') from e
    if not isinstance(data, dict) or not isinstance(data.get('steps'), list):
        raise ProcessorFileError(f'{path}: expected {{"name": ..., "steps": [...]}}')
    return data


def _read_state_file(folder: Path, step: dict[str, Any], json_path: Path) -> Stats:
    name = step.get('state_file')
    if not name:
        return {}
    path = folder / name
    if not path.is_file():
        raise ProcessorFileError(
            f'{json_path}: step {step.get("registry_name")!r} names state file {name!r}, which '
            f'is missing from {folder}'
        )
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return unflatten_stats(load_file(str(path)))
    except (SafetensorError, OSError) as e:
        raise ProcessorFileError(f'{path}: not a readable safetensors file ({e})') from e


def _step_config(step: Any, json_path: Path) -> dict[str, Any]:
    """A step's ``config`` mapping ({} when absent); ProcessorFileError when malformed."""
    if not isinstance(step, dict):
        raise ProcessorFileError(
            f'{json_path}: each entry of "steps" must be an object, got {step!r}'
        )
    config = step.get('config')
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise ProcessorFileError(
            f'{json_path}: step {step.get("registry_name")!r}: "config" must be an object, '
            f'got {config!r}'
        )
    return config


def _bad_field(json_path: Path, step: dict[str, Any], key: str, want: str, got: Any) -> Exception:
    return ProcessorFileError(
        f'{json_path}: step {step.get("registry_name")!r}: config.{key} must be {want}, '
        f'got {got!r}; fix or delete the field (LeRobot writes it)'
    )


def _parse_norm_step(step: dict[str, Any], json_path: Path) -> tuple[dict, float | None]:
    config = _step_config(step, json_path)
    raw_map = config.get('norm_map') or {}
    if not isinstance(raw_map, dict):
        raise _bad_field(json_path, step, 'norm_map', 'an object {TYPE: MODE}', raw_map)
    try:
        norm_map = {FeatureType(k): NormMode(v) for k, v in raw_map.items()}
    except ValueError as e:
        raise ProcessorFileError(f'{json_path}: bad norm_map {raw_map!r}: {e}') from e
    eps = config.get('eps')
    if eps is None:
        return norm_map, None
    # bool is an int in Python; "tiny" or 1e999 (inf) are not usable epsilons either.
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 <= eps < math.inf:
        raise _bad_field(json_path, step, 'eps', 'a finite number >= 0 (LeRobot: 1e-08)', eps)
    return norm_map, float(eps)


def _parse_tokenizer_step(step: dict[str, Any], json_path: Path) -> dict[str, Any]:
    config = dict(_step_config(step, json_path))
    length = config.get('max_length')
    if length is not None and (
        isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= 4096
    ):
        raise _bad_field(json_path, step, 'max_length', 'an integer in [1, 4096] (48)', length)
    padding = config.get('padding')
    if padding is not None and padding not in ('max_length', 'longest'):
        raise _bad_field(json_path, step, 'padding', '"max_length" or "longest"', padding)
    name = config.get('tokenizer_name')
    if name is not None and not isinstance(name, str):
        raise _bad_field(json_path, step, 'tokenizer_name', 'a repo id or folder', name)
    return config


def _parse_rename_step(step: dict[str, Any], json_path: Path) -> dict[str, str]:
    rename = _step_config(step, json_path).get('rename_map') or {}
    if not isinstance(rename, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in rename.items()
    ):
        raise _bad_field(json_path, step, 'rename_map', 'an object {old: new} of strings', rename)
    return dict(rename)


def read_processor_files(folder: Path) -> ProcessorFiles | None:
    """Read LeRobot >= 0.4 processor files from ``folder``; None when there are none.

    Raises:
        ProcessorFileError: malformed JSON, a wrong-typed field (names the file, the step and
            the field), a missing or unreadable state file.
    """
    pre_path, post_path = folder / PREPROCESSOR_FILE, folder / POSTPROCESSOR_FILE
    if not pre_path.is_file() and not post_path.is_file():
        return None
    out = ProcessorFiles(source=str(pre_path if pre_path.is_file() else post_path))
    if pre_path.is_file():
        for step in _read_json(pre_path)['steps']:
            _step_config(step, pre_path)  # every step is an object with an object config
            reg = step.get('registry_name')
            if reg == NORMALIZER_STEP:
                norm_map, out.eps = _parse_norm_step(step, pre_path)
                out.pre_stats = _read_state_file(folder, step, pre_path)
                out.norm_map = norm_map or None
            elif reg == TOKENIZER_STEP:
                out.tokenizer = _parse_tokenizer_step(step, pre_path)
            elif reg == RENAME_STEP:
                out.rename_map = _parse_rename_step(step, pre_path)
    if post_path.is_file():
        for step in _read_json(post_path)['steps']:
            _step_config(step, post_path)
            if step.get('registry_name') == UNNORMALIZER_STEP:
                out.post_stats = _read_state_file(folder, step, post_path)
                norm_map, eps = _parse_norm_step(step, post_path)
                if out.norm_map is None and norm_map:
                    out.norm_map = norm_map
                if out.eps is None:
                    out.eps = eps
    return out


def read_legacy_stats(model_file: Path, feature_names: list[str]) -> Stats:
    """Statistics stored as buffers in a LeRobot 0.3 ``model.safetensors``; {} when none.

    Reads only the buffer tensors (the file is memory-mapped, the weights are not loaded).
    ``normalize_inputs`` / ``normalize_targets`` / ``unnormalize_outputs`` copies of the same
    feature are equal in LeRobot's files; the first one found wins.

    Raises:
        ProcessorFileError: the file is unreadable.
    """
    if not model_file.is_file():
        return {}
    from safetensors import SafetensorError, safe_open

    by_buffer = {'buffer_' + name.replace('.', '_'): name for name in feature_names}
    out: Stats = {}
    try:
        with safe_open(str(model_file), framework='pt') as f:
            for key in f.keys():  # noqa: SIM118 (safe_open handles are not iterable)
                if not key.startswith(LEGACY_BUFFER_PREFIXES):
                    continue
                parts = key.split('.')
                if len(parts) != 3 or parts[1] not in by_buffer:
                    continue
                feature, stat = by_buffer[parts[1]], parts[2]
                out.setdefault(feature, {}).setdefault(stat, f.get_tensor(key).to(torch.float32))
    except (SafetensorError, OSError) as e:
        raise ProcessorFileError(f'{model_file}: not a readable safetensors file ({e})') from e
    return out


def _features_json(features: dict[str, FeatureSpec]) -> dict[str, Any]:
    return {k: f.to_json() for k, f in features.items()}


def write_processor_files(
    folder: Path,
    config: ProcessorConfig,
    stats: Stats,
    rename_map: dict[str, str] | None = None,
    device: str = 'cpu',
) -> list[Path]:
    """Write LeRobot >= 0.4 ``policy_preprocessor.json`` / ``policy_postprocessor.json`` and their
    normalizer state files into ``folder`` (created if needed), all or nothing.

    Returns:
        The paths written.

    Raises:
        OSError: the folder cannot be written (nothing is left half-written).
    """
    from safetensors.torch import save_file

    norm_map = {t.value: m.value for t, m in config.normalization_mapping.items()}
    pre_state = f'policy_preprocessor_step_5_{NORMALIZER_STEP}.safetensors'
    post_state = f'policy_postprocessor_step_0_{UNNORMALIZER_STEP}.safetensors'
    pre = {
        'name': 'policy_preprocessor',
        'steps': [
            {'registry_name': RENAME_STEP, 'config': {'rename_map': dict(rename_map or {})}},
            {'registry_name': 'to_batch_processor', 'config': {}},
            {'registry_name': 'smolvla_new_line_processor', 'config': {}},
            {
                'registry_name': TOKENIZER_STEP,
                'config': {
                    'max_length': config.tokenizer_max_length,
                    'task_key': 'task',
                    'padding_side': 'right',
                    'padding': config.pad_language_to,
                    'truncation': True,
                    'tokenizer_name': config.tokenizer_name,
                },
            },
            {
                'registry_name': 'device_processor',
                'config': {'device': device, 'float_dtype': None},
            },
            {
                'registry_name': NORMALIZER_STEP,
                'config': {
                    'eps': config.eps,
                    'features': _features_json(config.all_features),
                    'norm_map': norm_map,
                },
                'state_file': pre_state,
            },
        ],
    }
    post = {
        'name': 'policy_postprocessor',
        'steps': [
            {
                'registry_name': UNNORMALIZER_STEP,
                'config': {
                    'eps': config.eps,
                    'features': _features_json(config.output_features),
                    'norm_map': norm_map,
                },
                'state_file': post_state,
            },
            {
                'registry_name': 'device_processor',
                'config': {'device': 'cpu', 'float_dtype': None},
            },
        ],
    }
    action_names = set(config.output_features)
    post_stats = {k: v for k, v in stats.items() if k in action_names}
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix='.processor-', dir=folder))
    try:
        (tmp / PREPROCESSOR_FILE).write_text(json.dumps(pre, indent=4) + '\n', encoding='utf-8')
        (tmp / POSTPROCESSOR_FILE).write_text(json.dumps(post, indent=4) + '\n', encoding='utf-8')
        save_file(flatten_stats(stats), str(tmp / pre_state))
        save_file(flatten_stats(post_stats), str(tmp / post_state))
        names = [PREPROCESSOR_FILE, POSTPROCESSOR_FILE, pre_state, post_state]
        for name in names:
            os.replace(tmp / name, folder / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [folder / n for n in names]
