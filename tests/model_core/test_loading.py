"""Checkpoint loading/saving, hub resolution, config validation and the full-size build."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from model_fixture import FIXTURES, fixture_inputs, fixture_io
from safetensors.torch import load_file, save_file

from smolvla_model.checkpoint import read_checkpoint, split_normalization_buffers
from smolvla_model.config import SmolVLAConfig, smolvlm2_500m_backbone_dict
from smolvla_model.errors import CheckpointError, ConfigError, HubResolutionError
from smolvla_model.hub import backbone_config_from_dict, resolve_folder
from smolvla_model.loading import _build_meta, build_model, load_model

FP32 = FIXTURES / 'micro_fp32'


def _copy_fixture(tmp_path, sd_edit=None):
    """A copy of the fp32 fixture (plus its backbone folder) with an edited state dict."""
    root = tmp_path / 'fx'
    shutil.copytree(FIXTURES / 'vlm', root / 'vlm')
    ckpt = root / 'ckpt'
    shutil.copytree(FP32, ckpt)
    if sd_edit is not None:
        sd = load_file(str(ckpt / 'model.safetensors'))
        sd_edit(sd)
        (ckpt / 'model.safetensors').chmod(0o644)
        save_file(sd, str(ckpt / 'model.safetensors'))
    return ckpt


def test_full_size_architecture_has_450m_parameters_in_500_tensors():
    cfg = SmolVLAConfig(load_vlm_weights=True)
    model = _build_meta(cfg, backbone_config_from_dict(smolvlm2_500m_backbone_dict()))
    sd = model.state_dict()
    assert len(sd) == 500
    assert sum(t.numel() for t in sd.values()) == 450_046_176  # spec: hand-computed count


def test_missing_key_is_named(tmp_path):
    key = 'model.state_proj.bias'
    ckpt = _copy_fixture(tmp_path, lambda sd: sd.pop(key))
    with pytest.raises(CheckpointError, match=r'1 missing keys: model\.state_proj\.bias'):
        load_model(ckpt)


def test_unexpected_key_and_shape_mismatch_are_named(tmp_path):
    def edit(sd):
        sd['model.extra.weight'] = torch.zeros(2)
        sd['model.action_out_proj.bias'] = torch.zeros(7)

    ckpt = _copy_fixture(tmp_path, edit)
    with pytest.raises(CheckpointError) as e:
        load_model(ckpt)
    assert 'unexpected keys: model.extra.weight' in str(e.value)
    assert 'model.action_out_proj.bias: checkpoint [7] vs model [32]' in str(e.value)


def test_orig_mod_prefix_and_old_normalization_buffers(tmp_path):
    stats = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])

    def edit(sd):
        for k in [k for k in sd if k.startswith('model.state_proj')]:
            sd[k.replace('model.', 'model._orig_mod.', 1)] = sd.pop(k)
        sd['normalize_inputs.buffer_observation_state.mean'] = stats

    ckpt = _copy_fixture(tmp_path, edit)
    loaded = load_model(ckpt)
    assert set(loaded.norm_buffers) == {'normalize_inputs.buffer_observation_state.mean'}
    assert torch.equal(
        loaded.norm_buffers['normalize_inputs.buffer_observation_state.mean'], stats
    )
    original = load_file(str(FP32 / 'model.safetensors'))
    assert torch.equal(loaded.model.model.state_proj.weight, original['model.state_proj.weight'])


def test_split_normalization_buffers_keeps_model_keys():
    sd = {'model.a': torch.zeros(1), 'unnormalize_outputs.buffer_action.std': torch.ones(1)}
    model_sd, norm = split_normalization_buffers(sd)
    assert list(model_sd) == ['model.a']
    assert list(norm) == ['unnormalize_outputs.buffer_action.std']


def test_pickle_and_garbage_files_are_refused(tmp_path):
    (tmp_path / 'pytorch_model.bin').write_bytes(b'x')
    with pytest.raises(CheckpointError, match='no weights file'):
        read_checkpoint(tmp_path)
    (tmp_path / 'model.safetensors').write_bytes(b'not safetensors')
    with pytest.raises(CheckpointError, match='not a readable safetensors'):
        read_checkpoint(tmp_path)


def test_save_round_trip_is_exact_and_reloads(tmp_path):
    loaded = load_model(FP32, precision='reference')  # fp32 file into the reference dtype mix
    out = tmp_path / 'saved'
    loaded.model.config.vlm_model_name = str((FIXTURES / 'vlm' / 'smolvlm2-micro').resolve())
    from smolvla_model.checkpoint import save_checkpoint

    save_checkpoint(loaded.model, loaded.model.config.to_dict(), out)
    again = load_model(out, precision='reference')
    a, b = loaded.model.state_dict(), again.model.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
    saved_cfg = json.loads((out / 'config.json').read_text())
    original_cfg = json.loads((FP32 / 'config.json').read_text())
    assert set(saved_cfg) == set(original_cfg)


def test_quantized_model_cannot_be_saved_and_nothing_is_written(tmp_path):
    from smolvla_model.checkpoint import save_checkpoint

    model = load_model(FP32, precision='int8').model
    with pytest.raises(CheckpointError, match='int8'):
        save_checkpoint(model, model.config.to_dict(), tmp_path / 'q')
    assert not (tmp_path / 'q').exists() or not any((tmp_path / 'q').iterdir())


def test_int8_quantizes_every_vlm_and_expert_linear_and_frees_the_float_weights():
    import gc
    import weakref

    from torch import nn

    from smolvla_model.loading import _finish

    model = load_model(FP32, precision='fp32').model
    vwe = model.model.vlm_with_expert
    parts = (vwe.vlm.model, vwe.lm_expert)
    float_linears = [m for part in parts for m in part.modules() if type(m) is nn.Linear]
    watched = [weakref.ref(m.weight) for m in float_linears]
    del float_linears
    gc.disable()  # the freeing must not depend on the collector happening to run
    try:
        _finish(model, 'int8')
        assert all(w() is None for w in watched)
    finally:
        gc.enable()
    left = [
        name
        for part in (vwe.vlm.model, vwe.lm_expert)
        for name, m in part.named_modules()
        if type(m) is nn.Linear
    ]
    assert left == []
    assert isinstance(model.model.action_in_proj, nn.Linear)  # the policy projections stay fp32


def test_unknown_repo_offline_names_repo_and_command(tmp_path, monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setenv('HF_HUB_CACHE', str(tmp_path / 'cache'))
    with pytest.raises(HubResolutionError, match=r"'someone/no-such-smolvla'.*download someone"):
        resolve_folder('someone/no-such-smolvla')


def test_repo_id_resolves_from_hf_cache(tmp_path, monkeypatch):
    cache = tmp_path / 'cache'
    snap = cache / 'models--lab--smolvla-micro' / 'snapshots' / ('a' * 40)
    shutil.copytree(FP32, snap)
    (cache / 'models--lab--smolvla-micro' / 'refs').mkdir()
    (cache / 'models--lab--smolvla-micro' / 'refs' / 'main').write_text('a' * 40)
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setenv('HF_HUB_CACHE', str(cache))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, 'HF_HUB_CACHE', str(cache))
    monkeypatch.setattr(c, 'HF_HUB_OFFLINE', True)
    loaded = load_model('lab/smolvla-micro', vlm_dir=FIXTURES / 'vlm' / 'smolvlm2-micro')
    assert loaded.checkpoint_dir == snap


@pytest.mark.parametrize(
    ('field', 'value', 'match'),
    [
        ('n_action_steps', 60, 'cannot exceed chunk_size'),
        ('num_steps', 0, r'num_steps must be in \[1, 1000\], got 0'),
        ('attention_mode', 'self_attn', 'not supported'),
        ('normalization_mapping', {'STATE': 'ZSCORE'}, 'ZSCORE'),
        ('max_state_dim', 4, 'max_state_dim is 4'),
    ],
)
def test_bad_config_values_are_rejected(field, value, match):
    raw = json.loads((FP32 / 'config.json').read_text())
    raw[field] = value
    with pytest.raises(ConfigError, match=match):
        SmolVLAConfig.from_dict(raw)


def test_precision_device_mismatch_is_rejected():
    with pytest.raises(ConfigError, match='fp16'):
        load_model(FP32, precision='fp16', device='cpu')
    with pytest.raises(ConfigError, match='not one of'):
        load_model(FP32, precision='int4')


def test_batch_cameras_empty_slots_and_noise_injection():
    io = fixture_io('micro_fp32')
    model = load_model(FP32).model
    one = fixture_inputs(io)
    noise = torch.from_numpy(io['noise'])
    ref = model.sample_actions(one, noise=noise)
    # batch of 2 = the same sample twice: both rows equal the single-sample result
    two = type(one)(
        images=[torch.cat([im, im]) for im in one.images],
        image_masks=[torch.cat([m, m]) for m in one.image_masks],
        state=torch.cat([one.state, one.state]),
        lang_tokens=torch.cat([one.lang_tokens, one.lang_tokens]),
        lang_masks=torch.cat([one.lang_masks, one.lang_masks]),
    )
    both = model.sample_actions(two, noise=torch.cat([noise, noise]))
    assert (both - ref).abs().max() < 1e-5
    # an empty camera slot is ignored: its pixels cannot change the actions
    one.image_masks[2] = torch.zeros(1, dtype=torch.bool)
    a = model.sample_actions(one, noise=noise)
    one.images[2] = torch.rand_like(one.images[2])
    b = model.sample_actions(one, noise=noise)
    assert torch.equal(a, b) and (a - ref).abs().max() > 1e-4
    # generator-driven noise is reproducible; fewer steps change the result
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(
        model.sample_actions(one, generator=g1), model.sample_actions(one, generator=g2)
    )
    with pytest.raises(ValueError, match='noise has shape'):
        model.sample_actions(one, noise=noise[:, :10])
    with pytest.raises(ValueError, match='state has shape'):
        one.state = one.state[:, :6]
        model.sample_actions(one, noise=noise)


def test_random_build_has_planned_dtypes():
    cfg = SmolVLAConfig.from_json(FIXTURES / 'micro_hubdtype')
    from smolvla_model.hub import load_backbone_config

    backbone = load_backbone_config(FIXTURES / 'vlm' / 'smolvlm2-micro-hubdtype')
    model = build_model(cfg, backbone, 'reference')
    ref_dtypes = load_file(str(FIXTURES / 'micro_hubdtype' / 'model.safetensors'))
    ours = model.state_dict()
    assert {k: v.dtype for k, v in ours.items()} == {k: v.dtype for k, v in ref_dtypes.items()}
