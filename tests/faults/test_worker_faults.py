"""Fault matrix of the policy worker, the frame store and the replay file.

Each test injects one fault, checks the named error or refusal, checks that nothing was
submitted and no other counter or stored state moved, and then checks that the worker still
serves a good request.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from smolvla_ros.frames import Frame, LatestFrames
from smolvla_ros.policy import (
    PolicyWorker,
    ReplayError,
    ReplayPolicy,
    WorkerClosedError,
    record,
)
from smolvla_ros.runtime import ActionChunk, SimClock
from so_arm_driver.robots import JOINT_NAMES
from tests.worker_helpers import EchoPolicy, J, Sink, snap

RGB = np.zeros((4, 6, 3), dtype=np.uint8)
# Fields that describe the last request rather than an outcome; they move on every request.
_PER_REQUEST = {
    'requests',
    'last_request_id',
    'state_age_s',
    'image_age_s',
    'last_error',
    'fault',
    'mode',
}


def _outcomes(status) -> dict:
    d = dataclasses.asdict(status)
    d = {k: (dict(v) if isinstance(v, dict) else v) for k, v in d.items()}
    return {k: v for k, v in d.items() if k not in _PER_REQUEST}


def _diff(before, after) -> dict:
    a, b = _outcomes(before), _outcomes(after)
    out = {}
    for k in a:
        if isinstance(a[k], dict):
            for r in a[k]:
                if a[k][r] != b[k][r]:
                    out[f'{k}.{r}'] = b[k][r] - a[k][r]
        elif not (
            a[k] == b[k] or (isinstance(a[k], float) and math.isnan(a[k]) and math.isnan(b[k]))
        ):
            out[k] = (a[k], b[k])
    return out


@pytest.fixture
def rig():
    clock = SimClock(10.0)
    frames = LatestFrames()
    policy = EchoPolicy(required_slots=('top',))
    sink = Sink()
    worker = PolicyWorker(policy, sink, frames=frames, now=clock.now)
    frames.put(Frame('top', RGB, 9.95, sequence=1))
    yield worker, policy, sink, frames, clock
    worker.close()


def _still_serves(worker, sink, rid, t):
    n = len(sink.chunks)
    assert worker.request(snap(rid, t))
    assert worker.wait_idle(5.0)
    assert worker.alive
    assert len(sink.chunks) == n + 1 and sink.chunks[-1].request_id == rid


def _run(worker, rid, t=10.0):
    accepted = worker.request(snap(rid, t))
    assert worker.wait_idle(5.0)
    return accepted


def test_policy_raises(rig):
    """Fault: policy.predict raises -> Expected: inference_errors +1, error kept, no chunk,
    thread alive and serving."""
    worker, policy, sink, _, _ = rig
    policy.fail = {0}
    before = worker.status()
    assert _run(worker, 0)
    after = worker.status()
    assert sink.chunks == []
    assert _diff(before, after) == {'inference_errors': (0, 1)}
    assert after.mode == 'fault' and 'policy broke on request 0' in after.fault
    _still_serves(worker, sink, 1, 10.0)


@pytest.mark.parametrize(
    'bad, reason',
    [
        (np.full((4, J), np.nan), 'non_finite'),
        (np.where(np.eye(4, J) > 0, np.inf, 0.0), 'non_finite'),
        (np.zeros((4, J - 1)), 'shape'),
        (np.zeros(J), 'shape'),
        (np.zeros((0, J)), 'shape'),
        ('not an array', 'shape'),
    ],
    ids=['nan', 'inf', 'too_few_joints', 'one_dim', 'empty', 'not_numeric'],
)
def test_policy_returns_unusable_output(rig, bad, reason):
    """Fault: policy returns NaN/inf or a wrong shape -> Expected: refused and counted under
    invalid_outputs[reason], no chunk, chunk ids not consumed, worker serves the next request."""
    worker, policy, sink, _, _ = rig
    policy.output = {0: bad}
    before = worker.status()
    assert _run(worker, 0)
    after = worker.status()
    assert sink.chunks == []
    assert _diff(before, after) == {f'invalid_outputs.{reason}': 1}
    assert f'({reason})' in after.last_error
    _still_serves(worker, sink, 1, 10.0)
    assert sink.chunks[-1].chunk_id == 0  # the refused output took no chunk id


@pytest.mark.parametrize(
    'frame_time, now, reason',
    [(None, 10.0, 'missing'), (9.5, 10.0, 'stale'), (10.5, 10.0, 'future')],
)
def test_bad_frame_is_refused_before_inference(frame_time, now, reason):
    """Fault: required camera slot missing / stale / stamped in the future -> Expected: request
    refused with that reason, predict never called, no chunk, frame store unchanged."""
    clock = SimClock(now)
    frames = LatestFrames()
    policy = EchoPolicy(required_slots=('wrist',))
    sink = Sink()
    frames.put(Frame('top', RGB, now - 0.01, sequence=1))
    if frame_time is not None:
        frames.put(Frame('wrist', RGB, frame_time, sequence=2))
    stored = {s: frames.get(s) for s in frames.slots}
    with PolicyWorker(policy, sink, frames=frames, now=clock.now) as worker:
        before = worker.status()
        assert worker.request(snap(0, now)) is False
        assert worker.wait_idle(5.0)
        after = worker.status()
        assert sink.chunks == [] and policy.inputs == []
        assert _diff(before, after) == {f'requests_refused.{reason}': 1}
        assert after.mode == 'fault' and "'wrist'" in after.fault and reason in after.fault
        assert {s: frames.get(s) for s in frames.slots} == stored
        frames.put(Frame('wrist', RGB, now + 0.05, sequence=3))  # the camera recovers
        _still_serves(worker, sink, 1, now + 0.1)


def test_request_after_close():
    """Fault: request after close -> Expected: WorkerClosedError naming the cause, nothing
    submitted, counters unchanged."""
    clock = SimClock(0.0)
    sink = Sink()
    worker = PolicyWorker(EchoPolicy(), sink, now=clock.now)
    worker.close()
    before = worker.status()
    with pytest.raises(WorkerClosedError, match='closed; create a new one'):
        worker.request(snap(0, 0.0))
    assert sink.chunks == [] and worker.status() == before
    # A new worker on the same policy serves.
    with PolicyWorker(EchoPolicy(), sink, now=clock.now) as fresh:
        _still_serves(fresh, sink, 1, 0.0)


def test_consumer_raises():
    """Fault: submit (the executor or a publisher) raises -> Expected: counted as a rejected
    chunk, error kept, thread alive and serving."""
    clock = SimClock(10.0)
    sink = Sink()
    broken = {0}

    def consumer(chunk):
        if chunk.request_id in broken:
            raise OSError('publisher gone')
        return sink(chunk)

    with PolicyWorker(EchoPolicy(), consumer, now=clock.now) as worker:
        before = worker.status()
        assert _run(worker, 0)
        after = worker.status()
        assert sink.chunks == []
        assert _diff(before, after) == {'chunks_produced': (0, 1), 'chunks_rejected': (0, 1)}
        assert 'publisher gone' in after.last_error
        _still_serves(worker, sink, 1, 10.0)


def test_joint_order_differs(rig):
    """Fault: executor's joint order differs from the policy's -> Expected: refused
    ('joint_names') before inference, no chunk."""
    worker, policy, sink, _, _ = rig
    before = worker.status()
    assert worker.request(snap(0, 10.0, names=tuple(reversed(JOINT_NAMES)))) is False
    assert sink.chunks == [] and policy.inputs == []
    assert _diff(before, worker.status()) == {'requests_refused.joint_names': 1}
    _still_serves(worker, sink, 1, 10.0)


def test_corrupt_replay_file(tmp_path):
    """Fault: replay file truncated -> Expected: ReplayError naming the file; the file is left
    as it was."""
    path = record(tmp_path / 'demo.npz', np.zeros((2, 3, J)), JOINT_NAMES, 0.1)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    cut = path.read_bytes()
    with pytest.raises(ReplayError, match=r'demo\.npz'):
        ReplayPolicy(path)
    assert path.read_bytes() == cut


def test_record_over_an_existing_file_with_bad_data(tmp_path):
    """Fault: record() given NaN actions over an existing recording -> Expected: ReplayError,
    the old file intact, no temporary left."""
    path = record(tmp_path / 'demo.npz', np.ones((1, 2, J)), JOINT_NAMES, 0.1)
    old = path.read_bytes()
    with pytest.raises(ReplayError, match='NaN'):
        record(path, np.full((1, 2, J), np.nan), JOINT_NAMES, 0.1)
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ['demo.npz']


def test_chunk_with_non_finite_frame_time():
    """Fault: ActionChunk built with a NaN frame time -> Expected: ValueError naming the slot."""
    with pytest.raises(ValueError, match="'top'"):
        ActionChunk(JOINT_NAMES, np.zeros((2, J)), 1.0, 0.1, frame_times_s={'top': math.nan})
