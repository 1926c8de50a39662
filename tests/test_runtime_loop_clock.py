"""The fixed-rate loop's absolute deadlines and the clocks."""

from __future__ import annotations

import threading
import time

import pytest

from smolvla_ros.runtime import (
    CallableClock,
    DeadlineTracker,
    FixedRateLoop,
    MonotonicClock,
    RuntimeMetrics,
    SimClock,
)


def test_loop_runs_on_absolute_deadlines_and_records_lateness():
    clock = SimClock(10.0)
    metrics = RuntimeMetrics(('a',))
    seen = []

    def step(deadline):
        seen.append(deadline)
        clock.advance(0.004)  # the step's own run time must not shift later deadlines

    ticks = FixedRateLoop(clock, 0.01, metrics).run(step, duration_s=0.1)
    assert ticks == 10
    assert seen == pytest.approx([10.0 + 0.01 * k for k in range(10)])
    assert list(metrics.tick_jitter_s) == pytest.approx([0.0] * 10)


def test_missed_deadlines_are_skipped_and_counted():
    clock = SimClock()
    metrics = RuntimeMetrics(('a',))
    seen = []

    def step(deadline):
        seen.append(deadline)
        if len(seen) == 2:
            clock.advance(0.035)  # now 0.045: 0.02 and 0.03 are missed entirely

    FixedRateLoop(clock, 0.01, metrics).run(step, duration_s=0.1)
    # the deadline less than one period ago (0.04) runs at once, 5 ms late; then on schedule
    assert seen[:4] == pytest.approx([0.0, 0.01, 0.04, 0.05])
    assert metrics.overruns == 2
    assert list(metrics.tick_jitter_s)[2] == pytest.approx(0.005)


def test_loop_needs_an_end_and_a_positive_period():
    with pytest.raises(ValueError):
        FixedRateLoop(SimClock(), 0.0)
    with pytest.raises(ValueError, match='duration_s or a stop'):
        FixedRateLoop(SimClock(), 0.01).run(lambda d: None)


def test_stop_event_ends_the_loop():
    clock = SimClock()
    stop = threading.Event()

    def step(_deadline):
        if clock.now() >= 0.05:
            stop.set()

    assert FixedRateLoop(clock, 0.01).run(step, stop=stop) == 6


@pytest.mark.parametrize('spin_s', [0.0, 0.001])
def test_monotonic_clock_never_wakes_early(spin_s):
    clock = MonotonicClock(spin_s=spin_s)
    for _ in range(5):
        target = time.monotonic() + 0.003
        clock.sleep_until(target)
        assert time.monotonic() >= target
    with pytest.raises(ValueError):
        MonotonicClock(spin_s=-1.0)


def test_sim_clock_never_runs_backwards():
    clock = SimClock(1.0)
    clock.sleep_until(0.5)
    assert clock.now() == 1.0
    with pytest.raises(ValueError):
        clock.advance(-0.1)


def test_callable_clock_reads_the_function_and_waits_for_it():
    t = [5.0]
    clock = CallableClock(lambda: t[0], poll_s=0.001)
    assert clock.now() == 5.0
    t[0] = 7.25
    assert clock.now() == 7.25

    def advance():  # simulated time (a /clock topic) moves in steps on another thread
        for _ in range(5):
            time.sleep(0.005)
            t[0] += 0.5

    th = threading.Thread(target=advance)
    th.start()
    clock.sleep_until(9.0)
    assert clock.now() >= 9.0
    th.join()
    with pytest.raises(TypeError, match='callable'):
        CallableClock(3.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='poll_s'):
        CallableClock(time.monotonic, poll_s=0.0)


def test_deadline_tracker_measures_lateness_on_the_timer_grid():
    """Period 0.1 s; ticks at 1.00 (first: the grid), 1.103 (3 ms late), 1.20, 1.52 (deadlines
    1.3 and 1.4 missed: 2 overruns, 20 ms late on 1.5), 1.595 (earlier than 1.6: the grid moves
    back 5 ms, on time), 1.695 (on the moved grid)."""
    m = RuntimeMetrics(('a',))
    tr = DeadlineTracker(0.1, m)
    got = [tr.observe(t) for t in (1.0, 1.103, 1.2, 1.52, 1.595, 1.695)]
    assert got == pytest.approx([0.0, 0.003, 0.0, 0.02, 0.0, 0.0], abs=1e-9)
    assert m.overruns == 2
    assert list(m.tick_jitter_s) == pytest.approx(got, abs=1e-9)
    with pytest.raises(ValueError, match='period_s'):
        DeadlineTracker(0.0)


def test_status_text_reads_the_summary_it_is_given():
    from smolvla_ros.runtime import status_text

    summary = {
        'inference_latency_median_s': 0.4049,
        'chunks_accepted': 7,
        'clamps': {'position': {'gripper': 2}, 'velocity': {'wrist_roll': 1, 'gripper': 1}},
    }
    assert (
        status_text('tracking', 23, 50, summary)
        == 'tracking | queue 23/50 | latency 0.40 s | chunks 7 | clamps 4'
    )
    assert (
        status_text('startup', 0, 0, {}) == 'startup | queue 0 | latency - | chunks 0 | clamps 0'
    )
