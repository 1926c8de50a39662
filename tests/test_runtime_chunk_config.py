"""ActionChunk validation and the config dataclasses' rejection of impossible values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from smolvla_ros.runtime import (
    BLEND_MODES,
    ActionChunk,
    BlendMode,
    ChunkRejectedError,
    ExecutorState,
    ObservationFilterConfig,
    RejectReason,
    RuntimeConfig,
    RuntimeMetrics,
    SafetyConfig,
    validate_chunk,
)
from so_arm_driver.robots import JOINT_NAMES, SO101


def _chunk(**kw) -> ActionChunk:
    base = dict(
        joint_names=JOINT_NAMES,
        actions=np.zeros((4, 6)),
        observation_time_s=10.0,
        dt_s=0.1,
        chunk_id=3,
    )
    base.update(kw)
    return ActionChunk(**base)


def test_sample_times_are_observation_time_plus_i_plus_one_dt():
    assert np.allclose(_chunk().sample_times(), [10.1, 10.2, 10.3, 10.4])


def test_chunk_actions_are_a_read_only_copy():
    a = np.zeros((2, 6))
    c = _chunk(actions=a)
    a[0, 0] = 5.0
    assert c.actions[0, 0] == 0.0
    with pytest.raises(ValueError):
        c.actions[0, 0] = 1.0


@pytest.mark.parametrize(
    ('kw', 'reason'),
    [
        (dict(joint_names=tuple(reversed(JOINT_NAMES))), 'joint_names'),
        (dict(joint_names=JOINT_NAMES[:5]), 'joint_names'),
        (dict(actions=np.zeros((4, 5))), 'shape'),
        (dict(actions=np.zeros((0, 6))), 'shape'),
        (dict(actions=np.zeros(6)), 'shape'),
        (dict(actions=np.full((4, 6), np.nan)), 'non_finite'),
        (dict(actions=np.array([[0, 0, np.inf, 0, 0, 0]] * 2)), 'non_finite'),
        (dict(dt_s=0.0), 'bad_dt'),
        (dict(dt_s=float('nan')), 'bad_dt'),
        (dict(observation_time_s=float('inf')), 'bad_time'),
    ],
)
def test_bad_chunks_are_rejected_with_their_reason(kw, reason):
    with pytest.raises(ChunkRejectedError) as err:
        validate_chunk(_chunk(**kw), JOINT_NAMES)
    assert err.value.reason == reason


def test_non_finite_message_names_the_joint():
    a = np.zeros((2, 6))
    a[1, 2] = np.nan
    with pytest.raises(ChunkRejectedError, match='elbow_flex'):
        validate_chunk(_chunk(actions=a), JOINT_NAMES)


def test_safety_defaults_come_from_the_so101_spec():
    s = SafetyConfig.from_robot('so101')
    assert s.joint_names == SO101.joint_names
    assert s.lower_rad[0] == SO101.joints[0].lower_rad
    assert s.upper_rad[5] == SO101.joints[5].upper_rad
    assert s.velocity_limit_rad_s == (3.0,) * 6


@pytest.mark.parametrize(
    'kw',
    [
        dict(g=1.5),
        dict(g=-0.1),
        dict(tick_rate_hz=0.0),
        dict(tick_rate_hz=5000.0),
        dict(mode='fast'),
        dict(blending='smooth'),
        dict(crossfade_s=-1.0),
        dict(request_timeout_s=0.0),
        dict(future_tolerance_s=-0.01),
        dict(future_tolerance_s=float('nan')),
        dict(max_chunk_length=0),
        dict(max_chunk_length=50.5),
        dict(max_chunk_length=True),
        dict(observation_filter=ObservationFilterConfig(joint_weights=(1.0, 1.0))),
    ],
)
def test_runtime_config_rejects_impossible_values(kw):
    with pytest.raises(ValueError):
        RuntimeConfig(**kw)


def test_runtime_config_accepts_200_hz_and_sync_means_g_zero():
    assert RuntimeConfig(tick_rate_hz=200.0).tick_period_s == pytest.approx(0.005)
    assert RuntimeConfig(mode='sync', g=0.7).effective_g == 0.0


@pytest.mark.parametrize(
    'kw',
    [
        dict(lower_rad=(1.0,) * 6, upper_rad=(0.0,) * 6),
        dict(velocity_limit_rad_s=(0.0,) * 6),
        dict(acceleration_limit_rad_s2=(1.0,) * 5),
        dict(watchdog_timeout_s=0.0),
        dict(soft_start_speed_fraction=1.5),
    ],
)
def test_safety_config_rejects_impossible_values(kw):
    base = dict(
        joint_names=JOINT_NAMES,
        lower_rad=(-1.0,) * 6,
        upper_rad=(1.0,) * 6,
        velocity_limit_rad_s=(3.0,) * 6,
        acceleration_limit_rad_s2=(20.0,) * 6,
    )
    base.update(kw)
    with pytest.raises(ValueError):
        SafetyConfig(**base)


def test_observation_filter_config_rejects_negative_values():
    with pytest.raises(ValueError):
        ObservationFilterConfig(epsilon_rad=-0.1)
    with pytest.raises(ValueError):
        ObservationFilterConfig(joint_weights=(1.0, -1.0))


def test_runtime_package_example_runs():
    """The usage example in smolvla_ros.runtime's docstring is a doctest; it must not rot."""
    import doctest

    import smolvla_ros.runtime

    result = doctest.testmod(smolvla_ros.runtime, verbose=False)
    assert result.attempted >= 6 and result.failed == 0


def test_enum_values_are_the_documented_strings():
    """The values cross into the ROS ExecutorStatus message: they are the strings the runtime
    documents (TickOutput.state, ChunkRejectedError.reason, RuntimeConfig.blending)."""
    assert {s.value for s in ExecutorState} == {
        'tracking',
        'startup',
        'starved',
        'watchdog',
        'estop',
    }
    assert {r.value for r in RejectReason} == {
        'joint_names',
        'shape',
        'non_finite',
        'bad_dt',
        'bad_time',
        'too_long',
        'future',
        'out_of_order',
        'estop',
        'before_estop',
        'before_hold',
    }
    assert BLEND_MODES == ('crossfade', 'latest', 'weighted', 'average', 'conservative')


def test_config_accepts_blend_mode_strings_and_stores_the_enum():
    cfg = RuntimeConfig(blending='latest')
    assert cfg.blending is BlendMode.LATEST and cfg.blending == 'latest'
    assert RuntimeConfig(blending=BlendMode.AVERAGE).blending is BlendMode.AVERAGE
    # str and JSON output stay the bare value
    assert f'{cfg.blending}' == 'latest' and str(cfg.blending) == 'latest'
    assert f'{cfg.blending:>8}' == '  latest'
    assert json.dumps({'blending': cfg.blending}) == '{"blending": "latest"}'
    with pytest.raises(ValueError, match='blending must be one of crossfade, latest'):
        RuntimeConfig(blending='smooth')


def test_rejection_reason_is_the_enum_and_counts_under_the_plain_string():
    err = ChunkRejectedError('future', 'skewed clock')
    assert err.reason is RejectReason.FUTURE and err.reason == 'future'
    assert '(future)' in str(err)
    with pytest.raises(ValueError):
        ChunkRejectedError('unknown_reason', 'x')
    m = RuntimeMetrics(JOINT_NAMES)
    m.reject(RejectReason.TOO_LONG)
    (key,) = m.summary()['chunks_rejected']
    assert type(key) is str and key == 'too_long'
