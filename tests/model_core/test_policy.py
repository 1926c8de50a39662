"""SmolVLAPolicy end to end on LeRobot's parity fixture: raw pixels + text -> LeRobot's actions,
statistics from every source, the save/load round trip, and failures that change nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from model_fixture import FIXTURES, fixture_io
from safetensors.torch import load_file, save_file

from smolvla_model.errors import CheckpointError, ConfigError
from smolvla_model.policy import SmolVLAPolicy

VLM = FIXTURES / 'vlm' / 'smolvlm2-micro'
IO = fixture_io('micro_fp32')
# The fixture made with transformers 4.57.6 and an fp32 vision tower (see vision_positions).
MODE = 'hf-4.55-fp32'
ATOL = 1e-4
# Action statistics picked by hand for the unnormalization checks: a = a_norm * std + mean.
ACTION_MEAN = np.array([1.0, -2.0, 3.0, 0.0, 10.0, 50.0], np.float32)
ACTION_STD = np.array([0.5, 2.0, 1.0, 4.0, 0.25, 25.0], np.float32)
PRE_STATE = 'policy_preprocessor_step_5_normalizer_processor.safetensors'
POST_STATE = 'policy_postprocessor_step_0_unnormalizer_processor.safetensors'


def write_identity_processor_files(folder: Path) -> None:
    """LeRobot >= 0.4 processor files, by hand, with mean 0 / std 1 for state and action: the
    fixture's state is already normalized, and its actions are LeRobot's normalized outputs."""
    config = json.loads((folder / 'config.json').read_text())
    normalizer = {
        'eps': 1e-8,
        'features': {**config['input_features'], **config['output_features']},
        'norm_map': {'VISUAL': 'IDENTITY', 'STATE': 'MEAN_STD', 'ACTION': 'MEAN_STD'},
    }
    tokenizer = {
        'max_length': 48,
        'task_key': 'task',
        'padding_side': 'right',
        'padding': 'max_length',
        'truncation': True,
        'tokenizer_name': config['vlm_model_name'],
    }
    pre = {
        'name': 'policy_preprocessor',
        'steps': [
            {'registry_name': 'rename_observations_processor', 'config': {'rename_map': {}}},
            {'registry_name': 'to_batch_processor', 'config': {}},
            {'registry_name': 'smolvla_new_line_processor', 'config': {}},
            {'registry_name': 'tokenizer_processor', 'config': tokenizer},
            {'registry_name': 'device_processor', 'config': {'device': 'cpu'}},
            {
                'registry_name': 'normalizer_processor',
                'config': normalizer,
                'state_file': PRE_STATE,
            },
        ],
    }
    post = {
        'name': 'policy_postprocessor',
        'steps': [
            {
                'registry_name': 'unnormalizer_processor',
                'config': {**normalizer, 'features': config['output_features']},
                'state_file': POST_STATE,
            },
            {'registry_name': 'device_processor', 'config': {'device': 'cpu'}},
        ],
    }
    (folder / 'policy_preprocessor.json').write_text(json.dumps(pre))
    (folder / 'policy_postprocessor.json').write_text(json.dumps(post))
    zeros, ones = torch.zeros(6), torch.ones(6)
    stats = {
        'observation.state.mean': zeros,
        'observation.state.std': ones,
        'action.mean': zeros.clone(),
        'action.std': ones.clone(),
    }
    save_file(stats, str(folder / PRE_STATE))
    save_file(
        {k: v for k, v in stats.items() if k.startswith('action.')}, str(folder / POST_STATE)
    )


def copy_fixture(tmp_path: Path) -> Path:
    folder = tmp_path / 'ckpt'
    folder.mkdir()
    for name in ('config.json', 'model.safetensors'):
        shutil.copy(FIXTURES / 'micro_fp32' / name, folder / name)
    return folder


def raw_observation() -> dict:
    """The fixture's raw inputs: float CHW images in [0, 1] under the checkpoint's feature names
    (harness.json order), the normalized state, the instruction without LeRobot's newline."""
    return {
        'images': {
            'observation.image': IO['image0'],
            'observation.image2': IO['image1'],
            'observation.image3': IO['image2'],
        },
        'state': IO['state'],
        'instruction': str(IO['tasks'][0]).rstrip('\n'),
    }


@pytest.fixture(scope='module')
def identity_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = copy_fixture(tmp_path_factory.mktemp('identity'))
    write_identity_processor_files(folder)
    return folder


