"""Random-initialised SmolVLA policies at a named size, built offline (nothing is downloaded).

One builder shared by the benchmark (``smolvla-bench async --policy smolvla``, which times the
real architecture) and the standalone runner (``smolvla-run``, whose last fallback when no
checkpoint can be had is a random full-size SmolVLA, announced as meaningless):

======  =====================================================================================
size    architecture
======  =====================================================================================
tiny    the parity fixture's micro layout: text width 64, 4 of 8 layers kept, vision width 32
        with 2 layers, 64x64 images (4 tokens each); about 0.5 M parameters
small   text width 384 (6 heads, 2 KV heads), 8 of 16 layers kept, vision width 384 with 6
        layers, 256x256 images (16 tokens each); about 35 M parameters
full    smolvla_base's layout (450 M parameters; 403 M materialised, the unused lm_head is
        skipped): SmolVLM2-500M, 16 of 32 text layers, the 12-layer vision tower, 512x512
        images (64 tokens each)
======  =====================================================================================

All sizes: three cameras (top, wrist, side), 6 joints in radians, 10 Euler steps, the language
padded to its 48-token budget (so the cost does not depend on the instruction). The instruction
goes through the byte-level stand-in tokenizer of ``smolvla_model.sizes`` (the SmolVLM2
tokenizer cannot be downloaded); with fixed-length padding it changes token ids, not the amount
of work. The architectures come from that module's size table.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from smolvla_model.sizes import (
    backbone_dict,
    layers_kept,
    stand_in_tokenizer,
    write_backbone_folder,
)
from smolvla_ros.policy.protocol import Policy

# The sizes offered here (the size table itself, with 'sim' for training, is
# smolvla_model.sizes).
MODEL_SIZES: tuple[str, ...] = ('tiny', 'small', 'full')
MODEL_SLOTS: tuple[str, ...] = ('top', 'wrist', 'side')
# Euler steps per chunk: smolvla_base's default.
NUM_STEPS = 10


def build_random_smolvla(
    size: str,
    joint_names: tuple[str, ...],
    *,
    chunk_size: int = 50,
    dt_s: float = 1.0 / 30.0,
    precision: str = 'fp32',
    device: str = 'cpu',
    seed: int = 0,
    materialize_lm_head: bool = False,
) -> Policy:
    """A random-initialised SmolVLA of ``size`` as a suite Policy (radians, 3 cameras).

    Raises:
        ValueError: unknown size, chunk_size < 1 or a joint count other than 6.
        ConfigError: an impossible precision/device combination.

    ``materialize_lm_head``: allocate the (unused) lm_head too, as a saved checkpoint needs.
    """
    if size not in MODEL_SIZES:
        raise ValueError(f'unknown model size {size!r}; choose one of {MODEL_SIZES}')
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
    if len(joint_names) != 6:
        raise ValueError(f'the benchmark model has 6 joints, got {joint_names}')
    from smolvla_model.config import SmolVLAConfig
    from smolvla_model.hub import backbone_config_from_dict
    from smolvla_model.loading import build_model
    from smolvla_model.policy import SmolVLAPolicy
    from smolvla_model.processing.config import ProcessorConfig
    from smolvla_model.processing.normalization import stats_from_mapping
    from smolvla_model.processing.pipeline import Postprocessor, Preprocessor
    from smolvla_model.processing.tokenization import InstructionTokenizer
    from smolvla_ros.action_space import action_space_for_policy
    from smolvla_ros.policy.smolvla import SmolVLAChunkPolicy

    raw = backbone_dict(size)
    image = int(raw['vision_config']['image_size'])
    features: dict[str, Any] = {
        f'observation.images.{s}': {'type': 'VISUAL', 'shape': [3, image, image]}
        for s in MODEL_SLOTS
    }
    features['observation.state'] = {'type': 'STATE', 'shape': [6]}
    config = SmolVLAConfig(
        input_features=features,
        output_features={'action': {'type': 'ACTION', 'shape': [6]}},
        chunk_size=chunk_size,
        n_action_steps=chunk_size,
        resize_imgs_with_padding=(image, image),
        num_steps=NUM_STEPS,
        num_vlm_layers=layers_kept(size),
        pad_language_to='max_length',
    )
    model = build_model(
        config,
        backbone_config_from_dict(raw, source=f'{size} benchmark layout'),
        precision,
        device,
        seed=seed,
        # The unused lm_head stays unmaterialised (memory) unless the model is to be saved.
        materialize_lm_head=materialize_lm_head,
    )
    pconfig = ProcessorConfig.from_policy_config(config.to_dict())
    # Radians with unit spread: the state normalises to O(1) values as a trained model's would.
    stats = stats_from_mapping(
        {
            'observation.state': {'mean': [0.0] * 6, 'std': [1.0] * 6},
            'action': {'mean': [0.0] * 6, 'std': [1.0] * 6},
        }
    )
    tokenizer = InstructionTokenizer(
        stand_in_tokenizer(), max_length=config.tokenizer_max_length, padding='max_length'
    )
    policy = SmolVLAPolicy(
        model, Preprocessor(pconfig, tokenizer, stats), Postprocessor(pconfig, stats)
    )
    space = action_space_for_policy(policy, joint_names, units='radians')
    return SmolVLAChunkPolicy(policy, space, dt_s=dt_s, seed=seed)


def save_random_smolvla(
    folder: str | os.PathLike[str],
    size: str,
    joint_names: tuple[str, ...],
    *,
    chunk_size: int = 50,
    fps: float = 30.0,
    action_mean_rad: tuple[float, ...] | None = None,
    seed: int = 0,
) -> Path:
    """Write a random SmolVLA of ``size`` as a LeRobot checkpoint folder the suite's loader (and
    so ``policy_node``'s ``checkpoint`` parameter) reads, without any download.

    Layout: ``folder/policy`` (config.json, model.safetensors, processor files; its
    ``vlm_model_name`` names ``folder/backbone``) and ``folder/backbone`` (the backbone
    config.json and the stand-in tokenizer). Column names ``<joint>.pos``, units radians.

    Args:
        folder: an empty or missing folder.
        action_mean_rad: with it, the action statistics are this mean [rad] with std 0, so every
            predicted action equals it (the arm goes there and stays, whatever the weights);
            without it, mean 0 / std 1 as :func:`build_random_smolvla`.

    Returns:
        The checkpoint folder (``folder/policy``).

    Raises:
        ValueError: as :func:`build_random_smolvla`; an ``action_mean_rad`` of the wrong length.
        FileExistsError: ``folder/policy`` or ``folder/backbone`` exists and is not empty
            (nothing is written then).
    """
    import json

    from smolvla_model.processing.config import ProcessorConfig
    from smolvla_model.processing.lerobot_files import write_processor_files
    from smolvla_model.processing.normalization import stats_from_mapping

    if action_mean_rad is not None and len(action_mean_rad) != len(joint_names):
        raise ValueError(
            f'action_mean_rad has {len(action_mean_rad)} values for {len(joint_names)} joints'
        )
    root = Path(folder)
    for sub in ('policy', 'backbone'):  # refuse before anything is written
        if (root / sub).exists() and (not (root / sub).is_dir() or any((root / sub).iterdir())):
            raise FileExistsError(f'{root / sub} exists and is not empty; pick a new folder')
    chunk_policy = build_random_smolvla(
        size, joint_names, chunk_size=chunk_size, seed=seed, materialize_lm_head=True
    )
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    backbone = root / 'backbone'
    # Everything is written into a temporary folder and moved into place at the end, so a
    # failure leaves no half-written checkpoint.
    tmp = Path(tempfile.mkdtemp(prefix='.saving-', dir=root))
    try:
        write_backbone_folder(tmp / 'backbone', backbone_dict(size))
        staged = chunk_policy.policy.save_pretrained(tmp / 'policy')
        config = json.loads((staged / 'config.json').read_text())
        if action_mean_rad is not None:
            stats = stats_from_mapping(
                {
                    'observation.state': {'mean': [0.0] * 6, 'std': [1.0] * 6},
                    'action': {'mean': [float(v) for v in action_mean_rad], 'std': [0.0] * 6},
                }
            )
            write_processor_files(staged, ProcessorConfig.from_policy_config(config), stats)
        config['vlm_model_name'] = str(backbone.resolve())
        names = [f'{j}.pos' for j in joint_names]
        config['input_features']['observation.state']['names'] = names
        config['output_features']['action']['names'] = names
        config['units'] = 'radians'
        config['fps'] = fps
        (staged / 'config.json').write_text(json.dumps(config, indent=2))
        target = root / 'policy'
        for sub in ('backbone', 'policy'):
            if (root / sub).is_dir():
                (root / sub).rmdir()  # empty (checked above)
            os.replace(tmp / sub, root / sub)
    except BaseException:
        if created:  # leave no folder behind that was not there before
            shutil.rmtree(root, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


__all__ = [
    'MODEL_SIZES',
    'MODEL_SLOTS',
    'NUM_STEPS',
    'build_random_smolvla',
    'save_random_smolvla',
    'stand_in_tokenizer',
]
