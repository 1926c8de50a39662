"""The SO-101 URDF/xacro: parses, agrees with robots.py, and has hand-checkable kinematics."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from so_arm_driver.robots import SO101
from so_arm_driver.sim.description import expand_xacro, urdf_path
from so_arm_driver.sim.errors import DescriptionError


def _joints(root: ET.Element) -> dict[str, ET.Element]:
    return {j.get('name'): j for j in root.findall('joint')}


def _canonical(root: ET.Element) -> list:
    """Element tree as nested tuples with numbers compared as floats (whitespace-insensitive)."""

    def norm(v: str) -> tuple:
        try:
            return tuple(round(float(x), 9) for x in v.split())
        except ValueError:
            return (v.strip(),)

    return [
        (e.tag, sorted((k, norm(v)) for k, v in e.attrib.items()), norm(e.text or ''))
        for e in root.iter()
    ]


def test_urdf_parses_with_all_links_and_camera_frames():
    root = ET.parse(urdf_path()).getroot()
    links = {link.get('name') for link in root.findall('link')}
    for slot in ('top', 'wrist', 'side'):
        assert f'{slot}_camera_link' in links
        assert f'{slot}_camera_optical_frame' in links
    assert 'gripper_frame_link' in links


def test_joint_set_and_limits_match_robots_py():
    joints = _joints(ET.parse(urdf_path()).getroot())
    revolute = [n for n, j in joints.items() if j.get('type') == 'revolute']
    assert revolute == list(SO101.joint_names)
    for spec in SO101.joints:
        limit = joints[spec.name].find('limit')
        assert float(limit.get('lower')) == pytest.approx(spec.lower_rad, abs=1e-6)
        assert float(limit.get('upper')) == pytest.approx(spec.upper_rad, abs=1e-6)


def test_committed_urdf_equals_the_xacro_expansion():
    committed = ET.parse(urdf_path()).getroot()
    expanded = ET.fromstring(expand_xacro())
    assert _canonical(committed) == _canonical(expanded)


@pytest.mark.parametrize(
    ('hardware', 'plugin'),
    [
        ('mock', 'mock_components/GenericSystem'),
        ('real', 'feetech_ros2_driver/FeetechHardwareInterface'),
        ('gazebo', 'gz_ros2_control/GazeboSimSystem'),
    ],
)
def test_ros2_control_plugin_follows_the_hardware_arg(hardware, plugin):
    root = ET.fromstring(expand_xacro({'hardware': hardware, 'controllers_yaml': '/c.yaml'}))
    assert root.find('ros2_control/hardware/plugin').text.strip() == plugin
    control_joints = [j.get('name') for j in root.findall('ros2_control/joint')]
    assert control_joints == list(SO101.joint_names)
    has_gz_plugin = root.find('gazebo/plugin') is not None
    assert has_gz_plugin == (hardware == 'gazebo')


def test_unknown_hardware_is_a_clear_error():
    with pytest.raises(DescriptionError, match='hardware must be mock, real or gazebo'):
        expand_xacro({'hardware': 'quantum'})


# ----------------------------------------------------------------- forward kinematics
# Joint origins typed in from the published so101_new_calib table (not read from our URDF), and an
# independent homogeneous-transform chain in numpy, so the MuJoCo FK of our URDF is checked
# against a separate computation.
_CHAIN = [
    ((0.0388353, -8.97657e-09, 0.0624), (3.14159, 4.18253e-17, -3.14159)),
    ((-0.0303992, -0.0182778, -0.0542), (-1.5708, -1.5708, 0)),
    ((-0.11257, -0.028, 1.73763e-16), (-3.63608e-16, 8.74301e-16, 1.5708)),
    ((-0.1349, 0.0052, 3.62355e-17), (4.02456e-15, 8.67362e-16, -1.5708)),
    ((5.55112e-17, -0.0611, 0.0181), (1.5708, 0.0486795, 3.14159)),
]
_TCP = ((-0.0079, -0.000218121, -0.0981274), (0, 3.14159, 0))


def _rpy(r, p, y):
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _tf(xyz, rpy):
    t = np.eye(4)
    t[:3, :3] = _rpy(*rpy)
    t[:3, 3] = xyz
    return t


def _rotz(q):
    return _tf((0, 0, 0), (0, 0, q))


def _reference_tcp(q):
    t = np.eye(4)
    for (xyz, rpy), qi in zip(_CHAIN, q, strict=True):
        t = t @ _tf(xyz, rpy) @ _rotz(qi)
    return (t @ _tf(*_TCP))[:3, 3]


@pytest.fixture(scope='module')
def fk():
    import mujoco

    from so_arm_driver.sim.config import SimConfig
    from so_arm_driver.sim.scene import TCP_BODY, build_model

    model = build_model(SimConfig())
    data = mujoco.MjData(model)
    qadr = [model.joint(n).qposadr[0] for n in SO101.joint_names[:5]]

    def tcp(q):
        data.qpos[qadr] = q
        mujoco.mj_kinematics(model, data)
        return data.xpos[model.body(TCP_BODY).id].copy()

    return tcp


def test_zero_pose_tcp_matches_reference_chain(fk):
    # Hand-reduced: at zero the arm is stretched forward (+x) with the TCP about 0.39 m out and
    # 0.23 m above the base origin, on the base's x axis.
    tcp = fk(np.zeros(5))
    np.testing.assert_allclose(tcp, _reference_tcp(np.zeros(5)), atol=1e-6)
    assert tcp[0] == pytest.approx(0.39, abs=0.01)
    assert abs(tcp[1]) < 0.002
    assert tcp[2] == pytest.approx(0.23, abs=0.01)


def test_pan_quarter_turn_rotates_the_tcp_about_the_pan_axis(fk):
    # The pan axis is vertical through (0.0388, 0) and the shoulder frame is flipped (z down),
    # so +90° pan turns the arm clockwise seen from above: (r, 0, h) -> (0, -r, h) about the axis.
    zero = fk(np.zeros(5))
    turned = fk(np.array([np.pi / 2, 0, 0, 0, 0]))
    axis_x = 0.0388353
    r = zero[0] - axis_x
    np.testing.assert_allclose(turned, [axis_x + zero[1], -r, zero[2]], atol=1e-5)


@pytest.mark.parametrize(
    'q', [(0.3, -0.5, 0.8, 0.4, 1.0), (-1.0, 1.2, -1.0, -0.7, -2.0), (0.0, -1.2, 1.2, 1.2, 1.6)]
)
def test_general_poses_match_reference_chain(fk, q):
    np.testing.assert_allclose(fk(np.array(q)), _reference_tcp(q), atol=1e-6)
