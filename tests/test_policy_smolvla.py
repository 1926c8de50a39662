"""SmolVLAChunkPolicy on tiny random checkpoints built here: real loader, real pre/post-processing,
the suite's Policy protocol, radians in the arm's columns."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from smolvla_checkpoints import VLM, make_checkpoint, rgb

from smolvla_model.errors import ConfigError
from smolvla_ros.action_space import (
    action_space_for_policy,
    read_checkpoint_metadata,
    virtual_calibration,
)
from smolvla_ros.frames.frame import Frame
from smolvla_ros.policy.protocol import Policy, PolicyInput
from smolvla_ros.policy.smolvla import SmolVLAChunkPolicy
from smolvla_ros.runtime.executor import ObservationSnapshot
from so_arm_driver.robots import SO101

ARM = SO101.joint_names
TICK = 2 * math.pi / 4096
PERMUTED = ('gripper', 'wrist_roll', 'shoulder_pan', 'elbow_flex', 'shoulder_lift', 'wrist_flex')


def request(q: np.ndarray, slots: tuple[str, ...] = ('top', 'wrist')) -> PolicyInput:
    snap = ObservationSnapshot(
        request_id=1, time_s=5.0, positions_rad=q, joint_names=ARM, must_go=False
    )
    frames = {s: Frame(s, rgb(i), capture_time_s=4.99) for i, s in enumerate(slots)}
    return PolicyInput(snap, frames, 'pick up the cube')


@pytest.fixture(scope='module')
def named_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Dataset-style names in a permuted order, units and fps in config.json; action std 0, so
    every action equals the action mean (checkpoint order: PERMUTED)."""
    return make_checkpoint(
        tmp_path_factory.mktemp('named') / 'ckpt',
        state_stats={'mean': [50, 0, 0, 0, 0, 0], 'std': [30, 90, 60, 60, 60, 60]},
        # gripper 100, roll -90, pan 90, elbow 30, lift -45, wrist_flex 45 (degrees; 0..100)
        action_stats={'mean': [100, -90, 90, 30, -45, 45], 'std': [0] * 6},
        state_names=[f'{j}.pos' for j in PERMUTED],
        action_names=[f'{j}.pos' for j in PERMUTED],
        units='degrees',
        fps=30,
    )


def test_named_degrees_checkpoint_gives_hand_computed_radians(named_ckpt: Path) -> None:
    policy = SmolVLAChunkPolicy.from_pretrained(
        named_ckpt, ARM, calibration=virtual_calibration(), seed=0, vlm_dir=VLM
    )
    assert isinstance(policy, Policy)
    assert policy.joint_names == ARM
    assert policy.dt_s == pytest.approx(1 / 30)
    assert policy.required_slots == ('top', 'wrist')
    assert policy.action_space.units == 'degrees'
    assert policy.action_space.action_columns == PERMUTED
    out = policy.predict(request(np.zeros(6)))
    assert out.shape == (10, 6) and out.dtype == np.float64 and np.isfinite(out).all()
    # Virtual calibration: degrees are LeRobot's (ticks - middle) * 360/4095 with the middle at
    # the URDF zero, so 90 -> 1023.75 -> tick +1024 = π/2; -45 -> -512 = -π/4; 30 -> 341.25 ->
    # 341; 45 -> 512 = π/4; -90 -> -π/2. Gripper 100 = range_max 3185 = 1138 ticks above 2047.
    expected = [math.pi / 2, -math.pi / 4, 341 * TICK, math.pi / 4, -math.pi / 2, 1138 * TICK]
    np.testing.assert_allclose(out, np.tile(expected, (10, 1)), rtol=0, atol=1e-12)


def test_action_space_for_a_loaded_policy(named_ckpt: Path) -> None:
    loaded = SmolVLAChunkPolicy.from_pretrained(
        named_ckpt, ARM, calibration=virtual_calibration(), vlm_dir=VLM
    ).policy
    cal = virtual_calibration()
    # The loaded config keeps the checkpoint's "units" but not the feature names: without the
    # folder's metadata the columns follow the arm order (logged), with it they bind by name.
    bare = action_space_for_policy(loaded, ARM, calibration=cal)
    assert bare.units == 'degrees' and bare.action_columns == ARM
    named = action_space_for_policy(
        loaded, ARM, calibration=cal, metadata=read_checkpoint_metadata(named_ckpt)
    )
    assert named.state_columns == named.action_columns == PERMUTED
    # Pan column (index 2) at 1024 ticks = π/2 reads 1024 * 360/4095 degrees.
    q = np.array([math.pi / 2, 0, 0, 0, 0, 0])
    assert named.state_to_model(q)[2] == pytest.approx(1024 * 360 / 4095, abs=1e-4)


@pytest.fixture(scope='module')
def plain_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LeRobot's own layout: no names, no units, no fps; real (non-zero) action spread."""
    return make_checkpoint(
        tmp_path_factory.mktemp('plain') / 'ckpt',
        state_stats={'mean': [0] * 6, 'std': [40] * 6},
        action_stats={'mean': [50, 10, -20, 30, 0, 5], 'std': [20, 30, 30, 30, 30, 30]},
        seed=1,
    )


