"""gqa_attention against a float64 reference written out head by head."""

from __future__ import annotations

import torch

from smolvla_model.attention import gqa_attention, make_att_2d_masks


def _reference(q, k, v, mask):
    """Softmax over the allowed keys, per query head, with KV head h // groups; float64."""
    B, Lq, Hq, D = q.shape
    groups = Hq // k.shape[2]
    out = torch.zeros(B, Lq, Hq, D, dtype=torch.float64)
    for b in range(B):
        for h in range(Hq):
            qh = q[b, :, h].double()
            kh, vh = k[b, :, h // groups].double(), v[b, :, h // groups].double()
            scores = (qh @ kh.T) / D**0.5
            scores = scores.masked_fill(~mask[b], float('-inf'))
            out[b, :, h] = torch.softmax(scores, dim=-1) @ vh
    return out.reshape(B, Lq, Hq * D)


def _case(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    B, L, Hq, Hkv, D = 2, 9, 6, 2, 16
    q = torch.randn(B, L, Hq, D, generator=g)
    k = torch.randn(B, L, Hkv, D, generator=g)
    v = torch.randn(B, L, Hkv, D, generator=g)
    pad = torch.ones(B, L, dtype=torch.bool)
    pad[1, -3:] = False  # the second sample ends in three padding tokens
    flags = torch.tensor([0, 0, 0, 0, 1, 1, 0, 1, 1], dtype=torch.bool).expand(B, L)
    return q, k, v, make_att_2d_masks(pad, flags), pad


def test_fp32_attention_matches_the_written_out_softmax_on_real_rows():
    q, k, v, mask, pad = _case()
    out = gqa_attention(q, k, v, mask)
    ref = _reference(q, k, v, mask)
    assert out.dtype == torch.float32
    assert (out[pad].double() - ref[pad]).abs().max() < 1e-5
    # A padding query sees no key at all; it gets zeros (nothing real reads those rows).
    assert torch.equal(out[~pad], torch.zeros_like(out[~pad]))


def test_bf16_values_keep_lerobots_eager_numerics():
    """q.k in fp32, probabilities rounded to v's dtype: the output is bf16 and close to exact."""
    q, k, v, mask, pad = _case(1)
    out = gqa_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), mask)
    ref = _reference(q.bfloat16(), k.bfloat16(), v.bfloat16(), mask)
    assert out.dtype == torch.bfloat16
    assert (out[pad].double() - ref[pad]).abs().max() < 3e-2


def test_fp32_attention_is_differentiable():
    q, k, v, mask, pad = _case(2)
    q.requires_grad_(True)
    k.requires_grad_(True)
    out = gqa_attention(q, k, v, mask)
    out[pad].sum().backward()
    assert torch.isfinite(q.grad).all() and torch.isfinite(k.grad).all()
    assert q.grad[pad].abs().sum() > 0
