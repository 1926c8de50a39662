"""Build SmolVLA in a chosen precision, from config alone or from a LeRobot checkpoint.

The network is first built on the ``meta`` device (no memory, no init cost), each part is given
its precision's dtype, and only then are tensors allocated: either filled from the checkpoint
(one tensor at a time, cast straight to the target dtype) or randomly initialised in place. So no
second copy of the weights is ever held, and the 450M-parameter model builds in seconds.

Precision modes:

* ``fp32``: everything float32 (exact mode; parity 1e-4 with LeRobot's fp32).
* ``reference``: the dtype mix LeRobot builds from the hub config (VLM and expert bf16 when
  ``load_vlm_weights``, else the backbone config's dtypes; cross-attention k/v and the five
  policy projections float32).
* ``bf16`` / ``fp16``: VLM and expert in that dtype, policy projections float32 (GPU modes;
  fp16 needs CUDA).
* ``int8``: the fast CPU mode, float32 with every Linear of the VLM and expert dynamically
  quantized to int8 (per-tensor weights, activations quantized on the fly; uses VNNI).
"""

from __future__ import annotations

import copy
import gc
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from smolvla_model.checkpoint import (
    WEIGHTS_NAME,
    load_into,
    read_checkpoint,
    split_normalization_buffers,
)
from smolvla_model.config import SmolVLAConfig, expert_intermediate_size
from smolvla_model.cpu_layout import store_weights_transposed
from smolvla_model.errors import ConfigError
from smolvla_model.hub import load_backbone_config, resolve_folder
from smolvla_model.modeling import SmolVLAModel, SmolVLMWithExpert
from smolvla_model.vision_positions import VISION_POSITION_MODES

PRECISIONS = ('fp32', 'reference', 'bf16', 'fp16', 'int8')
_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}


def check_precision(precision: str, device: torch.device | str) -> None:
    """Raises ConfigError for an unknown mode or a mode the device cannot run."""
    device = torch.device(device)
    if precision not in PRECISIONS:
        raise ConfigError(f'precision {precision!r} is not one of {PRECISIONS}')
    if precision == 'fp16' and device.type != 'cuda':
        raise ConfigError('precision "fp16" needs a CUDA device; on CPU use "fp32" or "int8"')
    if precision == 'int8' and device.type != 'cpu':
        raise ConfigError('precision "int8" (dynamic quantization) runs on CPU only; use "bf16"')


def _build_meta(config: SmolVLAConfig, backbone: Any) -> SmolVLAModel:
    from transformers import LlamaModel, SmolVLMForConditionalGeneration

    backbone = copy.deepcopy(backbone)
    text = backbone.text_config
    if config.num_vlm_layers > text.num_hidden_layers:
        raise ConfigError(
            f'num_vlm_layers={config.num_vlm_layers} but the backbone has only '
            f'{text.num_hidden_layers} text layers'
        )
    text.num_hidden_layers = config.num_vlm_layers  # keep only the first N layers
    backbone.vision_config._attn_implementation = 'sdpa'
    backbone._attn_implementation = 'sdpa'
    expert_cfg = copy.deepcopy(text)
    expert_cfg.hidden_size = int(text.hidden_size * config.expert_width_multiplier)
    expert_cfg.intermediate_size = expert_intermediate_size(expert_cfg.hidden_size)
    expert_cfg.num_hidden_layers = config.expert_num_layers
    expert_cfg.head_dim = text.head_dim  # explicit: not hidden / heads
    if config.expert_num_layers != config.num_vlm_layers:
        raise ConfigError(
            'num_expert_layers different from num_vlm_layers is not supported '
            f'({config.expert_num_layers} vs {config.num_vlm_layers})'
        )
    kv_width = text.num_key_value_heads * text.head_dim
    with torch.device('meta'):
        vlm = SmolVLMForConditionalGeneration(backbone)
        expert = LlamaModel(expert_cfg)
        expert.embed_tokens = None  # the expert reads embeddings, never token ids
        for i, layer in enumerate(expert.layers):
            if i % config.self_attn_every_n_layers != 0:  # cross layers read the VLM's K/V
                layer.self_attn.k_proj = nn.Linear(kv_width, kv_width, bias=text.attention_bias)
                layer.self_attn.v_proj = nn.Linear(kv_width, kv_width, bias=text.attention_bias)
        # Rotary modules hold non-persistent buffers we never use (RoPE is ours, base 10 000).
        del vlm.model.text_model.rotary_emb
        del expert.rotary_emb
        model = SmolVLAModel(config, SmolVLMWithExpert(vlm, expert, config))
    return model


