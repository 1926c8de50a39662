"""End to end with no ROS: the simulator's cameras -> frame store -> policy worker (SmolVLA from a
checkpoint on disk, real pre/post-processing, degrees with the virtual calibration) -> executor
on simulated time -> SimArm, through ``smolvla_ros.pipeline.SimPipeline``; then the same harness
with the scripted expert completes a pick-and-place.

The facts are checked from outside the harness too: the test reads the arm's goals and measured
positions from the simulator on every tick, and derives the limits from ``so_arm_driver.robots``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from smolvla_checkpoints import VLM, make_checkpoint

from smolvla_ros.action_space import virtual_calibration
from smolvla_ros.pipeline import PipelineConfig, SimPipeline
from smolvla_ros.policy.scripted_expert import ScriptedExpertPolicy
from smolvla_ros.policy.smolvla import SmolVLAChunkPolicy
from smolvla_ros.runtime.executor import TickOutput
from so_arm_driver.robots import SO101
from so_arm_driver.sim import SimArm, SimConfig

SEED = 3
CAMERAS = ('observation.images.top', 'observation.images.wrist', 'observation.images.side')
# The simulator's start pose (Simulator.reset) is (0, -1.6, 0.4, 1.5, 2.8, 0.9) rad. In LeRobot
# degrees with the virtual calibration a body joint's degrees are its radians x 180/pi to within
# a tick, so the start state is about (0, -91.7, 22.9, 85.9, 160.4) deg, and the gripper's 0.9 rad
# is (0.9 + 0.1749) / 1.9206 = 56 % of its range. The state statistics centre on that pose (the
# units check passes with |z| < 1); the action statistics centre on a pose 20-30 deg away from
# it with a 5 deg spread, so the random model's actions (a few std at most) lie well inside
# every joint's limits and the arm has somewhere to go.
STATE_STATS = {'mean': [0, -90, 20, 85, 160, 55], 'std': [30, 30, 30, 30, 30, 20]}
ACTION_MEAN_DEG = [20.0, -65.0, 0.0, 60.0, 140.0, 40.0]
ACTION_STATS = {'mean': ACTION_MEAN_DEG, 'std': [5, 5, 5, 5, 5, 5]}
CHUNK = 30
TICK_S = 1.0 / 30.0  # SimConfig's control period: 20 physics steps of 1/600 s


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(
        tmp_path_factory.mktemp('e2e') / 'ckpt',
        state_stats=STATE_STATS,
        action_stats=ACTION_STATS,
        state_names=[f'{j}.pos' for j in SO101.joint_names],
        action_names=[f'{j}.pos' for j in SO101.joint_names],
        cameras=CAMERAS,
        fps=30,
        chunk_size=CHUNK,
    )


class ArmWatcher:
    """Reads the simulator on every tick, independently of the harness's own record."""

    def __init__(self, arm: SimArm) -> None:
        self.arm = arm
        self.goals: list[np.ndarray] = []
        self.positions: list[np.ndarray] = []
        self.times: list[float] = []

    def __call__(self, out: TickOutput) -> None:
        # on_tick runs after the command is written and before the physics steps: the servos'
        # goal is exactly what the arm received this tick.
        self.goals.append(self.arm.sim.goals())
        self.positions.append(self.arm.sim.joint_positions())
        self.times.append(self.arm.sim.time_s)


def _limits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lower = np.array([j.lower_rad for j in SO101.joints])
    upper = np.array([j.upper_rad for j in SO101.joints])
    vmax = np.array([j.velocity_limit_rad_s for j in SO101.joints])
    return lower, upper, vmax


