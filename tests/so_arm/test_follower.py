"""The SO follower through its public API, on the emulated bus, with a hand-made calibration."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import CAL_RANGES, make_calibration, set_present

from so_arm_driver.arm import Arm
from so_arm_driver.calibration import (
    MotorCalibration,
    default_calibration_path,
    load_calibration,
    save_calibration,
)
from so_arm_driver.errors import (
    SoArmCalibrationError,
    SoArmConfigError,
    SoArmModelMismatchError,
    SoArmTimeoutError,
    SoArmTorqueError,
)
from so_arm_driver.follower import ArmConfig, SoFollower, SoLeader
from so_arm_driver.robots import JOINT_NAMES, SO101
from so_arm_driver.tables import Register, decode_sign_magnitude

TICK = 2 * math.pi / 4096


def follower(emu, path, **kw) -> SoFollower:
    return SoFollower(ArmConfig(port=emu.port, calibration_path=path, **kw))


def goal_ticks(emu, servo_id):
    return decode_sign_magnitude(emu.servo(servo_id).get(Register.GOAL_POSITION), 15)


def test_connect_configures_like_lerobot_and_reads_radians(calibrated):
    emu, _cal, path = calibrated
    set_present(emu, 1, 2512)  # 512 ticks above shoulder_pan's mid 2000: +pi/4
    with follower(emu, path) as arm:
        assert isinstance(arm, Arm)
        pos = arm.read_positions()
        assert pos[0] == pytest.approx(math.pi / 4)
        assert pos[1:] == pytest.approx(np.zeros(5), abs=TICK)
        s = emu.servo(6)
        assert s.get(Register.RETURN_DELAY_TIME) == 0
        assert (
            s.get(Register.P_COEFFICIENT),
            s.get(Register.I_COEFFICIENT),
            s.get(Register.D_COEFFICIENT),
        ) == (16, 0, 32)
        assert s.get(Register.MAX_TORQUE_LIMIT) == 500
        assert emu.servo(1).get(Register.MAX_TORQUE_LIMIT) == 1000  # body joints untouched
        assert all(emu.servo(i).get(Register.TORQUE_ENABLE) == 1 for i in range(1, 7))
        # Torque came on holding the present pose: the goal register equals it.
        assert goal_ticks(emu, 1) == 2512
    assert all(emu.servo(i).get(Register.TORQUE_ENABLE) == 0 for i in range(1, 7))


def test_limits_are_calibrated_range_intersected_with_urdf(calibrated):
    emu, _cal, path = calibrated
    with follower(emu, path) as arm:
        lim = arm.limits_rad
    # shoulder_pan: calibrated ±1000 ticks = ±1.534 rad, inside the URDF's ±1.91986.
    assert lim[0] == pytest.approx([-1000 * TICK, 1000 * TICK])
    # wrist_roll: calibrated 0..4095 (±pi) is wider than the URDF (-2.74385, 2.84121).
    assert lim[4] == pytest.approx([-2.74385, 2.84121])


def test_write_goals_clamps_counts_and_reports_what_was_sent(calibrated):
    emu, _cal, path = calibrated
    with follower(emu, path) as arm:
        goals = np.array([0.5, 3.0, 0.0, 0.0, 0.0, 0.0])  # shoulder_lift far beyond its limit
        result = arm.write_goals(goals)
        assert result.clamped == ('shoulder_lift',)
        assert arm.clamp_counts['shoulder_lift'] == 1 and arm.clamp_counts['shoulder_pan'] == 0
        # The sync write has no answer; a read after it proves the emulator has applied it.
        assert arm.read_positions()[0] == pytest.approx(326 * TICK)
        # shoulder_pan: mid 2000 + 0.5 rad / (2pi/4096) = 2000 + 325.95 -> 2326 ticks.
        assert goal_ticks(emu, 1) == 2326
        assert result.sent_rad[0] == pytest.approx(326 * TICK)
        # shoulder_lift: URDF upper 1.74533 rad = 1137.8 ticks above mid, calibrated max is
        # +1100 (3100 - 2000), so the calibrated range wins: 3100.
        assert goal_ticks(emu, 2) == CAL_RANGES['shoulder_lift'][1]
        assert arm.read_positions()[0] == pytest.approx(326 * TICK)


def test_max_relative_target_limits_each_step(calibrated):
    emu, _cal, path = calibrated
    with follower(emu, path, max_relative_target_rad=0.1) as arm:
        result = arm.write_goals(np.array([1.0, -0.05, 0, 0, 0, 0]))
        assert result.clamped == ('shoulder_pan',)
        assert result.sent_rad[0] == pytest.approx(0.1, abs=TICK)
        assert result.sent_rad[1] == pytest.approx(-0.05, abs=TICK)


def test_bad_goals_change_nothing(calibrated):
    emu, _cal, path = calibrated
    with follower(emu, path) as arm:
        before = [goal_ticks(emu, i) for i in range(1, 7)]
        writes = len(emu.servo(1).writes)
        with pytest.raises(SoArmConfigError, match="'elbow_flex'"):
            arm.write_goals(np.array([0, 0, np.nan, 0, 0, 0]))
        with pytest.raises(SoArmConfigError, match='shape'):
            arm.write_goals(np.zeros(5))
        assert [goal_ticks(emu, i) for i in range(1, 7)] == before
        assert len(emu.servo(1).writes) == writes


def test_failed_read_never_yields_a_position_and_blocks_relative_moves(calibrated):
    emu, _cal, path = calibrated
    with follower(emu, path, max_relative_target_rad=0.2) as arm:
        emu.servo(4).silent = True
        with pytest.raises(SoArmTimeoutError, match='wrist_flex \\(id 4\\)'):
            arm.read_positions()
        writes = len(emu.servo(1).writes)
        with pytest.raises(SoArmTimeoutError):
            arm.write_goals(np.full(6, 0.1))
        assert len(emu.servo(1).writes) == writes  # nothing was sent
        emu.servo(4).silent = False


def test_exception_in_with_block_turns_torque_off(calibrated):
    emu, _cal, path = calibrated
    arm = follower(emu, path)
    with pytest.raises(RuntimeError), arm:
        assert emu.servo(3).get(Register.TORQUE_ENABLE) == 1
        raise RuntimeError('controller crashed')
    assert all(emu.servo(i).get(Register.TORQUE_ENABLE) == 0 for i in range(1, 7))
    arm.close()  # idempotent after the error path
    arm.close()


def test_eeprom_mismatch_is_reported_and_connect_refused(calibrated):
    emu, cal, path = calibrated
    bad = dict(cal)
    c = cal['elbow_flex']
    bad['elbow_flex'] = MotorCalibration(c.id, 0, c.homing_offset + 5, c.range_min, c.range_max)
    save_calibration(bad, path)
    arm = follower(emu, path)
    with pytest.raises(SoArmCalibrationError) as info:
        arm.connect()
    msg = str(info.value)
    assert 'elbow_flex (id 3)' in msg and 'Homing_Offset' in msg and 'so-arm calibrate' in msg
    assert not arm.bus.is_open
    assert emu.servo(3).get(Register.TORQUE_ENABLE) == 0


def test_wrong_model_is_refused(calibrated):
    emu, _cal, path = calibrated
    emu.servo(2).set(Register.MODEL_NUMBER, 2825)  # an STS3250 where an STS3215 belongs
    with pytest.raises(SoArmModelMismatchError, match=r'shoulder_lift \(id 2\).*2825'):
        follower(emu, path).connect()


def test_missing_servo_at_connect_names_it(calibrated):
    emu, _cal, path = calibrated
    emu.remove(5)
    with pytest.raises(SoArmTimeoutError, match='wrist_roll \\(id 5\\)'):
        follower(emu, path, read_retries=0).connect()


def test_leader_is_read_only_and_leaves_torque_off(calibrated):
    emu, _cal, path = calibrated
    with SoLeader(ArmConfig(port=emu.port, calibration_path=path)) as leader:
        assert leader.read_lerobot()[5] == pytest.approx(50.0)  # gripper at mid of 2000..3000
        assert not hasattr(leader, 'write_goals')
        assert all(emu.servo(i).get(Register.TORQUE_ENABLE) == 0 for i in range(1, 7))


def test_config_validation():
    with pytest.raises(SoArmConfigError, match='max_relative_target_rad'):
        ArmConfig(port='/dev/null', max_relative_target_rad=0)
    with pytest.raises(SoArmConfigError, match='unit_scheme'):
        ArmConfig(port='/dev/null', unit_scheme='percent')
    with pytest.raises(ValueError, match='unknown robot'):
        ArmConfig(port='/dev/null', robot='so999')


def test_calibration_file_round_trip_and_lerobot_layout(tmp_path, monkeypatch):
    cal = make_calibration()
    path = save_calibration(cal, tmp_path / 'a.json')
    data = json.loads(path.read_text())
    assert data['gripper'] == {
        'id': 6,
        'drive_mode': 0,
        'homing_offset': 14,
        'range_min': 2000,
        'range_max': 3000,
    }
    assert load_calibration(path, JOINT_NAMES) == cal
    monkeypatch.delenv('HF_LEROBOT_CALIBRATION', raising=False)
    monkeypatch.delenv('HF_LEROBOT_HOME', raising=False)
    monkeypatch.setenv('HF_HOME', str(tmp_path / 'hf'))
    new = tmp_path / 'hf/lerobot/calibration/robots/so_follower/arm1.json'
    assert default_calibration_path('arm1', 'so101') == new
    old = tmp_path / 'hf/lerobot/calibration/robots/so101_follower/arm1.json'
    save_calibration(cal, old)  # a calibration from LeRobot <= v0.4.2 is found
    assert default_calibration_path('arm1', 'so101') == old
    monkeypatch.setenv('HF_LEROBOT_CALIBRATION', str(tmp_path / 'c'))
    assert (
        default_calibration_path('x', leader=True) == tmp_path / 'c/teleoperators/so_leader/x.json'
    )


def test_bad_calibration_files(tmp_path):
    with pytest.raises(SoArmCalibrationError, match='so-arm calibrate'):
        load_calibration(tmp_path / 'none.json')
    p = tmp_path / 'c.json'
    p.write_text('{"shoulder_pan": {"id": 1}}')
    with pytest.raises(SoArmCalibrationError, match=r'shoulder_pan.*expected exactly'):
        load_calibration(p)
    p.write_text(
        json.dumps(
            {
                'x': {
                    'id': 1,
                    'drive_mode': 0,
                    'homing_offset': 0,
                    'range_min': 3000,
                    'range_max': 1000,
                }
            }
        )
    )
    with pytest.raises(SoArmCalibrationError, match='range_min < range_max'):
        load_calibration(p)
    target = tmp_path / 'keep.json'
    target.write_text('old')
    with pytest.raises(SoArmCalibrationError):
        save_calibration({'x': {'id': 1}}, target)  # type: ignore[dict-item]
    assert target.read_text() == 'old'
    assert SO101.joint('gripper').servo_id == 6


def test_close_with_a_silent_servo_still_releases_every_other_joint(calibrated):
    emu, _cal, path = calibrated
    arm = follower(emu, path)
    arm.connect()
    assert all(emu.servo(i).get(Register.TORQUE_ENABLE) == 1 for i in range(1, 7))
    emu.servo(4).silent = True
    with pytest.raises(SoArmTorqueError) as info:
        arm.close()
    # Servos after the silent one (5, 6) must be released too, not only those before it.
    assert [emu.servo(i).get(Register.TORQUE_ENABLE) for i in range(1, 7)] == [0, 0, 0, 1, 0, 0]
    assert 'wrist_flex (id 4)' in str(info.value)
    assert set(info.value.failures) == {4}
    assert not arm.is_connected
    arm.close()  # idempotent: the port is already closed, nothing more to report


def test_exception_in_with_block_and_a_silent_servo_keep_the_original_error(calibrated, caplog):
    emu, _cal, path = calibrated
    with pytest.raises(RuntimeError, match='controller crashed'), follower(emu, path):
        emu.servo(4).silent = True
        raise RuntimeError('controller crashed')
    assert [emu.servo(i).get(Register.TORQUE_ENABLE) for i in range(1, 7)] == [0, 0, 0, 1, 0, 0]
    assert 'wrist_flex (id 4)' in caplog.text
