"""policy_server.launch.py + robot.launch.py form the same ROS graph as bringup.launch.py.

The two-machine set-up (policy on a GPU machine, the rest on the robot's computer) run as two
launches on one machine under the same domain: the nodes, and the topics each publishes and
subscribes, must equal those of one bringup with the same arguments, and chunks must flow (the
launch-time instruction reaches the policy). Skipped where launch is not installed (CI).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from launch_helpers import Launch, assert_clean_exit, graph, launch_unavailable, lifecycle_state
from ros_harness import MessageCollector, wait_until

pytestmark = pytest.mark.skipif(launch_unavailable() is not None, reason=str(launch_unavailable()))

COMMON = {'backend': 'mujoco', 'policy': 'scripted', 'instruction': 'put the cube in the bin'}
ROBOT_ONLY = {'rviz': 'false', 'robot_state_publisher': 'false'}
NODES = {'/policy_node', '/executor_node', '/sim_node'}


def _running_graph(node: Any, chunks: MessageCollector) -> dict:
    """Wait for the suite to be active and serving, then return its settled graph."""
    wait_until(
        lambda: all(
            lifecycle_state(node, n) == 'active' for n in ('/policy_node', '/executor_node')
        ),
        60.0,
        'policy_node and executor_node active',
    )
    # a new chunk: the instruction from the launch argument reached this launch's policy
    chunks.wait_for(len(chunks.messages) + 1, timeout=30.0)
    last: list[dict] = [graph(node)]

    def settled() -> bool:
        time.sleep(0.5)  # two snapshots half a second apart must agree
        now = graph(node)
        same = now == last[0] and set(now) >= NODES
        last[0] = now
        return same

    wait_until(settled, 20.0, 'a settled graph with the three nodes')
    return last[0]


def test_policy_server_plus_robot_equals_bringup(make_node, spin, tmp_path):
    from smolvla_interfaces.msg import ActionChunk
    from smolvla_ros.nodes import topics

    node = make_node('launch_graph_observer')
    chunks = MessageCollector()
    node.create_subscription(ActionChunk, '/smolvla/action_chunk', chunks, topics.CHUNK_QOS)
    spin(node)

    whole = Launch('bringup.launch.py', {**COMMON, **ROBOT_ONLY}, tmp_path / 'bringup.log')
    try:
        one_machine = _running_graph(node, chunks)
    finally:
        rc = whole.stop()
    assert rc == 0, whole.text()[-3000:]
    assert_clean_exit(whole, expected_processes=3)
    wait_until(lambda: not NODES & set(graph(node)), 20.0, 'the bringup nodes to leave the graph')

    gpu = Launch('policy_server.launch.py', COMMON, tmp_path / 'policy_server.log')
    robot_args = {k: v for k, v in {**COMMON, **ROBOT_ONLY}.items() if k != 'policy'}
    robot_args.pop('instruction')
    robot = Launch('robot.launch.py', robot_args, tmp_path / 'robot.log')
    try:
        two_machines = _running_graph(node, chunks)
    finally:
        rc_robot = robot.stop()
        rc_gpu = gpu.stop()
    assert (rc_gpu, rc_robot) == (0, 0), (gpu.text()[-2000:], robot.text()[-2000:])
    assert_clean_exit(gpu, expected_processes=1)
    assert_clean_exit(robot, expected_processes=2)

    assert set(one_machine) == NODES
    assert two_machines == one_machine
    # the pair is wired: the policy serves the executor's requests, which drive the simulator
    assert '/smolvla/chunk_request' in two_machines['/executor_node'][0]
    assert '/smolvla/chunk_request' in two_machines['/policy_node'][1]
    assert '/smolvla/joint_command' in two_machines['/sim_node'][1]
