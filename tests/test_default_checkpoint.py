"""The default SmolVLA checkpoint: one choice (pretrained if here, else the shipped checkpoint)
for the runner and the policy node (smolvla_ros/policy/default_checkpoint.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runner_helpers import run_folder
from smolvla_checkpoints import make_checkpoint

from smolvla_ros.policy.default_checkpoint import (
    DEFAULT_CHECKPOINT,
    SHIPPED_ENV,
    choose_default_checkpoint,
)
from smolvla_ros.policy.serving import PolicyLoadError, resolve_checkpoint
from so_arm_driver.robots import SO101

pytestmark = pytest.mark.filterwarnings('ignore::DeprecationWarning')

JOINTS = list(SO101.joint_names)


@pytest.fixture
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No pretrained SmolVLA here: an empty Hugging Face cache (read at call time)."""
    import huggingface_hub.constants

    cache = tmp_path / 'hf_cache'
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_CACHE', str(cache))
    return cache


def _fake_layout(folder: Path, files: tuple[str, ...] = ('config.json', 'model.safetensors')):
    """A folder with the files the choice looks for (the choice loads nothing)."""
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).write_text('{}')
    return folder


def test_pretrained_is_chosen_when_it_is_here(tmp_path: Path, monkeypatch) -> None:
    pretrained = _fake_layout(tmp_path / 'smolvla_base')
    monkeypatch.setenv(SHIPPED_ENV, str(_fake_layout(tmp_path / 'shipped')))
    choice = choose_default_checkpoint(pretrained=str(pretrained))
    assert (choice.checkpoint, choice.kind, choice.notes) == (str(pretrained), 'pretrained', ())
    assert 'pretrained' in choice.message


def test_shipped_is_chosen_when_no_pretrained_is_cached(empty_hf_cache, tmp_path, monkeypatch):
    shipped = _fake_layout(tmp_path / 'shipped')
    monkeypatch.setenv(SHIPPED_ENV, str(shipped))
    choice = choose_default_checkpoint()
    assert (choice.checkpoint, choice.kind) == (str(shipped), 'shipped')
    assert len(choice.notes) == 1 and DEFAULT_CHECKPOINT in choice.notes[0]
    assert 'Hugging Face cache' in choice.notes[0]
    assert str(shipped) in choice.message and 'shipped with the project' in choice.message


def test_a_shipped_folder_without_weights_or_excluded_is_not_chosen(
    empty_hf_cache, tmp_path, monkeypatch
):
    """Fault: shipped folder lacks model.safetensors -> Expected: no choice, notes say where."""
    partial = _fake_layout(tmp_path / 'partial', ('config.json',))
    monkeypatch.setenv(SHIPPED_ENV, str(partial))
    choice = choose_default_checkpoint()
    assert (choice.checkpoint, choice.kind) == (None, 'none')
    assert str(partial) in choice.notes[-1] and 'model.safetensors' in choice.notes[-1]
    # A shipped folder that failed to load is passed over when the caller asks again.
    shipped = _fake_layout(tmp_path / 'shipped')
    monkeypatch.setenv(SHIPPED_ENV, str(shipped))
    again = choose_default_checkpoint(exclude=[str(shipped)])
    assert again.checkpoint is None and 'failed to load' in again.notes[-1]
    monkeypatch.setenv(SHIPPED_ENV, '')
    assert 'is empty' in choose_default_checkpoint().notes[-1]


def test_node_core_resolves_an_empty_checkpoint_to_the_shipped_one(
    empty_hf_cache, tmp_path, monkeypatch
):
    shipped = _fake_layout(tmp_path / 'shipped')
    monkeypatch.setenv(SHIPPED_ENV, str(shipped))
    checkpoint, note = resolve_checkpoint('smolvla', '')
    assert checkpoint == str(shipped) and 'shipped with the project' in note
    # A named checkpoint, or another policy, is left alone and logs nothing.
    assert resolve_checkpoint('smolvla', 'my/ckpt') == ('my/ckpt', '')
    assert resolve_checkpoint('scripted', '') == ('', '')
    monkeypatch.setenv(SHIPPED_ENV, str(tmp_path / 'absent'))
    with pytest.raises(PolicyLoadError, match='set the checkpoint parameter'):
        resolve_checkpoint('smolvla', '')


def test_policy_node_config_logs_and_uses_the_choice(empty_hf_cache, tmp_path, monkeypatch):
    """The node's parameters -> core config path (the node itself is tested in tests/ros)."""
    from tests.ros.ros_harness import ros_import_error

    # Not importorskip: the source folder smolvla_interfaces/ imports as an empty namespace
    # package when the colcon build is not on the path.
    if (why := ros_import_error()) is not None:
        pytest.skip(why)
    from smolvla_ros.nodes.policy_node import PARAMS, build_config

    shipped = _fake_layout(tmp_path / 'shipped')
    monkeypatch.setenv(SHIPPED_ENV, str(shipped))
    values = {p.name: p.default for p in PARAMS}
    assert values['checkpoint'] == '' and values['policy'] == 'smolvla'
    config = build_config(values)
    assert config.settings.checkpoint == str(shipped)
    assert 'shipped with the project' in config.checkpoint_note
    # At start (and on parameter sets) the choice is not made: validation only.
    monkeypatch.setenv(SHIPPED_ENV, '')
    assert build_config(values, choose_default=False).checkpoint_note == ''


def test_runner_without_checkpoint_runs_the_shipped_one(empty_hf_cache, tmp_path, monkeypatch):
    """smolvla-run with no --checkpoint and no pretrained SmolVLA loads the shipped checkpoint
    (a real tiny one built here), not random weights."""
    from smolvla_ros.runner.cli import main

    shipped = make_checkpoint(
        tmp_path / 'shipped',
        state_stats={'mean': [0.0] * 6, 'std': [1.0] * 6},
        action_stats={'mean': [0.0] * 6, 'std': [0.1] * 6},
        state_names=[f'{j}.pos' for j in JOINTS],
        action_names=[f'{j}.pos' for j in JOINTS],
        units='radians',
        fps=30,
    )
    monkeypatch.setenv(SHIPPED_ENV, str(shipped))
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    output = tmp_path / 'runs'
    argv = ['--duration', '0.5', '--image-size', '64x48', '--output', str(output), '--no-live']
    assert main(argv) == 0
    metrics = json.loads((run_folder(output) / 'metrics.json').read_text())
    assert metrics['banner'] == ''
    assert (metrics['policy']['kind'], metrics['policy']['source']) == ('smolvla', str(shipped))
    assert any(DEFAULT_CHECKPOINT in n for n in metrics['policy']['fallback_notes'])
