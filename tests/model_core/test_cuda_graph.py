"""The CUDA graph sampler (smolvla_model.cuda_graph) and what makes the model capturable.

The CPU tests run everywhere; the ``gpu`` tests run where torch sees a CUDA device (they were
run on an H100 through the project's device tool; see the README's GPU figures).
"""

from __future__ import annotations

import pytest
import torch
from model_fixture import FIXTURES, fixture_inputs, fixture_io

from smolvla_model.batch import ModelInputs
from smolvla_model.cuda_graph import CudaGraphSampler
from smolvla_model.loading import load_model


def _fixture_model(device: str = 'cpu'):
    return load_model(
        FIXTURES / 'micro_fp32', device=device, vision_position_mode='hf-4.55-fp32'
    ).model


def _with_empty_slot(inputs: ModelInputs, slot: int) -> ModelInputs:
    masks = list(inputs.image_masks)
    masks[slot] = torch.zeros_like(masks[slot])
    images = list(inputs.images)
    images[slot] = torch.full_like(images[slot], -1.0)  # what the pre-processor pads with
    return ModelInputs(images, masks, inputs.state, inputs.lang_tokens, inputs.lang_masks)


def test_running_empty_camera_slots_gives_the_same_actions_as_skipping_them():
    """The graph runs every slot (no host-side mask check); masked tokens are never attended to,
    so the actions must not change. Checked with the slot's pixels both padded and random."""
    io = fixture_io('micro_fp32')
    model = _fixture_model()
    noise = torch.from_numpy(io['noise'])
    inputs = _with_empty_slot(fixture_inputs(io), 1)
    skipped = model.sample_actions(inputs, noise=noise)
    model.model.skip_empty_cameras = False
    run = model.sample_actions(inputs, noise=noise)
    noisy = ModelInputs(
        [inputs.images[0], torch.rand_like(inputs.images[1]), inputs.images[2]],
        inputs.image_masks,
        inputs.state,
        inputs.lang_tokens,
        inputs.lang_masks,
    )
    run_random_pixels = model.sample_actions(noisy, noise=noise)
    assert torch.equal(skipped, run)
    assert torch.equal(skipped, run_random_pixels)
    # and the slot matters when it is not masked: the test can see a difference
    model.model.skip_empty_cameras = True
    live = model.sample_actions(fixture_inputs(io), noise=noise)
    assert (live - skipped).abs().max() > 1e-4


def test_the_sampler_refuses_a_cpu_model_with_a_clear_error():
    io = fixture_io('micro_fp32')
    with pytest.raises(ValueError, match='CUDA device'):
        CudaGraphSampler(_fixture_model(), fixture_inputs(io))


@pytest.mark.gpu
def test_graph_replay_matches_eager_and_follows_new_inputs():
    torch.backends.cudnn.allow_tf32 = False  # keep the patch convolution in true fp32
    io = fixture_io('micro_fp32')
    model = _fixture_model('cuda')
    inputs = fixture_inputs(io).to('cuda')
    noise = torch.from_numpy(io['noise']).cuda()
    sampler = CudaGraphSampler(model, inputs)
    eager = model.sample_actions(inputs, noise=noise)
    replay = sampler(inputs, noise=noise)
    assert (replay - eager).abs().max() <= 1e-5
    # LeRobot's own actions (CPU fp32) within the fp32 parity tolerance
    assert (replay[..., :6].cpu() - torch.from_numpy(io['actions'])).abs().max() <= 1e-4
    # new data after capture: the graph reads the buffers, not what it was captured with
    g = torch.Generator(device='cuda').manual_seed(3)
    other = ModelInputs(
        [torch.rand(im.shape, generator=g, device='cuda') * 2 - 1 for im in inputs.images],
        inputs.image_masks,
        torch.randn(inputs.state.shape, generator=g, device='cuda'),
        inputs.lang_tokens,
        inputs.lang_masks,
    )
    noise2 = torch.randn(noise.shape, generator=g, device='cuda')
    eager2 = model.sample_actions(other, noise=noise2)
    replay2 = sampler(other, noise=noise2)
    assert (replay2 - eager2).abs().max() <= 1e-5
    assert (replay2 - replay).abs().max() > 1e-3
    # noise drawn by the sampler from a seeded generator is reproducible
    a = sampler(other, generator=torch.Generator(device='cuda').manual_seed(7))
    b = sampler(other, generator=torch.Generator(device='cuda').manual_seed(7))
    assert torch.equal(a, b)


@pytest.mark.gpu
def test_graph_rejects_another_layout_without_running():
    io = fixture_io('micro_fp32')
    model = _fixture_model('cuda')
    inputs = fixture_inputs(io).to('cuda')
    sampler = CudaGraphSampler(model, inputs)
    wider = ModelInputs(
        inputs.images,
        inputs.image_masks,
        inputs.state,
        torch.cat([inputs.lang_tokens, inputs.lang_tokens], dim=1),
        torch.cat([inputs.lang_masks, inputs.lang_masks], dim=1),
    )
    with pytest.raises(ValueError, match='token_length'):
        sampler(wider)


@pytest.mark.gpu
@pytest.mark.parametrize('precision', ['bf16', 'fp16'])
def test_half_precision_graphs_stay_close_to_fp32(precision):
    io = fixture_io('micro_fp32')
    fp32 = _fixture_model('cuda')
    half = load_model(
        FIXTURES / 'micro_fp32',
        precision=precision,
        device='cuda',
        vision_position_mode='hf-4.55-fp32',
    ).model
    inputs = fixture_inputs(io).to('cuda')
    noise = torch.from_numpy(io['noise']).cuda()
    ref = fp32.sample_actions(inputs, noise=noise)
    replay = CudaGraphSampler(half, inputs)(inputs, noise=noise)
    assert torch.isfinite(replay).all()
    assert (replay - ref).abs().max() <= 5e-2
