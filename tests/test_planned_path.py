"""Pure forward kinematics of the URDF for the planned-path marker, checked against MuJoCo's
own URDF compiler and against the geometry of the base joint."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from smolvla_ros.planned_path import (
    JOINTS,
    KinematicsError,
    UrdfChain,
    default_urdf_path,
    planned_path_points,
)
from smolvla_ros.runtime import RuntimeConfig
from so_arm_driver.robots import JOINT_NAMES
from so_arm_driver.sim.config import SimConfig
from so_arm_driver.sim.scene import build_model


@pytest.fixture(scope='module')
def chain() -> UrdfChain:
    return UrdfChain.from_urdf(default_urdf_path())


def test_chain_reads_the_arm_joints_in_order(chain):
    assert chain.joint_names == JOINTS[:5]  # the gripper jaw is a branch off the tool frame
    assert JOINTS == JOINT_NAMES


def test_fk_matches_mujoco_on_random_postures(chain):
    """MuJoCo compiles the same URDF itself (its own parser and conventions): the tool frame's
    position must agree to float precision at any posture."""
    model = build_model(SimConfig())
    data = mujoco.MjData(model)
    tip = model.body('gripper_frame_link').id
    rng = np.random.default_rng(0)
    q = rng.uniform(-1.5, 1.5, size=(20, 6))
    ours = planned_path_points(chain, JOINT_NAMES, q)
    for k in range(len(q)):
        for name, v in zip(JOINT_NAMES, q[k], strict=True):
            data.qpos[model.jnt_qposadr[model.joint(name).id]] = v
        mujoco.mj_kinematics(model, data)
        # the scene places base_link at the world origin unrotated (checked here)
        assert np.allclose(data.xpos[model.body('base_link').id], 0.0)
        np.testing.assert_allclose(ours[k], data.xpos[tip], atol=1e-9)


def test_pan_rotates_the_tip_about_the_vertical_pan_axis(chain):
    """shoulder_pan's origin (rpy pi, 0, -pi) turns its z axis into the base's -z, through
    (0.0388353, 0, z): panning keeps the tip's height and distance from that line and turns it
    by -pan about it. The URDF writes pi as 3.14159, which tilts the axis by 2.7e-6 rad: a few
    micrometres over the arm's reach, hence the 1e-5 m tolerances."""
    base = np.array([0.0, 0.3, -0.4, 0.5, 0.2, 0.0])
    pans = np.linspace(-1.2, 1.2, 7)
    q = np.tile(base, (len(pans), 1))
    q[:, 0] = pans
    p = planned_path_points(chain, JOINT_NAMES, q)
    rel = p[:, :2] - np.array([0.0388353, 0.0])
    radius = np.linalg.norm(rel, axis=1)
    assert np.ptp(radius) < 1e-5 and radius[0] > 0.05
    assert np.ptp(p[:, 2]) < 1e-5
    angles = np.unwrap(np.arctan2(rel[:, 1], rel[:, 0]))
    np.testing.assert_allclose(angles - angles[0], -(pans - pans[0]), atol=1e-5)


def test_planned_path_of_the_executor_queue(chain):
    """The executor's queued targets -> one point per queued sample; the gripper column is
    ignored (it is not on the chain)."""
    from runtime_helpers import chunk_from, make

    ex, clock, _ = make(RuntimeConfig())
    ex.tick(np.zeros(6))
    ex.submit_chunk(chunk_from(lambda t: np.array([t, 0, 0, 0, 0, t]), 0.0, 20, 1 / 30))
    clock.advance(1 / 30)
    ex.tick(np.zeros(6))
    times, targets = ex.planned_samples()
    assert targets.shape == (len(times), 6) and len(times) >= 18
    pts = planned_path_points(chain, ex.config.joint_names, targets)
    assert pts.shape == (len(times), 3)
    moved = targets.copy()
    moved[:, 5] += 1.0
    np.testing.assert_array_equal(planned_path_points(chain, JOINT_NAMES, moved), pts)


def test_bad_input_is_refused_with_the_reason(chain, tmp_path):
    with pytest.raises(KinematicsError, match='needs joints'):
        planned_path_points(chain, ('a', 'b'), np.zeros((1, 2)))
    with pytest.raises(KinematicsError, match='finite'):
        planned_path_points(chain, JOINT_NAMES, np.full((1, 6), np.nan))
    with pytest.raises(KinematicsError, match='shape'):
        planned_path_points(chain, JOINT_NAMES, np.zeros((2, 5)))
    assert planned_path_points(chain, JOINT_NAMES, np.zeros((0, 6))).shape == (0, 3)
    with pytest.raises(KinematicsError, match='not below'):
        UrdfChain.from_urdf(default_urdf_path(), tip='no_such_link')
    bad = tmp_path / 'bad.urdf'
    bad.write_text(
        '<robot><joint name="j" type="floating"><parent link="base_link"/>'
        '<child link="t"/></joint></robot>'
    )
    with pytest.raises(KinematicsError, match='floating'):
        UrdfChain.from_urdf(bad, tip='t')
    bad.write_text('<robot><joint')
    with pytest.raises(KinematicsError, match='not valid XML'):
        UrdfChain.from_urdf(bad, tip='t')
