"""The shared SO-100/SO-101 definition: names, ids and limits every backend relies on."""

from __future__ import annotations

import math

import pytest

from so_arm_driver.robots import JOINT_NAMES, JointSpec, robot_spec

# so101_new_calib limits in degrees as published with the URDF (facts doc §3.1).
LIMITS_DEG = {
    'shoulder_pan': (-110.0, 110.0),
    'shoulder_lift': (-100.0, 100.0),
    'elbow_flex': (-96.8, 96.8),
    'wrist_flex': (-95.0, 95.0),
    'wrist_roll': (-157.2, 162.8),
    'gripper': (-10.0, 100.0),
}


@pytest.mark.parametrize('name', ['so101', 'so100'])
def test_joint_names_and_ids_follow_lerobot(name):
    spec = robot_spec(name)
    assert spec.joint_names == JOINT_NAMES
    assert [j.servo_id for j in spec.joints] == [1, 2, 3, 4, 5, 6]
    assert all(j.servo_model == 'sts3215' for j in spec.joints)


def test_limits_match_the_published_degrees():
    for joint in robot_spec('so101').joints:
        lo, hi = LIMITS_DEG[joint.name]
        assert math.degrees(joint.lower_rad) == pytest.approx(lo, abs=0.05)
        assert math.degrees(joint.upper_rad) == pytest.approx(hi, abs=0.05)


def test_unknown_robot_and_joint_are_clear_errors():
    with pytest.raises(ValueError, match='so101'):
        robot_spec('so102')
    with pytest.raises(KeyError, match='gripper'):
        robot_spec('so101').joint('jaw')


def test_impossible_joint_is_rejected():
    with pytest.raises(ValueError, match='lower limit'):
        JointSpec('elbow_flex', 3, lower_rad=1.0, upper_rad=-1.0)
    with pytest.raises(ValueError, match='servo id'):
        JointSpec('elbow_flex', 0, lower_rad=-1.0, upper_rad=1.0)
