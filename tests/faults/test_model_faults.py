"""Fault matrix of smolvla_model: one test per fault, on the real loader, processors and CLI.

Each test names its fault in one docstring line ("Fault: ... -> Expected: ...") and checks the
named error (its type, and that the message names the field, file or input) AND that nothing
else changed: the checkpoint or fixture folder holds the same files with the same bytes, the CLI
printed no result, and a loaded policy still predicts the same chunk afterwards.

Checkpoints are copies of the committed LeRobot parity fixture (tests/fixtures/smolvla_parity),
edited the way each fault needs.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from smolvla_model.config import SmolVLAConfig
from smolvla_model.errors import (
    CheckpointError,
    ConfigError,
    InputError,
    SmolVLAError,
)
from smolvla_model.loading import load_model
from smolvla_model.policy import SmolVLAPolicy
from smolvla_model.processing import ProcessorFileError, load_processors

FIXTURES = Path(__file__).resolve().parents[1] / 'fixtures' / 'smolvla_parity'
FP32 = FIXTURES / 'micro_fp32'
VLM = FIXTURES / 'vlm' / 'smolvlm2-micro'
MODE = 'hf-4.55-fp32'  # the fixture's vision position ids (smolvla_model.vision_positions)
with np.load(FP32 / 'io.npz') as _z:
    IO = {k: _z[k] for k in _z.files}
IDENTITY_STATS = {
    'observation.state': {'mean': np.zeros(6), 'std': np.ones(6)},
    'action': {'mean': np.zeros(6), 'std': np.ones(6)},
}


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path -> sha256): equal snapshots mean untouched."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob('*'))
        if p.is_file()
    }


def checkpoint(tmp_path: Path, **config_changes: Any) -> Path:
    """A copy of the fp32 fixture checkpoint (config.json + model.safetensors), config edited."""
    folder = tmp_path / 'ckpt'
    folder.mkdir()
    shutil.copy(FP32 / 'model.safetensors', folder / 'model.safetensors')
    raw = json.loads((FP32 / 'config.json').read_text())
    raw.update(config_changes)
    (folder / 'config.json').write_text(json.dumps(raw))
    return folder


def write_processor_files(
    folder: Path,
    stats: dict[str, torch.Tensor],
    norm_map: dict[str, str] | None = None,
    **normalizer_changes: Any,
) -> None:
    """LeRobot >= 0.4 processor files written by hand (same format as LeRobot's)."""
    config = json.loads((folder / 'config.json').read_text())
    normalizer = {
        'eps': 1e-8,
        'features': {**config['input_features'], **config['output_features']},
        'norm_map': norm_map or {'VISUAL': 'IDENTITY', 'STATE': 'MEAN_STD', 'ACTION': 'MEAN_STD'},
        **normalizer_changes,
    }
    pre_state = 'policy_preprocessor_step_5_normalizer_processor.safetensors'
    post_state = 'policy_postprocessor_step_0_unnormalizer_processor.safetensors'
    pre = {
        'name': 'policy_preprocessor',
        'steps': [
            {'registry_name': 'tokenizer_processor', 'config': {'max_length': 48}},
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
                'config': {**normalizer, 'features': config['output_features']},
                'state_file': post_state,
            },
        ],
    }
    (folder / 'policy_preprocessor.json').write_text(json.dumps(pre))
    (folder / 'policy_postprocessor.json').write_text(json.dumps(post))
    save_file({k: v.clone() for k, v in stats.items()}, str(folder / pre_state))
    action = {k: v.clone() for k, v in stats.items() if k.startswith('action.')}
    save_file(action, str(folder / post_state))


def mean_std_stats() -> dict[str, torch.Tensor]:
    zeros, ones = torch.zeros(6), torch.ones(6)
    return {
        'observation.state.mean': zeros,
        'observation.state.std': ones,
        'action.mean': zeros.clone(),
        'action.std': ones.clone(),
    }


# --- config.json ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('field', 'value'),
    [
        ('chunk_size', '50'),
        ('chunk_size', 50.5),
        ('num_steps', '10'),
        ('num_vlm_layers', '4'),
        ('n_action_steps', True),
        ('max_state_dim', None),
    ],
)
def test_config_wrong_typed_int_field(tmp_path, field, value):
    """Fault: config.json int field given as string/fraction/bool/null -> Expected: ConfigError
    naming the field and the file, at load, nothing written."""
    folder = checkpoint(tmp_path, **{field: value})
    before = snapshot(folder)
    with pytest.raises(ConfigError) as e:
        load_model(folder, vlm_dir=VLM)
    assert field in str(e.value) and str(folder / 'config.json') in str(e.value)
    assert repr(value) in str(e.value)  # shows what was found
    assert snapshot(folder) == before


