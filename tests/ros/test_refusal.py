"""A chunk request the policy node refuses travels back (PolicyStatus.last_refused_request_id)
and the executor asks again at once, instead of waiting its request_timeout_s: real rclpy, a real
PolicyNode (replay policy) and a real ExecutorNode in one process, plus the status conversions."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from node_process import NodeProcess
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from ros_harness import MessageCollector, wait_for_service, wait_for_subscribers, wait_until
from sensor_msgs.msg import JointState
from std_msgs.msg import String

from smolvla_interfaces.msg import ActionChunk, ChunkRequest, PolicyStatus
from smolvla_ros.nodes import topics
from smolvla_ros.nodes.conversions import (
    ConversionError,
    joint_state_to_msg,
    policy_refusal_from_msg,
    policy_status_to_msg,
)
from smolvla_ros.nodes.executor_node import ExecutorNode
from smolvla_ros.nodes.policy_node import PolicyNode
from smolvla_ros.policy.replay import record
from so_arm_driver.robots import JOINT_NAMES

_IDS = itertools.count()
TIMEOUT_S = 30.0  # the executor's request_timeout_s: recovering through it fails the test


# -- conversions ---------------------------------------------------------------------------------
@pytest.mark.parametrize(('request_id', 'reason'), [(0, 'not active'), (41, ''), (2**64 - 2, 'x')])
def test_refusal_round_trips_through_policy_status(request_id, reason):
    # unconfigured (no worker status): a refusal ('not active') is reported in every mode
    msg = policy_status_to_msg(
        None, stamp_s=1.0, last_refused_request_id=request_id, last_refusal=reason
    )
    assert msg.last_refused_request_id == request_id and msg.last_refusal == reason
    assert policy_refusal_from_msg(msg) == (request_id, reason)


def test_no_refusal_is_none_and_the_message_default():
    # 2**64 - 1 by the .msg definition; a default-constructed status names no refusal either
    assert PolicyStatus.NO_REFUSAL == 2**64 - 1
    assert policy_refusal_from_msg(PolicyStatus()) is None
    msg = policy_status_to_msg(None, stamp_s=0.0)
    assert msg.last_refused_request_id == 2**64 - 1 and msg.last_refusal == ''
    assert policy_refusal_from_msg(msg) is None


@pytest.mark.parametrize('bad', [-1, 2**64 - 1, 2**64, 1.0, True, '3'])
def test_a_bad_refused_request_id_is_a_conversion_error(bad):
    with pytest.raises(ConversionError, match='last_refused_request_id'):
        policy_status_to_msg(None, stamp_s=0.0, last_refused_request_id=bad)


# -- the graph -----------------------------------------------------------------------------------
def _now(node: Any) -> float:
    return node.get_clock().now().nanoseconds / 1e9


def _call(client: Any, request: Any, timeout: float = 30.0) -> Any:
    wait_for_service(client, timeout=timeout)
    future = client.call_async(request)
    wait_until(future.done, timeout, f'an answer from {client.srv_name}')
    return future.result()


def _executor_values(diagnostics: MessageCollector) -> dict[str, str]:
    """KeyValues of the newest executor diagnostic."""
    for array in reversed(diagnostics.messages):
        for status in array.status:
            if status.name.endswith(': executor'):
                return {kv.key: kv.value for kv in status.values}
    return {}


@pytest.fixture
def replay_file(tmp_path: Path) -> Path:
    """Three chunks of 10 actions at 0.1 s, all at 0.01 rad (inside every joint's limits)."""
    return record(tmp_path / 'r.npz', np.full((3, 10, len(JOINT_NAMES)), 0.01), JOINT_NAMES, 0.1)


@pytest.fixture
def graph(rclpy_context, replay_file):
    """(policy, executor): a replay PolicyNode and an ExecutorNode with request_timeout_s 30 s.
    List it before ``spin`` so the executor stops before the nodes are destroyed."""
    policy = PolicyNode(
        f'policy_refuse_{next(_IDS)}',
        context=rclpy_context,
        parameter_overrides=[
            Parameter('policy', value='replay'),
            Parameter('replay_file', value=str(replay_file)),
        ],
    )
    executor = ExecutorNode(
        f'executor_refuse_{next(_IDS)}',
        context=rclpy_context,
        parameter_overrides=[
            Parameter('request_timeout_s', value=TIMEOUT_S),
            Parameter('max_state_age_s', value=2.0),
            Parameter('epsilon_rad', value=0.0),
        ],
    )
    try:
        yield policy, executor
    finally:
        executor.destroy_node()
        policy.close()
        policy.destroy_node()


def test_a_refused_first_request_is_asked_again_at_once_not_after_the_timeout(
    graph, make_node, spin
):
    """Fault: the executor's requests reach a policy node that is not active, then active without
    an instruction -> Expected: each refusal comes back in PolicyStatus and the executor asks
    again within a few ticks (request_timeout_s is 30 s); once the instruction arrives the first
    chunk follows well within a second; counted as refused, never as a timeout."""
    policy, executor = graph
    pname = policy.get_fully_qualified_name()
    tester = make_node(f'tester_{next(_IDS)}')
    requests, statuses, diagnostics = MessageCollector(), MessageCollector(), MessageCollector()
    chunks: list[tuple[float, Any]] = []
    lock = threading.Lock()

    def on_chunk(msg: Any) -> None:
        with lock:
            chunks.append((_now(tester), msg))

    tester.create_subscription(ChunkRequest, topics.CHUNK_REQUEST, requests, topics.CHUNK_QOS)
    tester.create_subscription(PolicyStatus, topics.POLICY_STATUS, statuses, topics.STATUS_QOS)
    tester.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, diagnostics, 10)
    tester.create_subscription(ActionChunk, topics.ACTION_CHUNK, on_chunk, topics.CHUNK_QOS)
    state_pub = tester.create_publisher(JointState, topics.JOINT_STATES, topics.STATE_QOS)
    instruction_pub = tester.create_publisher(String, topics.INSTRUCTION, topics.CHUNK_QOS)
    # the arm: holding still at 0, measured at 50 Hz
    tester.create_timer(
        0.02,
        lambda: state_pub.publish(joint_state_to_msg(np.zeros(len(JOINT_NAMES)), JOINT_NAMES,
                                                     _now(tester))),
    )  # fmt: skip
    change = tester.create_client(ChangeState, f'{pname}/change_state')
    get = tester.create_client(GetState, f'{pname}/get_state')
    spin(policy, executor, tester)
    # The policy node configured through its lifecycle service but not active yet.
    configure = ChangeState.Request(transition=Transition(id=Transition.TRANSITION_CONFIGURE))
    assert _call(change, configure).success
    assert _call(get, GetState.Request()).current_state.id == State.PRIMARY_STATE_INACTIVE
    assert executor.trigger_configure() == TransitionCallbackReturn.SUCCESS
    # both the policy and the tester hear the first request
    wait_for_subscribers(executor._request_pub, 2)
    assert executor.trigger_activate() == TransitionCallbackReturn.SUCCESS

    def refused_with(text: str) -> PolicyStatus | None:
        for m in reversed(statuses.messages):
            if policy_refusal_from_msg(m) is not None and text in m.last_refusal:
                return m
        return None

    # 1. Not active: refused, and asked again although no request can time out for 30 s.
    wait_until(lambda: refused_with('not active') is not None, 20.0, "a 'not active' refusal")
    wait_until(lambda: len(requests.messages) >= 3, 10.0, 'requests after refusals')
    # 2. Active, no instruction: refused with the reason.
    activate = ChangeState.Request(transition=Transition(id=Transition.TRANSITION_ACTIVATE))
    assert _call(change, activate).success
    wait_until(
        lambda: refused_with('no instruction') is not None, 10.0, "a 'no instruction' refusal"
    )
    n_refused = len(requests.messages)
    assert not chunks
    # 3. The instruction arrives: the next request is served.
    wait_for_subscribers(instruction_pub, 1)
    t_instruction = _now(tester)
    instruction_pub.publish(String(data='pick'))
    wait_until(lambda: bool(chunks), 10.0, 'the first chunk')
    arrival, chunk = chunks[0]
    # The status the instruction triggers ends the backoff: the next tick asks (measured 0.03 s
    # here; the bound leaves room for a loaded host). Through the 30 s timeout it would take
    # up to 30 s.
    assert arrival - t_instruction < 1.0, arrival - t_instruction
    ids = [m.request_id for m in requests.messages]
    assert ids == list(range(len(ids)))  # one request at a time, none lost
    assert chunk.request_id >= n_refused - 1 >= 2
    # Counted as refused, not as timeouts, in the core and on /diagnostics.
    metrics = executor._core.metrics
    assert metrics.request_timeouts == 0 and metrics.requests_refused >= n_refused - 1
    wait_until(
        lambda: int(_executor_values(diagnostics).get('requests_refused', '0')) >= 2,
        10.0,
        'requests_refused on /diagnostics',
    )
    values = _executor_values(diagnostics)
    assert values['request_timeouts'] == '0'
    assert 'request ' in values['last_refusal']
    # At most one request per tick: each carries its own tick's time (the backoff schedule is
    # pinned on simulated time in tests/test_runtime_refusal.py).
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in requests.messages]
    assert np.all(np.diff(stamps) > 0.0)


