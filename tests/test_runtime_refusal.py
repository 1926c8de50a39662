"""Refusals the policy side reports after the request went out (ChunkExecutor.request_refused):
the request stops being pending at once, counts as refused (not as a timeout), and a policy that
keeps refusing is asked again with a doubling backoff capped at REFUSAL_BACKOFF_MAX_S."""

from __future__ import annotations

import numpy as np
import pytest
from runtime_helpers import J, chunk_from, make, ramp

from smolvla_ros.runtime import RuntimeConfig


def _tick(ex, clock, dt):
    out = ex.tick(np.zeros(J))
    clock.advance(dt)
    return out


def test_reported_refusal_frees_the_request_and_a_new_one_goes_at_once():
    """Fault: the policy refuses request 0 (no instruction yet) -> Expected: the next tick sends
    request 1, counted as refused and not as a timeout, long before request_timeout_s (30 s)."""
    dt = 1.0 / 30.0
    ex, clock, rec = make(RuntimeConfig(request_timeout_s=30.0))
    assert _tick(ex, clock, dt).requested and [r.request_id for r in rec.requests] == [0]
    assert not _tick(ex, clock, dt).requested  # in flight: no second request
    ex.request_refused(0, 'no instruction')
    out = _tick(ex, clock, dt)
    assert out.requested and [r.request_id for r in rec.requests] == [0, 1]
    m = ex.metrics
    assert (m.requests_refused, m.request_timeouts, m.requests_sent) == (1, 0, 2)
    assert ex.last_refusal == 'request 0: no instruction'
    # request 1 is in flight again: nothing more is sent until it is answered or refused
    for _ in range(20):
        assert not _tick(ex, clock, dt).requested
    assert len(rec.requests) == 2


@pytest.mark.parametrize(
    ('rate_hz', 'expected_ticks'),
    [
        # waits 1, 2, 4 ticks, then the cap ceil(0.2 s * 30 Hz) = 6 ticks
        (30.0, [1, 2, 4, 8, 14, 20, 26]),
        # cap ceil(0.2 s * 10 Hz) = 2 ticks: waits 1, 2, 2, 2
        (10.0, [1, 2, 4, 6, 8, 10, 12]),
    ],
)
def test_a_policy_that_keeps_refusing_is_asked_with_a_capped_doubling_backoff(
    rate_hz, expected_ticks
):
    """Every request is refused before the next tick: requests go out on the ticks of the rule
    1, 2, 4, ... ticks apart, at most 0.2 s apart, never two on one tick."""
    dt = 1.0 / rate_hz
    ex, clock, rec = make(RuntimeConfig(tick_rate_hz=rate_hz, request_timeout_s=30.0))
    sent_ticks = []
    for k in range(1, expected_ticks[-1] + 1):
        if _tick(ex, clock, dt).requested:
            sent_ticks.append(k)
            ex.request_refused(rec.requests[-1].request_id, 'frame stale')
    assert sent_ticks == expected_ticks
    assert ex.metrics.requests_refused == len(expected_ticks) - 1  # the last one not applied yet
    assert ex.metrics.request_timeouts == 0


def test_a_merged_chunk_ends_the_backoff():
    """After three refusals (next wait 4 ticks) the policy answers; a later refusal is retried
    on the next tick again, as a first refusal."""
    dt = 1.0 / 30.0
    ex, clock, rec = make(RuntimeConfig(request_timeout_s=30.0, g=0.0))
    f = ramp(0.0)
    for _ in range(3):  # requests on ticks 1, 2, 4 refused
        while not _tick(ex, clock, dt).requested:
            pass
        ex.request_refused(rec.requests[-1].request_id, 'no instruction')
    while not _tick(ex, clock, dt).requested:
        pass
    answered = rec.requests[-1]
    assert ex.submit_chunk(chunk_from(f, answered.time_s, 10, dt, chunk_id=1))
    while not _tick(ex, clock, dt).requested:  # g = 0: asks when the 10 actions ran out
        pass
    ex.request_refused(rec.requests[-1].request_id, 'worker busy')
    n = len(rec.requests)
    assert _tick(ex, clock, dt).requested and len(rec.requests) == n + 1
    assert ex.metrics.requests_refused == 4 and ex.metrics.chunks_accepted == 1


