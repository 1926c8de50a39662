"""Fault matrix: units, columns and cameras between the arm and a SmolVLA checkpoint.

Each test names its fault in the docstring's first line and checks the named error AND that
nothing else changed: the checkpoint folder is untouched, the model never ran (torch's global RNG,
which the model draws its noise from when no seed is set, did not move), and the policy's state
(the pending units check) is as before.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from smolvla_checkpoints import VLM, folder_state, make_checkpoint, rgb, rng_state

from smolvla_model.errors import CheckpointError
from smolvla_ros.action_space import ColumnMappingError, UnitsMismatchError
from smolvla_ros.frames.frame import Frame
from smolvla_ros.policy.protocol import PolicyInput
from smolvla_ros.policy.smolvla import MissingFrameError, SmolVLAChunkPolicy
from smolvla_ros.runtime.executor import ObservationSnapshot
from so_arm_driver.robots import SO101

ARM = SO101.joint_names
# The suite's home pose (rad) and degrees statistics of a dataset recorded around it.
HOME = np.array([0.0, -1.6, 0.4, 1.5, 2.8, 0.9])
DEG_STATS = {'mean': [0.0, -90.0, 25.0, 85.0, 160.0, 50.0], 'std': [20, 15, 20, 15, 10, 20]}


def torch_rng_unchanged(before: torch.Tensor) -> bool:
    return bool(torch.equal(torch.get_rng_state(), before))


def request(q: np.ndarray, slots: tuple[str, ...] = ('top', 'wrist')) -> PolicyInput:
    snap = ObservationSnapshot(1, 2.0, q, ARM, False)
    frames = {s: Frame(s, rgb(i), 1.99) for i, s in enumerate(slots)}
    return PolicyInput(snap, frames, 'put the cube in the bin')


@pytest.fixture(scope='module')
def degrees_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LeRobot-style checkpoint in degrees that, like LeRobot's, records no units."""
    return make_checkpoint(
        tmp_path_factory.mktemp('deg') / 'ckpt',
        state_stats=DEG_STATS,
        action_stats=DEG_STATS,
        state_names=[f'{j}.pos' for j in ARM],
        action_names=[f'{j}.pos' for j in ARM],
        fps=30,
    )


def test_radians_fed_to_a_degrees_checkpoint(degrees_ckpt: Path) -> None:
    """Fault: units='radians' configured for a degrees checkpoint -> Expected: UnitsMismatchError
    naming the joints, the model never runs, nothing is returned, the check stays armed."""
    before = folder_state(degrees_ckpt)
    policy = SmolVLAChunkPolicy.from_pretrained(degrees_ckpt, ARM, units='radians', vlm_dir=VLM)
    rng = rng_state()
    q = HOME.copy()
    with pytest.raises(UnitsMismatchError) as e:
        policy.predict(request(q))
    message = str(e.value)
    for joint in ('shoulder_lift', 'wrist_flex', 'wrist_roll'):
        assert joint in message
    assert 'radians fed to a degrees checkpoint' in message
    assert 'allow_units_mismatch=True' in message
    assert torch_rng_unchanged(rng)
    assert np.array_equal(q, HOME)  # the caller's state is not touched
    assert policy.last_check is None
    with pytest.raises(UnitsMismatchError):  # still armed: the next request is refused too
        policy.predict(request(q))
    assert torch_rng_unchanged(rng)
    assert folder_state(degrees_ckpt) == before
    # The explicit override runs (and records the failed check).
    forced = SmolVLAChunkPolicy(
        policy.policy, policy.action_space, dt_s=None, allow_units_mismatch=True
    )
    assert np.isfinite(forced.predict(request(q))).all()
    assert not torch_rng_unchanged(rng)  # the detector works: a model run moves the RNG
    assert forced.last_check is not None and not forced.last_check.ok


def _copy_with_broken_weights(src: Path, dst: Path) -> Path:
    """A copy whose weights cannot load: an error other than CheckpointError proves the check
    came before the weights were read."""
    shutil.copytree(src, dst)
    (dst / 'model.safetensors').write_bytes(b'not a safetensors file')
    return dst


