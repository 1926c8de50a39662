"""bringup.launch.py for real: the MuJoCo suite reaches active, runs a RunTask, stops cleanly.

Runs ``ros2 launch smolvla_ros bringup.launch.py backend:=mujoco rviz:=false
robot_state_publisher:=false`` as a subprocess (robot_state_publisher and rviz2 are not
installable here) and watches it with rclpy. Skipped where launch is not installed (CI).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from launch_helpers import Launch, assert_clean_exit, launch_unavailable, lifecycle_state
from ros_harness import MessageCollector, wait_for_action_server, wait_until

pytestmark = pytest.mark.skipif(launch_unavailable() is not None, reason=str(launch_unavailable()))

BASE_ARGS = {'backend': 'mujoco', 'rviz': 'false', 'robot_state_publisher': 'false'}
# The goal's time limit [s]: long enough for several chunks to be requested, produced, executed
# and to move the arm (a chunk is 50 actions at 30 Hz = 1.7 s). Through the nodes the scripted
# pick-and-place did not reach the bin within 45 s in our runs (see docs/notes/launch.md), so the
# test asserts the goal's full life cycle (accepted, served, a terminal result with counters),
# not the task's success.
TASK_LIMIT_S = 12.0


def _observer(make_node: Any) -> tuple[Any, dict[str, MessageCollector]]:
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image, JointState

    from smolvla_interfaces.msg import ActionChunk, ExecutorStatus, PolicyStatus
    from smolvla_ros.nodes import topics

    node = make_node('launch_observer')
    seen = {
        k: MessageCollector()
        for k in ('joints', 'chunk', 'exec', 'policy', 'top', 'wrist', 'side')
    }
    node.create_subscription(JointState, '/joint_states', seen['joints'], topics.STATE_QOS)
    node.create_subscription(ActionChunk, '/smolvla/action_chunk', seen['chunk'], topics.CHUNK_QOS)
    node.create_subscription(
        ExecutorStatus, '/smolvla/executor_status', seen['exec'], topics.STATUS_QOS
    )
    node.create_subscription(
        PolicyStatus, '/smolvla/policy_status', seen['policy'], topics.STATUS_QOS
    )
    for slot in ('top', 'wrist', 'side'):
        node.create_subscription(
            Image, f'/smolvla/cameras/{slot}/image_raw', seen[slot], qos_profile_sensor_data
        )
    return node, seen


def test_bringup_mujoco_scripted_runs_a_task_and_stops_cleanly(make_node, spin, tmp_path):
    from rclpy.action import ActionClient

    from smolvla_interfaces.action import RunTask

    node, seen = _observer(make_node)
    client = ActionClient(node, RunTask, '/smolvla/run_task')
    spin(node)
    launch = Launch('bringup.launch.py', {**BASE_ARGS, 'policy': 'scripted'}, tmp_path / 'l.log')
    try:
        wait_until(
            lambda: all(
                lifecycle_state(node, f'/{n}') == 'active'
                for n in ('policy_node', 'executor_node')
            ),
            60.0,
            'autostart: policy_node and executor_node active',
        )
        for key in ('joints', 'top', 'wrist', 'side', 'exec', 'policy'):
            seen[key].wait_for(1, timeout=20.0)
        assert not seen['chunk'].messages  # no instruction yet: nothing served
        wait_for_action_server(client, 10.0)
        t0 = time.monotonic()
        future = client.send_goal_async(
            RunTask.Goal(instruction='put the cube in the bin', time_limit_s=TASK_LIMIT_S)
        )
        wait_until(future.done, 10.0, 'goal acceptance')
        handle = future.result()
        assert handle.accepted
        result_future = handle.get_result_async()
        wait_until(result_future.done, TASK_LIMIT_S + 10.0, 'RunTask result')
        result = result_future.result().result
        elapsed = time.monotonic() - t0
        print(
            f'RunTask: success {result.success} ({result.reason}) in {elapsed:.1f} s, '
            f'{result.chunks_executed} chunks, {result.inference_requests} requests'
        )
        assert result.reason_code in (
            RunTask.Result.REASON_SUCCEEDED,
            RunTask.Result.REASON_TIMEOUT,
        ), result.reason
        assert result.elapsed_s <= TASK_LIMIT_S + 1.0
        assert result.inference_requests >= 2 and result.chunks_executed >= 2, result
        assert len(seen['chunk'].messages) >= 2
        # the executor moved the simulated arm: some joint changed by more than 0.05 rad
        first = seen['joints'].messages[0].position
        moved = max(
            abs(a - b)
            for m in seen['joints'].messages
            for a, b in zip(m.position, first, strict=True)
        )
        assert moved > 0.05, moved
    finally:
        client.destroy()
        rc = launch.stop()
    assert rc == 0, launch.text()[-3000:]
    assert_clean_exit(launch, expected_processes=3)


def test_failed_configure_is_reported_and_shuts_the_launch_down(make_node, spin, tmp_path):
    missing = tmp_path / 'no_such_checkpoint'
    args = {**BASE_ARGS, 'policy': 'smolvla', 'checkpoint': str(missing)}
    launch = Launch('bringup.launch.py', args, tmp_path / 'l.log')
    try:
        rc = launch.wait_exit(timeout=60.0)
    finally:
        launch.stop()
    text = launch.text()
    reported = [line for line in text.splitlines() if 'failed to configure' in line]
    assert any(
        'policy_node failed to configure (configuring -> unconfigured)' in line
        for line in reported
    ), (reported, text[-3000:])
    assert str(missing) in text  # the node's own error names the checkpoint
    assert rc == 0, text[-3000:]  # a requested shutdown, not a crash
    assert_clean_exit(launch, expected_processes=3)