def test_a_refusal_of_another_request_is_ignored():
    """Fault: a refusal names a request that is not pending (an old latched status, a request
    already answered) -> Expected: ignored: the pending request stays pending, nothing is sent
    and nothing is counted."""
    dt = 1.0 / 30.0
    ex, clock, rec = make(RuntimeConfig(request_timeout_s=30.0))
    _tick(ex, clock, dt)
    before = ex.metrics.summary()
    ex.request_refused(7, 'from another executor run')
    for _ in range(10):
        assert not _tick(ex, clock, dt).requested
    after = ex.metrics.summary()
    assert after['requests_refused'] == before['requests_refused'] == 0
    assert after['requests_sent'] == 1 and len(rec.requests) == 1 and ex.last_refusal == ''


@pytest.mark.parametrize('bad', [-1, 1.0, '3', True, None])
def test_a_bad_request_id_is_refused_and_changes_nothing(bad):
    """Fault: request_refused with an id that is not an int >= 0 -> Expected: ValueError naming
    the argument; the request in flight stays pending."""
    dt = 1.0 / 30.0
    ex, clock, rec = make(RuntimeConfig(request_timeout_s=30.0))
    _tick(ex, clock, dt)
    with pytest.raises(ValueError, match='request_id must be an int >= 0'):
        ex.request_refused(bad, 'x')
    for _ in range(5):
        assert not _tick(ex, clock, dt).requested
    assert ex.metrics.requests_refused == 0 and len(rec.requests) == 1


def test_a_status_without_a_new_refusal_ends_the_backoff():
    """policy_status: a newly named refusal acts as request_refused; a report repeating it (or
    naming none) means the policy may serve now: the next tick asks without waiting out the
    backoff (here 6 ticks after four refusals at 30 Hz)."""
    dt = 1.0 / 30.0
    ex, clock, rec = make(RuntimeConfig(request_timeout_s=30.0))
    for _ in range(4):  # requests on ticks 1, 2, 4, 8 refused; the next wait is 6 ticks
        while not _tick(ex, clock, dt).requested:
            pass
        ex.policy_status(rec.requests[-1].request_id, 'no instruction')
    assert not _tick(ex, clock, dt).requested  # applies refusal 4: backing off
    ex.policy_status(rec.requests[-1].request_id, 'no instruction')  # the 2 Hz repeat: ready
    assert _tick(ex, clock, dt).requested
    assert ex.metrics.requests_refused == 4 and ex.metrics.request_timeouts == 0
    # a repeated report of an old refusal never frees the request now in flight
    ex.policy_status(rec.requests[-2].request_id, 'no instruction')
    ex.policy_status(None)
    for _ in range(10):
        assert not _tick(ex, clock, dt).requested
    assert ex.metrics.requests_refused == 4


def test_a_ready_report_before_a_refusal_does_not_cancel_its_backoff():
    """Order matters within one tick: ready, then a new refusal -> the refusal's backoff holds
    (a second refusal in a row waits 2 ticks after its request)."""
    dt = 1.0 / 30.0
    ex, clock, _ = make(RuntimeConfig(request_timeout_s=30.0))
    _tick(ex, clock, dt)  # tick 1: request 0
    ex.policy_status(0, 'x')
    assert _tick(ex, clock, dt).requested  # tick 2: refusal 1 applied, request 1 at once
    ex.policy_status(None)
    ex.policy_status(1, 'x')
    assert not _tick(ex, clock, dt).requested  # tick 3: refusal 2 -> wait until tick 4
    assert _tick(ex, clock, dt).requested  # tick 4
    assert ex.metrics.requests_refused == 2


@pytest.mark.parametrize('bad', [-1, 1.0, '3', True])
def test_a_bad_status_id_is_refused_and_changes_nothing(bad):
    """Fault: policy_status with an id that is neither None nor an int >= 0 -> Expected:
    ValueError naming the argument; the request in flight stays pending."""
    dt = 1.0 / 30.0
    ex, clock, rec = make(RuntimeConfig(request_timeout_s=30.0))
    _tick(ex, clock, dt)
    with pytest.raises(ValueError, match='last_refused_request_id must be None or an int'):
        ex.policy_status(bad, 'x')
    for _ in range(5):
        assert not _tick(ex, clock, dt).requested
    assert ex.metrics.requests_refused == 0 and len(rec.requests) == 1
