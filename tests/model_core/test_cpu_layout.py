"""The expert's transposed weight storage on the CPU (smolvla_model.cpu_layout)."""

from __future__ import annotations

import torch
from model_fixture import FIXTURES, fixture_inputs, fixture_io
from torch import nn

from smolvla_model.checkpoint import save_checkpoint
from smolvla_model.cpu_layout import has_transposed_storage, store_weights_transposed
from smolvla_model.loading import load_model

FP32 = FIXTURES / 'micro_fp32'


def test_relayout_keeps_shape_values_and_results():
    torch.manual_seed(0)
    layer = nn.Linear(7, 5)
    x = torch.randn(3, 7)
    before_w, before_y = layer.weight.detach().clone(), layer(x).detach()
    assert not has_transposed_storage(layer.weight)
    assert store_weights_transposed(layer) == 1
    assert has_transposed_storage(layer.weight)
    assert layer.weight.shape == (5, 7)
    assert torch.equal(layer.weight, before_w)
    assert torch.allclose(layer(x), before_y, atol=1e-6)
    assert store_weights_transposed(layer) == 0  # idempotent


def test_cpu_fp32_models_relay_the_expert_only():
    model = load_model(FP32).model
    vwe = model.model.vlm_with_expert
    expert = [m.weight for m in vwe.lm_expert.modules() if type(m) is nn.Linear]
    vision = [m.weight for m in vwe.vlm.model.vision_model.modules() if type(m) is nn.Linear]
    assert expert and all(has_transposed_storage(w) for w in expert)
    assert has_transposed_storage(model.model.action_out_proj.weight)
    assert vision and not any(has_transposed_storage(w) for w in vision)
    reference = load_model(FP32, precision='reference').model  # bf16 parts keep the default
    lm_expert = reference.model.vlm_with_expert.lm_expert
    assert not any(
        has_transposed_storage(m.weight) for m in lm_expert.modules() if type(m) is nn.Linear
    )


def test_relaid_model_matches_the_default_layout_and_saves_contiguous(tmp_path):
    io = fixture_io('micro_fp32')
    model = load_model(FP32).model
    noise = torch.from_numpy(io['noise'])
    relaid = model.sample_actions(fixture_inputs(io), noise=noise)
    with torch.no_grad():
        for p in model.parameters():
            p.data = p.data.contiguous()
    default = model.sample_actions(fixture_inputs(io), noise=noise)
    assert (relaid - default).abs().max() <= 1e-5
    store_weights_transposed(model.model.vlm_with_expert.lm_expert)
    model.config.vlm_model_name = str((FIXTURES / 'vlm' / 'smolvlm2-micro').resolve())
    save_checkpoint(model, model.config.to_dict(), tmp_path / 'saved')
    again = load_model(tmp_path / 'saved').model
    a, b = model.state_dict(), again.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