def test_smolvla_from_pixels_to_joint_commands_on_the_simulator(checkpoint: Path) -> None:
    with SimArm(config=SimConfig(image_width=64, image_height=48)) as arm:
        arm.sim.reset(SEED)
        start = arm.read_positions()
        policy = SmolVLAChunkPolicy.from_pretrained(
            checkpoint,
            arm.joint_names,
            units='degrees',
            calibration=virtual_calibration(),
            seed=0,
            vlm_dir=VLM,
        )
        assert policy.required_slots == ('top', 'wrist', 'side')
        assert policy.dt_s == pytest.approx(TICK_S)
        watcher = ArmWatcher(arm)
        with SimPipeline(
            arm, policy, instruction='put the cube in the bin', config=PipelineConfig()
        ) as pipe:
            result = pipe.run(10.0, on_tick=watcher)
        # The units check ran on the real start pose and passed.
        assert policy.last_check is not None and policy.last_check.ok

        # 10 s of simulated time at 30 Hz: 300 ticks, each read back from the simulator.
        assert result.sim_time_s == pytest.approx(10.0, abs=TICK_S)
        assert len(watcher.goals) == len(result.commands_rad) == 300
        goals = np.array(watcher.goals)
        np.testing.assert_allclose(goals, result.commands_rad, rtol=0, atol=1e-12)

        # Chunks flowed: several accepted, each answering its request, observation times
        # strictly increasing and chunk ids consecutive.
        chunks = result.chunks
        # ~18 on a 2-core EPYC (median latency 0.3 s); 4 leaves room for a loaded machine.
        assert len(chunks) >= 4
        assert result.metrics['chunks_accepted'] == len(chunks)
        assert result.metrics['chunks_rejected'] == {}
        obs = np.array([c.observation_time_s for c in chunks])
        assert np.all(np.diff(obs) > 0)
        assert [c.chunk_id for c in chunks] == list(range(len(chunks)))
        for c in chunks:
            assert c.actions.shape == (CHUNK, 6)
            assert c.dt_s == pytest.approx(TICK_S)

        # Every command the arm received lies within the SO-101 limits and moves at most the
        # velocity limit x one tick from the previous one (the first from the start pose).
        lower, upper, vmax = _limits()
        assert np.all(goals >= lower - 1e-12) and np.all(goals <= upper + 1e-12)
        steps = np.abs(np.diff(np.vstack([start, goals]), axis=0))
        assert np.all(steps <= vmax * TICK_S * (1 + 1e-9) + 1e-12)
        assert result.arm_clamps == dict.fromkeys(arm.joint_names, 0)

        # Latency is measured (wall time of the worker's process on this CPU), stamped on every
        # chunk, reported by the worker and recorded in the executor's metrics.
        lat = np.array([c.inference_latency_s for c in chunks])
        assert np.all(lat > 0)
        status = result.worker
        assert status.chunks_submitted == len(chunks)
        assert status.inference_errors == 0 and sum(status.invalid_outputs.values()) == 0
        assert sum(status.requests_refused.values()) == 0
        assert status.median_latency_s > 0 and math.isfinite(status.last_latency_s)
        assert status.median_latency_s == pytest.approx(float(np.median(lat[-20:])))
        assert result.metrics['inference_latency_median_s'] == pytest.approx(float(np.median(lat)))
        # The latency is honoured on simulated time: the first chunk (requested on the first
        # tick) is merged on the first tick at or after observation + latency, and the arm holds
        # its start pose ('startup') on every tick before that.
        assert obs[0] == result.tick_times_s[0]
        first = next(i for i, t in enumerate(result.tick_times_s) if t >= obs[0] + lat[0] - 1e-9)
        assert first >= 1
        assert result.states['startup'] == first

        # Frames: every chunk used all three cameras, captured no later than its observation and
        # at most max_frame_age_s before it.
        max_age = PipelineConfig().max_frame_age_s
        for c in chunks:
            assert set(c.frame_times_s) == {'top', 'wrist', 'side'}
            for t in c.frame_times_s.values():
                assert t <= c.observation_time_s + 1e-12
                assert c.observation_time_s - t <= max_age + 1e-9

        # The arm moved: the measured pose at the end is far from the start, toward the action
        # mean (converted by hand: degrees x pi/180 for the body joints).
        end = np.array(watcher.positions[-1])
        assert np.max(np.abs(end - start)) > 0.2
        target = np.radians(ACTION_MEAN_DEG[:5])
        assert np.linalg.norm(end[:5] - target) < np.linalg.norm(start[:5] - target)


def test_scripted_expert_through_the_same_harness_completes_a_pick_and_place() -> None:
    with SimArm(config=SimConfig(image_width=32, image_height=24)) as arm:
        sim = arm.sim
        sim.reset(SEED)
        assert not sim.cube_in_bin() and not sim.cube_lifted()
        policy = ScriptedExpertPolicy(sim, chunk_size=30, required_slots=('top',))
        watcher = ArmWatcher(arm)

        def done() -> bool:  # one second after the plan's last target, to let the cube settle
            end = policy.plan_end_time_s
            return end is not None and sim.time_s > end + 1.0

        with SimPipeline(arm, policy, instruction='put the cube in the bin') as pipe:
            result = pipe.run(12.0, on_tick=watcher, stop=done)
        assert result.cube_lifted, 'the expert never lifted the cube'
        # The simulator's own success check, read directly.
        assert sim.cube_in_bin(), f'cube ended at {sim.cube_pose()[0]}, not in the bin'
        assert result.cube_in_bin
        assert result.sim_time_s < 12.0  # stopped by done(), not by the duration
        assert len(result.chunks) >= 5
        assert all(c.inference_latency_s > 0 for c in result.chunks)
        assert result.worker.inference_errors == 0
        lower, upper, vmax = _limits()
        goals = np.array(watcher.goals)
        assert np.all(goals >= lower - 1e-12) and np.all(goals <= upper + 1e-12)
        assert np.all(np.abs(np.diff(goals, axis=0)) <= vmax * TICK_S * (1 + 1e-9) + 1e-12)
        assert result.arm_clamps == dict.fromkeys(arm.joint_names, 0)