@pytest.mark.parametrize(
    ('field', 'value', 'limit'),
    [('num_steps', 1e9, '1000'), ('chunk_size', 1e7, '1000'), ('chunk_size', 0, '1')],
)
def test_config_int_field_out_of_range(tmp_path, field, value, limit):
    """Fault: num_steps 1e9 (would never return) / chunk_size 1e7 (GBs of noise) / 0 ->
    Expected: ConfigError naming the field and its bounds before anything is built."""
    folder = checkpoint(tmp_path, **{field: value})
    before = snapshot(folder)
    with pytest.raises(ConfigError, match=rf'{field} must be in \[1, 1000\]') as e:
        SmolVLAConfig.from_json(folder)
    assert limit in str(e.value)
    assert snapshot(folder) == before


def test_config_resize_null(tmp_path):
    """Fault: resize_imgs_with_padding null (crashed in pixel_shuffle) -> Expected: ConfigError
    naming the field at load, nothing written."""
    folder = checkpoint(tmp_path, resize_imgs_with_padding=None)
    before = snapshot(folder)
    with pytest.raises(ConfigError, match='resize_imgs_with_padding'):
        load_model(folder, vlm_dir=VLM)
    assert snapshot(folder) == before


def test_config_integral_float_is_accepted_as_int(tmp_path):
    """Fault: chunk_size written as 50.0 by a float-only JSON writer -> Expected: loads as the
    int 50 (unambiguous); the model is the same as with 50."""
    folder = checkpoint(tmp_path, chunk_size=50.0, num_steps=10.0)
    cfg = SmolVLAConfig.from_json(folder)
    assert cfg.chunk_size == 50 and type(cfg.chunk_size) is int
    assert cfg.num_steps == 10 and type(cfg.num_steps) is int


def test_num_steps_override_out_of_range(tmp_path):
    """Fault: SmolVLAPolicy / sample_actions asked for num_steps=1e9 or "10" -> Expected:
    ConfigError naming num_steps before the load or the first step; the model is unchanged."""
    with pytest.raises(ConfigError, match='num_steps'):
        SmolVLAPolicy.from_pretrained(FP32, vlm_dir=VLM, num_steps=10**9)
    model = load_model(FP32, vlm_dir=VLM, vision_position_mode=MODE).model
    params = {k: v.clone() for k, v in model.state_dict().items()}
    from smolvla_model.batch import ModelInputs

    t = torch.from_numpy
    inputs = ModelInputs(
        images=[t(IO[f'image{i}_pre']) for i in range(3)],
        image_masks=[t(IO[f'image{i}_mask']) for i in range(3)],
        state=torch.nn.functional.pad(t(IO['state']), (0, 26)),
        lang_tokens=t(IO['lang_tokens']),
        lang_masks=t(IO['lang_masks']),
    )
    for bad in (10**9, '10', 2.5):
        with pytest.raises(ConfigError, match='num_steps'):
            model.sample_actions(inputs, noise=t(IO['noise']), num_steps=bad)
    assert all(torch.equal(v, params[k]) for k, v in model.state_dict().items())


# --- normalization statistics --------------------------------------------------------------


@pytest.mark.parametrize(
    ('mode', 'lo', 'hi'), [('MIN_MAX', 'min', 'max'), ('QUANTILES', 'q01', 'q99')]
)
def test_stats_low_above_high(tmp_path, mode, lo, hi):
    """Fault: MIN_MAX / QUANTILES action stats with min > max (silently negated actions) ->
    Expected: ProcessorFileError naming the feature and dims, nothing written."""
    folder = checkpoint(tmp_path)
    low = torch.tensor([-1.0, -2.0, 5.0, 0.0, -3.0, 0.0])
    high = torch.tensor([1.0, 2.0, 3.0, 1.0, 3.0, 100.0])  # dim 2: low 5 > high 3
    stats = {**mean_std_stats(), f'action.{lo}': low, f'action.{hi}': high}
    write_processor_files(folder, stats, {'STATE': 'MEAN_STD', 'ACTION': mode})
    before = snapshot(folder)
    with pytest.raises(ProcessorFileError) as e:
        load_processors(folder, tokenizer=VLM)
    msg = str(e.value)
    assert f'action.{lo} > action.{hi}' in msg and '[2]' in msg
    assert 'policy_preprocessor.json' in msg or 'policy_postprocessor.json' in msg
    assert snapshot(folder) == before