def _dtype_plan(model: SmolVLAModel, backbone: Any, precision: str) -> list[tuple[nn.Module, Any]]:
    fm = model.model
    vwe = fm.vlm_with_expert
    vlm = vwe.vlm
    cross = [
        m
        for i, layer in enumerate(vwe.lm_expert.layers)
        if vwe.is_cross_layer(i)
        for m in (layer.self_attn.k_proj, layer.self_attn.v_proj)
    ]
    f32 = torch.float32
    if precision in ('fp32', 'int8'):
        return [(model, f32)]
    if precision == 'reference':
        if model.config.load_vlm_weights:  # from_pretrained(..., torch_dtype=bfloat16)
            vlm_dtype = text_dtype = torch.bfloat16
        else:  # from_config: each part in its config's dtype
            vlm_dtype = getattr(backbone, 'dtype', None) or f32
            text_dtype = getattr(backbone.text_config, 'dtype', None) or f32
        expert_dtype = getattr(backbone.text_config, 'dtype', None) or f32
        return [
            (model, f32),
            (vlm, vlm_dtype),
            (vlm.model.text_model, text_dtype),
            (vwe.lm_expert, expert_dtype),
            *[(m, f32) for m in cross],
        ]
    dtype = _DTYPES[precision]
    return [(model, f32), (vwe, dtype)]


def _init_random(name: str, t: torch.Tensor, generator: torch.Generator) -> None:
    with torch.no_grad():
        leaf = name.rsplit('.', 1)[-1]
        is_norm = 'norm' in name
        if leaf == 'bias':
            t.zero_()
        elif is_norm:
            t.fill_(1.0)
        else:
            t.normal_(0.0, 0.02, generator=generator)


def _materialize_random(
    model: SmolVLAModel, device: torch.device, seed: int, skip: tuple[str, ...]
) -> None:
    generator = torch.Generator(device=device).manual_seed(seed)
    for name, param in list(model.named_parameters()):
        if name.startswith(skip):
            continue
        module_name, _, attr = name.rpartition('.')
        module = model.get_submodule(module_name)
        data = torch.empty(param.shape, dtype=param.dtype, device=device)
        _init_random(name, data, generator)
        module._parameters[attr] = nn.Parameter(data, requires_grad=param.requires_grad)


def _quantization_blocks(vwe: SmolVLMWithExpert) -> list[nn.Module]:
    """The VLM and expert cut into blocks whose Linears together cover every Linear of both."""
    vlm = vwe.vlm.model
    return [
        *vlm.vision_model.encoder.layers,
        vlm.connector,
        *vlm.text_model.layers,
        *vwe.lm_expert.layers,
    ]


def _finish(model: SmolVLAModel, precision: str) -> SmolVLAModel:
    fm = model.model
    if precision == 'fp32' and model.device.type == 'cpu':
        # The expert's 50-token GEMMs run about 2x faster on weights stored [in, out]; see
        # smolvla_model.cpu_layout (values and checkpoints are unchanged).
        for part in (
            fm.vlm_with_expert.lm_expert,
            fm.action_in_proj,
            fm.action_out_proj,
            fm.action_time_mlp_in,
            fm.action_time_mlp_out,
        ):
            store_weights_transposed(part)
    if precision == 'int8':
        from torch.ao.quantization import quantize_dynamic

        vwe = model.model.vlm_with_expert
        # Block by block, with a full collection every few blocks: the replaced float Linears
        # sit in reference cycles (a closure inside torch's quantizer holds them), so without a
        # collection their fp32 weights (~1.3 GiB at full size) stay resident next to the new
        # int8 copies. A full collection costs ~0.2 s with transformers loaded, so not after
        # every one of the 45 blocks; 4 blocks' pending int8 copies are ~40 MB.
        blocks = _quantization_blocks(vwe)
        for i, block in enumerate(blocks, 1):
            quantize_dynamic(block, {nn.Linear}, dtype=torch.qint8, inplace=True)
            if i % 4 == 0 or i == len(blocks):
                gc.collect()
    model.precision = precision
    model.eval()
    return model


