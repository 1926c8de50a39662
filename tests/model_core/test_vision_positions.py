"""Vision patch position ids: the exact ones, and transformers 4.55-4.57's fp32 regression."""

from __future__ import annotations

import pytest
import torch

from smolvla_model.vision_positions import mode_for_reference, vision_position_ids


def test_exact_ids_are_row_major_0_to_n():
    assert torch.equal(vision_position_ids(32, 32, 32), torch.arange(1024))
    assert torch.equal(vision_position_ids(4, 4, 4), torch.arange(16))


def test_regression_shifts_rows_and_columns_down_one_bucket():
    # i/4 * (1 - 1e-6) lies just below the boundary i/4, so bucket i-1 (0 stays 0), per axis.
    per_axis = [0, 0, 1, 2]
    expected = torch.tensor([r * 4 + c for r in per_axis for c in per_axis])
    assert torch.equal(vision_position_ids(4, 4, 4, 'hf-4.55-fp32'), expected)


def test_mode_for_reference_follows_version_and_dtype():
    assert mode_for_reference('4.57.6', 'torch.float32') == 'hf-4.55-fp32'
    assert mode_for_reference('4.57.6', 'torch.bfloat16') == 'exact'
    assert mode_for_reference('4.54.1', 'torch.float32') == 'exact'
    assert mode_for_reference('5.23.0', 'torch.float32') == 'exact'


def test_unknown_mode_is_a_clear_error():
    with pytest.raises(ValueError, match='exact'):
        vision_position_ids(4, 4, 4, 'buggy')


def test_loader_rejects_an_unknown_mode_before_reading_weights():
    from model_fixture import FIXTURES

    from smolvla_model.errors import ConfigError
    from smolvla_model.loading import load_model

    with pytest.raises(ConfigError, match='vision_position_mode'):
        load_model(FIXTURES / 'micro_fp32', vision_position_mode='buggy')