@pytest.mark.parametrize(
    ('stat', 'value', 'match'),
    [
        ('observation.state.std', float('nan'), 'NaN or inf'),
        ('action.mean', float('inf'), 'NaN or inf'),
        ('observation.state.std', -1.0, 'negative'),
    ],
)
def test_stats_nonfinite_or_negative_std(tmp_path, stat, value, match):
    """Fault: NaN/inf statistic or negative std in the stats file -> Expected: ProcessorFileError
    naming the feature and the stat, nothing written."""
    folder = checkpoint(tmp_path)
    stats = mean_std_stats()
    stats[stat] = stats[stat].clone()
    stats[stat][3] = value
    write_processor_files(folder, stats)
    before = snapshot(folder)
    with pytest.raises(ProcessorFileError, match=match) as e:
        load_processors(folder, tokenizer=VLM)
    feature, name = stat.rsplit('.', 1)
    assert f'{feature}.{name}' in str(e.value)
    assert snapshot(folder) == before


@pytest.mark.parametrize(('field', 'value'), [('eps', 'tiny'), ('eps', -1.0), ('eps', True)])
def test_processor_file_wrong_typed_eps(tmp_path, field, value):
    """Fault: policy_preprocessor.json normalizer config eps "tiny" (bare ValueError before) ->
    Expected: ProcessorFileError naming the file and config.eps, nothing written."""
    folder = checkpoint(tmp_path)
    write_processor_files(folder, mean_std_stats(), **{field: value})
    before = snapshot(folder)
    with pytest.raises(ProcessorFileError) as e:
        load_processors(folder, tokenizer=VLM)
    assert 'policy_preprocessor.json' in str(e.value) and 'config.eps' in str(e.value)
    assert snapshot(folder) == before


def test_processor_file_wrong_typed_tokenizer_length(tmp_path):
    """Fault: tokenizer step max_length "48" -> Expected: ProcessorFileError naming the file and
    config.max_length, nothing written."""
    folder = checkpoint(tmp_path)
    write_processor_files(folder, mean_std_stats())
    path = folder / 'policy_preprocessor.json'
    pre = json.loads(path.read_text())
    pre['steps'][0]['config']['max_length'] = '48'
    path.write_text(json.dumps(pre))
    before = snapshot(folder)
    with pytest.raises(ProcessorFileError) as e:
        load_processors(folder, tokenizer=VLM)
    assert str(path) in str(e.value) and 'config.max_length' in str(e.value)
    assert snapshot(folder) == before


def test_processor_file_error_is_in_the_model_hierarchy():
    """Fault: a caller catching SmolVLAError missed processor-file errors -> Expected:
    ProcessorFileError is a SmolVLAError (and still a ValueError)."""
    assert issubclass(ProcessorFileError, SmolVLAError)
    assert issubclass(ProcessorFileError, ValueError)
    for cls in (ConfigError, CheckpointError, InputError):
        assert issubclass(cls, SmolVLAError)


# --- checkpoint weights (regressions) --------------------------------------------------------