def build_model(
    config: SmolVLAConfig,
    backbone: Any,
    precision: str = 'fp32',
    device: torch.device | str = 'cpu',
    *,
    seed: int = 0,
    materialize_lm_head: bool = True,
) -> SmolVLAModel:
    """Build the architecture with random weights (normal(0, 0.02), norms 1, biases 0).

    Args:
        backbone: transformers SmolVLMConfig (see :func:`smolvla_model.hub.load_backbone_config`).
        materialize_lm_head: False leaves the unused ``lm_head`` on the meta device (saves its
            memory in benchmarks; such a model cannot be saved).
    Raises:
        ConfigError: impossible config/precision/device combination.
    """
    device = torch.device(device)
    check_precision(precision, device)
    model = _build_meta(config, backbone)
    for module, dtype in _dtype_plan(model, backbone, precision):
        module.to(dtype)
    skip = () if materialize_lm_head else ('model.vlm_with_expert.vlm.lm_head.',)
    _materialize_random(model, device, seed, skip)
    return _finish(model, precision)


@dataclass
class LoadedCheckpoint:
    """What :func:`load_model` found: the model and the files around it."""

    model: SmolVLAModel
    checkpoint_dir: Path
    vlm_dir: Path | None
    norm_buffers: dict[str, torch.Tensor]  # old-layout normalization buffers, if any


def resolve_vlm_dir(
    config: SmolVLAConfig, checkpoint_dir: Path, vlm_dir: str | os.PathLike[str] | None
) -> Path:
    """Folder of the backbone config/tokenizer: the override, else ``vlm_model_name`` as a path
    (as given, relative to the checkpoint or its parent) or a hub repo id.

    Raises:
        HubResolutionError: not found (names the repo and the fetch command).
    """
    if vlm_dir is not None:
        return resolve_folder(vlm_dir)
    return resolve_folder(
        config.vlm_model_name,
        search_dirs=(checkpoint_dir, checkpoint_dir.parent),
        allow_patterns=['*.json', '*.txt', '*.model'],
    )


def load_model(
    path_or_repo_id: str | os.PathLike[str],
    vlm_dir: str | os.PathLike[str] | None = None,
    precision: str = 'fp32',
    device: torch.device | str = 'cpu',
    backbone: Any = None,
    *,
    vision_position_mode: str = 'exact',
) -> LoadedCheckpoint:
    """Load a LeRobot SmolVLA checkpoint (local folder or hub repo id) strictly.

    Args:
        vlm_dir: backbone folder override (config.json + tokenizer); default: ``vlm_model_name``.
        backbone: a SmolVLMConfig to use instead of reading one (e.g. the built-in 500M config).
        vision_position_mode: 'exact' (default) or 'hf-4.55-fp32' to reproduce LeRobot on
            transformers 4.55-4.57 with an fp32 vision tower (``smolvla_model.vision_positions``).
    Raises:
        HubResolutionError: the checkpoint or backbone cannot be found.
        ConfigError: invalid config.json or precision.
        CheckpointError: unreadable weights, missing/unexpected keys or shape mismatches.
    """
    device = torch.device(device)
    check_precision(precision, device)
    if vision_position_mode not in VISION_POSITION_MODES:
        raise ConfigError(
            f'vision_position_mode {vision_position_mode!r} is unknown; '
            f'choose one of {VISION_POSITION_MODES}'
        )
    ckpt_dir = resolve_folder(path_or_repo_id, allow_patterns=['*.json', '*.safetensors'])
    config = SmolVLAConfig.from_json(ckpt_dir)
    found_vlm = None
    if backbone is None:
        found_vlm = resolve_vlm_dir(config, ckpt_dir, vlm_dir)
        backbone = load_backbone_config(found_vlm)
    state = read_checkpoint(ckpt_dir / WEIGHTS_NAME)
    model_sd, norm = split_normalization_buffers(state)
    del state
    model = _build_meta(config, backbone)
    for module, dtype in _dtype_plan(model, backbone, precision):
        module.to(dtype)
    # Tensors land on `device` one at a time; give load_into a device hint via one real tensor.
    model.model.action_out_proj.bias = nn.Parameter(
        torch.empty(model.model.action_out_proj.bias.shape, dtype=torch.float32, device=device)
    )
    load_into(model, model_sd, str(ckpt_dir / WEIGHTS_NAME))
    model.model.vlm_with_expert.vision_position_mode = vision_position_mode
    return LoadedCheckpoint(_finish(model, precision), ckpt_dir, found_vlm, norm)
