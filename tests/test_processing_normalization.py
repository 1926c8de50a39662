"""Normalization maths checked against hand-computed values, and bad statistics refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from smolvla_model.processing import (
    FeatureNormalizer,
    FeatureSpec,
    FeatureType,
    NormMode,
    ProcessorFileError,
)
from smolvla_model.processing.normalization import flatten_stats, stats_from_mapping

SPEC = {'observation.state': FeatureSpec(FeatureType.STATE, (2,))}


def make(mode: NormMode, stats: dict) -> FeatureNormalizer:
    return FeatureNormalizer(SPEC, {'observation.state': mode}, stats_from_mapping(stats))


def test_mean_std_by_hand() -> None:
    norm = make(NormMode.MEAN_STD, {'observation.state': {'mean': [1, 2], 'std': [2, 4]}})
    out = norm.normalize('observation.state', torch.tensor([[3.0, 6.0]]))
    # (3 - 1) / 2 = 1, (6 - 2) / 4 = 1; eps 1e-8 is below float32 resolution here.
    assert torch.allclose(out, torch.tensor([[1.0, 1.0]]), atol=1e-6)
    back = norm.unnormalize('observation.state', torch.tensor([[1.0, -0.5]]))
    assert torch.allclose(back, torch.tensor([[3.0, 0.0]]))


def test_min_max_by_hand_and_zero_span() -> None:
    norm = make(NormMode.MIN_MAX, {'observation.state': {'min': [0, 5], 'max': [10, 5]}})
    out = norm.normalize('observation.state', torch.tensor([[5.0, 5.0], [10.0, 5.0]]))
    # [0, 10] -> [-1, 1]: 5 -> 0, 10 -> 1. A zero span keeps min at -1 (LeRobot's eps rule).
    assert torch.allclose(out, torch.tensor([[0.0, -1.0], [1.0, -1.0]]))
    back = norm.unnormalize('observation.state', torch.tensor([[-1.0, -1.0], [0.5, 1.0]]))
    assert torch.allclose(back[:, 0], torch.tensor([0.0, 7.5]))
    assert torch.allclose(back[:, 1], torch.tensor([5.0, 5.0]), atol=1e-6)


def test_quantiles_use_q01_q99() -> None:
    norm = make(NormMode.QUANTILES, {'observation.state': {'q01': [-2, 0], 'q99': [2, 4]}})
    out = norm.normalize('observation.state', torch.tensor([[0.0, 4.0]]))
    assert torch.allclose(out, torch.tensor([[0.0, 1.0]]))


def test_identity_ignores_stats() -> None:
    norm = make(NormMode.IDENTITY, {})
    x = torch.tensor([[3.0, -7.0]])
    assert torch.equal(norm.normalize('observation.state', x), x)
    assert torch.equal(norm.unnormalize('observation.state', x), x)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-100, 100), min_size=2, max_size=2),
    st.lists(st.floats(0.01, 50), min_size=2, max_size=2),
    st.lists(st.floats(-1000, 1000), min_size=2, max_size=2),
)
def test_mean_std_round_trip(mean: list, std: list, x: list) -> None:
    norm = make(NormMode.MEAN_STD, {'observation.state': {'mean': mean, 'std': std}})
    t = torch.tensor([x], dtype=torch.float32)
    back = norm.unnormalize('observation.state', norm.normalize('observation.state', t))
    assert torch.allclose(back, t, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize(
    ('stats', 'match'),
    [
        ({}, r"lack \['mean', 'std'\]"),
        ({'observation.state': {'mean': [0, 0]}}, r"lack \['std'\]"),
        ({'observation.state': {'mean': [0, 0, 0], 'std': [1, 1, 1]}}, 'has 3 values'),
        ({'observation.state': {'mean': [np.inf, 0], 'std': [1, 1]}}, 'NaN or inf'),
        ({'observation.state': {'mean': [0, 0], 'std': [1, -1]}}, 'negative'),
    ],
)
def test_bad_stats_are_refused_at_construction(stats: dict, match: str) -> None:
    with pytest.raises(ProcessorFileError, match=match):
        make(NormMode.MEAN_STD, stats)


def test_flatten_uses_lerobot_keys() -> None:
    flat = flatten_stats(stats_from_mapping({'observation.state': {'mean': [1.0]}}))
    assert list(flat) == ['observation.state.mean']
    assert flat['observation.state.mean'].dtype == torch.float32
