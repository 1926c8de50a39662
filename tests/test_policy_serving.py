"""The policy node's ROS-free core (smolvla_ros.policy.serving) and the scripted expert's poses
provider path."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from smolvla_ros.policy.protocol import PolicyInput
from smolvla_ros.policy.replay import ReplayPolicy, record
from smolvla_ros.policy.scripted_expert import ScriptedExpertPolicy
from smolvla_ros.policy.serving import (
    PolicyLoadError,
    PolicySettings,
    RequestRefusedError,
    build_policy,
    parse_camera_map,
    snapshot_for_request,
)
from smolvla_ros.runtime.executor import ObservationSnapshot
from so_arm_driver.robots import SO101
from so_arm_driver.sim import HOME_POSE_RAD, SimConfig, Simulator

ARM = SO101.joint_names


def test_parse_camera_map():
    assert parse_camera_map('') == {}
    assert parse_camera_map(
        ' top = observation.images.front , wrist=observation.images.hand '
    ) == {
        'top': 'observation.images.front',
        'wrist': 'observation.images.hand',
    }
    with pytest.raises(ValueError, match='slot=feature'):
        parse_camera_map('top')
    with pytest.raises(ValueError, match="'front' is not one of"):
        parse_camera_map('front=observation.images.front')
    with pytest.raises(ValueError, match='twice'):
        parse_camera_map('top=a,top=b')


@pytest.mark.parametrize(
    ('kwargs', 'match'),
    [
        ({'policy': 'magic'}, "policy 'magic'"),
        ({'joint_names': ()}, 'joint_names'),
        ({'joint_names': ('a', 'a')}, 'joint_names'),
        ({'units': 'furlongs'}, "units 'furlongs'"),
        ({'dt_s': -0.1}, 'dt_s'),
        ({'dt_s': math.nan}, 'dt_s'),
        ({'seed': -2}, 'seed'),
        ({'chunk_size': 0}, 'chunk_size'),
        ({'required_slots': ('front',)}, 'required_slots'),
        ({'policy': 'smolvla', 'checkpoint': ''}, 'needs a checkpoint'),
        ({'policy': 'replay', 'replay_file': ''}, 'needs replay_file'),
    ],
)
def test_settings_refuse_impossible_values(kwargs, match):
    base = {'policy': 'smolvla', 'joint_names': ARM, 'checkpoint': 'ck'}
    with pytest.raises(ValueError, match=match):
        PolicySettings(**{**base, **kwargs})


def test_snapshot_for_request_refusals_and_age_limit():
    q = np.arange(6) * 0.1
    common = {'joint_names': ARM, 'max_state_age_s': 0.2}
    with pytest.raises(RequestRefusedError, match='no instruction') as e:
        snapshot_for_request(1, 10.0, False, serving=False, state=(q, 10.0), **common)
    assert e.value.reason == 'not_serving'
    with pytest.raises(RequestRefusedError, match='no joint state') as e:
        snapshot_for_request(1, 10.0, False, serving=True, state=None, **common)
    assert e.value.reason == 'no_state'
    # 0.25 s older than the observation, limit 0.2 s.
    with pytest.raises(RequestRefusedError, match=r'0\.250 s older') as e:
        snapshot_for_request(1, 10.0, False, serving=True, state=(q, 9.75), **common)
    assert e.value.reason == 'stale_state'
    # 0.125 s old (exact in binary) is within the limit; a state after the stamp too.
    for stamp in (9.875, 10.01):
        snap = snapshot_for_request(4, 10.0, True, serving=True, state=(q, stamp), **common)
        assert snap == ObservationSnapshot(4, 10.0, snap.positions_rad, ARM, True)
        np.testing.assert_array_equal(snap.positions_rad, q)
    q[0] = 9.0  # the snapshot holds a copy
    assert snap.positions_rad[0] == 0.0


def test_build_policy_errors_name_the_cause(tmp_path: Path):
    missing = tmp_path / 'none.npz'
    with pytest.raises(PolicyLoadError, match=r'replay policy .*none\.npz'):
        build_policy(PolicySettings(policy='replay', joint_names=ARM, replay_file=str(missing)))
    path = record(tmp_path / 'r.npz', np.zeros((1, 3, 6)), ARM, 0.1)
    with pytest.raises(PolicyLoadError, match='recorded for joints'):
        build_policy(PolicySettings(policy='replay', joint_names=ARM[::-1], replay_file=str(path)))
    with pytest.raises(PolicyLoadError, match=r'recorded at 0\.1 s'):
        build_policy(
            PolicySettings(policy='replay', joint_names=ARM, replay_file=str(path), dt_s=0.05)
        )
    policy = build_policy(
        PolicySettings(policy='replay', joint_names=ARM, replay_file=str(path), dt_s=0.1)
    )
    assert isinstance(policy, ReplayPolicy) and policy.dt_s == 0.1
    with pytest.raises(PolicyLoadError, match='poses provider'):
        build_policy(PolicySettings(policy='scripted', joint_names=ARM))
    with pytest.raises(PolicyLoadError, match=r'smolvla policy .*no_ckpt'):
        build_policy(PolicySettings(joint_names=ARM, checkpoint=str(tmp_path / 'no_ckpt')))


def _request(time_s: float, q: np.ndarray) -> PolicyInput:
    return PolicyInput(ObservationSnapshot(0, time_s, q, ARM, True), {}, 'put it in the bin')


def test_scripted_expert_from_a_poses_provider_equals_the_simulator_path():
    config = SimConfig(image_width=32, image_height=24)
    with Simulator(config) as sim:
        sim.reset(3)
        cube, yaw = sim.cube_pose()
        bin_center = sim.bin_center()
        from_sim = ScriptedExpertPolicy(sim, chunk_size=20)
        q = np.array(HOME_POSE_RAD)
        expected = from_sim.predict(_request(1.0, q))
    calls = []

    def poses():
        calls.append(1)
        return cube, yaw, bin_center

    # No simulator: the kinematics come from the compiled model of the same scene.
    from_poses = ScriptedExpertPolicy(chunk_size=20, poses=poses, config=config)
    assert from_poses.joint_names == tuple(ARM)
    assert from_poses.dt_s == config.effective_control_dt_s
    got = from_poses.predict(_request(1.0, q))
    np.testing.assert_array_equal(got, expected)
    # Planned once: a later request reads the plan, not the poses.
    from_poses.predict(_request(1.5, q))
    assert len(calls) == 1


def test_scripted_expert_provider_failure_plans_on_the_next_request():
    state = {'ready': False}

    def poses():
        if not state['ready']:
            raise ValueError('no cube pose yet')
        return np.array([0.2, 0.0, 0.0125]), 0.0, np.array([0.17, 0.17, 0.0])

    policy = ScriptedExpertPolicy(chunk_size=5, poses=poses)
    q = np.array(HOME_POSE_RAD)
    with pytest.raises(ValueError, match='no cube pose yet'):
        policy.predict(_request(0.0, q))
    assert policy.plan is None
    state['ready'] = True
    out = policy.predict(_request(0.1, q))
    assert out.shape == (5, 6) and policy.plan is not None
    with pytest.raises(ValueError, match='poses provider'):
        ScriptedExpertPolicy()