@pytest.fixture(scope='module')
def policy(identity_ckpt: Path) -> SmolVLAPolicy:
    return SmolVLAPolicy.from_pretrained(identity_ckpt, vlm_dir=VLM, vision_position_mode=MODE)


def test_raw_pixels_and_text_reproduce_lerobot_actions(policy: SmolVLAPolicy) -> None:
    chunk = policy.predict_chunk(raw_observation(), noise=IO['noise'])
    assert isinstance(chunk, np.ndarray) and chunk.dtype == np.float32
    assert chunk.shape == IO['actions'].shape == (1, 50, 6)
    assert np.abs(chunk - IO['actions']).max() <= ATOL


def test_runtime_properties_come_from_the_checkpoint(policy: SmolVLAPolicy) -> None:
    assert policy.chunk_size == 50 and policy.action_dim == 6 and policy.state_dim == 6
    # harness.json camera order; observation.image/2/3 bind to top/wrist/side (cameras.py).
    assert policy.camera_features == [
        'observation.image',
        'observation.image2',
        'observation.image3',
    ]
    assert policy.camera_slots == {
        'top': 'observation.image',
        'wrist': 'observation.image2',
        'side': 'observation.image3',
    }
    assert policy.fps is None and policy.dt is None  # LeRobot's config.json carries no fps
    assert policy.config.vlm_model_name == 'vlm/smolvlm2-micro'
    assert policy.precision == 'fp32' and policy.device == torch.device('cpu')


def test_slot_names_work_like_feature_names(policy: SmolVLAPolicy) -> None:
    obs = raw_observation()
    obs['images'] = {'side': IO['image2'], 'top': IO['image0'], 'wrist': IO['image1']}
    chunk = policy.predict_chunk(obs, noise=torch.from_numpy(IO['noise']))
    assert np.abs(chunk - IO['actions']).max() <= ATOL


def test_one_euler_step_is_noise_minus_lerobots_first_velocity(identity_ckpt: Path) -> None:
    # With one step from t=1, dt=-1: a = noise - v(noise, t=1), and the fixture holds LeRobot's
    # v at its first step (x_t[0] = noise, t = 1).
    one = SmolVLAPolicy.from_pretrained(
        identity_ckpt, vlm_dir=VLM, vision_position_mode=MODE, num_steps=1
    )
    assert np.array_equal(IO['x_t'][0], IO['noise']) and IO['t'][0, 0] == 1.0
    expected = (IO['noise'] - IO['v_t'][0])[..., :6]
    chunk = one.predict_chunk(raw_observation(), noise=IO['noise'])
    assert np.abs(chunk - expected).max() <= ATOL


def test_action_stats_from_argument_unnormalize(identity_ckpt: Path) -> None:
    stats = {
        'observation.state': {'mean': np.zeros(6), 'std': np.ones(6)},
        'action': {'mean': ACTION_MEAN, 'std': ACTION_STD},
    }
    scaled = SmolVLAPolicy.from_pretrained(
        identity_ckpt, vlm_dir=VLM, vision_position_mode=MODE, stats=stats
    )
    chunk = scaled.predict_chunk(raw_observation(), noise=IO['noise'])
    expected = IO['actions'] * ACTION_STD + ACTION_MEAN
    assert np.abs(chunk - expected).max() <= ATOL * float(ACTION_STD.max())


def test_old_layout_normalization_buffers_are_used(tmp_path: Path) -> None:
    """LeRobot 0.3 layout: no processor files, stats as buffers inside model.safetensors."""
    folder = copy_fixture(tmp_path)
    tensors = load_file(str(folder / 'model.safetensors'))
    buffers = {
        'normalize_inputs.buffer_observation_state.mean': torch.zeros(6),
        'normalize_inputs.buffer_observation_state.std': torch.ones(6),
        'normalize_targets.buffer_action.mean': torch.from_numpy(ACTION_MEAN),
        'normalize_targets.buffer_action.std': torch.from_numpy(ACTION_STD),
        'unnormalize_outputs.buffer_action.mean': torch.from_numpy(ACTION_MEAN),
        'unnormalize_outputs.buffer_action.std': torch.from_numpy(ACTION_STD),
    }
    buffers = {k: v.clone() for k, v in buffers.items()}  # safetensors refuses shared memory
    save_file({**tensors, **buffers}, str(folder / 'model.safetensors'))
    legacy = SmolVLAPolicy.from_pretrained(folder, vlm_dir=VLM, vision_position_mode=MODE)
    chunk = legacy.predict_chunk(raw_observation(), noise=IO['noise'])
    expected = IO['actions'] * ACTION_STD + ACTION_MEAN
    assert np.abs(chunk - expected).max() <= ATOL * float(ACTION_STD.max())


