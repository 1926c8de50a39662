"""SmolVLA: SmolVLM2 backbone + action expert + flow matching, in torch + transformers.

Module attribute names equal LeRobot's checkpoint keys (``model.vlm_with_expert.vlm...``,
``model.vlm_with_expert.lm_expert...``, ``model.state_proj`` ...): the state-dict names are a
public API. transformers supplies the vision tower, connector and Llama decoder-layer modules
(for their weights, norms and MLPs); the joint VLM + expert attention, masks, RoPE, time
embedding and the Euler loop are written here.

Shapes: B batch, N cameras, P prefix length (N*T_img + L + 1), C chunk size, A max_action_dim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from smolvla_model.attention import (
    apply_rope,
    gqa_attention,
    make_att_2d_masks,
    sinusoidal_time_embedding,
)
from smolvla_model.batch import ModelInputs
from smolvla_model.config import SmolVLAConfig, check_num_steps
from smolvla_model.errors import InputError
from smolvla_model.vision_positions import vision_position_ids


def _round_to_fp32(value: float) -> float:
    """The fp32 number nearest to ``value`` (as a Python float)."""
    return float(torch.tensor(value, dtype=torch.float32))


def _weight_dtype(linear: nn.Module) -> torch.dtype:
    """Input dtype a linear layer wants (float32 for dynamically quantized ones)."""
    weight = getattr(linear, 'weight', None)
    if isinstance(weight, torch.Tensor) and weight.is_floating_point():
        return weight.dtype
    return torch.float32


@dataclass
class PrefixCache:
    """Per-layer post-RoPE keys and values of the prefix ([B, P, Hkv, D] each).

    ``cross_kv`` memoises the expert's cross-attention projections of those keys and values:
    they do not depend on the denoising step, so computing them once per chunk is exact.
    """

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    pad_masks: torch.Tensor  # [B, P] bool
    cross_kv: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)


class SmolVLMWithExpert(nn.Module):
    """The truncated SmolVLM2 (``vlm``) and the action expert (``lm_expert``), run jointly."""

    def __init__(self, vlm: nn.Module, lm_expert: nn.Module, config: SmolVLAConfig) -> None:
        super().__init__()
        self.vlm = vlm  # SmolVLMForConditionalGeneration, text layers cut to num_vlm_layers
        self.lm_expert = lm_expert  # LlamaModel without embed_tokens
        text = vlm.config.text_config
        self.num_heads = text.num_attention_heads
        self.num_kv_heads = text.num_key_value_heads
        self.head_dim = text.head_dim
        self.num_layers = config.num_vlm_layers
        self.self_attn_every_n_layers = config.self_attn_every_n_layers
        # 'exact' or 'hf-4.55-fp32'; see smolvla_model.vision_positions.
        self.vision_position_mode = 'exact'
        # Position ids per (rows, cols, mode, device), made once: a host-to-device copy on every
        # call would also make the forward pass impossible to capture in a CUDA graph.
        self._position_ids: dict[tuple[int, int, str, torch.device], torch.Tensor] = {}

    # --- embeddings -----------------------------------------------------------------------
    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [-1, 1] -> [B, T_img, hidden] image tokens (before scaling).

        The patch position ids are computed by ``vision_positions`` (see there why), then the
        tower's own encoder, post-layernorm and connector run unchanged.
        """
        vision = self.vlm.model.vision_model
        emb = vision.embeddings
        patch = emb.patch_embedding
        x = patch(images.to(patch.weight.dtype))  # [B, C, rows, cols]
        rows, cols = x.shape[-2:]
        key = (rows, cols, self.vision_position_mode, x.device)
        if key not in self._position_ids:
            ids = vision_position_ids(rows, cols, emb.num_patches_per_side, key[2])
            self._position_ids[key] = ids.to(x.device)
        # [B, T, C] made contiguous once: as a transposed view, every residual add and LayerNorm
        # of the tower would run on (and copy out of) column-major memory.
        tokens = x.flatten(2).transpose(1, 2).contiguous()
        h = tokens + emb.position_embedding(self._position_ids[key])[None]
        h = vision.post_layernorm(vision.encoder(inputs_embeds=h).last_hidden_state)
        return self.vlm.model.connector(h)

    def embed_language(self, tokens: torch.Tensor) -> torch.Tensor:
        """[B, L] ids -> [B, L, hidden] token embeddings (before scaling)."""
        return self.vlm.model.text_model.embed_tokens(tokens)

    def is_cross_layer(self, index: int) -> bool:
        return index % self.self_attn_every_n_layers != 0

    # --- one stream's projections ---------------------------------------------------------
    def _qkv(
        self, layer: nn.Module, h: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        attn = layer.self_attn
        x = layer.input_layernorm(h).to(_weight_dtype(attn.q_proj))
        shape = (*x.shape[:-1], -1, self.head_dim)
        return attn.q_proj(x).view(shape), attn.k_proj(x).view(shape), attn.v_proj(x).view(shape)

    @staticmethod
    def _finish(layer: nn.Module, att: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """o_proj + residual, then the MLP block (pre-norm) + residual."""
        out = layer.self_attn.o_proj(att.to(_weight_dtype(layer.self_attn.o_proj)))
        out = (out + residual).to(out.dtype)  # the stream takes o_proj's dtype, as in LeRobot
        return out + layer.mlp(layer.post_attention_layernorm(out))

    # --- prefix pass (fills the cache) ----------------------------------------------------
    def fill_prefix_cache(
        self, prefix: torch.Tensor, pad_masks: torch.Tensor, att_flags: torch.Tensor
    ) -> PrefixCache:
        """Run the VLM layers over the prefix and keep each layer's post-RoPE K and V.

        Args:
            prefix: [B, P, hidden] embedded prefix.
            pad_masks, att_flags: [B, P] bool.
        """
        mask = make_att_2d_masks(pad_masks, att_flags)  # [B, P, P]
        positions = torch.cumsum(pad_masks.to(torch.int64), dim=1) - 1
        keys, values = [], []
        h = prefix
        layers = self.vlm.model.text_model.layers
        for i in range(self.num_layers):
            layer = layers[i]
            q, k, v = self._qkv(layer, h)
            q, k = apply_rope(q, positions), apply_rope(k, positions)
            keys.append(k)
            values.append(v)
            if i < self.num_layers - 1:  # the last layer's prefix output is never used
                h = self._finish(layer, gqa_attention(q, k, v, mask), h)
        return PrefixCache(keys=keys, values=values, pad_masks=pad_masks)

    def _cross_kv(self, cache: PrefixCache, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if i not in cache.cross_kv:
            cache.cross_kv[i] = self._project_cross(i, cache.keys[i], cache.values[i])
        return cache.cross_kv[i]

    def _project_cross(
        self, i: int, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        attn = self.lm_expert.layers[i].self_attn
        B, P = k.shape[:2]
        kx = attn.k_proj(k.reshape(B, P, -1).to(_weight_dtype(attn.k_proj)))
        vx = attn.v_proj(v.reshape(B, P, -1).to(_weight_dtype(attn.v_proj)))
        return kx.view(B, P, -1, self.head_dim), vx.view(B, P, -1, self.head_dim)

    # --- expert pass ----------------------------------------------------------------------
    def expert_forward(
        self,
        suffix: torch.Tensor,
        suffix_att_flags: torch.Tensor,
        cache: PrefixCache,
    ) -> torch.Tensor:
        """Run the expert over the suffix, attending to the cached prefix.

        Args:
            suffix: [B, C, expert_hidden] embedded noisy actions + time.
            suffix_att_flags: [B, C] block flags (all 1: the chunk is causal).
        Returns:
            [B, C, expert_hidden] after the expert's final norm.
        """
        B, C = suffix.shape[:2]
        suffix_pad = torch.ones(B, C, dtype=torch.bool, device=suffix.device)
        prefix_cols = cache.pad_masks[:, None, :].expand(B, C, cache.pad_masks.shape[1])
        self_mask = torch.cat([prefix_cols, make_att_2d_masks(suffix_pad, suffix_att_flags)], 2)
        n_valid = cache.pad_masks.sum(dim=1, keepdim=True)  # [B, 1]
        positions = n_valid + torch.cumsum(suffix_pad.to(torch.int64), dim=1) - 1
        local_positions = positions - positions.min(dim=1, keepdim=True).values
        h = suffix
        for i in range(self.num_layers):
            layer = self.lm_expert.layers[i]
            if self.is_cross_layer(i):
                x = layer.input_layernorm(h).to(_weight_dtype(layer.self_attn.q_proj))
                q = layer.self_attn.q_proj(x).view(B, C, -1, self.head_dim)
                q = apply_rope(q, local_positions)
                k, v = self._cross_kv(cache, i)
                att = gqa_attention(q, k, v, prefix_cols)
            else:
                q, k, v = self._qkv(layer, h)
                q, k = apply_rope(q, positions), apply_rope(k, positions)
                k = torch.cat([cache.keys[i], k.to(cache.keys[i].dtype)], dim=1)
                v = torch.cat([cache.values[i], v.to(cache.values[i].dtype)], dim=1)
                att = gqa_attention(q, k, v, self_mask)
            h = self._finish(layer, att, h)
        return self.lm_expert.norm(h)

    def joint_forward(
        self,
        prefix: torch.Tensor,
        prefix_pad: torch.Tensor,
        prefix_flags: torch.Tensor,
        suffix: torch.Tensor,
        suffix_flags: torch.Tensor,
    ) -> torch.Tensor:
        """Training pass without a cache: the same maths as fill + expert, differentiable.

        The prefix never attends to the suffix (block flags), so the prefix stream equals the
        prefix-only pass; the expert then attends to it exactly as in :meth:`expert_forward`.
        """
        cache = self.fill_prefix_cache(prefix, prefix_pad, prefix_flags)
        return self.expert_forward(suffix, suffix_flags, cache)


class VLAFlowMatching(nn.Module):
    """Prefix/suffix embedding, the velocity field, the Euler sampler and the training loss."""

    def __init__(self, config: SmolVLAConfig, vlm_with_expert: SmolVLMWithExpert) -> None:
        super().__init__()
        self.config = config
        self.vlm_with_expert = vlm_with_expert
        text_hidden = vlm_with_expert.vlm.config.text_config.hidden_size
        expert_hidden = vlm_with_expert.lm_expert.config.hidden_size
        self.state_proj = nn.Linear(config.max_state_dim, text_hidden)
        self.action_in_proj = nn.Linear(config.max_action_dim, expert_hidden)
        self.action_out_proj = nn.Linear(expert_hidden, config.max_action_dim)
        self.action_time_mlp_in = nn.Linear(2 * expert_hidden, expert_hidden)
        self.action_time_mlp_out = nn.Linear(expert_hidden, expert_hidden)
        # Skip the vision pass of a camera slot that is empty for the whole batch. Deciding that
        # reads the masks on the host (a device sync), which a CUDA graph cannot contain; the
        # graph sampler turns it off and runs every slot (masked slots are never attended to,
        # so the actions are the same either way).
        self.skip_empty_cameras = True

    def embed_prefix(self, inputs: ModelInputs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """[cameras..., language, state] -> (embs [B, P, hidden], pad [B, P], flags [B, P])."""
        vwe = self.vlm_with_expert
        B = inputs.batch_size
        device = inputs.state.device
        embs, pads, flags = [], [], []
        image_embs = self._embed_camera_slots(inputs)
        for raw, valid in zip(image_embs, inputs.image_masks, strict=True):
            # scale by sqrt(width) rounded to the image dtype (31.0 in bf16), as LeRobot does
            emb = raw * raw.new_full((), raw.shape[-1] ** 0.5)
            embs.append(emb)
            pads.append(valid.to(torch.bool)[:, None].expand(B, emb.shape[1]))
            flags.append(torch.zeros(B, emb.shape[1], dtype=torch.bool, device=device))
        lang = vwe.embed_language(inputs.lang_tokens)
        embs.append(lang * math.sqrt(lang.shape[-1]))
        pads.append(inputs.lang_masks.to(torch.bool))
        flags.append(torch.zeros_like(inputs.lang_masks, dtype=torch.bool))
        state = inputs.state.to(self.state_proj.weight.dtype)
        embs.append(self.state_proj(state)[:, None, :])
        pads.append(torch.ones(B, 1, dtype=torch.bool, device=device))
        flags.append(torch.ones(B, 1, dtype=torch.bool, device=device))
        return torch.cat(embs, dim=1), torch.cat(pads, dim=1), torch.cat(flags, dim=1)

    def _embed_camera_slots(self, inputs: ModelInputs) -> list[torch.Tensor]:
        """Vision tokens per camera.

        On a GPU, cameras of one size run as one batch (same maths, fewer launches). On the CPU
        they run one after another: a 1024-patch camera already fills the cores, and the batch
        would triple the tower's activation memory (about 110 MiB more peak RSS for 3 cameras).
        A slot that is empty for the whole batch is never attended to, so it gets zeros instead
        of a vision pass.
        """
        vwe = self.vlm_with_expert
        live = [
            i
            for i, m in enumerate(inputs.image_masks)
            if not self.skip_empty_cameras or bool(m.any())
        ]
        out: list[torch.Tensor | None] = [None] * len(inputs.images)
        if live:
            shapes = {tuple(inputs.images[i].shape) for i in live}
            if len(shapes) == 1 and inputs.images[live[0]].device.type != 'cpu':
                stacked = torch.cat([inputs.images[i] for i in live], dim=0)
                for i, emb in zip(
                    live, vwe.embed_images(stacked).chunk(len(live), dim=0), strict=True
                ):
                    out[i] = emb
            else:
                for i in live:
                    out[i] = vwe.embed_images(inputs.images[i])
        template = next((e for e in out if e is not None), None)
        for i, e in enumerate(out):
            if e is None:
                if template is None:
                    template = vwe.embed_images(inputs.images[i])
                out[i] = torch.zeros_like(template)
        return out  # type: ignore[return-value]

    def embed_suffix(
        self, x_t: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Noisy actions [B, C, A] and times [B] -> (tokens [B, C, expert_hidden], flags)."""
        action_emb = self.action_in_proj(x_t.to(self.action_in_proj.weight.dtype))
        time_emb = sinusoidal_time_embedding(
            t, action_emb.shape[-1], self.config.min_period, self.config.max_period
        ).to(action_emb.dtype)
        time_emb = time_emb[:, None, :].expand_as(action_emb)
        h = self.action_time_mlp_in(torch.cat([action_emb, time_emb], dim=2))
        h = self.action_time_mlp_out(F.silu(h))
        flags = torch.ones(x_t.shape[:2], dtype=torch.bool, device=x_t.device)
        return h, flags

    def velocity(self, x_t: torch.Tensor, t: torch.Tensor, cache: PrefixCache) -> torch.Tensor:
        """v(x_t, t) [B, C, A] float32, given the prefix cache."""
        suffix, flags = self.embed_suffix(x_t, t)
        out = self.vlm_with_expert.expert_forward(suffix, flags, cache)
        out = out[:, -self.config.chunk_size :].to(torch.float32)
        return self.action_out_proj(out.to(self.action_out_proj.weight.dtype)).to(torch.float32)


class SmolVLAModel(nn.Module):
    """The whole policy network. ``state_dict()`` keys are LeRobot's (``model.`` prefix).

    Use :func:`smolvla_model.loading.build_model` / ``load_model`` to construct it with the
    right dtypes; ``precision`` records which mode it was built in.
    """

    def __init__(self, config: SmolVLAConfig, vlm_with_expert: SmolVLMWithExpert) -> None:
        super().__init__()
        self.config = config
        self.model = VLAFlowMatching(config, vlm_with_expert)
        self.precision = 'fp32'

    @property
    def device(self) -> torch.device:
        return self.model.state_proj.weight.device

    def sample_noise(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Standard normal noise [B, C, A] float32 on the model's device."""
        shape = (batch_size, self.config.chunk_size, self.config.max_action_dim)
        if generator is not None and generator.device != self.device:
            return torch.randn(shape, generator=generator, device=generator.device).to(self.device)
        return torch.randn(shape, generator=generator, device=self.device)

    def check_inputs(self, inputs: ModelInputs) -> None:
        """Reject a batch the network cannot consume (shape or count errors).

        Raises:
            InputError: names the field and the expected shape.
        """
        B = inputs.batch_size
        if not inputs.images:
            raise InputError('inputs.images is empty: SmolVLA needs at least one camera slot')
        if len(inputs.images) != len(inputs.image_masks):
            raise InputError(
                f'{len(inputs.images)} images but {len(inputs.image_masks)} image_masks'
            )
        for i, (im, m) in enumerate(zip(inputs.images, inputs.image_masks, strict=False)):
            if im.ndim != 4 or im.shape[0] != B or im.shape[1] != 3:
                raise InputError(
                    f'images[{i}] has shape {tuple(im.shape)}; expected [{B}, 3, H, W]'
                )
            if tuple(m.shape) != (B,):
                raise InputError(f'image_masks[{i}] has shape {tuple(m.shape)}; expected [{B}]')
        if tuple(inputs.state.shape) != (B, self.config.max_state_dim):
            raise InputError(
                f'state has shape {tuple(inputs.state.shape)}; expected '
                f'[{B}, {self.config.max_state_dim}] (normalized, zero-padded)'
            )
        if inputs.lang_tokens.ndim != 2 or inputs.lang_tokens.shape[0] != B:
            raise InputError(
                f'lang_tokens has shape {tuple(inputs.lang_tokens.shape)}; need [B, L]'
            )
        if inputs.lang_masks.shape != inputs.lang_tokens.shape:
            raise InputError('lang_masks must have the shape of lang_tokens')

    @torch.no_grad()
    def sample_actions(
        self,
        inputs: ModelInputs,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        num_steps: int | None = None,
        return_intermediates: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Predict one action chunk with the prefix KV cache and Euler steps from t=1 to t=0.

        Args:
            inputs: the pre-processed batch.
            noise: [B, C, A] starting noise; drawn from ``generator`` when None.
            num_steps: Euler steps (default ``config.num_steps``).
            return_intermediates: also return prefix_embs, x_t, v_t and t per step.
        Returns:
            [B, C, A] float32 actions in the normalized, padded action space (and the dict).
        Raises:
            InputError: bad input shapes; ``ConfigError`` (a ValueError) for a ``num_steps``
                that is not an integer in 1..1000.
        """
        self.check_inputs(inputs)
        steps = self.config.num_steps if num_steps is None else check_num_steps(num_steps)
        inputs = inputs.to(self.device)
        B = inputs.batch_size
        expected = (B, self.config.chunk_size, self.config.max_action_dim)
        if noise is None:
            noise = self.sample_noise(B, generator)
        elif tuple(noise.shape) != expected:
            raise InputError(f'noise has shape {tuple(noise.shape)}; expected {list(expected)}')
        fm = self.model
        prefix, pad, flags = fm.embed_prefix(inputs)
        cache = fm.vlm_with_expert.fill_prefix_cache(prefix, pad, flags)
        # The schedule enters the device as fill values: no host-to-device copies (a CUDA graph
        # can hold this loop). LeRobot computes each time as 1 + k*dt in Python floats (double)
        # and only then rounds it to fp32; doing the arithmetic in fp32 instead is one ulp off at
        # some steps (0.4, 0.2, 0.1 for 10 steps), and a bf16 expert turns that ulp into a
        # velocity gap of ~5e-3. dt itself multiplies fp32 velocities, so it acts as fp32.
        dt = _round_to_fp32(-1.0 / steps)
        times = [_round_to_fp32(1.0 + step * (-1.0 / steps)) for step in range(steps)]
        x = noise.to(self.device, torch.float32)
        xs, vs, ts = [], [], []
        for time_f32 in times:
            t = torch.full((B,), time_f32, dtype=torch.float32, device=self.device)
            v = fm.velocity(x, t, cache)
            if return_intermediates:
                xs.append(x)
                vs.append(v)
                ts.append(t)
            x = x + dt * v  # dt is an fp32 value, so the product rounds as with an fp32 scalar
        if not return_intermediates:
            return x
        extra = {
            'prefix_embs': prefix.float(),
            'prefix_pad_masks': pad,
            'prefix_att_masks': flags,
            'x_t': torch.stack(xs),
            'v_t': torch.stack(vs),
            't': torch.stack(ts),
        }
        return x, extra

    def forward_velocity(
        self, inputs: ModelInputs, x_t: torch.Tensor, t: torch.Tensor
    ) -> torch.Tensor:
        """Differentiable v(x_t, t) [B, C, A] without a persistent cache (for training)."""
        fm = self.model
        prefix, pad, flags = fm.embed_prefix(inputs)
        suffix, sflags = fm.embed_suffix(x_t, t)
        out = fm.vlm_with_expert.joint_forward(prefix, pad, flags, suffix, sflags)
        out = out[:, -self.config.chunk_size :].to(torch.float32)
        return fm.action_out_proj(out.to(fm.action_out_proj.weight.dtype)).to(torch.float32)
