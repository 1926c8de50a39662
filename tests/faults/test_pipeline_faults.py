"""Fault matrix of the end-to-end simulator pipeline (``smolvla_ros.pipeline.SimPipeline``).

Each test injects one fault into the whole chain (simulator cameras -> frames -> worker ->
executor -> SimArm), checks the named error or refusal, and checks that nothing else happened:
no chunk reached the executor and the arm held its start pose (the servo goals never left it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from smolvla_checkpoints import VLM, make_checkpoint

from smolvla_ros.action_space import virtual_calibration
from smolvla_ros.pipeline import PipelineConfig, SimPipeline
from smolvla_ros.policy.protocol import PolicyInput
from smolvla_ros.policy.replay import ReplayPolicy, record
from smolvla_ros.policy.scripted_expert import ScriptedExpertPolicy
from smolvla_ros.policy.smolvla import SmolVLAChunkPolicy
from smolvla_ros.runtime.executor import ObservationSnapshot
from so_arm_driver.sim import SimArm, SimConfig

SEED = 3


def _assert_arm_held(arm: SimArm, start: np.ndarray, result) -> None:
    # Every command was the start pose (the executor holds the measured position until a chunk
    # arrives), so the servos' goal never moved and neither did the arm (servo settling only).
    np.testing.assert_allclose(result.commands_rad, np.tile(start, (len(result.commands_rad), 1)))
    np.testing.assert_allclose(arm.sim.goals(), start, atol=1e-12)
    np.testing.assert_allclose(arm.read_positions(), start, atol=0.02)
    assert result.chunks == ()
    assert result.metrics['chunks_accepted'] == 0
    assert set(result.states) == {'startup'}


def test_smolvla_without_an_instruction_never_moves_the_arm(tmp_path: Path) -> None:
    """Fault: SmolVLA run with an empty instruction -> Expected: every request is an inference
    error naming the instruction, nothing is submitted, the arm holds its start pose."""
    ckpt = make_checkpoint(
        tmp_path / 'ckpt',
        state_stats={'mean': [0, -90, 20, 85, 160, 55], 'std': [30] * 6},
        action_stats={'mean': [20, -65, 0, 60, 140, 40], 'std': [5] * 6},
        units='degrees',
        fps=30,
    )
    with SimArm(config=SimConfig(image_width=64, image_height=48)) as arm:
        arm.sim.reset(SEED)
        start = arm.read_positions()
        policy = SmolVLAChunkPolicy.from_pretrained(
            ckpt, arm.joint_names, calibration=virtual_calibration(), seed=0, vlm_dir=VLM
        )
        with SimPipeline(arm, policy, instruction='') as pipe:
            result = pipe.run(0.5)
        status = result.worker
        assert status.inference_errors == len(result.commands_rad)  # asked again every tick
        assert 'instruction' in status.last_error and 'empty' in status.last_error
        assert status.chunks_produced == 0 and status.chunks_submitted == 0
        assert result.metrics['requests_sent'] == 0  # never counted as in flight
        _assert_arm_held(arm, start, result)


def test_required_camera_not_rendered_is_refused_and_the_arm_holds() -> None:
    """Fault: the policy needs the wrist camera but only the top one is rendered -> Expected:
    every request refused as 'missing' naming 'wrist' before the policy runs; the arm holds."""
    with SimArm(config=SimConfig(image_width=32, image_height=24)) as arm:
        arm.sim.reset(SEED)
        start = arm.read_positions()
        policy = ScriptedExpertPolicy(arm.sim, chunk_size=30, required_slots=('wrist',))
        config = PipelineConfig(camera_slots=('top',))
        with SimPipeline(arm, policy, config=config) as pipe:
            result = pipe.run(0.5)
        status = result.worker
        assert status.requests_refused['missing'] == status.requests == len(result.commands_rad)
        assert "'wrist'" in status.last_error
        assert policy.plan is None  # predict never ran
        assert result.metrics['requests_refused'] == status.requests
        _assert_arm_held(arm, start, result)


@pytest.mark.parametrize(
    ('make', 'message'),
    [
        (lambda: PipelineConfig(camera_period_s=0.0), 'camera_period_s'),
        (lambda: PipelineConfig(latency_s=-0.1), 'latency_s'),
        (lambda: PipelineConfig(camera_period_s=0.3, max_frame_age_s=0.2), 'stale'),
    ],
)
def test_impossible_pipeline_settings_are_refused(make, message) -> None:
    """Fault: a camera period <= 0, a negative latency, or frames rarer than the age limit ->
    Expected: ValueError naming the setting; nothing is built."""
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_duration_runs_nothing() -> None:
    """Fault: run(duration <= 0 or NaN) -> Expected: ValueError naming duration_s; the
    simulator does not step and the arm gets no command."""
    with SimArm(config=SimConfig(image_width=32, image_height=24)) as arm:
        arm.sim.reset(SEED)
        goals = arm.sim.goals()
        policy = ScriptedExpertPolicy(arm.sim, chunk_size=30)
        with SimPipeline(arm, policy) as pipe:
            for bad in (0.0, -1.0, float('nan')):
                with pytest.raises(ValueError, match='duration_s'):
                    pipe.run(bad)
        assert arm.sim.time_s == 0.0
        np.testing.assert_array_equal(arm.sim.goals(), goals)


def test_policy_in_another_joint_order_is_refused_before_anything_runs(tmp_path: Path) -> None:
    """Fault: a policy whose columns are in another joint order (a replay recorded reversed) ->
    Expected: ValueError naming both orders at construction; the replay is not read from, the
    simulator does not step and no goal changes."""
    with SimArm(config=SimConfig(image_width=32, image_height=24)) as arm:
        arm.sim.reset(SEED)
        goals = arm.sim.goals()
        reversed_names = tuple(reversed(arm.joint_names))
        chunks = np.stack([np.zeros((5, 6)), np.ones((5, 6))])
        path = record(tmp_path / 'r.npz', chunks, reversed_names, 1 / 30)
        replay = ReplayPolicy(path)
        with pytest.raises(ValueError, match='joint') as err:
            SimPipeline(arm, replay)
        assert str(reversed_names) in str(err.value) and str(arm.joint_names) in str(err.value)
        assert arm.sim.time_s == 0.0
        np.testing.assert_array_equal(arm.sim.goals(), goals)
        # The replay still starts at its first chunk: nothing consumed one.
        snap = ObservationSnapshot(0, 0.0, np.zeros(6), reversed_names, must_go=True)
        np.testing.assert_array_equal(replay.predict(PolicyInput(snap, {}, '')), chunks[0])