def test_generator_makes_sampling_reproducible(policy: SmolVLAPolicy) -> None:
    def run(seed: int) -> np.ndarray:
        return policy.predict_chunk(
            raw_observation(), generator=torch.Generator().manual_seed(seed)
        )

    a, b, c = run(7), run(7), run(8)
    assert np.array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_save_pretrained_round_trip_gives_identical_actions(
    policy: SmolVLAPolicy, tmp_path: Path
) -> None:
    out = policy.save_pretrained(tmp_path / 'saved')
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [
            'config.json',
            'model.safetensors',
            'policy_preprocessor.json',
            'policy_postprocessor.json',
            PRE_STATE,
            POST_STATE,
        ]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ['saved']  # no temporaries left
    again = SmolVLAPolicy.from_pretrained(out, vlm_dir=VLM, vision_position_mode=MODE)
    obs = raw_observation()
    assert np.array_equal(
        again.predict_chunk(obs, noise=IO['noise']), policy.predict_chunk(obs, noise=IO['noise'])
    )


def test_save_over_a_file_fails_and_changes_nothing(policy: SmolVLAPolicy, tmp_path: Path) -> None:
    target = tmp_path / 'out'
    target.write_text('keep me')
    with pytest.raises(FileExistsError, match='is a file'):
        policy.save_pretrained(target)
    assert target.read_text() == 'keep me'
    assert [p.name for p in tmp_path.iterdir()] == ['out']


def test_failed_model_save_leaves_no_partial_folder(identity_ckpt: Path, tmp_path: Path) -> None:
    # int8 weights cannot be saved: the failure comes after the temporary folder was made.
    int8 = SmolVLAPolicy.from_pretrained(identity_ckpt, vlm_dir=VLM, precision='int8')
    with pytest.raises(CheckpointError, match='int8'):
        int8.save_pretrained(tmp_path / 'out')
    assert list(tmp_path.iterdir()) == []
    # Replacing a folder: the old content survives a failed save.
    (tmp_path / 'out').mkdir()
    (tmp_path / 'out' / 'old.txt').write_text('old')
    with pytest.raises(CheckpointError, match='int8'):
        int8.save_pretrained(tmp_path / 'out', overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ['out']
    assert [p.name for p in (tmp_path / 'out').iterdir()] == ['old.txt']


def test_non_empty_target_needs_overwrite(policy: SmolVLAPolicy, tmp_path: Path) -> None:
    target = tmp_path / 'out'
    target.mkdir()
    (target / 'old.txt').write_text('old')
    with pytest.raises(FileExistsError, match='overwrite=True'):
        policy.save_pretrained(target)
    assert [p.name for p in target.iterdir()] == ['old.txt']
    policy.save_pretrained(target, overwrite=True)
    assert not (target / 'old.txt').exists() and (target / 'model.safetensors').is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['out']


def _nan_state() -> dict:
    obs = raw_observation()
    obs['state'] = IO['state'].copy()
    obs['state'][0, 2] = np.nan
    return obs


@pytest.mark.parametrize(
    'obs',
    [
        _nan_state(),
        {**raw_observation(), 'instruction': ''},
        {**raw_observation(), 'state': np.zeros((1, 5), np.float32)},
        {'images': raw_observation()['images'], 'state': IO['state']},
    ],
    ids=['nan-state', 'empty-instruction', 'wrong-state-dim', 'no-instruction'],
)
def test_bad_observation_raises_the_preprocessors_error_and_runs_nothing(
    policy: SmolVLAPolicy, obs: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError) as direct:
        policy.preprocessor(obs)

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError('the model ran on a bad observation')

    monkeypatch.setattr(policy.model, 'sample_actions', must_not_run)
    with pytest.raises(ValueError) as via_policy:
        policy.predict_chunk(obs)
    assert type(via_policy.value) is type(direct.value)
    assert str(via_policy.value) == str(direct.value)


def test_bad_noise_shape_is_named(policy: SmolVLAPolicy) -> None:
    with pytest.raises(ValueError, match=r'noise has shape \(1, 50, 6\)'):
        policy.predict_chunk(raw_observation(), noise=np.zeros((1, 50, 6), np.float32))


def test_bad_num_steps_is_refused_before_loading(identity_ckpt: Path) -> None:
    with pytest.raises(ConfigError, match='num_steps'):
        SmolVLAPolicy.from_pretrained(identity_ckpt, vlm_dir=VLM, num_steps=0)