def _change_state(change: Any, get: Any, transition_id: int, after: int) -> bool:
    """ChangeState through the service; an unanswered call (a fresh client whose endpoints are
    still matching) is judged by the state reached and sent again only if nothing changed."""
    for _ in range(3):
        try:
            request = ChangeState.Request(transition=Transition(id=transition_id))
            return _call(change, request, timeout=10.0).success
        except TimeoutError:
            try:
                if _call(get, GetState.Request(), timeout=10.0).current_state.id == after:
                    return True
            except TimeoutError:
                continue
    return False


@pytest.fixture
def serving_policy(rclpy_context, replay_file):
    """A replay PolicyNode, active, without an instruction (it refuses every request)."""
    policy = PolicyNode(
        f'policy_refuse_{next(_IDS)}',
        context=rclpy_context,
        parameter_overrides=[
            Parameter('policy', value='replay'),
            Parameter('replay_file', value=str(replay_file)),
        ],
    )
    try:
        assert policy.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert policy.trigger_activate() == TransitionCallbackReturn.SUCCESS
        yield policy
    finally:
        policy.close()
        policy.destroy_node()


def test_refusals_reach_an_executor_in_another_process(serving_policy, make_node, spin):
    """``python -m smolvla_ros.nodes.executor_node`` (request_timeout_s 30 s) against a policy
    node without an instruction in this process: the refusals reach it over DDS and it asks
    again within the backoff, not after 30 s; the instruction brings a chunk at once; SIGINT
    ends it with exit code 0 and no traceback."""
    tester = make_node(f'tester_{next(_IDS)}')
    requests = MessageCollector()
    chunks: list[tuple[float, Any]] = []
    tester.create_subscription(ChunkRequest, topics.CHUNK_REQUEST, requests, topics.CHUNK_QOS)
    tester.create_subscription(
        ActionChunk, topics.ACTION_CHUNK, lambda m: chunks.append((_now(tester), m)),
        topics.CHUNK_QOS,
    )  # fmt: skip
    state_pub = tester.create_publisher(JointState, topics.JOINT_STATES, topics.STATE_QOS)
    instruction_pub = tester.create_publisher(String, topics.INSTRUCTION, topics.CHUNK_QOS)
    tester.create_timer(
        0.02,
        lambda: state_pub.publish(joint_state_to_msg(np.zeros(len(JOINT_NAMES)), JOINT_NAMES,
                                                     _now(tester))),
    )  # fmt: skip
    change = tester.create_client(ChangeState, 'executor_node/change_state')
    get = tester.create_client(GetState, 'executor_node/get_state')
    spin(serving_policy, tester)
    params = (f'request_timeout_s:={TIMEOUT_S}', 'max_state_age_s:=2.0')
    with NodeProcess('smolvla_ros.nodes.executor_node', *params) as node:
        node.wait_ready(change.service_is_ready, 'the executor to offer its lifecycle services')
        for tid, after in (
            (Transition.TRANSITION_CONFIGURE, State.PRIMARY_STATE_INACTIVE),
            (Transition.TRANSITION_ACTIVATE, State.PRIMARY_STATE_ACTIVE),
        ):
            if not _change_state(change, get, tid, after):
                node.fail(f'transition {tid} failed')
        # Three requests while every one is refused: the first two were freed by refusals
        # (a timeout would free one only after 30 s).
        wait_until(lambda: len(requests.messages) >= 3, 15.0, 'requests after refusals')
        assert not chunks
        wait_for_subscribers(instruction_pub, 1)
        t_instruction = _now(tester)
        instruction_pub.publish(String(data='pick'))
        wait_until(lambda: bool(chunks), 10.0, 'the first chunk')
        assert chunks[0][0] - t_instruction < 2.0, chunks[0][0] - t_instruction
        node.stop()