def test_checkpoint_column_names_the_arm_lacks(degrees_ckpt: Path, tmp_path: Path) -> None:
    """Fault: the checkpoint names a column no arm joint matches ('jaw.pos') -> Expected:
    ColumnMappingError listing both sides, raised before any weight is read, no file written."""
    ckpt = _copy_with_broken_weights(degrees_ckpt, tmp_path / 'ckpt')
    config = json.loads((ckpt / 'config.json').read_text())
    config['output_features']['action']['names'][5] = 'jaw.pos'
    (ckpt / 'config.json').write_text(json.dumps(config))
    before = folder_state(tmp_path)
    with pytest.raises(ColumnMappingError) as e:
        SmolVLAChunkPolicy.from_pretrained(ckpt, ARM, units='degrees', vlm_dir=VLM)
    assert "['jaw.pos'] match no arm joint" in str(e.value)
    assert 'gripper' in str(e.value)  # the arm side is listed too
    assert folder_state(tmp_path) == before


def test_arm_with_fewer_joints_than_the_checkpoint(degrees_ckpt: Path, tmp_path: Path) -> None:
    """Fault: a 5-joint arm (no gripper) with a 6-column checkpoint -> Expected:
    ColumnMappingError naming both counts and sides, before loading, no file written."""
    ckpt = _copy_with_broken_weights(degrees_ckpt, tmp_path / 'ckpt')
    before = folder_state(tmp_path)
    with pytest.raises(ColumnMappingError, match='6 columns, the arm 5 joints') as e:
        SmolVLAChunkPolicy.from_pretrained(ckpt, ARM[:5], units='degrees', vlm_dir=VLM)
    assert 'gripper.pos' in str(e.value) and 'wrist_roll' in str(e.value)
    assert folder_state(tmp_path) == before
    # The detector works: with the right arm the same copy gets as far as the broken weights.
    with pytest.raises(CheckpointError):
        SmolVLAChunkPolicy.from_pretrained(ckpt, ARM, units='radians', vlm_dir=VLM)


def test_unnamed_columns_with_a_wrong_configured_order(degrees_ckpt: Path, tmp_path: Path) -> None:
    """Fault: unnamed columns and a column_order missing a joint -> Expected: ColumnMappingError
    before loading, no file written."""
    ckpt = _copy_with_broken_weights(degrees_ckpt, tmp_path / 'ckpt')
    config = json.loads((ckpt / 'config.json').read_text())
    del config['input_features']['observation.state']['names']
    del config['output_features']['action']['names']
    (ckpt / 'config.json').write_text(json.dumps(config))
    before = folder_state(tmp_path)
    order = ['shoulder_pan', 'shoulder_lift', 'elbow_flex', 'wrist_flex', 'wrist_roll', 'wrist']
    with pytest.raises(ColumnMappingError, match=r"columns \['wrist'\] match no arm joint"):
        SmolVLAChunkPolicy.from_pretrained(
            ckpt, ARM, units='degrees', column_order=order, vlm_dir=VLM
        )
    assert folder_state(tmp_path) == before


def test_missing_required_camera(degrees_ckpt: Path) -> None:
    """Fault: no frame for the checkpoint's wrist camera -> Expected: MissingFrameError naming
    the slot and its feature; the model never runs and the units check is still pending."""
    from smolvla_ros.action_space import virtual_calibration

    policy = SmolVLAChunkPolicy.from_pretrained(
        degrees_ckpt, ARM, units='degrees', calibration=virtual_calibration(), vlm_dir=VLM
    )
    rng = rng_state()
    with pytest.raises(MissingFrameError) as e:
        policy.predict(request(HOME, slots=('top', 'side')))
    assert "['wrist']" in str(e.value) and 'observation.images.wrist' in str(e.value)
    assert torch_rng_unchanged(rng)
    assert policy.last_check is None
    # With the frame present the same policy runs and its (first) units check passes.
    out = policy.predict(request(HOME))
    assert out.shape == (10, 6) and policy.last_check is not None and policy.last_check.ok
