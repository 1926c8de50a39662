"""PolicyWorker: non-blocking requests, latest-request-wins, errors reported, chunk stamping,
close; LatestFrames selection; the replay policy's file round trip; the oracle policy."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from smolvla_ros.bench.pick_place import PickPlaceTask, PickPlaceWorld
from smolvla_ros.bench.policy_sim import LatencyModel, LatencyPolicy, ScheduledDelivery
from smolvla_ros.frames import Frame, FrameSelectionError, LatestFrames
from smolvla_ros.policy import (
    PolicyWorker,
    ReplayError,
    ReplayPolicy,
    WorkerClosedError,
    WorkerConfig,
    record,
    record_chunks,
)
from smolvla_ros.policy.oracle import OraclePolicy
from smolvla_ros.runtime import ObservationSnapshot, SimClock
from so_arm_driver.robots import JOINT_NAMES
from tests.worker_helpers import EchoPolicy, J, Sink, snap

RGB = np.zeros((4, 6, 3), dtype=np.uint8)


@pytest.fixture
def clock():
    return SimClock(10.0)


def make_worker(policy, clock, sink=None, **kw):
    return PolicyWorker(policy, sink if sink is not None else Sink(), now=clock.now, **kw)


# -- requests never block; latest request wins ------------------------------------------------
def test_request_returns_while_the_policy_is_still_computing(clock):
    policy = EchoPolicy()
    policy.gate = True
    sink = Sink()
    with make_worker(policy, clock, sink) as worker:
        assert worker.request(snap(0, 10.0))
        assert policy.started.wait(5.0)
        # The policy is blocked inside predict; a second request still returns (and is queued).
        assert worker.request(snap(1, 10.1))
        assert not policy.release.is_set() and sink.chunks == []
        assert worker.status().mode == 'running'
        policy.release.set()
        assert worker.wait_idle(5.0)
    assert [c.request_id for c in sink.chunks] == [0, 1]


def test_latest_request_wins_and_replacements_are_counted(clock):
    policy = EchoPolicy()
    policy.gate = True
    sink = Sink()
    with make_worker(policy, clock, sink) as worker:
        worker.request(snap(0, 10.0))
        assert policy.started.wait(5.0)
        for rid in (1, 2, 3):
            assert worker.request(snap(rid, 10.0 + rid * 0.1))
        policy.release.set()
        assert worker.wait_idle(5.0)
        status = worker.status()
    # Request 0 was computing; 1 and 2 were replaced in the queue by 3.
    assert [c.request_id for c in sink.chunks] == [0, 3]
    assert [c.chunk_id for c in sink.chunks] == [0, 1]
    assert [r.snapshot.request_id for r in policy.inputs] == [0, 3]
    assert status.requests == 4 and status.requests_replaced == 2
    assert status.chunks_produced == 2 and status.chunks_submitted == 2


# -- errors -----------------------------------------------------------------------------------
def test_exception_in_predict_is_counted_and_the_thread_serves_the_next_request(clock):
    policy = EchoPolicy()
    policy.fail = {0}
    sink = Sink()
    with make_worker(policy, clock, sink) as worker:
        worker.request(snap(0, 10.0))
        assert worker.wait_idle(5.0)
        status = worker.status()
        assert status.inference_errors == 1 and sink.chunks == []
        assert 'policy broke on request 0' in status.last_error
        assert status.mode == 'fault' and status.fault == status.last_error
        assert worker.alive
        worker.request(snap(1, 10.1))
        assert worker.wait_idle(5.0)
        status = worker.status()
    assert [c.request_id for c in sink.chunks] == [1]
    assert status.mode == 'idle' and status.fault == ''
    assert 'request 0' in status.last_error  # kept after the success
    assert status.inference_errors == 1


def test_a_rejecting_consumer_is_counted_not_fatal(clock):
    sink = Sink(accept=False)
    with make_worker(EchoPolicy(), clock, sink) as worker:
        worker.request(snap(0, 10.0))
        assert worker.wait_idle(5.0)
        status = worker.status()
        assert status.chunks_produced == 1 and status.chunks_rejected == 1
        assert status.chunks_submitted == 0 and 'rejected' in status.last_error
        assert math.isnan(status.last_latency_s)
        assert worker.alive


def test_missing_and_stale_slots_are_refused_with_the_reason(clock):
    frames = LatestFrames()
    policy = EchoPolicy(required_slots=('top', 'wrist'))
    sink = Sink()
    with make_worker(policy, clock, sink, frames=frames) as worker:
        frames.put(Frame('top', RGB, 9.95))
        assert worker.request(snap(0, 10.0)) is False
        frames.put(Frame('wrist', RGB, 9.70))  # 0.3 s old: over the default 0.2 s
        assert worker.request(snap(1, 10.0)) is False
        assert worker.wait_idle(5.0)
        status = worker.status()
    assert sink.chunks == [] and policy.inputs == []
    assert dict(status.requests_refused) == {
        'missing': 1,
        'stale': 1,
        'future': 0,
        'joint_names': 0,
    }
    assert "'wrist'" in status.last_error and 'stale' in status.last_error
    assert status.mode == 'fault'


def test_joint_order_mismatch_is_refused(clock):
    sink = Sink()
    reordered = tuple(reversed(JOINT_NAMES))
    with make_worker(EchoPolicy(), clock, sink) as worker:
        assert worker.request(snap(0, 10.0, names=reordered)) is False
        status = worker.status()
    assert sink.chunks == [] and status.requests_refused['joint_names'] == 1
    assert 'gripper' in status.last_error


# -- what a chunk carries -----------------------------------------------------------------------
def test_chunk_carries_ids_times_latency_and_dt(clock):
    frames = LatestFrames()
    policy = EchoPolicy(n=3, dt_s=0.05, required_slots=('top',))
    policy.clock, policy.advance = clock, 0.25  # predict takes 0.25 s of simulated time
    sink = Sink()
    with make_worker(policy, clock, sink, frames=frames, instruction='pick') as worker:
        frames.put(Frame('top', RGB, 9.875, sequence=7))
        frames.put(Frame('side', RGB, 9.9375))  # optional view: passed along too
        worker.request(snap(5, 10.0))
        assert worker.wait_idle(5.0)
        frames.put(Frame('top', RGB, 10.125))
        worker.request(snap(6, 10.25))
        assert worker.wait_idle(5.0)
        status = worker.status()
    first, second = sink.chunks
    assert (first.request_id, first.chunk_id) == (5, 0)
    assert (second.request_id, second.chunk_id) == (6, 1)
    assert first.observation_time_s == 10.0 and second.observation_time_s == 10.25
    assert dict(first.frame_times_s) == {'top': 9.875, 'side': 9.9375}
    assert first.oldest_frame_time_s == 9.875
    assert dict(second.frame_times_s) == {'top': 10.125}  # 'side' is 0.3125 s old: left out
    assert first.dt_s == 0.05
    # request() at 10.0 on the clock, delivered after predict advanced it by 0.25 s.
    assert first.inference_latency_s == 0.25
    # EchoPolicy: q = request_id * 0.01 rad plus (i + 1) mm-rad per row.
    np.testing.assert_allclose(first.actions[:, 0], [0.051, 0.052, 0.053])
    assert first.joint_names == JOINT_NAMES and first.actions.shape == (3, J)
    assert policy.inputs[0].instruction == 'pick'
    assert set(policy.inputs[0].frames) == {'top', 'side'}
    assert status.last_latency_s == 0.25 and status.median_latency_s == 0.25
    assert status.image_age_s == 0.125  # second request: 10.25 - 10.125
    assert status.last_request_id == 6


def test_dt_override_and_instruction_change(clock):
    sink = Sink()
    policy = EchoPolicy(dt_s=0.05)
    config = WorkerConfig(dt_s=0.1)
    with make_worker(policy, clock, sink, config=config, instruction='a') as worker:
        worker.request(snap(0, 10.0))
        assert worker.wait_idle(5.0)
        worker.set_instruction('b')
        worker.request(snap(1, 10.1))
        assert worker.wait_idle(5.0)
        with pytest.raises(TypeError, match='str'):
            worker.set_instruction(None)  # type: ignore[arg-type]
        assert worker.status().instruction == 'b'
    assert [c.dt_s for c in sink.chunks] == [0.1, 0.1]
    assert [r.instruction for r in policy.inputs] == ['a', 'b']


def test_instruction_changes_from_other_threads_are_seen_whole(clock):
    policy = EchoPolicy()
    texts = ['x' * 50, 'y' * 50]
    with make_worker(policy, clock) as worker:
        stop = threading.Event()

        def flip():
            i = 0
            while not stop.is_set():
                worker.set_instruction(texts[i % 2])
                i += 1

        t = threading.Thread(target=flip)
        t.start()
        try:
            for rid in range(20):
                worker.request(snap(rid, 10.0 + rid))
                assert worker.wait_idle(5.0)
        finally:
            stop.set()
            t.join()
    assert {r.instruction for r in policy.inputs} <= set(texts)


# -- lifecycle --------------------------------------------------------------------------------
def test_close_joins_is_idempotent_and_refuses_later_requests(clock):
    worker = make_worker(EchoPolicy(), clock)
    assert worker.alive
    worker.close()
    assert not worker.alive
    worker.close()
    assert worker.status().mode == 'closed'
    with pytest.raises(WorkerClosedError, match='closed'):
        worker.request(snap(0, 10.0))
    with pytest.raises(WorkerClosedError, match='closed'):
        worker.process(snap(1, 10.0))


def test_close_drops_the_queued_request_and_waits_for_the_running_one(clock):
    policy = EchoPolicy()
    policy.gate = True
    sink = Sink()
    worker = make_worker(policy, clock, sink)
    worker.request(snap(0, 10.0))
    assert policy.started.wait(5.0)
    worker.request(snap(1, 10.1))
    closer = threading.Thread(target=worker.close)
    closer.start()
    for _ in range(1000):  # until close() has begun (it then waits for the thread)
        if worker.status().mode == 'closed':
            break
        closer.join(0.005)
    assert worker.status().mode == 'closed'
    policy.release.set()
    closer.join(10.0)
    assert not closer.is_alive() and not worker.alive
    assert [r.snapshot.request_id for r in policy.inputs] == [0]  # request 1 never ran
    assert sink.chunks == []  # the worker was closing: the finished chunk is not submitted


def test_constructor_rejects_inconsistent_setups(clock):
    with pytest.raises(ValueError, match='LatestFrames'):
        PolicyWorker(EchoPolicy(required_slots=('top',)), Sink(), now=clock.now)
    with pytest.raises(ValueError, match='dt_s'):
        PolicyWorker(EchoPolicy(dt_s=0.0), Sink(), now=clock.now)
    with pytest.raises(TypeError, match='Policy protocol'):
        PolicyWorker(object(), Sink(), now=clock.now)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='max_frame_age_s'):
        WorkerConfig(max_frame_age_s=-1.0)


def test_synchronous_process_and_deliver_use_the_same_steps(clock):
    sink = Sink()
    worker = PolicyWorker(EchoPolicy(n=2), sink, now=clock.now, start=False)
    chunk = worker.process(snap(4, 10.0))
    assert chunk is not None and sink.chunks == []
    assert (chunk.request_id, chunk.chunk_id, chunk.inference_latency_s) == (4, 0, 0.0)
    assert worker.deliver(chunk, 0.3)
    assert sink.chunks[0].inference_latency_s == 0.3
    assert worker.status().chunks_submitted == 1
    with pytest.raises(WorkerClosedError, match='start=False'):
        worker.request(snap(5, 10.1))
    worker.close()


# -- LatestFrames -----------------------------------------------------------------------------
def test_latest_frames_keeps_the_newest_and_checks_age_and_future():
    frames = LatestFrames(future_tolerance_s=0.01)
    assert frames.put(Frame('top', RGB, 1.0, 1))
    assert frames.put(Frame('top', RGB, 2.0, 2))
    assert not frames.put(Frame('top', RGB, 1.5, 1))  # late delivery of an older frame
    assert frames.get('top').sequence == 2 and frames.out_of_order == 1
    # A later frame after a wrongly future-stamped one, and a restarted source, are stored.
    assert frames.put(Frame('wrist', RGB, 9.0, 5)) and frames.put(Frame('wrist', RGB, 2.0, 6))
    assert frames.put(Frame('side', RGB, 1.0, 40)) and frames.put(Frame('side', RGB, 2.0, 0))
    assert frames.get('wrist').sequence == 6 and frames.get('side').sequence == 0
    frames = LatestFrames(future_tolerance_s=0.01)
    frames.put(Frame('top', RGB, 2.0, 2))
    assert frames.get('wrist') is None
    assert frames.select(['top'], now_s=2.05, max_age_s=0.1)['top'].sequence == 2
    with pytest.raises(FrameSelectionError) as e:
        frames.select(['top'], now_s=2.2, max_age_s=0.1)
    assert (e.value.reason, e.value.slot) == ('stale', 'top')
    frames.select(['top'], now_s=1.995, max_age_s=0.1)  # 5 ms ahead: within the tolerance
    with pytest.raises(FrameSelectionError) as e:
        frames.select(['top'], now_s=1.98, max_age_s=0.1)  # 20 ms ahead
    assert e.value.reason == 'future'
    with pytest.raises(FrameSelectionError) as e:
        frames.select(['top', 'wrist'], now_s=2.0, max_age_s=0.1)
    assert (e.value.reason, e.value.slot) == ('missing', 'wrist')
    with pytest.raises(TypeError, match='Frame'):
        frames.put(RGB)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='max_age_s'):
        frames.select(['top'], now_s=2.0, max_age_s=math.inf)


def test_latest_frames_put_from_many_threads():
    frames = LatestFrames()

    def pump(slot):
        for i in range(200):
            frames.put(Frame(slot, RGB, float(i), i))

    threads = [threading.Thread(target=pump, args=(s,)) for s in ('top', 'wrist', 'side')]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert frames.slots == ('side', 'top', 'wrist')
    assert all(frames.get(s).sequence == 199 for s in frames.slots)


# -- replay ------------------------------------------------------------------------------------
def test_replay_round_trip_through_the_worker(tmp_path, clock):
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, size=(3, 5, J))
    path = record(tmp_path / 'demo.npz', actions, JOINT_NAMES, 1 / 30)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['demo.npz']  # no temporary left
    policy = ReplayPolicy(path)
    assert policy.remaining == 3 and policy.dt_s == 1 / 30
    sink = Sink()
    with make_worker(policy, clock, sink) as worker:
        for rid in range(4):
            worker.request(snap(rid, 10.0 + rid))
            assert worker.wait_idle(5.0)
        status = worker.status()
    assert len(sink.chunks) == 3
    for k, chunk in enumerate(sink.chunks):
        np.testing.assert_array_equal(chunk.actions, actions[k])
        assert chunk.dt_s == 1 / 30
    assert status.inference_errors == 1 and 'all 3 recorded chunks' in status.last_error
    # What the worker submitted records back to the same file contents.
    again = record_chunks(tmp_path / 'again.npz', sink.chunks)
    replayed = ReplayPolicy(again)
    assert replayed.joint_names == JOINT_NAMES
    policy.rewind()
    assert policy.remaining == 3


def test_replay_refuses_bad_data_and_files(tmp_path):
    good = np.zeros((2, 4, J))
    bad = good.copy()
    bad[1, 2, 3] = np.nan
    with pytest.raises(ReplayError, match='chunk 1'):
        record(tmp_path / 'nan.npz', bad, JOINT_NAMES, 0.1)
    with pytest.raises(ReplayError, match='shape'):
        record(tmp_path / 'shape.npz', np.zeros((2, 4, J - 1)), JOINT_NAMES, 0.1)
    with pytest.raises(ReplayError, match='dt_s'):
        record(tmp_path / 'dt.npz', good, JOINT_NAMES, 0.0)
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary left
    np.savez(tmp_path / 'other.npz', actions=good)
    with pytest.raises(ReplayError, match='not a replay file'):
        ReplayPolicy(tmp_path / 'other.npz')
    with pytest.raises(ReplayError, match='cannot read'):
        ReplayPolicy(tmp_path / 'absent.npz')
    policy = ReplayPolicy(record(tmp_path / 'ok.npz', good, JOINT_NAMES, 0.1))
    from smolvla_ros.policy import PolicyInput

    request = PolicyInput(snap(0, 0.0, names=tuple(reversed(JOINT_NAMES))), {}, '')
    with pytest.raises(ReplayError, match='recorded for joints'):
        policy.predict(request)
    assert policy.remaining == 2  # nothing consumed


# -- the benchmark's oracle ---------------------------------------------------------------------
def test_oracle_policy_plans_the_loop_from_the_observation(clock):
    task = PickPlaceTask()
    world = PickPlaceWorld(task)
    policy = OraclePolicy(task, world, chunk_size=10, dt_s=0.1)
    sink = Sink()
    start = task.waypoints[0]
    obs = ObservationSnapshot(0, 10.0, start.copy(), JOINT_NAMES, False)
    with make_worker(policy, clock, sink) as worker:
        worker.request(obs)
        assert worker.wait_idle(5.0)
    (chunk,) = sink.chunks
    # From PLACE_OPEN, not holding: the first segment goes to PRE_GRASP; its largest move is the
    # pan, -0.6 -> 0.6 rad, at 0.9 rad/s mean: 4/3 s, with a cosine profile. The plan leads the
    # observation by oracle_lead_s (0.03 s), so row i is at loop time 0.03 + (i + 1) * 0.1 s.
    assert chunk.actions.shape == (10, 6)
    u = 0.03 + 0.1 * np.arange(1, 11)
    s = 0.5 * (1 - np.cos(np.pi * u / (4 / 3)))
    np.testing.assert_allclose(chunk.actions[:, 0], -0.6 + 1.2 * s, atol=1e-12)
    np.testing.assert_allclose(chunk.actions[:, 1], 0.2 - 0.5 * s, atol=1e-12)  # lift 0.2->-0.3
    assert chunk.dt_s == 0.1 and chunk.request_id == 0


# -- the benchmark's two delivery paths ---------------------------------------------------------
def test_latency_policy_delivers_at_observation_time_plus_the_sample(clock):
    policy = LatencyPolicy(EchoPolicy(), lambda: 0.35, clock)
    sink = Sink()
    with make_worker(policy, clock, sink) as worker:
        worker.request(snap(0, 10.0))
        assert worker.wait_idle(5.0)
    (chunk,) = sink.chunks
    assert clock.now() == 10.35  # LatencyPolicy slept on the (simulated) clock until then
    assert chunk.inference_latency_s == pytest.approx(0.35, abs=1e-12)
    assert chunk.observation_time_s == 10.0


def test_scheduled_delivery_hands_chunks_over_when_due(clock):
    sink = Sink()
    worker = PolicyWorker(EchoPolicy(), sink, now=clock.now, start=False)
    sched = ScheduledDelivery(worker, LatencyModel(median_s=0.35, sigma=0.0))
    sched.request(snap(0, 10.0))
    sched.request(snap(1, 10.1))
    sched.deliver_due(10.3)
    assert sink.chunks == []  # both computed, neither due yet
    sched.deliver_due(10.35)
    assert [c.request_id for c in sink.chunks] == [0]
    sched.deliver_due(11.0)
    assert [c.request_id for c in sink.chunks] == [0, 1]
    assert [c.inference_latency_s for c in sink.chunks] == [0.35, 0.35]
    assert worker.status().chunks_submitted == 2


def test_an_inference_that_outlives_close_keeps_alive_true_until_it_ends(clock):
    """policy_node's main() relies on `alive` after close() to know that an inference still runs
    in the daemon thread (it then ends the process without finalising the interpreter under it)."""
    policy = EchoPolicy()
    policy.gate = True
    worker = make_worker(policy, clock, config=WorkerConfig(close_timeout_s=0.05))
    worker.request(snap(0, 10.0))
    assert policy.started.wait(5.0)
    worker.close()  # returns after 0.05 s: predict is still blocked on the gate
    assert worker.alive and worker.status().mode == 'closed'
    policy.release.set()
    for _ in range(1000):
        if not worker.alive:
            break
        threading.Event().wait(0.005)
    assert not worker.alive
