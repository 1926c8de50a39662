"""The whole pipeline: LeRobot's reference inputs, both stats layouts, save/load round trip,
and every input error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from smolvla_model.batch import ModelInputs
from smolvla_model.processing import (
    Postprocessor,
    Preprocessor,
    ProcessorConfig,
    ProcessorFileError,
    load_processors,
)

FIXTURE = Path(__file__).parent / 'fixtures' / 'smolvla_parity'
VLM = FIXTURE / 'vlm' / 'smolvlm2-micro'
CONFIG = json.loads((FIXTURE / 'micro_fp32' / 'config.json').read_text())

# Hand-picked statistics (degrees-like state, gripper 0..100) for the checks below.
STATE_MEAN = np.array([10.0, -20.0, 30.0, 0.0, 5.0, 50.0], np.float32)
STATE_STD = np.array([2.0, 4.0, 5.0, 1.0, 0.5, 25.0], np.float32)
ACTION_MEAN = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], np.float32)
ACTION_STD = np.array([0.5, 1.0, 2.0, 4.0, 8.0, 16.0], np.float32)
STATS = {
    'observation.state': {'mean': STATE_MEAN, 'std': STATE_STD},
    'action': {'mean': ACTION_MEAN, 'std': ACTION_STD},
}


def checkpoint(tmp_path: Path, **config_changes: object) -> Path:
    folder = tmp_path / 'ckpt'
    folder.mkdir()
    (folder / 'config.json').write_text(json.dumps({**CONFIG, **config_changes}))
    return folder


def write_lerobot_processor_files(folder: Path, norm_map: dict | None = None) -> None:
    """Files exactly as LeRobot >= 0.4 lays them out (written here by hand, not by our writer)."""
    norm_map = norm_map or {'VISUAL': 'IDENTITY', 'STATE': 'MEAN_STD', 'ACTION': 'MEAN_STD'}
    features = {**CONFIG['input_features'], **CONFIG['output_features']}
    pre_state = 'policy_preprocessor_step_5_normalizer_processor.safetensors'
    post_state = 'policy_postprocessor_step_0_unnormalizer_processor.safetensors'
    normalizer = {'eps': 1e-8, 'features': features, 'norm_map': norm_map}
    pre = {
        'name': 'policy_preprocessor',
        'steps': [
            {'registry_name': 'rename_observations_processor', 'config': {'rename_map': {}}},
            {'registry_name': 'to_batch_processor', 'config': {}},
            {'registry_name': 'smolvla_new_line_processor', 'config': {}},
            {
                'registry_name': 'tokenizer_processor',
                'config': {
                    'max_length': 48,
                    'task_key': 'task',
                    'padding_side': 'right',
                    'padding': 'max_length',
                    'truncation': True,
                    'tokenizer_name': 'vlm/smolvlm2-micro',
                },
            },
            {
                'registry_name': 'device_processor',
                'config': {'device': 'cpu', 'float_dtype': None},
            },
            {
                'registry_name': 'normalizer_processor',
                'config': normalizer,
                'state_file': pre_state,
            },
        ],
    }
    post = {
        'name': 'policy_postprocessor',
        'steps': [
            {
                'registry_name': 'unnormalizer_processor',
                'config': {**normalizer, 'features': CONFIG['output_features']},
                'state_file': post_state,
            },
            {
                'registry_name': 'device_processor',
                'config': {'device': 'cpu', 'float_dtype': None},
            },
        ],
    }
    (folder / 'policy_preprocessor.json').write_text(json.dumps(pre))
    (folder / 'policy_postprocessor.json').write_text(json.dumps(post))
    flat = {
        'observation.state.mean': torch.from_numpy(STATE_MEAN),
        'observation.state.std': torch.from_numpy(STATE_STD),
        'observation.state.min': torch.from_numpy(STATE_MEAN - 3 * STATE_STD),
        'observation.state.max': torch.from_numpy(STATE_MEAN + 3 * STATE_STD),
        'action.mean': torch.from_numpy(ACTION_MEAN),
        'action.std': torch.from_numpy(ACTION_STD),
    }
    save_file(flat, str(folder / pre_state))
    save_file({k: v for k, v in flat.items() if k.startswith('action.')}, str(folder / post_state))


def fixture_observation(variant: str = 'micro_fp32') -> dict:
    io = np.load(FIXTURE / variant / 'io.npz')
    return {
        'images': {'top': io['image0'], 'wrist': io['image1'], 'side': io['image2']},
        'state': io['state'][0],
        'instruction': str(io['tasks'][0]),
    }


def raw_state() -> np.ndarray:
    return np.array([12.0, -16.0, 20.0, 1.0, 5.5, 0.0], np.float32)


def expected_state() -> np.ndarray:
    # (x - mean) / std, by hand: (12-10)/2, (-16+20)/4, (20-30)/5, 1/1, 0.5/0.5, -50/25.
    return np.array([1.0, 1.0, -2.0, 1.0, 1.0, -2.0], np.float32)


@pytest.fixture(scope='module')
def identity_pre() -> Preprocessor:
    # Identity stats: the fixture's state is already normalized.
    stats = {
        'observation.state': {'mean': np.zeros(6), 'std': np.ones(6)},
        'action': {'mean': np.zeros(6), 'std': np.ones(6)},
    }
    return load_processors(FIXTURE / 'micro_fp32', stats=stats)[0]


@pytest.mark.parametrize('variant', ['micro_fp32', 'micro_hubdtype'])
def test_reproduces_lerobot_model_inputs(identity_pre: Preprocessor, variant: str) -> None:
    io = np.load(FIXTURE / variant / 'io.npz')
    inputs = identity_pre(fixture_observation(variant))
    assert isinstance(inputs, ModelInputs)
    assert len(inputs.images) == 3
    for i, (img, mask) in enumerate(zip(inputs.images, inputs.image_masks, strict=True)):
        np.testing.assert_allclose(img.numpy(), io[f'image{i}_pre'], atol=1e-6)
        np.testing.assert_array_equal(mask.numpy(), io[f'image{i}_mask'])
    np.testing.assert_array_equal(inputs.lang_tokens.numpy(), io['lang_tokens'])
    np.testing.assert_array_equal(inputs.lang_masks.numpy(), io['lang_masks'])
    assert inputs.state.shape == (1, 32) and inputs.state.dtype == torch.float32
    np.testing.assert_allclose(inputs.state[:, :6].numpy(), io['state'], atol=1e-6)
    assert torch.equal(inputs.state[:, 6:], torch.zeros(1, 26))


def test_camera_order_follows_the_checkpoint_not_the_dict(identity_pre: Preprocessor) -> None:
    obs = fixture_observation()
    obs['images'] = dict(reversed(list(obs['images'].items())))
    io = np.load(FIXTURE / 'micro_fp32' / 'io.npz')
    inputs = identity_pre(obs)
    np.testing.assert_allclose(inputs.images[0].numpy(), io['image0_pre'], atol=1e-6)


def test_lerobot_04_processor_files_are_read(tmp_path: Path) -> None:
    folder = checkpoint(tmp_path, vlm_model_name='HuggingFaceTB/not-here')
    write_lerobot_processor_files(folder)
    pre, post = load_processors(folder, tokenizer=VLM)
    obs = {**fixture_observation(), 'state': raw_state()}
    np.testing.assert_allclose(pre(obs).state[0, :6].numpy(), expected_state(), atol=1e-5)
    # Unnormalize x * std + mean on the first 6 of 32 dims; the padding is dropped.
    padded = torch.zeros(1, 2, 32)
    padded[0, 0, :6] = torch.tensor([1.0, -1.0, 0.5, 0.0, 2.0, -0.25])
    padded[0, :, 6:] = 99.0
    out = post(padded)
    assert out.shape == (1, 2, 6) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], [1.5, 1.0, 4.0, 4.0, 21.0, 2.0], atol=1e-6)
    np.testing.assert_allclose(out[0, 1], ACTION_MEAN, atol=1e-6)


def test_norm_map_of_the_processor_file_wins(tmp_path: Path) -> None:
    folder = checkpoint(tmp_path)
    write_lerobot_processor_files(
        folder, {'VISUAL': 'IDENTITY', 'STATE': 'MIN_MAX', 'ACTION': 'MEAN_STD'}
    )
    pre, _ = load_processors(folder, tokenizer=VLM)
    # min = mean - 3 std, max = mean + 3 std: x = mean + std maps to 2 * (4/6) - 1 = 1/3.
    obs = {**fixture_observation(), 'state': STATE_MEAN + STATE_STD}
    np.testing.assert_allclose(pre(obs).state[0, :6].numpy(), np.full(6, 1 / 3), atol=1e-5)


def test_tokenizer_found_from_vlm_model_name_relative_to_checkpoint_parent() -> None:
    # The fixture's vlm_model_name is 'vlm/smolvlm2-micro', relative to the fixture root.
    pre, _ = load_processors(FIXTURE / 'micro_fp32', stats=STATS)
    tokens, _ = pre.tokenizer('go', 1)
    assert tokens.shape == (1, 48)


def test_legacy_buffers_in_model_safetensors_are_read(tmp_path: Path) -> None:
    folder = checkpoint(tmp_path)
    tensors = {
        'model.state_proj.weight': torch.zeros(4, 32),
        'normalize_inputs.buffer_observation_state.mean': torch.from_numpy(STATE_MEAN),
        'normalize_inputs.buffer_observation_state.std': torch.from_numpy(STATE_STD),
        'normalize_targets.buffer_action.mean': torch.from_numpy(ACTION_MEAN),
        'normalize_targets.buffer_action.std': torch.from_numpy(ACTION_STD),
        'unnormalize_outputs.buffer_action.mean': torch.from_numpy(ACTION_MEAN),
        'unnormalize_outputs.buffer_action.std': torch.from_numpy(ACTION_STD),
    }
    save_file({k: v.clone() for k, v in tensors.items()}, str(folder / 'model.safetensors'))
    pre, post = load_processors(folder, tokenizer=VLM)
    obs = {**fixture_observation(), 'state': raw_state()}
    np.testing.assert_allclose(pre(obs).state[0, :6].numpy(), expected_state(), atol=1e-5)
    np.testing.assert_allclose(post(torch.zeros(1, 1, 32))[0, 0], ACTION_MEAN, atol=1e-6)


def test_legacy_unset_buffers_are_refused(tmp_path: Path) -> None:
    # LeRobot 0.3 initialised the buffers to inf when no dataset stats were given.
    folder = checkpoint(tmp_path)
    inf = torch.full((6,), torch.inf)
    save_file(
        {
            'normalize_inputs.buffer_observation_state.mean': inf,
            'normalize_inputs.buffer_observation_state.std': inf.clone(),
        },
        str(folder / 'model.safetensors'),
    )
    with pytest.raises(ProcessorFileError, match='NaN or inf'):
        load_processors(folder, tokenizer=VLM)


def test_no_stats_anywhere_is_a_clear_error(tmp_path: Path) -> None:
    folder = checkpoint(tmp_path)
    with pytest.raises(ProcessorFileError, match='pass stats=') as info:
        load_processors(folder, tokenizer=VLM)
    assert 'observation.state' in str(info.value)


def test_missing_state_file_is_named(tmp_path: Path) -> None:
    folder = checkpoint(tmp_path)
    write_lerobot_processor_files(folder)
    (folder / 'policy_preprocessor_step_5_normalizer_processor.safetensors').unlink()
    with pytest.raises(ProcessorFileError, match=r'normalizer_processor\.safetensors'):
        load_processors(folder, tokenizer=VLM)


def test_save_pretrained_round_trip_in_lerobot_layout(tmp_path: Path) -> None:
    src = checkpoint(tmp_path)
    write_lerobot_processor_files(src)
    pre, post = load_processors(src, tokenizer=VLM)
    out = tmp_path / 'saved'
    out.mkdir()
    shutil.copy(src / 'config.json', out / 'config.json')
    written = pre.save_pretrained(out)
    assert sorted(p.name for p in written) == sorted(
        [
            'policy_preprocessor.json',
            'policy_postprocessor.json',
            'policy_preprocessor_step_5_normalizer_processor.safetensors',
            'policy_postprocessor_step_0_unnormalizer_processor.safetensors',
        ]
    )
    assert not [p for p in out.iterdir() if p.name.startswith('.processor-')]
    saved = json.loads((out / 'policy_preprocessor.json').read_text())
    steps = [s['registry_name'] for s in saved['steps']]
    assert steps == [
        'rename_observations_processor',
        'to_batch_processor',
        'smolvla_new_line_processor',
        'tokenizer_processor',
        'device_processor',
        'normalizer_processor',
    ]
    assert saved['steps'][5]['config']['norm_map']['STATE'] == 'MEAN_STD'
    assert saved['steps'][5]['config']['features']['observation.state'] == {
        'type': 'STATE',
        'shape': [6],
    }
    from safetensors.torch import load_file

    flat = load_file(str(out / saved['steps'][5]['state_file']))
    # All stats are kept, also those the mode does not use (LeRobot keeps them too).
    assert {'observation.state.mean', 'observation.state.min', 'action.std'} <= set(flat)
    post_flat = load_file(
        str(out / 'policy_postprocessor_step_0_unnormalizer_processor.safetensors')
    )
    assert set(post_flat) == {'action.mean', 'action.std'}

    pre2, post2 = load_processors(out, tokenizer=VLM)
    obs = {**fixture_observation(), 'state': raw_state()}
    a, b = pre(obs), pre2(obs)
    assert torch.equal(a.state, b.state) and torch.equal(a.lang_tokens, b.lang_tokens)
    chunk = torch.randn(2, 50, 32, generator=torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(post(chunk), post2(chunk))


def test_postprocessor_alone(tmp_path: Path) -> None:
    folder = checkpoint(tmp_path)
    write_lerobot_processor_files(folder)
    post = Postprocessor.from_pretrained(folder)
    np.testing.assert_allclose(post(np.zeros((1, 3, 6), np.float32))[0, 2], ACTION_MEAN)


def test_empty_camera_slot_when_the_checkpoint_allows_it() -> None:
    config = ProcessorConfig.from_policy_config({**CONFIG, 'empty_cameras': 1})
    pre = load_processors(FIXTURE / 'micro_fp32', stats=STATS)[0]
    pre = Preprocessor(config, pre.tokenizer, pre.normalizer.all_stats)
    obs = fixture_observation()
    del obs['images']['wrist']
    inputs = pre(obs)
    # Present cameras in checkpoint order, then the blank slot (LeRobot appends blanks last).
    io = np.load(FIXTURE / 'micro_fp32' / 'io.npz')
    assert len(inputs.images) == 3
    np.testing.assert_allclose(inputs.images[0].numpy(), io['image0_pre'], atol=1e-6)
    np.testing.assert_allclose(inputs.images[1].numpy(), io['image2_pre'], atol=1e-6)
    assert torch.equal(inputs.images[2], torch.full((1, 3, 64, 64), -1.0))
    assert [bool(m[0]) for m in inputs.image_masks] == [True, True, False]
    del obs['images']['side']
    with pytest.raises(ValueError, match='at most 1 missing'):
        pre(obs)


def test_batch_of_two(identity_pre: Preprocessor) -> None:
    obs = fixture_observation()
    obs['images'] = {k: np.concatenate([v, v]) for k, v in obs['images'].items()}
    obs['state'] = np.stack([obs['state'], obs['state'] * 0])
    obs['instruction'] = ['pick up the cube', 'open the gripper']
    inputs = identity_pre(obs)
    assert inputs.batch_size == 2
    assert all(img.shape == (2, 3, 64, 64) for img in inputs.images)
    assert inputs.lang_tokens.shape == (2, 48)
    assert not torch.equal(inputs.lang_tokens[0], inputs.lang_tokens[1])


def _broken(change: str) -> dict:
    obs = fixture_observation()
    if change == 'no_state_key':
        del obs['state']
    elif change == 'images_not_dict':
        obs['images'] = [obs['images']['top']]
    elif change == 'missing_camera':
        del obs['images']['wrist']
    elif change == 'unknown_camera':
        obs['images']['kitchen'] = obs['images']['top']
    elif change == 'image_dtype':
        obs['images']['top'] = obs['images']['top'].astype(np.int16)
    elif change == 'image_shape':
        obs['images']['top'] = obs['images']['top'][0, 0]
    elif change == 'image_channels':
        obs['images']['top'] = np.zeros((1, 4, 64, 64), np.float32)
    elif change == 'image_batch':
        obs['images']['top'] = np.concatenate([obs['images']['top']] * 2)
    elif change == 'state_dim':
        obs['state'] = np.zeros(7, np.float32)
    elif change == 'state_rank':
        obs['state'] = np.zeros((1, 1, 6), np.float32)
    elif change == 'state_nan':
        obs['state'] = np.array([0, 0, np.nan, 0, 0, 0], np.float32)
    elif change == 'state_inf':
        obs['state'] = np.array([0, 0, 0, 0, -np.inf, 0], np.float32)
    elif change == 'state_dtype':
        obs['state'] = np.array(['a'] * 6)
    elif change == 'empty_instruction':
        obs['instruction'] = ''
    return obs


@pytest.mark.parametrize(
    ('change', 'match'),
    [
        ('no_state_key', r"observation: missing \['state'\]"),
        ('images_not_dict', 'images: expected a dict'),
        ('missing_camera', r"missing camera\(s\) \['observation.image2 \(slot wrist\)'\]"),
        ('unknown_camera', "unknown camera 'kitchen'"),
        ('image_dtype', "image 'observation.image'.*expected dtype uint8"),
        ('image_shape', "image 'observation.image'.*CHW"),
        ('image_channels', "image 'observation.image'.*3 channels"),
        ('image_batch', 'batch of 2 frames, but the state has 1 rows'),
        ('state_dim', 'state: expected 6 values per row'),
        ('state_rank', r'state: expected shape \[6\] or \[B, 6\]'),
        ('state_nan', r'state: contains NaN or inf \(in dims \[2\]\)'),
        ('state_inf', r'state: contains NaN or inf \(in dims \[4\]\)'),
        ('state_dtype', 'state: expected a real-valued array'),
        ('empty_instruction', 'instruction: entry 0 is empty'),
    ],
)
def test_bad_observations_raise_value_error(
    identity_pre: Preprocessor, change: str, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        identity_pre(_broken(change))


@pytest.mark.parametrize(
    ('actions', 'match'),
    [
        (torch.zeros(50, 32), r'expected shape \[B, T, 32\]'),
        (torch.zeros(1, 50, 7), r'expected shape \[B, T, 32\]'),
        (torch.zeros(1, 50, 32, dtype=torch.int64), 'float'),
        (torch.full((1, 50, 32), float('nan')), 'NaN or inf'),
    ],
)
def test_bad_actions_raise(tmp_path: Path, actions: torch.Tensor, match: str) -> None:
    folder = checkpoint(tmp_path)
    write_lerobot_processor_files(folder)
    post = Postprocessor.from_pretrained(folder)
    with pytest.raises(ValueError, match=match):
        post(actions)


@pytest.mark.parametrize(
    ('changes', 'match'),
    [
        ({'max_state_dim': 4}, 'max_state_dim'),
        ({'max_action_dim': 4}, 'max_action_dim'),
        ({'pad_language_to': 'left'}, 'pad_language_to'),
        ({'resize_imgs_with_padding': [0, 64]}, 'resize_imgs_with_padding'),
        ({'tokenizer_max_length': 0}, 'tokenizer_max_length'),
        ({'empty_cameras': -1}, 'empty_cameras'),
        ({'output_features': {}}, "needs 'action'"),
        (
            {
                'input_features': {
                    'observation.image': CONFIG['input_features']['observation.image']
                }
            },
            "needs 'observation.state'",
        ),
        ({'normalization_mapping': {'STATE': 'ZSCORE'}}, 'ZSCORE'),
    ],
)
def test_config_rejects_impossible_values(changes: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ProcessorConfig.from_policy_config({**CONFIG, **changes})


def test_config_from_fixture() -> None:
    config = ProcessorConfig.from_policy_config(CONFIG)
    assert config.camera_names == ['observation.image', 'observation.image2', 'observation.image3']
    assert config.image_size_hw == (64, 64)
    assert (config.state_dim, config.action_dim) == (6, 6)
    assert config.tokenizer_max_length == 48 and config.pad_language_to == 'max_length'
