"""Faults at the ROS boundary of the running node graph (sim_node + policy_node +
executor_node in one process, policy and executor on the simulator's /clock, the simulator in
lockstep with the executor's commands: see graph_harness).

Each test names its fault in its docstring (``Fault: ... -> Expected: ...``). The per-node
tests cover each node alone; here the faults hit the whole loop while it runs: the node that
reads the bad input names it (a counter, a WARN/ERROR diagnostic, a status), no node dies, and
the arm either holds or carries on with its valid plan.
"""

from __future__ import annotations

import math

import numpy as np
from graph_harness import (  # noqa: F401 (fixtures)
    ARM,
    Graph,
    assert_within_limits,
    graph,
    graph_registry,
)
from lifecycle_msgs.msg import State
from rclpy.lifecycle import TransitionCallbackReturn
from ros_harness import wait_for_subscribers, wait_until
from sensor_msgs.msg import Image, JointState

from smolvla_interfaces.action import RunTask
from smolvla_interfaces.msg import ActionChunk as ActionChunkMsg
from smolvla_interfaces.msg import ExecutorStatus, PolicyStatus
from smolvla_ros.nodes import topics
from smolvla_ros.nodes.conversions import chunk_to_msg, joint_state_to_msg, rgb_to_image_msg
from smolvla_ros.runtime import ActionChunk
from so_arm_driver.sim import HOME_POSE_RAD

WARN, ERROR = b'\x01', b'\x02'


def _level_seen(g: Graph, node, level: bytes, text: str) -> bool:
    return any(s.level == level and text in s.message for s in g.diagnostics_of(node))


def _alive(g: Graph) -> None:
    """Every node still answers: lifecycle nodes active, the simulator still stepping."""
    assert g.policy._state_machine.current_state[0] == State.PRIMARY_STATE_ACTIVE
    assert g.executor._state_machine.current_state[0] == State.PRIMARY_STATE_ACTIVE
    t = g.sim_now()
    g.wait_sim_time(t + 0.2)


def test_bad_messages_into_a_running_pick_and_place(graph, spin):  # noqa: F811 (fixture)
    """Fault: unreadable image encoding, image data of the wrong size, joint states missing a
    joint or with NaN, chunks with wrong joint names or NaN, all injected while the scripted
    expert runs -> Expected: each counted by the node that reads it with a WARN diagnostic
    naming it, no node dies, nothing bad reaches the arm (within limits), and the task still
    succeeds."""
    g = graph(
        policy={'policy': 'scripted', 'required_slots': 'top', 'max_frame_age_s': 0.5},
        sim={'camera_rate_hz': 5.0, 'real_time_factor': 0.5},
    )
    pub_img = g.tester.create_publisher(Image, topics.camera_topic('top'), topics.SENSOR_QOS)
    pub_js = g.tester.create_publisher(JointState, topics.JOINT_STATES, topics.STATE_QOS)
    pub_chunk = g.tester.create_publisher(ActionChunkMsg, topics.ACTION_CHUNK, topics.CHUNK_QOS)
    spin(*g.nodes)
    g.up()
    g.states.wait_for(5, timeout=30.0)
    handle, _ = g.send_goal('put the cube in the bin', limit_s=60.0)
    g.chunks.wait_for(1, timeout=30.0)
    for pub in (pub_img, pub_js, pub_chunk):
        wait_for_subscribers(pub, 1)
    now = g.sim_now()
    image = np.zeros((48, 64, 3), np.uint8)
    bad_encoding = rgb_to_image_msg(image, 'rgb8', now)
    bad_encoding.encoding = '32FC1'
    bad_size = rgb_to_image_msg(image, 'rgb8', now)
    bad_size.height = 96  # the data holds 48 rows
    missing = JointState(name=list(ARM[:5]), position=[0.0] * 5)
    missing.header.stamp = bad_size.header.stamp
    nan_state = joint_state_to_msg(list(HOME_POSE_RAD), ARM, now)
    nan_state.position[1] = math.nan
    actions = np.tile(HOME_POSE_RAD, (10, 1))
    wrong_names = chunk_to_msg(ActionChunk(ARM, actions, now, 1 / 30, 900, 0.01, 900))
    wrong_names.trajectory.joint_names[0] = 'elbow'
    nan_chunk = chunk_to_msg(ActionChunk(ARM, actions, now, 1 / 30, 901, 0.01, 901))
    nan_chunk.trajectory.points[3].positions[2] = math.nan
    for msg, pub in (
        (bad_encoding, pub_img),
        (bad_size, pub_img),
        (missing, pub_js),
        (nan_state, pub_js),
        (wrong_names, pub_chunk),
        (nan_chunk, pub_chunk),
    ):
        pub.publish(msg)

    wait_until(lambda: g.policy._bad_input['image_top'] >= 2, 20.0, 'two bad images counted')
    wait_until(lambda: g.policy._bad_input['joint_states'] >= 2, 20.0, 'two bad states counted')
    wait_until(lambda: g.executor._bad['joint_state'] >= 2, 20.0, 'bad states at the executor')
    wait_until(lambda: g.executor._bad['chunk'] >= 2, 20.0, 'two bad chunks at the executor')
    wait_until(
        lambda: (
            _level_seen(g, g.policy, WARN, '32FC1') and _level_seen(g, g.policy, WARN, 'bytes')
        ),
        20.0,
        'policy WARN diagnostics naming the encoding and the size',
    )
    wait_until(
        lambda: any(
            s.level >= WARN and any(v.key == 'bad_chunks' and int(v.value) >= 2 for v in s.values)
            for s in g.diagnostics_of(g.executor)
        ),
        20.0,
        'an executor diagnostic counting the bad chunks',
    )
    result = g.result(handle, timeout=90.0)
    assert result.reason_code == RunTask.Result.REASON_SUCCEEDED, result
    _alive(g)
    _, q = g.positions()
    assert_within_limits(q)
    # Only the injected messages were counted: the real camera and state streams were fine.
    assert g.policy._bad_input['image_top'] == 2 and g.policy._bad_input['joint_states'] == 2
    assert g.executor._bad['chunk'] == 2


