"""End to end on the simulator: scripted expert -> policy worker -> executor -> SimArm.

The expert policy runs on the worker's real inference thread; camera frames rendered by the
simulator go through the frame store; the executor runs on a SimClock locked to the simulator's
time. The simulator itself judges the outcome (cube lifted, then resting in the bin), as
``run_episode`` does.
"""

from __future__ import annotations

import numpy as np

from smolvla_ros.frames import Frame, LatestFrames
from smolvla_ros.policy import PolicyWorker, WorkerConfig
from smolvla_ros.policy.scripted_expert import ScriptedExpertPolicy
from smolvla_ros.runtime import ChunkExecutor, RuntimeConfig, SimClock
from so_arm_driver.sim import SimArm, SimConfig

SEED = 3


def test_scripted_expert_through_the_worker_completes_a_pick_and_place():
    with SimArm(config=SimConfig(image_width=32, image_height=24)) as arm:
        sim = arm.sim
        sim.reset(SEED)
        assert not sim.cube_in_bin() and not sim.cube_lifted()
        dt = sim.config.effective_control_dt_s
        clock = SimClock(sim.time_s)
        config = RuntimeConfig(tick_rate_hz=1.0 / dt)
        frames = LatestFrames()
        policy = ScriptedExpertPolicy(sim, chunk_size=30, required_slots=('top',))
        chunks = []
        executor: ChunkExecutor | None = None

        def submit(chunk):
            chunks.append(chunk)
            return executor.submit_chunk(chunk)

        worker = PolicyWorker(
            policy,
            submit,
            frames=frames,
            instruction='put the cube in the bin',
            config=WorkerConfig(max_frame_age_s=0.15),
            now=clock.now,
        )
        executor = ChunkExecutor(config, worker.request, clock)
        safety = config.safety
        lower, upper = np.array(safety.lower_rad), np.array(safety.upper_rad)
        vmax = np.array(safety.velocity_limit_rad_s)
        prev_cmd = None
        lifted = False
        try:
            for k in range(int(9.0 / dt)):
                if k % 3 == 0:  # a 10 Hz camera
                    rgb = sim.render(('top',))['top']
                    frames.put(Frame('top', rgb, clock.now(), sequence=k // 3))
                out = executor.tick(arm.read_positions())
                if out.requested:
                    # Inference is instant on simulated time: let the thread finish before the
                    # simulator moves again (the policy reads the cube pose on its first call).
                    assert worker.wait_idle(30.0)
                cmd = out.command_rad
                assert np.all(cmd >= lower - 1e-12) and np.all(cmd <= upper + 1e-12)
                if prev_cmd is not None:
                    assert np.all(np.abs(cmd - prev_cmd) <= vmax * dt * (1 + 1e-9))
                prev_cmd = cmd
                arm.write_goals(cmd)
                arm.step(1)
                clock.sleep_until(sim.time_s)
                lifted = lifted or sim.cube_lifted()
                if k * dt > policy.plan_end_time_s + 1.0 if policy.plan else False:
                    break
        finally:
            worker.close()
        status = worker.status()
        assert lifted, 'the expert never lifted the cube'
        assert sim.cube_in_bin(), f'cube ended at {sim.cube_pose()[0]}, not in the bin'
        assert arm.clamp_counts == dict.fromkeys(arm.joint_names, 0)
        # Several chunks flowed, each answering its request, with increasing observation times
        # and the frame it was computed from (never newer than the observation, at most the
        # configured age older).
        assert len(chunks) >= 5
        obs_times = [c.observation_time_s for c in chunks]
        assert np.all(np.diff(obs_times) > 0)
        assert [c.chunk_id for c in chunks] == list(range(len(chunks)))
        assert len({c.request_id for c in chunks}) == len(chunks)
        for c in chunks:
            age = c.observation_time_s - c.frame_times_s['top']
            assert 0.0 <= age <= 0.15 + 1e-9
            assert c.dt_s == dt
        assert status.chunks_submitted == len(chunks)
        assert status.inference_errors == 0
        assert sum(status.requests_refused.values()) == 0
        m = executor.metrics.summary()
        assert m['chunks_rejected'] == {}
        assert m['chunks_accepted'] == len(chunks)


def test_expert_without_its_camera_is_refused_and_the_arm_holds():
    """The same wiring with the required camera never delivering: every request is refused as
    'missing', nothing is submitted and the executor holds the start pose."""
    with SimArm(config=SimConfig(image_width=32, image_height=24)) as arm:
        sim = arm.sim
        sim.reset(SEED)
        dt = sim.config.effective_control_dt_s
        clock = SimClock(sim.time_s)
        config = RuntimeConfig(tick_rate_hz=1.0 / dt)
        policy = ScriptedExpertPolicy(sim, chunk_size=30, required_slots=('wrist',))
        submitted = []
        worker = PolicyWorker(policy, submitted.append, frames=LatestFrames(), now=clock.now)
        executor = ChunkExecutor(config, worker.request, clock)
        start = arm.read_positions()
        try:
            for _ in range(30):
                out = executor.tick(arm.read_positions())
                arm.write_goals(out.command_rad)
                arm.step(1)
                clock.sleep_until(sim.time_s)
        finally:
            worker.close()
        status = worker.status()
        assert submitted == []
        assert status.requests_refused['missing'] >= 1
        assert status.requests_refused['missing'] == status.requests
        assert "'wrist'" in status.last_error
        assert policy.plan is None  # predict never ran
        np.testing.assert_allclose(arm.read_positions(), start, atol=0.02)