def test_truncated_safetensors(tmp_path):
    """Fault: model.safetensors cut in half (interrupted download) -> Expected: CheckpointError
    naming the file, nothing written."""
    folder = checkpoint(tmp_path)
    data = (folder / 'model.safetensors').read_bytes()
    (folder / 'model.safetensors').write_bytes(data[: len(data) // 2])
    before = snapshot(folder)
    with pytest.raises(CheckpointError, match='not a readable safetensors') as e:
        load_model(folder, vlm_dir=VLM)
    assert str(folder / 'model.safetensors') in str(e.value)
    assert snapshot(folder) == before


def test_pickle_named_safetensors(tmp_path):
    """Fault: a pickle (torch.save) file named model.safetensors -> Expected: CheckpointError,
    never unpickled, nothing written."""
    folder = checkpoint(tmp_path)
    marker = tmp_path / 'unpickled'

    class Payload:
        def __reduce__(self):  # would create `marker` if anything unpickled the file
            return (Path.touch, (marker,))

    with open(folder / 'model.safetensors', 'wb') as f:
        pickle.dump({'model.state_proj.weight': Payload()}, f)
    before = snapshot(folder)
    with pytest.raises(CheckpointError, match='not a readable safetensors'):
        load_model(folder, vlm_dir=VLM)
    assert not marker.exists()
    assert snapshot(folder) == before


@pytest.mark.parametrize('edit', ['missing', 'unexpected'])
def test_checkpoint_keys_do_not_match(tmp_path, edit):
    """Fault: a checkpoint missing a weight / carrying an unknown one -> Expected:
    CheckpointError naming the key (strict load), nothing written."""
    folder = checkpoint(tmp_path)
    sd = load_file(str(folder / 'model.safetensors'))
    key = 'model.state_proj.bias' if edit == 'missing' else 'model.extra_head.weight'
    if edit == 'missing':
        del sd[key]
    else:
        sd[key] = torch.zeros(3)
    save_file(sd, str(folder / 'model.safetensors'))
    before = snapshot(folder)
    with pytest.raises(CheckpointError, match=rf'{edit} keys: {key}'.replace('.', r'\.')):
        load_model(folder, vlm_dir=VLM)
    assert snapshot(folder) == before


# --- observations (regressions) --------------------------------------------------------------


@pytest.fixture(scope='module')
def policy() -> SmolVLAPolicy:
    return SmolVLAPolicy.from_pretrained(
        FP32, vlm_dir=VLM, vision_position_mode=MODE, stats=IDENTITY_STATS
    )


def observation() -> dict[str, Any]:
    return {
        'images': {
            'observation.image': IO['image0'].copy(),
            'observation.image2': IO['image1'].copy(),
            'observation.image3': IO['image2'].copy(),
        },
        'state': IO['state'].copy(),
        'instruction': 'pick up the red cube and place it in the box',
    }


def _bad_state_nan(obs):
    obs['state'][0, 2] = np.nan


def _bad_state_inf(obs):
    obs['state'][0, 4] = -np.inf


def _bad_state_width(obs):
    obs['state'] = obs['state'][:, :5]


def _bad_image_nan(obs):
    obs['images']['observation.image2'][0, 1, 3, 3] = np.nan


def _bad_image_inf(obs):
    obs['images']['observation.image2'][0, 0, 0, 0] = np.inf


def _bad_image_channels(obs):
    obs['images']['observation.image2'] = obs['images']['observation.image2'][:, :2]


def _bad_image_rank(obs):
    obs['images']['observation.image2'] = obs['images']['observation.image2'][0, 0]


@pytest.mark.parametrize(
    ('corrupt', 'names'),
    [
        (_bad_state_nan, ['state', 'NaN or inf', '[2]']),
        (_bad_state_inf, ['state', 'NaN or inf', '[4]']),
        (_bad_state_width, ['state', '6', 'got 5']),
        (_bad_image_nan, ["'observation.image2'", 'NaN or inf']),
        (_bad_image_inf, ["'observation.image2'", 'NaN or inf']),
        (_bad_image_channels, ["'observation.image2'", '3 channels']),
        (_bad_image_rank, ["'observation.image2'", 'shape']),
    ],
)
def test_bad_observation(policy, corrupt, names):
    """Fault: NaN/inf or wrong shape in the observation's state or an image -> Expected:
    InputError (a SmolVLAError and a ValueError) naming the input; the policy predicts the same
    chunk afterwards."""
    noise = IO['noise']
    before = policy.predict_chunk(observation(), noise=noise)
    obs = observation()
    corrupt(obs)
    with pytest.raises(InputError) as e:
        policy.predict_chunk(obs, noise=noise)
    for part in names:
        assert part in str(e.value)
    assert np.array_equal(policy.predict_chunk(observation(), noise=noise), before)


# --- the parity CLI --------------------------------------------------------------------------


def _fixture_copy(tmp_path: Path) -> Path:
    fixture = tmp_path / 'micro_fp32'
    shutil.copytree(FP32, fixture)
    shutil.copytree(FIXTURES / 'vlm', tmp_path / 'vlm')  # vlm_model_name is relative
    return fixture


def _run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    from smolvla_model.parity import main

    try:
        code = main(args)
    except SystemExit as e:  # argparse's own usage errors
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str, *names: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error:'), err
    for name in names:
        assert name in lines[0]


@pytest.mark.parametrize('damage', ['truncated', 'text', 'pickle', 'empty'])
def test_parity_cli_unreadable_io_npz(tmp_path, capsys, damage):
    """Fault: parity fixture io.npz truncated / not a zip / a pickle / empty (traceback, exit 1
    = FAIL before) -> Expected: one-line error naming io.npz, exit 2, no result printed."""
    fixture = _fixture_copy(tmp_path)
    npz = fixture / 'io.npz'
    data = npz.read_bytes()
    if damage == 'truncated':
        npz.write_bytes(data[: len(data) // 2])
    elif damage == 'text':
        npz.write_text('not an archive')
    elif damage == 'pickle':
        npz.write_bytes(pickle.dumps({'state': np.zeros((1, 6))}))
    else:
        npz.write_bytes(b'')
    before = snapshot(tmp_path)
    code, out, err = _run_cli([str(fixture)], capsys)
    assert code == 2
    _one_line_error(err, str(npz), 'not a readable .npz')
    assert out == ''
    assert snapshot(tmp_path) == before


def test_parity_cli_state_wider_than_model(tmp_path, capsys):
    """Fault: io.npz state 40 wide for a max_state_dim=32 model (silently cut to 32 before) ->
    Expected: one-line error naming both widths, exit 2, no result printed."""
    fixture = _fixture_copy(tmp_path)
    io = dict(IO)
    io['state'] = np.zeros((1, 40), np.float32)
    np.savez(fixture / 'io.npz', **io)
    before = snapshot(tmp_path)
    code, out, err = _run_cli([str(fixture)], capsys)
    assert code == 2
    _one_line_error(err, 'io.npz', '40 wide', 'max_state_dim=32')
    assert out == ''
    assert snapshot(tmp_path) == before


def test_parity_cli_missing_array(tmp_path, capsys):
    """Fault: io.npz without the recorded v_t -> Expected: one-line error naming io.npz and
    v_t, exit 2, no result printed."""
    fixture = _fixture_copy(tmp_path)
    io = {k: v for k, v in IO.items() if k != 'v_t'}
    np.savez(fixture / 'io.npz', **io)
    before = snapshot(tmp_path)
    code, out, err = _run_cli([str(fixture)], capsys)
    assert code == 2
    _one_line_error(err, 'io.npz', "'v_t'")
    assert out == ''
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    'args',
    [
        ['{missing}'],
        ['{fixture}', '--atol', 'nan'],
        ['{fixture}', '--atol', '-1'],
        ['{fixture}', '--precision', 'fp64'],
        ['{fixture}', '--vlm-dir', '{missing}'],
    ],
)
def test_parity_cli_bad_arguments(tmp_path, capsys, args):
    """Fault: parity CLI given a missing folder, a NaN/negative tolerance, an unknown precision
    or a missing --vlm-dir -> Expected: exit 2 with an error naming it, no result printed."""
    fixture = _fixture_copy(tmp_path)
    missing = tmp_path / 'nowhere'
    argv = [a.format(fixture=fixture, missing=missing) for a in args]
    before = snapshot(tmp_path)
    code, out, err = _run_cli(argv, capsys)
    assert code == 2
    assert out == ''
    named = {'--atol': '--atol', '--precision': 'fp64', '--vlm-dir': str(missing)}
    expected = next((named[a] for a in args if a in named), str(missing))
    assert expected in err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ('args', 'named'),
    [
        (['--precision', 'fp64'], '--precision fp64'),
        (['--precision', 'fp16'], '--precision fp16'),  # CPU cannot run fp16
        (['--device', 'tpu:x'], '--device'),
        (['--image-size', '500'], '--image-size 500'),
        (['--json', '{missing}/out.json'], '--json'),
    ],
)
def test_model_bench_cli_bad_arguments(tmp_path, capsys, args, named):
    """Fault: model bench given an unknown/impossible precision, a bad device, an image size the
    vision tower cannot take, or a --json in a missing folder (found after minutes before) ->
    Expected: one-line error naming the option, exit 2, nothing built, nothing written."""
    from smolvla_model.bench import main

    argv = [a.format(missing=tmp_path / 'nowhere') for a in args]
    before = snapshot(tmp_path)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and out == ''
    _one_line_error(err, named)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ('key', 'shape'), [('v_t', (9, 1, 50, 32)), ('image1_pre', (1, 3, 32, 32)), ('noise', (1, 50))]
)
def test_parity_cli_array_of_wrong_shape(tmp_path, capsys, key, shape):
    """Fault: io.npz array whose shape does not fit the config (broadcast error after the model
    ran before) -> Expected: one-line error naming the array and both shapes, exit 2."""
    fixture = _fixture_copy(tmp_path)
    io = dict(IO)
    io[key] = np.zeros(shape, np.float32)
    np.savez(fixture / 'io.npz', **io)
    before = snapshot(tmp_path)
    code, out, err = _run_cli([str(fixture)], capsys)
    assert code == 2 and out == ''
    _one_line_error(err, 'io.npz', key, str(shape))
    assert snapshot(tmp_path) == before
