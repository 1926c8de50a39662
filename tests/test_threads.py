"""torch CPU threads for inference: ``smolvla_model.threads`` and the runner's/evaluator's
``--num-threads`` (the policy node's ``num_threads`` is in tests/ros/test_policy_node.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from smolvla_checkpoints import make_checkpoint

from smolvla_model.threads import set_cpu_threads
from smolvla_ros.runner.evaluate import main as eval_main
from so_arm_driver.robots import SO101


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


def test_set_cpu_threads_sets_and_none_keeps(restore_threads) -> None:
    assert set_cpu_threads(None) == restore_threads  # unset: torch's choice stays
    assert set_cpu_threads(0) == restore_threads
    assert set_cpu_threads(1) == 1 and torch.get_num_threads() == 1
    assert set_cpu_threads(None) == 1  # unset does not reset an earlier choice


@pytest.mark.parametrize('bad', [-1, 1.5, True, '2'])
def test_set_cpu_threads_refuses_bad_values_and_changes_nothing(restore_threads, bad) -> None:
    with pytest.raises(ValueError, match='num_threads'):
        set_cpu_threads(bad)
    assert torch.get_num_threads() == restore_threads


def test_eval_num_threads_reaches_torch(restore_threads, tmp_path: Path) -> None:
    """smolvla-eval --num-threads 1 runs the model on one thread (the process-wide setting is
    read back after the run; the test restores it)."""
    if restore_threads == 1:
        torch.set_num_threads(2)  # so that the option visibly changes something
    ckpt = make_checkpoint(
        tmp_path / 'ckpt',
        state_stats={'mean': [0.0] * 6, 'std': [1.0] * 6},
        action_stats={'mean': [0.0] * 6, 'std': [0.1] * 6},
        state_names=[f'{j}.pos' for j in SO101.joint_names],
        action_names=[f'{j}.pos' for j in SO101.joint_names],
        units='radians',
        fps=30,
    )
    argv = [str(ckpt), '--episodes', '1', '--modes', 'async', '--max-seconds', '0.5']
    argv += ['--video-episodes', '0', '--image-size', '64x48', '--output', str(tmp_path / 'e')]
    assert eval_main([*argv, '--num-threads', '1']) == 0
    assert torch.get_num_threads() == 1
