"""The node-graph benchmark's ROS-free parts: period error and medians from hand-made tick times,
and the random SmolVLA checkpoint the policy nodes load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from smolvla_ros.bench.model_policy import SyntheticFrameSource
from smolvla_ros.bench.tick_jitter import (
    jitter_summary,
    lateness_summary,
    median_of_runs,
    period_errors_s,
)
from smolvla_ros.policy.protocol import PolicyInput
from smolvla_ros.policy.random_smolvla import save_random_smolvla
from smolvla_ros.policy.smolvla import SmolVLAChunkPolicy
from smolvla_ros.runtime.executor import ObservationSnapshot
from so_arm_driver.robots import SO101


def test_period_error_of_hand_made_ticks():
    # 10 ms period; ticks at 0, 10, 21, 30, 40, 62 ms: periods 10, 11, 9, 10, 22 ms ->
    # errors 0, 1, 1, 0, 12 ms; one period (22 ms) is longer than two nominal ones.
    t = np.array([0.0, 0.010, 0.021, 0.030, 0.040, 0.062])
    np.testing.assert_allclose(period_errors_s(t, 0.01), [0, 0.001, 0.001, 0, 0.012], atol=1e-12)
    s = jitter_summary(t, 0.01)
    assert s['ticks'] == 6 and s['long_periods'] == 1
    assert s['span_s'] == pytest.approx(0.062)
    assert s['rate_hz'] == pytest.approx(5 / 0.062)
    assert s['period_error_p50_ms'] == pytest.approx(1.0)  # sorted 0, 0, 1, 1, 12: the middle
    assert s['period_error_max_ms'] == pytest.approx(12.0)
    # numpy's linear percentile: 0.99 * 4 = 3.96 -> 1 + 0.96 * (12 - 1) ms
    assert s['period_error_p99_ms'] == pytest.approx(1 + 0.96 * 11)


def test_a_late_tick_counts_in_two_periods_and_a_constant_delay_in_none():
    period = 1 / 30
    ideal = np.arange(30) * period
    np.testing.assert_allclose(period_errors_s(ideal + 0.004, period), 0.0, atol=1e-12)
    one_late = ideal.copy()
    one_late[10] += 0.005
    err = period_errors_s(one_late, period)
    assert np.count_nonzero(err > 1e-9) == 2
    np.testing.assert_allclose(err[[9, 10]], 0.005, atol=1e-12)


def test_too_few_ticks_give_no_figures_not_an_error():
    s = jitter_summary([1.0], 0.01)
    assert s['ticks'] == 1 and s['period_error_p99_ms'] is None and s['rate_hz'] is None
    assert jitter_summary([], 0.01)['ticks'] == 0


@pytest.mark.parametrize(
    ('times', 'period', 'match'),
    [
        ([0.0, 0.01], 0.0, 'period_s'),
        ([0.0, 0.01], float('nan'), 'period_s'),
        ([0.0, float('nan')], 0.01, 'finite'),
        ([0.0, 0.02, 0.01], 0.01, 'go back at index 2'),
    ],
)
def test_bad_ticks_or_period_are_refused(times, period, match):
    with pytest.raises(ValueError, match=match):
        period_errors_s(times, period)


def test_lateness_in_ms_and_median_of_runs_skips_missing_figures():
    late = lateness_summary([0.001, 0.003, 0.002])
    assert late['lateness_p50_ms'] == pytest.approx(2.0)
    assert late['lateness_max_ms'] == pytest.approx(3.0)
    assert lateness_summary([])['lateness_p99_ms'] is None
    runs = [{'a': 1.0, 'b': None}, {'a': 3.0, 'b': 2}, {'a': 10.0, 'b': True, 'c': 'x'}]
    assert median_of_runs(runs, ('a', 'b', 'c')) == {'a': 3.0, 'b': 2.0, 'c': None}


def test_saved_random_smolvla_loads_and_predicts_its_action_mean(tmp_path: Path):
    home = (0.1, -1.0, 0.5, 1.2, -0.3, 0.9)
    folder = save_random_smolvla(
        tmp_path / 'ckpt', 'tiny', SO101.joint_names, chunk_size=8, action_mean_rad=home
    )
    config = json.loads((folder / 'config.json').read_text())
    assert config['units'] == 'radians' and config['fps'] == 30.0
    assert config['output_features']['action']['names'] == [f'{j}.pos' for j in SO101.joint_names]
    assert Path(config['vlm_model_name']) == (tmp_path / 'ckpt' / 'backbone').resolve()
    # Loaded through the suite's real loader, as policy_node does with checkpoint:=folder.
    policy = SmolVLAChunkPolicy.from_pretrained(folder, SO101.joint_names)
    assert policy.required_slots == ('top', 'wrist', 'side')
    source = SyntheticFrameSource(policy.required_slots, lambda: 1.0, 0.1, height=48, width=64)
    snap = ObservationSnapshot(0, 1.0, np.zeros(6), SO101.joint_names, True)
    chunk = policy.predict(PolicyInput(snap, {f.slot: f for f in source.read()}, 'pick'))
    # Action std 0: every action is the mean, whatever the random weights computed.
    assert chunk.shape == (8, 6)
    np.testing.assert_allclose(chunk, np.tile(home, (8, 1)), atol=1e-6)


def test_save_random_smolvla_refuses_a_wrong_mean_and_writes_nothing(tmp_path: Path):
    with pytest.raises(ValueError, match='action_mean_rad has 2 values for 6 joints'):
        save_random_smolvla(tmp_path / 'ckpt', 'tiny', SO101.joint_names, action_mean_rad=(0, 1))
    assert not (tmp_path / 'ckpt').exists()


def test_save_random_smolvla_refuses_an_existing_checkpoint_and_writes_nothing(tmp_path: Path):
    (tmp_path / 'ckpt' / 'policy').mkdir(parents=True)
    (tmp_path / 'ckpt' / 'policy' / 'config.json').write_text('{}')
    with pytest.raises(FileExistsError, match='not empty'):
        save_random_smolvla(tmp_path / 'ckpt', 'tiny', SO101.joint_names)
    assert sorted(p.name for p in (tmp_path / 'ckpt').rglob('*')) == ['config.json', 'policy']
    assert (tmp_path / 'ckpt' / 'policy' / 'config.json').read_text() == '{}'