def test_predict_is_predict_chunk_plus_the_conversion_by_hand(plain_ckpt: Path) -> None:
    policy = SmolVLAChunkPolicy.from_pretrained(
        plain_ckpt,
        ARM,
        units='degrees',
        calibration=virtual_calibration(),
        column_order=PERMUTED,
        dt_s=0.05,
        seed=3,
        vlm_dir=VLM,
    )
    # Arm positions on whole ticks: k ticks from the URDF zero; the gripper's middle is 512
    # ticks above its zero (range 1933..3185).
    ticks = np.array([100, -300, 250, 700, -1000, 400])
    q = ticks * TICK
    # By hand, checkpoint order PERMUTED = arm indices [5, 4, 0, 2, 1, 3]: body joints read
    # k * 360/4095 degrees; the gripper (2047 + 400 - 1933) / 1252 * 100.
    body = ticks * 360 / 4095
    grip = (2047 + 400 - 1933) / 1252 * 100
    state = np.array([grip, body[4], body[0], body[2], body[1], body[3]], np.float32)
    request_ = request(q)
    chunk = policy.policy.predict_chunk(
        {
            'images': {s: f.rgb for s, f in request_.frames.items()},
            'state': state,
            'instruction': request_.instruction,
        },
        generator=torch.Generator().manual_seed(3),
    )[0].astype(np.float64)
    # Back by hand: degrees -> nearest tick -> rad; gripper 0..100 -> tick in 1933..3185.
    arm_cols = {j: chunk[:, k] for k, j in enumerate(PERMUTED)}
    expected = np.empty((10, 6))
    for i, j in enumerate(ARM[:5]):
        expected[:, i] = np.round(arm_cols[j] * 4095 / 360) * TICK
    g = np.clip(arm_cols['gripper'], 0, 100)
    expected[:, 5] = (np.round(g / 100 * 1252 + 1933) - 2047) * TICK
    out = policy.predict(request_)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)
    assert np.array_equal(policy.predict(request_), out)  # same seed, same request, same chunk
    assert policy.last_check is not None and policy.last_check.ok


def test_dt_is_required_and_must_agree(plain_ckpt: Path, named_ckpt: Path) -> None:
    cal = virtual_calibration()
    with pytest.raises(ConfigError, match=r'records no fps.*dt_s=1/30'):
        SmolVLAChunkPolicy.from_pretrained(plain_ckpt, ARM, 'degrees', cal, vlm_dir=VLM)
    with pytest.raises(ConfigError, match='disagrees with the checkpoint fps'):
        SmolVLAChunkPolicy.from_pretrained(named_ckpt, ARM, None, cal, dt_s=0.1, vlm_dir=VLM)


@pytest.fixture(scope='module')
def optional_cam_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cameras 'up' (bound to no slot by default) and 'wrist'; one may be blank."""
    return make_checkpoint(
        tmp_path_factory.mktemp('cams') / 'ckpt',
        state_stats={'mean': [0] * 6, 'std': [1] * 6},
        action_stats={'mean': [0] * 6, 'std': [0.1] * 6},
        cameras=('observation.images.up', 'observation.images.wrist'),
        units='radians',
        fps=10,
        empty_cameras=1,
    )


def test_slots_come_from_the_checkpoint_cameras(optional_cam_ckpt: Path) -> None:
    with pytest.raises(ConfigError, match=r"\['observation.images.up'\] are bound to no camera"):
        SmolVLAChunkPolicy.from_pretrained(optional_cam_ckpt, ARM, vlm_dir=VLM)
    both = SmolVLAChunkPolicy.from_pretrained(
        optional_cam_ckpt, ARM, camera_map={'top': 'up'}, vlm_dir=VLM
    )
    assert both.required_slots == ('top', 'wrist') and both.dt_s == pytest.approx(0.1)
    # The checkpoint runs with one blank camera: declaring the wrist optional is allowed, two
    # optional cameras are not.
    lenient = SmolVLAChunkPolicy.from_pretrained(
        optional_cam_ckpt, ARM, camera_map={'top': 'up'}, optional_slots=('wrist',), vlm_dir=VLM
    )
    assert lenient.required_slots == ('top',)
    out = lenient.predict(request(np.full(6, 0.1), slots=('top', 'side')))  # side: unbound
    assert out.shape == (10, 6) and np.isfinite(out).all()
    with pytest.raises(ConfigError, match='at most 1 missing camera'):
        SmolVLAChunkPolicy(lenient.policy, lenient.action_space, optional_slots=('top', 'wrist'))
    with pytest.raises(ConfigError, match=r"optional_slots \['side'\]"):
        SmolVLAChunkPolicy(lenient.policy, lenient.action_space, optional_slots=('side',))


def test_snapshot_in_another_joint_order_is_refused(named_ckpt: Path) -> None:
    policy = SmolVLAChunkPolicy.from_pretrained(
        named_ckpt, ARM, calibration=virtual_calibration(), vlm_dir=VLM
    )
    req = request(np.zeros(6))
    snap = ObservationSnapshot(1, 5.0, np.zeros(6), tuple(reversed(ARM)), False)
    with pytest.raises(ValueError, match='differ from the policy joints'):
        policy.predict(PolicyInput(snap, req.frames, req.instruction))
