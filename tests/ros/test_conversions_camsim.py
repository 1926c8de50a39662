"""Conversions added for camera_node and sim_node: CameraInfo, PoseStamped, Clock, joint goals.

Expected values come from the message definitions (CameraInfo: K row-major 3x3, P 3x4, all
zeros = uncalibrated) and from the half-angle formula of a rotation about z.
"""

from __future__ import annotations

import math

import pytest

from smolvla_ros.nodes.conversions import (
    ConversionError,
    camera_info_msg,
    clock_msg,
    pose_stamped_msg,
    time_from_msg,
    yaw_from_pose_msg,
)


def test_camera_info_unknown_intrinsics_are_zero():
    msg = camera_info_msg(640, 480, 12.5, 'cam_top_optical')
    assert (msg.width, msg.height) == (640, 480)
    assert msg.header.frame_id == 'cam_top_optical'
    assert time_from_msg(msg.header.stamp) == 12.5
    assert list(msg.k) == [0.0] * 9 and list(msg.p) == [0.0] * 12


def test_camera_info_with_intrinsics():
    msg = camera_info_msg(640, 480, 1.0, intrinsics=(500.0, 510.0, 320.0, 240.0))
    assert list(msg.k) == [500.0, 0.0, 320.0, 0.0, 510.0, 240.0, 0.0, 0.0, 1.0]
    assert list(msg.p) == [500.0, 0.0, 320.0, 0.0, 0.0, 510.0, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert list(msg.r) == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    with pytest.raises(ConversionError, match='focal'):
        camera_info_msg(640, 480, 1.0, intrinsics=(0.0, 510.0, 320.0, 240.0))
    with pytest.raises(ConversionError, match='size'):
        camera_info_msg(0, 480, 1.0)


def test_pose_yaw_quaternion():
    msg = pose_stamped_msg([0.2, -0.05, 0.0125], math.pi / 2, 3.0)
    q = msg.pose.orientation
    # 90 deg about z: (0, 0, sin 45deg, cos 45deg).
    assert (q.x, q.y) == (0.0, 0.0)
    assert q.z == pytest.approx(math.sqrt(0.5)) and q.w == pytest.approx(math.sqrt(0.5))
    assert msg.header.frame_id == 'base_link'
    assert (msg.pose.position.x, msg.pose.position.y, msg.pose.position.z) == (0.2, -0.05, 0.0125)
    for yaw in (-3.0, -0.7, 0.0, 0.7, 3.0):
        assert yaw_from_pose_msg(pose_stamped_msg([0, 0, 0], yaw, 0.0)) == pytest.approx(yaw)
    with pytest.raises(ConversionError, match='finite'):
        pose_stamped_msg([0.0, math.nan, 0.0], 0.0, 0.0)


def test_clock():
    assert time_from_msg(clock_msg(7.25).clock) == 7.25
    with pytest.raises(ConversionError):
        clock_msg(-1.0)
