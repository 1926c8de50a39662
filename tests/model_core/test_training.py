"""Flow-matching loss and the training step."""

from __future__ import annotations

import torch
from model_fixture import FIXTURES, fixture_inputs, fixture_io

from smolvla_model.loading import load_model
from smolvla_model.training import (
    flow_matching_loss,
    make_optimizer,
    sample_time,
    set_trainable,
    train_step,
)


def test_time_distribution_matches_beta_1_5_1():
    t = sample_time(200_000, generator=torch.Generator().manual_seed(0))
    assert float(t.min()) >= 0.001 and float(t.max()) <= 1.0
    # mean of Beta(1.5, 1) is 1.5 / 2.5 = 0.6, so E[t] = 0.001 + 0.999 * 0.6
    assert abs(float(t.mean()) - (0.001 + 0.999 * 0.6)) < 3e-3


def test_loss_is_mse_of_velocity_over_real_dims_and_valid_steps():
    io = fixture_io('micro_fp32')
    model = load_model(FIXTURES / 'micro_fp32').model
    inputs = fixture_inputs(io)
    g = torch.Generator().manual_seed(0)
    actions = torch.randn(1, 50, 6, generator=g)
    noise = torch.randn(1, 50, 32, generator=g)
    time = torch.tensor([0.3])
    pad = torch.zeros(1, 50, dtype=torch.bool)
    pad[:, 40:] = True
    loss = flow_matching_loss(model, inputs, actions, pad, noise=noise, time=time)
    # independent computation: x_t = t*eps + (1-t)*a, target eps - a, mean over 40 steps x 6
    a = torch.nn.functional.pad(actions, (0, 26))
    v = model.forward_velocity(inputs, 0.3 * noise + 0.7 * a, time)
    expected = ((v - (noise - a))[:, :40, :6] ** 2).mean()
    assert torch.allclose(loss, expected, atol=1e-6)


def test_default_trainable_parts_are_expert_and_projections():
    model = load_model(FIXTURES / 'micro_fp32').model
    params = set_trainable(model)
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert len(params) == len(names)
    assert all(
        n.startswith(('model.vlm_with_expert.lm_expert.', 'model.state_proj', 'model.action_'))
        for n in names
    )
    assert 'model.state_proj.weight' in names


def test_overfitting_one_batch_lowers_the_loss():
    torch.manual_seed(0)
    io = fixture_io('micro_fp32')
    model = load_model(FIXTURES / 'micro_fp32').model
    model.config.optimizer_lr = 3e-3
    model.config.scheduler_warmup_steps = 0
    opt, sched = make_optimizer(model, total_steps=60)
    inputs = fixture_inputs(io)
    actions = torch.linspace(-1, 1, 50)[None, :, None].expand(1, 50, 6).contiguous()
    g = torch.Generator().manual_seed(1)
    frozen = model.model.vlm_with_expert.vlm.model.text_model.layers[0].mlp.up_proj.weight.clone()
    losses = [train_step(model, opt, sched, inputs, actions, generator=g).loss for _ in range(60)]
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.5 * first, (first, last)
    after = model.model.vlm_with_expert.vlm.model.text_model.layers[0].mlp.up_proj.weight
    assert torch.equal(frozen, after)  # the VLM is frozen by default
