"""Tiny random SmolVLA checkpoints for the action-space and policy tests.

Each checkpoint is built here: the micro architecture of the parity fixture (its config and
backbone folder), fresh random weights from ``smolvla_model.loading.build_model``, LeRobot's
processor files with statistics the test chooses, and optional column names / units / fps in
``config.json``. Loading goes through the real loader and processors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smolvla_model.checkpoint import save_checkpoint
from smolvla_model.config import SmolVLAConfig
from smolvla_model.hub import load_backbone_config
from smolvla_model.loading import build_model
from smolvla_model.processing.config import ProcessorConfig
from smolvla_model.processing.lerobot_files import write_processor_files
from smolvla_model.processing.normalization import stats_from_mapping

FIXTURES = Path(__file__).resolve().parent / 'fixtures' / 'smolvla_parity'
VLM = FIXTURES / 'vlm' / 'smolvlm2-micro'
IMAGE_HW = (48, 64)
# Two cameras named like a fine-tune on a top + wrist dataset (they bind to those slots).
CAMERAS = ('observation.images.top', 'observation.images.wrist')


def make_checkpoint(
    folder: Path,
    *,
    state_stats: Mapping[str, Sequence[float]],
    action_stats: Mapping[str, Sequence[float]],
    state_names: Sequence[str] | None = None,
    action_names: Sequence[str] | None = None,
    units: str | None = None,
    fps: float | None = None,
    dim: int = 6,
    cameras: Sequence[str] = CAMERAS,
    norm_map: Mapping[str, str] | None = None,
    empty_cameras: int = 0,
    seed: int = 0,
    chunk_size: int = 10,
) -> Path:
    """Write a random micro SmolVLA checkpoint into ``folder`` and return it.

    ``state_stats`` / ``action_stats``: ``{'mean': [...], 'std': [...]}`` (or min/max) in the
    checkpoint's units; with action std 0 every predicted action equals the action mean.
    ``chunk_size``: actions per chunk (short keeps the tests fast).
    """
    raw = json.loads((FIXTURES / 'micro_fp32' / 'config.json').read_text())
    raw['input_features'] = {
        **{c: {'type': 'VISUAL', 'shape': [3, *IMAGE_HW]} for c in cameras},
        'observation.state': {'type': 'STATE', 'shape': [dim]},
    }
    raw['output_features'] = {'action': {'type': 'ACTION', 'shape': [dim]}}
    raw['chunk_size'] = raw['n_action_steps'] = chunk_size
    raw['num_steps'] = 2
    raw['vlm_model_name'] = str(VLM)
    raw['empty_cameras'] = empty_cameras
    if norm_map is not None:
        raw['normalization_mapping'] = dict(norm_map)
    cfg = SmolVLAConfig.from_dict(raw)
    model = build_model(cfg, load_backbone_config(VLM), 'fp32', seed=seed)
    save_checkpoint(model, cfg.to_dict(), folder)
    pconfig = ProcessorConfig.from_policy_config(cfg.to_dict())
    stats = stats_from_mapping({'observation.state': state_stats, 'action': action_stats})
    write_processor_files(folder, pconfig, stats)
    # What the suite's metadata reader looks for (LeRobot's own files lack these).
    config = json.loads((folder / 'config.json').read_text())
    if state_names is not None:
        config['input_features']['observation.state']['names'] = list(state_names)
    if action_names is not None:
        config['output_features']['action']['names'] = list(action_names)
    if units is not None:
        config['units'] = units
    if fps is not None:
        config['fps'] = fps
    (folder / 'config.json').write_text(json.dumps(config, indent=2))
    return folder


def rgb(seed: int = 0) -> np.ndarray:
    """A random uint8 RGB frame of the checkpoint's image size."""
    return np.random.default_rng(seed).integers(0, 256, (*IMAGE_HW, 3), dtype=np.uint8)


def folder_state(folder: Path) -> dict[str, Any]:
    """Every file under ``folder`` with its size and mtime (to show nothing was written)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob('*'))
    }


def rng_state() -> torch.Tensor:
    """torch's global CPU RNG state: unchanged means no noise was drawn (the model never ran)."""
    return torch.get_rng_state().clone()
