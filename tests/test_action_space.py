"""The action space: columns by name or order, units both ways (hypothesis round trips), the
simulator's virtual calibration, units choice from metadata, and the mismatch check."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smolvla_ros.action_space import (
    DEFAULT_UNITS,
    ActionSpace,
    ActionSpaceError,
    CheckpointMetadata,
    ColumnMappingError,
    ModelUnits,
    UnitsMismatchError,
    bind_columns,
    build_action_space,
    canonical_joint_name,
    read_checkpoint_metadata,
    virtual_calibration,
)
from so_arm_driver.calibration import MotorCalibration
from so_arm_driver.robots import SO101

ARM = SO101.joint_names  # shoulder_pan, shoulder_lift, elbow_flex, wrist_flex, wrist_roll, gripper
TICK = 2 * math.pi / 4096  # rad per STS3215 tick
DEG_PER_TICK = 360 / 4095  # LeRobot's degree conversion divides by 4095
# A real-arm calibration as LeRobot records it (ranges swept by hand; roll forced to 0..4095).
REAL_CAL = {
    'shoulder_pan': MotorCalibration(1, 0, -1500, 800, 3300),
    'shoulder_lift': MotorCalibration(2, 0, 600, 850, 3250),
    'elbow_flex': MotorCalibration(3, 0, 12, 900, 3100),
    'wrist_flex': MotorCalibration(4, 0, -40, 950, 3200),
    'wrist_roll': MotorCalibration(5, 0, 300, 0, 4095),
    'gripper': MotorCalibration(6, 0, 1000, 2000, 3400),
}
PERMUTED = ('gripper', 'wrist_roll', 'shoulder_pan', 'elbow_flex', 'shoulder_lift', 'wrist_flex')


def test_virtual_calibration_follows_the_urdf_limits() -> None:
    cal = virtual_calibration()
    # shoulder_pan: 1.91986 rad / (2π/4096) = 1251.55 -> 1252 ticks either side of tick 2047.
    assert (cal['shoulder_pan'].range_min, cal['shoulder_pan'].range_max) == (795, 3299)
    # shoulder_lift: 1.74533 / TICK = 1137.8 -> 1138.
    assert (cal['shoulder_lift'].range_min, cal['shoulder_lift'].range_max) == (909, 3185)
    assert (cal['wrist_roll'].range_min, cal['wrist_roll'].range_max) == (0, 4094)
    # gripper: -0.174533 / TICK = -113.8 -> -114; 1.74533 / TICK -> 1138.
    assert (cal['gripper'].range_min, cal['gripper'].range_max) == (1933, 3185)
    # Its middle, (1933 + 3185) / 2 = 2559, is 512 ticks = π/4 from the URDF zero (tick 2047).
    assert cal.rad_at_mid['gripper'] == pytest.approx(math.pi / 4, abs=1e-12)
    assert all(cal.rad_at_mid[j] == 0.0 for j in ARM if j != 'gripper')
    assert all(c.homing_offset == 0 and c.drive_mode == 0 for c in cal.values())


def test_degrees_chunk_lands_at_hand_computed_radians_in_arm_order() -> None:
    """Checkpoint columns permuted; 90 degrees about a calibrated middle is π/2 rad."""
    space = ActionSpace(
        ARM,
        'degrees',
        state_columns=PERMUTED,
        action_columns=PERMUTED,
        calibration=virtual_calibration(),
    )
    # Columns: gripper, wrist_roll, shoulder_pan, elbow_flex, shoulder_lift, wrist_flex.
    chunk = np.array([[100.0, -90.0, 90.0, 30.0, -45.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 45.0]])
    q = space.actions_to_arm(chunk)
    assert q.shape == (2, 6) and q.dtype == np.float64
    # degrees -> ticks from the middle: 90 * 4095/360 = 1023.75 -> 1024 = a quarter turn.
    # -45 -> -511.875 -> -512; 30 -> 341.25 -> 341; 45 -> 511.875 -> 512.
    # gripper 100 -> range_max 3185 = 1138 ticks above the URDF zero; 0 -> 1933 = -114 ticks.
    expected = np.array(
        [
            [math.pi / 2, -math.pi / 4, 341 * TICK, 0.0, -math.pi / 2, 1138 * TICK],
            [0.0, 0.0, 0.0, math.pi / 4, 0.0, -114 * TICK],
        ]
    )
    np.testing.assert_allclose(q, expected, rtol=0, atol=1e-12)


def test_real_calibration_degrees_and_range_by_hand() -> None:
    deg = ActionSpace(ARM, 'degrees', calibration=REAL_CAL)
    rng = ActionSpace(ARM, 'range_m100_100', calibration=REAL_CAL)
    # shoulder_pan middle (800 + 3300) / 2 = 2050; 1024 ticks above it is π/2 rad, which
    # LeRobot reads as 1024 * 360/4095 degrees and as (3074 - 800) / 2500 * 200 - 100 in -100..100.
    q = np.array([math.pi / 2, 0.0, 0.0, 0.0, 0.0, 0.0])
    assert deg.state_to_model(q)[0] == pytest.approx(1024 * DEG_PER_TICK, abs=1e-4)
    assert rng.state_to_model(q)[0] == pytest.approx((3074 - 800) / 2500 * 200 - 100, abs=1e-4)
    # Gripper 0..100 over 2000..3400 in both eras: 0 rad = the middle 2700 = 50.
    assert deg.state_to_model(q)[5] == pytest.approx(50.0)
    assert rng.state_to_model(q)[5] == pytest.approx(50.0)
    # range_m100_100 = 50 on elbow 900..3100: ticks 900 + 150/200 * 2200 = 2550, middle 2000.
    a = np.array([[0.0, 0.0, 50.0, 0.0, 0.0, 25.0]])
    # gripper 25 -> 2000 + 0.25 * 1400 = 2350, 350 ticks below the middle. wrist_roll 0 on
    # 0..4095 is tick 2047.5, which the servo cannot hold: the nearest even tick 2048 is half
    # a tick above the middle.
    np.testing.assert_allclose(
        rng.actions_to_arm(a)[0], [0, 0, 550 * TICK, 0, TICK / 2, -350 * TICK], atol=1e-12
    )


def test_radians_only_permute_columns() -> None:
    space = ActionSpace(ARM, 'radians', state_columns=PERMUTED, action_columns=PERMUTED)
    q = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    state = space.state_to_model(q)
    assert state.dtype == np.float32
    np.testing.assert_allclose(state, [0.6, 0.5, 0.1, 0.3, 0.2, 0.4], rtol=1e-7)
    np.testing.assert_allclose(space.actions_to_arm(state[None].astype(np.float64))[0], q, 1e-7)


# -- round trips, every scheme -----------------------------------------------------------------

CALS = {'real': REAL_CAL, 'virtual': virtual_calibration()}


def _in_range_rad(cal, draw_fraction: list[float]) -> np.ndarray:
    """Positions inside each joint's calibrated range (where LeRobot's ranges do not clamp)."""
    offsets = getattr(cal, 'rad_at_mid', {})
    q = []
    for j, f in zip(ARM, draw_fraction, strict=True):
        c = cal[j]
        half = (c.range_max - c.range_min) / 2 * TICK
        q.append(offsets.get(j, 0.0) + f * half)
    return np.array(q)


fractions = st.lists(
    st.floats(-0.999, 0.999, allow_nan=False, allow_infinity=False), min_size=6, max_size=6
)


@settings(max_examples=60, deadline=None)
@given(frac=fractions, cal_name=st.sampled_from(sorted(CALS)), perm=st.permutations(ARM))
@pytest.mark.parametrize('units', ['degrees', 'range_m100_100'])
def test_lerobot_units_round_trip_within_half_a_tick(
    units: str, frac: list[float], cal_name: str, perm: list[str]
) -> None:
    cal = CALS[cal_name]
    space = ActionSpace(ARM, units, state_columns=perm, action_columns=perm, calibration=cal)
    q = _in_range_rad(cal, frac)
    back = space.actions_to_arm(space.state_to_model(q)[None].astype(np.float64))[0]
    # The arm (real or virtual) sits on whole ticks: the nearest one is at most half a tick
    # away; float32 state adds at most ~1e-5 of a model unit.
    assert np.abs(back - q).max() <= TICK / 2 + 1e-6


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-95, 95, allow_nan=False), min_size=6, max_size=6),
    cal_name=st.sampled_from(sorted(CALS)),
)
@pytest.mark.parametrize('units', ['degrees', 'range_m100_100'])
def test_model_units_round_trip_within_half_a_tick(
    units: str, values: list[float], cal_name: str
) -> None:
    cal = CALS[cal_name]
    space = ActionSpace(ARM, units, calibration=cal)
    a = np.array(values)
    a[5] = (a[5] + 95) / 190 * 100  # the gripper column is 0..100
    if units == 'degrees':  # keep body joints inside the calibrated range, as real data is
        for k, j in enumerate(ARM[:5]):
            c = cal[j]
            a[k] = np.clip(a[k], -(c.range_max - c.range_min) / 2 * DEG_PER_TICK * 0.99, None)
            a[k] = min(a[k], (c.range_max - c.range_min) / 2 * DEG_PER_TICK * 0.99)
    q = space.actions_to_arm(a[None])[0]
    again = space.state_to_model(q).astype(np.float64)
    half_tick = np.array(
        [
            DEG_PER_TICK / 2 if units == 'degrees' else 100 / (cal[j].range_max - cal[j].range_min)
            for j in ARM[:5]
        ]
        + [50 / (cal['gripper'].range_max - cal['gripper'].range_min)]
    )
    assert (np.abs(again - a) <= half_tick + 1e-4).all()


@settings(max_examples=40, deadline=None)
@given(
    q=st.lists(st.floats(-3.0, 3.0, allow_nan=False), min_size=6, max_size=6),
    perm=st.permutations(ARM),
)
def test_radians_round_trip_is_exact_to_float32(q: list[float], perm: list[str]) -> None:
    space = ActionSpace(ARM, 'radians', state_columns=perm, action_columns=perm)
    back = space.actions_to_arm(space.state_to_model(np.array(q))[None].astype(np.float64))[0]
    np.testing.assert_allclose(back, q, rtol=1e-6, atol=1e-7)


def test_signs_flip_the_tick_direction() -> None:
    space = ActionSpace(ARM, 'degrees', calibration=REAL_CAL, signs={'elbow_flex': -1})
    # +π/2 on a reversed joint is 1024 ticks *below* the middle: -1024 * 360/4095 degrees.
    assert space.state_to_model(np.array([0, 0, math.pi / 2, 0, 0, 0]))[2] == pytest.approx(
        -1024 * DEG_PER_TICK, abs=1e-4
    )


# -- columns and metadata ----------------------------------------------------------------------


@pytest.mark.parametrize(
    'spelling',
    ['shoulder_pan.pos', 'main_shoulder_pan', 'shoulder_pan_joint', 'Shoulder_Pan '],
)
def test_dataset_spellings_bind_by_name(spelling: str) -> None:
    assert canonical_joint_name(spelling) == 'shoulder_pan'


def test_bind_columns_by_name_and_errors_list_both_sides() -> None:
    names = [f'{j}.pos' for j in PERMUTED]
    assert bind_columns(ARM, names, 'action') == PERMUTED
    with pytest.raises(ColumnMappingError, match=r"columns \['wrist_pitch.pos'\] match no"):
        bind_columns(ARM, [*names[:5], 'wrist_pitch.pos'], 'action')
    with pytest.raises(ColumnMappingError, match=r'5 columns, the arm 6 joints') as e:
        bind_columns(ARM, names[:5], 'state')
    assert 'shoulder_pan' in str(e.value) and 'gripper.pos' in str(e.value)
    with pytest.raises(ColumnMappingError, match='several columns'):
        bind_columns(ARM, [*names[:5], names[0]], 'state')


def _write_config(folder: Path, **extra: object) -> Path:
    config = {
        'type': 'smolvla',
        'input_features': {'observation.state': {'type': 'STATE', 'shape': [6]}},
        'output_features': {'action': {'type': 'ACTION', 'shape': [6]}},
        **extra,
    }
    folder.mkdir(exist_ok=True)
    (folder / 'config.json').write_text(json.dumps(config))
    return folder


def test_metadata_from_config_and_processor_files(tmp_path: Path) -> None:
    folder = _write_config(tmp_path / 'a', units='radians')
    config = json.loads((folder / 'config.json').read_text())
    config['input_features']['observation.state']['names'] = {'motors': list(PERMUTED)}
    (folder / 'config.json').write_text(json.dumps(config))
    norm = {'features': {'action': {'type': 'ACTION', 'shape': [6], 'names': list(ARM)}}}
    post = {'steps': [{'registry_name': 'unnormalizer_processor', 'config': norm}]}
    (folder / 'policy_postprocessor.json').write_text(json.dumps(post))
    meta = read_checkpoint_metadata(folder)
    assert meta.state_names == PERMUTED and meta.action_names == ARM
    assert meta.units == 'radians'
    assert 'policy_postprocessor.json' in meta.sources['action_names']
    bare = read_checkpoint_metadata(_write_config(tmp_path / 'b'))
    assert (bare.state_names, bare.action_names, bare.units) == (None, None, None)


def test_named_columns_win_and_a_conflicting_order_is_an_error() -> None:
    meta = CheckpointMetadata(state_names=PERMUTED, action_names=PERMUTED, units='radians')
    space = build_action_space(ARM, 6, 6, metadata=meta)
    assert space.state_columns == space.action_columns == PERMUTED
    with pytest.raises(ColumnMappingError, match='disagrees with the names'):
        build_action_space(ARM, 6, 6, metadata=meta, column_order=ARM)
    # Without names the configured order is used; counts must fit.
    plain = build_action_space(ARM, 6, 6, units='radians', column_order=PERMUTED)
    assert plain.action_columns == PERMUTED
    with pytest.raises(ColumnMappingError, match='7 unnamed columns, the arm 6 joints'):
        build_action_space(ARM, 7, 7, units='radians')


def test_units_default_is_logged_and_metadata_is_used(caplog: pytest.LogCaptureFixture) -> None:
    cal = virtual_calibration()
    with caplog.at_level(logging.INFO, logger='smolvla_ros.action_space'):
        space = build_action_space(ARM, 6, 6, calibration=cal)
    assert space.units == DEFAULT_UNITS.value == 'degrees'
    assert any(
        r.levelno == logging.WARNING and 'records no units' in r.message for r in caplog.records
    )
    caplog.clear()
    meta = CheckpointMetadata(units='range_m100_100', sources={'units': 'config.json "units"'})
    with caplog.at_level(logging.INFO, logger='smolvla_ros.action_space'):
        assert build_action_space(ARM, 6, 6, metadata=meta, calibration=cal).units == (
            'range_m100_100'
        )
        assert build_action_space(ARM, 6, 6, metadata=meta, units='degrees', calibration=cal)
    assert any('but the checkpoint records' in r.message for r in caplog.records)


def test_lerobot_units_without_calibration_and_unknown_units_are_refused() -> None:
    with pytest.raises(ActionSpaceError, match='virtual_calibration'):
        ActionSpace(ARM, 'degrees')
    with pytest.raises(ActionSpaceError, match='unknown units'):
        ActionSpace(ARM, 'furlongs')
    with pytest.raises(ActionSpaceError, match='lacks joints'):
        ActionSpace(ARM, ModelUnits.DEGREES, calibration={'shoulder_pan': REAL_CAL['gripper']})


def test_bad_inputs_are_named() -> None:
    space = ActionSpace(ARM, 'degrees', calibration=REAL_CAL)
    with pytest.raises(ValueError, match=r'expected shape \(6,\)'):
        space.state_to_model(np.zeros(5))
    with pytest.raises(ValueError, match=r"NaN or inf for joints \['elbow_flex'\]"):
        space.state_to_model(np.array([0, 0, np.nan, 0, 0, 0]))
    bad = np.zeros((3, 6))
    bad[2, 4] = np.inf
    with pytest.raises(ValueError, match=r"rows \[2\] for joints \['wrist_roll'\]"):
        space.actions_to_arm(bad)
    assert space.actions_to_arm(np.zeros((0, 6))).shape == (0, 6)


# -- the mismatch check ------------------------------------------------------------------------

# Degrees statistics of a dataset around a raised pose (what the suite's home pose reads).
DEG_MEAN = [0.0, -90.0, 25.0, 85.0, 160.0, 50.0]
DEG_STD = [20.0, 15.0, 20.0, 15.0, 10.0, 20.0]
HOME = np.array([0.0, -1.6, 0.4, 1.5, 2.8, 0.9])


def test_check_passes_in_the_right_units_and_names_the_cause_otherwise() -> None:
    stats = {'mean': DEG_MEAN, 'std': DEG_STD}
    right = ActionSpace(ARM, 'degrees', calibration=virtual_calibration())
    assert right.check_state(HOME, stats).ok
    wrong = ActionSpace(ARM, 'radians')
    with pytest.raises(UnitsMismatchError) as e:
        wrong.check_state(HOME, stats)
    msg = str(e.value)
    # -1.6 rad against mean -90, std 15 is 5.9 sigma; 1.5 vs 85/15: 5.6; 2.8 vs 160/10: 15.7.
    for joint in ('shoulder_lift', 'wrist_flex', 'wrist_roll'):
        assert joint in msg
    assert 'shoulder_pan' not in msg  # 0 fits both readings
    assert 'radians fed to a degrees checkpoint' in msg
    failed = {j.joint for j in e.value.report.failed}
    assert failed == {'shoulder_lift', 'wrist_flex', 'wrist_roll'}
    report = wrong.check_state(HOME, stats, allow_mismatch=True)
    assert not report.ok and 'radians fed to a degrees' in report.cause


def test_check_min_max_band_and_degrees_fed_to_radians() -> None:
    stats = {'min': [-2.0] * 6, 'max': [2.0] * 6}
    space = ActionSpace(ARM, 'degrees', calibration=virtual_calibration())
    with pytest.raises(UnitsMismatchError, match='degrees fed to a radians checkpoint'):
        space.check_state(np.array([0.0, -1.0, 1.0, 0.5, 0.0, -0.1]), stats)
    # Inside [min - 25% of the range, max + 25%]: 0.9 rad and a 0 gripper (which reads -114
    # ticks -> about 0 on 0..100) pass in radians.
    assert ActionSpace(ARM, 'radians').check_state(np.array([0.9] * 6), stats).ok
    assert (
        not ActionSpace(ARM, 'radians')
        .check_state(np.array([0.0, 0, 0, 0, 0, 3.1]), stats, allow_mismatch=True)
        .ok
    )  # 3.1 is 1.1 past max, more than a quarter of the 4-wide range
