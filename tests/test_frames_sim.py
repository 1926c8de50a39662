"""SimFrameSource on the real MuJoCo simulator, rendered on the CPU (MUJOCO_GL=osmesa)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from smolvla_ros.frames import (
    FramePump,
    FrameSourceClosedError,
    FrameSourceConfigError,
    FrameSourceTimeoutError,
    SimFrameSource,
)
from so_arm_driver.sim import SimArm, SimConfig, Simulator

W, H = 64, 48


@pytest.fixture
def sim():
    with Simulator(SimConfig(image_width=W, image_height=H)) as simulator:
        yield simulator


def test_three_slots_render_distinct_views_on_simulated_time(sim):
    source = SimFrameSource(sim, timeout_s=0.05)
    assert source.slots == ('top', 'wrist', 'side')
    frames = source.read()
    assert [f.slot for f in frames] == ['top', 'wrist', 'side']
    for frame in frames:
        assert frame.rgb.shape == (H, W, 3) and frame.rgb.dtype == np.uint8
        assert frame.capture_time_s == 0.0  # reset puts simulated time at 0
        assert frame.sequence == 0
        assert frame.rgb.std() > 1.0  # a scene, not a blank buffer
    # Three cameras at three places see three different images.
    for a in range(3):
        for b in range(a + 1, 3):
            diff = np.abs(frames[a].rgb.astype(int) - frames[b].rgb.astype(int)).mean()
            assert diff > 5.0, (frames[a].slot, frames[b].slot, diff)

    # Without a physics step there is no new state: read waits, then times out.
    with pytest.raises(FrameSourceTimeoutError, match='is the simulator being stepped'):
        source.read()
    sim.step(1)
    again = source.read()
    # One control step is 20 physics steps of 1/600 s = 1/30 s.
    assert all(f.capture_time_s == pytest.approx(1 / 30) for f in again)
    assert [f.sequence for f in again] == [1, 1, 1]


def test_moving_the_arm_changes_the_wrist_view(sim):
    source = SimFrameSource(sim, ('wrist',))
    before = source.read()[0].rgb.astype(int)
    goals = sim.joint_positions()
    goals[0] += 0.6  # pan the shoulder: the wrist camera swings across the table
    sim.set_goals(goals)
    sim.step(15)
    after = source.read()[0].rgb.astype(int)
    assert np.abs(after - before).mean() > 5.0


def test_period_limits_the_frame_rate_on_simulated_time(sim):
    source = SimFrameSource(sim, ('top',), period_s=0.1, timeout_s=0.02)
    assert source.read()[0].capture_time_s == 0.0
    sim.step(1)  # 1/30 s: not yet one period
    with pytest.raises(FrameSourceTimeoutError):
        source.read()
    sim.step(2)  # 3/30 s = 0.1 s (a float sum of steps; must still count as due)
    assert source.read()[0].capture_time_s == pytest.approx(0.1)


def test_injected_clock_stamps_frames_and_simarm_is_accepted():
    ticks = iter([5.0, 5.5])
    with SimArm(config=SimConfig(image_width=W, image_height=H)) as arm:
        source = SimFrameSource(arm, ('side', 'top'), now=lambda: next(ticks))
        first = source.read()
        second = source.read()  # the wall clock moved on: no physics step needed
    assert [f.slot for f in first] == ['side', 'top']
    assert [f.capture_time_s for f in first + second] == [5.0, 5.0, 5.5, 5.5]


@pytest.mark.parametrize(
    ('slots', 'message'),
    [(('top', 'top'), 'distinct'), (('front',), 'chosen from'), ((), 'distinct')],
)
def test_unknown_or_repeated_slots_are_refused(sim, slots, message):
    with pytest.raises(FrameSourceConfigError, match=message):
        SimFrameSource(sim, slots)


def test_not_a_simulator_is_refused():
    with pytest.raises(FrameSourceConfigError, match='Simulator or SimArm'):
        SimFrameSource(object())


def test_close_is_idempotent_and_leaves_the_simulator_open(sim):
    source = SimFrameSource(sim, ('top',))
    source.close()
    source.close()
    with pytest.raises(FrameSourceClosedError):
        source.read()
    assert sim.render(('top',))['top'].shape == (H, W, 3)


def test_pump_renders_on_its_thread_while_the_main_thread_steps(sim):
    lock = threading.Lock()
    source = SimFrameSource(sim, ('top', 'wrist'), lock=lock, timeout_s=0.2)
    got = []
    with FramePump(source, got.append) as pump:
        deadline = time.monotonic() + 10.0
        while len(got) < 8 and time.monotonic() < deadline:
            with lock:
                sim.step(1)
            time.sleep(0.01)
        assert pump.close()
    assert len(got) >= 8
    for slot in ('top', 'wrist'):
        times = [f.capture_time_s for f in got if f.slot == slot]
        seqs = [f.sequence for f in got if f.slot == slot]
        assert np.all(np.diff(times) > 0)  # each frame a new state
        assert seqs == list(range(len(seqs)))
    assert pump.status.read_errors == 0 and pump.status.sink_errors == 0