def test_stale_frames_refused_and_the_arm_holds(graph, spin):  # noqa: F811 (fixture)
    """Fault: the only camera frame is 1 s older than the request (limit 0.2 s) -> Expected:
    every request refused ('stale', named in PolicyStatus.fault), no chunk, the arm holds at
    home, the executor reports the unanswered requests (WARN diagnostic); fresh frames then
    bring chunks again."""
    g = graph(
        policy={'policy': 'scripted', 'required_slots': 'top', 'max_frame_age_s': 0.2},
        sim={'publish_raw': False, 'real_time_factor': 0.5},
        executor={'request_timeout_s': 1.0},
    )
    pub_img = g.tester.create_publisher(Image, topics.camera_topic('top'), topics.SENSOR_QOS)
    spin(*g.nodes)
    g.up()
    g.states.wait_for(5, timeout=30.0)
    wait_for_subscribers(pub_img, 1)
    image = np.zeros((48, 64, 3), np.uint8)
    g.wait_sim_time(1.5)  # the stale stamp below must be a valid (non-negative) time
    start = g.sim_now()
    pub_img.publish(rgb_to_image_msg(image, 'rgb8', start - 1.0))
    handle, _ = g.send_goal('put the cube in the bin', limit_s=0.0)
    wait_until(
        lambda: any('stale' in m.fault for m in g.policy_statuses.messages),
        30.0,
        "a PolicyStatus fault naming 'stale'",
    )
    wait_until(lambda: _level_seen(g, g.executor, WARN, 'unanswered'), 30.0, 'unanswered requests')
    assert g.chunks.messages == []
    assert g.policy._worker.status().requests_refused['stale'] >= 1
    _, q = g.positions(since_s=start)
    np.testing.assert_allclose(q, np.tile(q[0], (len(q), 1)), atol=0.01)
    _alive(g)
    # Recovery: frames stamped now are served.
    for _ in range(200):
        pub_img.publish(rgb_to_image_msg(image, 'rgb8', g.sim_now()))
        if g.chunks.messages:
            break
        g.wait_sim_time(g.sim_now() + 0.05)
    assert g.chunks.messages, 'no chunk after fresh frames'
    cancel = handle.cancel_goal_async()
    wait_until(cancel.done, 20.0, 'the cancel answer')
    assert g.result(handle).reason_code == RunTask.Result.REASON_CANCELLED


def test_executor_without_a_serving_policy_holds_and_reports(graph, spin):  # noqa: F811 (fixture)
    """Fault: the executor runs but the policy node is never activated (requests unanswered)
    -> Expected: the arm holds at home, requests are re-sent after request_timeout_s, the
    executor reports the unanswered requests (WARN diagnostic with the count), no chunk and no
    node dies."""
    g = graph(
        policy={'policy': 'scripted'},
        executor={'request_timeout_s': 1.0},
    )
    spin(*g.nodes)
    assert g.executor.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert g.executor.trigger_activate() == TransitionCallbackReturn.SUCCESS
    g.states.wait_for(5, timeout=30.0)
    start = g.sim_now()
    wait_until(
        lambda: any(m.requests_sent >= 2 for m in g.executor_statuses.messages),
        30.0,
        'a request re-sent after the first went unanswered',
    )
    wait_until(lambda: _level_seen(g, g.executor, WARN, 'unanswered'), 30.0, 'unanswered requests')
    # Until its first joint state arrives the executor holds and says why; from then on it is
    # idle (waiting for a chunk), never tracking and never holding for another reason.
    statuses = [(m.mode, m.last_fault) for m in g.executor_statuses.messages]
    modes = [mode for mode, _ in statuses]
    assert ExecutorStatus.MODE_IDLE in modes, statuses
    first_idle = modes.index(ExecutorStatus.MODE_IDLE)
    for mode, fault in statuses[:first_idle]:
        assert mode == ExecutorStatus.MODE_HOLD and 'no joint state received yet' in fault
    assert all(mode == ExecutorStatus.MODE_IDLE for mode in modes[first_idle:]), statuses
    assert g.chunks.messages == []
    g.wait_sim_time(g.sim_now() + 0.5)
    _, q = g.positions(since_s=start)
    np.testing.assert_allclose(q, np.tile(HOME_POSE_RAD, (len(q), 1)), atol=0.05)
    assert np.max(np.ptp(q, axis=0)) < 0.01
    assert g.executor._state_machine.current_state[0] == State.PRIMARY_STATE_ACTIVE
    assert g.policy._state_machine.current_state[0] == State.PRIMARY_STATE_UNCONFIGURED


