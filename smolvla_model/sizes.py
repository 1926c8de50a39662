"""Named SmolVLA architecture sizes, built offline, and the byte-level stand-in tokenizer.

The one size table of the project: the benchmark and the runner build random models from it
(``smolvla_ros.policy.random_smolvla``), the trainer (``smolvla_model.train``) trains from scratch
at one of its sizes.

======  =====================================================================================
size    architecture
======  =====================================================================================
tiny    the parity fixture's micro layout: text width 64, 4 of 8 layers kept, vision width 32
        with 2 layers, 64x64 images (4 tokens each); about 0.5 M parameters
sim     made for training on a 2-core CPU in about an hour (``smolvla-train``): text width 256
        (4 heads, 2 KV heads), 4 layers kept, expert width 192, vision width 128 with 3 layers,
        128x128 images (16 tokens each); about 6 M parameters (see docs/notes/train.md)
small   text width 384 (6 heads, 2 KV heads), 8 of 16 layers kept, vision width 384 with 6
        layers, 256x256 images (16 tokens each); about 35 M parameters
full    smolvla_base's layout (450 M parameters): SmolVLM2-500M, 16 of 32 text layers, the
        12-layer vision tower, 512x512 images (64 tokens each)
======  =====================================================================================

The stand-in tokenizer is byte-level (one token per UTF-8 byte, ids 0..255, pad id 256): the
SmolVLM2 tokenizer cannot be downloaded here, and for the short fixed instructions of the
simulator tasks a byte-level vocabulary loses nothing a small model could use.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from smolvla_model.errors import ConfigError

MODEL_SIZES: tuple[str, ...] = ('tiny', 'sim', 'small', 'full')
# Text layers kept (num_vlm_layers) per size.
LAYERS_KEPT: dict[str, int] = {'tiny': 4, 'sim': 4, 'small': 8, 'full': 16}
# Files of a backbone folder that loading needs (config + tokenizer); never the VLM weights.
BACKBONE_FILE_PATTERNS: tuple[str, ...] = ('*.json', '*.txt', '*.model')


def _check_size(size: str) -> None:
    if size not in MODEL_SIZES:
        raise ConfigError(f'unknown model size {size!r}; choose one of {MODEL_SIZES}')


def default_image_size(size: str) -> int:
    """The square image side (pixels) a size is built for.

    Raises:
        ConfigError: unknown size.
    """
    return int(backbone_dict(size)['vision_config']['image_size'])


def backbone_dict(size: str, image_size: int | None = None) -> dict[str, Any]:
    """The SmolVLM backbone config of ``size`` (read by ``hub.backbone_config_from_dict``).

    Args:
        image_size: square image side in pixels overriding the size's default; it must be a
            multiple of patch size x pixel-shuffle factor (16 x scale) so the patch grid shuffles
            into whole tokens.
    Raises:
        ConfigError: unknown size, or an image size the vision tower cannot take.
    """
    from smolvla_model.config import smolvlm2_500m_backbone_dict

    _check_size(size)
    raw = smolvlm2_500m_backbone_dict()
    if size != 'full':
        if size == 'tiny':
            text = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=8)
            text.update(num_attention_heads=4, num_key_value_heads=2, head_dim=16, vocab_size=1024)
            vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2)
            vision.update(num_attention_heads=2, image_size=64)
            scale = 2
        elif size == 'sim':
            # Chosen by measured step time (docs/notes/train.md): the text/expert stack is most of
            # the cost, the vision tower is cheap at 16 patches a side.
            text = dict(hidden_size=256, intermediate_size=768, num_hidden_layers=4)
            text.update(num_attention_heads=4, num_key_value_heads=2, head_dim=64, vocab_size=512)
            vision = dict(hidden_size=128, intermediate_size=512, num_hidden_layers=3)
            vision.update(num_attention_heads=2, image_size=128)
            scale = 2
        else:  # small
            text = dict(hidden_size=384, intermediate_size=1024, num_hidden_layers=16)
            text.update(num_attention_heads=6, num_key_value_heads=2, head_dim=64, vocab_size=4096)
            vision = dict(hidden_size=384, intermediate_size=1536, num_hidden_layers=6)
            vision.update(num_attention_heads=6, image_size=256)
            scale = 4
        raw['text_config'].update(text)
        raw['vision_config'].update(vision)
        raw['vocab_size'] = text['vocab_size']
        raw['image_token_id'] = text['vocab_size'] - 1
        raw['scale_factor'] = scale
        raw['torch_dtype'] = raw['text_config']['torch_dtype'] = 'float32'
    if image_size is not None:
        step = int(raw['vision_config']['patch_size']) * int(raw['scale_factor'])
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < step:
            raise ConfigError(f'image size must be an integer >= {step}, got {image_size!r}')
        if image_size % step:
            raise ConfigError(
                f'image size {image_size} is not a multiple of {step} (patch size x pixel '
                f'shuffle of size {size!r}); use e.g. {step * max(1, round(image_size / step))}'
            )
        raw['vision_config']['image_size'] = image_size
    return raw


def layers_kept(size: str) -> int:
    """Text (and expert) layers kept at ``size``; raises ConfigError for an unknown size."""
    _check_size(size)
    return LAYERS_KEPT[size]


def stand_in_tokenizer() -> Any:
    """A byte-level tokenizer (one token per UTF-8 byte, ids 0..255, pad id 256) as a transformers
    tokenizer, built in memory; see the module docstring for why it is enough here."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    vocab['<pad>'] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token='<pad>')


def write_backbone_folder(
    folder: str | os.PathLike[str], raw: dict[str, Any], tokenizer: Any | None = None
) -> Path:
    """Write a backbone folder that ``loading.load_model`` and the tokenizer loader read offline:
    ``config.json`` (the SmolVLM config ``raw``) and the tokenizer files (the stand-in tokenizer
    unless ``tokenizer`` is given).

    Raises:
        OSError: the folder cannot be written.
    """
    import json

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (tokenizer if tokenizer is not None else stand_in_tokenizer()).save_pretrained(str(out))
    (out / 'config.json').write_text(json.dumps(raw, indent=2))
    return out


__all__ = [
    'BACKBONE_FILE_PATTERNS',
    'LAYERS_KEPT',
    'MODEL_SIZES',
    'backbone_dict',
    'default_image_size',
    'layers_kept',
    'stand_in_tokenizer',
    'write_backbone_folder',
]
