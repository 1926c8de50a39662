"""The attention pieces SmolVLA computes itself: masks, RoPE, GQA attention, time embedding.

These follow LeRobot's numerics on purpose (see ``docs``: RoPE base 10 000 with half-split
rotation in fp32; q.k in fp32, masked logits at the fp32 minimum, probabilities cast to v's dtype),
because the checkpoints were trained with them and parity is judged to 1e-4. Where every input is
fp32, the fused kernel computes the same maths (only the fp32 summation order differs).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

ROPE_MAX_WAVELENGTH = 10_000.0  # SmolVLA's fixed base; the backbone's rope_theta is NOT used


def make_att_2d_masks(pad_masks: torch.Tensor, att_flags: torch.Tensor) -> torch.Tensor:
    """Block-causal 2D mask from per-token flags.

    Token i may attend to token j iff cumsum(flags)[j] <= cumsum(flags)[i] and both are real
    (not padding). Flags 0 join the previous block; a flag 1 starts a new block that sees all
    earlier blocks.

    Args:
        pad_masks: [B, L] bool, True on real tokens.
        att_flags: [B, L] int/bool block flags.
    Returns:
        [B, L, L] bool, True where query (row) may attend to key (column).
    """
    cum = torch.cumsum(att_flags.to(torch.int64), dim=1)  # [B, L]
    causal = cum[:, None, :] <= cum[:, :, None]  # [B, Lq, Lk]
    pads = pad_masks[:, None, :] & pad_masks[:, :, None]
    return causal & pads


def apply_rope(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotate x by its positions (half-split rotary embedding, base 10 000), computed in fp32.

    Args:
        x: [B, L, H, D] queries or keys (D even).
        positions: [B, L] integer positions.
    Returns:
        Tensor like ``x`` (same dtype).
    """
    half = x.shape[-1] // 2
    xf = x.to(torch.float32)
    exponents = (2.0 / x.shape[-1]) * torch.arange(half, dtype=torch.float32, device=x.device)
    timescale = ROPE_MAX_WAVELENGTH**exponents  # [D/2]
    angles = positions.to(torch.float32)[..., None] / timescale  # [B, L, D/2]
    angles = angles[:, :, None, :]  # broadcast over heads
    sin, cos = torch.sin(angles), torch.cos(angles)
    x1, x2 = xf[..., :half], xf[..., half:]
    out = torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)
    return out.to(x.dtype)


def gqa_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Grouped-query attention with LeRobot's eager numerics (fused when all inputs are fp32).

    Args:
        q: [B, Lq, Hq, D]; k, v: [B, Lk, Hkv, D] with Hq a multiple of Hkv (KV head h serves
            query heads h*g .. h*g+g-1).
        mask: [B, Lq, Lk] bool, True where attention is allowed.
    Returns:
        [B, Lq, Hq * D] in v's dtype.
    """
    B, Lq, Hq, D = q.shape
    if q.dtype == k.dtype == v.dtype == torch.float32:
        # All-fp32 (the fp32 and int8 modes): PyTorch's fused kernel is the same maths up to
        # fp32 summation order, without materialising the repeated K/V, the scores and the
        # masked copy. A query row with no allowed key (a padding token) gets zeros rather than
        # the eager path's uniform average; no real token ever attends to such a row.
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            attn_mask=mask[:, None],
            enable_gqa=True,
        )
        return out.transpose(1, 2).reshape(B, Lq, Hq * D)
    groups = Hq // k.shape[2]
    k = k.repeat_interleave(groups, dim=2)
    v = v.repeat_interleave(groups, dim=2)
    qf = q.to(torch.float32).transpose(1, 2)  # [B, Hq, Lq, D]
    kf = k.to(torch.float32).transpose(1, 2)  # [B, Hq, Lk, D]
    scores = torch.matmul(qf, kf.transpose(2, 3)) * (D**-0.5)  # [B, Hq, Lq, Lk] fp32
    scores = torch.where(mask[:, None], scores, torch.finfo(torch.float32).min)
    probs = F.softmax(scores, dim=-1).to(v.dtype)
    out = torch.matmul(probs, v.transpose(1, 2))  # [B, Hq, Lq, D]
    return out.transpose(1, 2).reshape(B, Lq, Hq * D)


def sinusoidal_time_embedding(
    t: torch.Tensor, dim: int, min_period: float, max_period: float
) -> torch.Tensor:
    """Sin/cos embedding of the flow-matching time.

    Periods are geometrically spaced from ``min_period`` to ``max_period``; the first half of the
    output is the sines, the second half the cosines. Computed in float64 (float32 on MPS, which
    has no float64) so the small periods stay accurate.

    Args:
        t: [B] times in [0, 1].
        dim: embedding width (even).
    Returns:
        [B, dim] float32.
    Raises:
        ValueError: ``dim`` is odd or ``t`` is not 1-D.
    """
    if dim % 2:
        raise ValueError(f'time embedding width must be even, got {dim}')
    if t.ndim != 1:
        raise ValueError(f'time must be a 1-D [B] tensor, got shape {tuple(t.shape)}')
    dtype = torch.float32 if t.device.type == 'mps' else torch.float64
    fraction = torch.linspace(0.0, 1.0, dim // 2, dtype=dtype, device=t.device)
    period = min_period * (max_period / min_period) ** fraction
    omega = 1.0 / period * 2 * math.pi
    arg = omega[None, :] * t[:, None]
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1).to(torch.float32)