def test_policy_cleaned_up_mid_run_holds_then_recovers(graph, spin):  # noqa: F811 (fixture)
    """Fault: the policy node is deactivated and cleaned up in the middle of a pick-and-place
    -> Expected: the goal ends ABORTED, the executor holds (ExecutorStatus MODE_HOLD, the arm
    stops moving), no node dies; configured and activated again, a new goal replans from where
    the arm stopped and succeeds."""
    g = graph(policy={'policy': 'scripted'}, sim={'camera_rate_hz': 1.0, 'real_time_factor': 0.5})
    spin(*g.nodes)
    g.up()
    g.states.wait_for(5, timeout=30.0)
    handle, _ = g.send_goal('put the cube in the bin', limit_s=60.0)
    # Mid-run: the arm has left home by a good margin.
    wait_until(lambda: np.max(np.abs(g.positions()[1][-1] - HOME_POSE_RAD)) > 0.3, 60.0, 'motion')
    assert g.policy.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    assert g.result(handle).reason_code == RunTask.Result.REASON_ABORTED
    assert g.policy.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
    wait_until(
        lambda: g.executor_statuses.messages[-1].mode == ExecutorStatus.MODE_HOLD,
        20.0,
        'ExecutorStatus mode HOLD',
    )
    wait_until(
        lambda: any(m.mode == PolicyStatus.MODE_UNCONFIGURED for m in g.policy_statuses.messages),
        20.0,
        'PolicyStatus unconfigured',
    )
    held = g.sim_now()
    g.wait_sim_time(held + 0.3)
    settled = g.sim_now()
    g.wait_sim_time(settled + 1.0)
    _, q = g.positions(since_s=settled)
    assert np.max(np.ptp(q, axis=0)) < 0.01, np.ptp(q, axis=0)
    assert not g.sim.sim.cube_in_bin()
    # Recovery.
    n_chunks = len(g.chunks.messages)
    g.up(g.policy)
    handle, _ = g.send_goal('put the cube in the bin', limit_s=60.0)
    result = g.result(handle, timeout=120.0)
    assert result.reason_code == RunTask.Result.REASON_SUCCEEDED, result
    assert len(g.chunks.messages) > n_chunks
    _, q = g.positions()
    assert_within_limits(q)


def test_success_flag_reaches_ros_as_true():
    """Fault: the simulator's success check returned numpy's bool, which a std_msgs/Bool
    serialises as False (the task_success topic never said True) -> Expected: a Python bool,
    and a True survives serialisation."""
    from rclpy.serialization import deserialize_message, serialize_message
    from std_msgs.msg import Bool

    from so_arm_driver.sim import Simulator

    sim = Simulator()
    try:
        sim.reset(0)
        assert type(sim.cube_in_bin()) is bool and type(sim.cube_lifted()) is bool
        assert deserialize_message(serialize_message(Bool(data=True)), Bool).data is True
        # What the old code sent: numpy's True, serialised as False.
        assert deserialize_message(serialize_message(Bool(data=np.True_)), Bool).data is False
    finally:
        sim.close()


def test_executor_clock_matches_stamps_read_back(rclpy_context, make_node, spin):
    """Fault: the executor's clock was ns * 1e-9 while stamps read back are ns / 1e9; for half
    of all times they differ by one ulp, so a chunk answering a request looked older than the
    request and it timed out (5 s of starvation) -> Expected: the executor's time survives the
    trip through a message stamp unchanged."""
    from rclpy.parameter import Parameter
    from rosgraph_msgs.msg import Clock

    from smolvla_ros.nodes.conversions import time_from_msg, time_to_msg
    from smolvla_ros.nodes.executor_node import ExecutorNode

    ns = 7_038_000_003  # ns * 1e-9 != ns / 1e9 here
    assert ns * 1e-9 != ns / 1e9
    ex = ExecutorNode(
        'executor_clock_check',
        context=rclpy_context,
        parameter_overrides=[Parameter('use_sim_time', value=True)],
    )
    try:
        tester = make_node('clock_tester')
        pub = tester.create_publisher(Clock, topics.CLOCK, 10)
        spin(ex, tester)
        wait_for_subscribers(pub, 1)
        msg = Clock()
        msg.clock.sec, msg.clock.nanosec = divmod(ns, 10**9)
        pub.publish(msg)
        wait_until(lambda: ex.get_clock().now().nanoseconds == ns, 10.0, 'the sim clock')
        now = ex._now()
        assert time_from_msg(time_to_msg(now)) == now == ns / 1e9
    finally:
        ex.destroy_node()
