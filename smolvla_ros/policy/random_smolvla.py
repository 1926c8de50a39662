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

from typing import Any

from smolvla_model.sizes import backbone_dict, layers_kept, stand_in_tokenizer
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
) -> Policy:
    """A random-initialised SmolVLA of ``size`` as a suite Policy (radians, 3 cameras).

    Raises:
        ValueError: unknown size, chunk_size < 1 or a joint count other than 6.
        ConfigError: an impossible precision/device combination.
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
        materialize_lm_head=False,
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


__all__ = ['MODEL_SIZES', 'MODEL_SLOTS', 'NUM_STEPS', 'build_random_smolvla', 'stand_in_tokenizer']
