"""Smoke tests of real ROS 2 here: DDS on loopback in one process and across processes.

Proves that the wheels load, that smolvla_interfaces was built and imports, that discovery works
with the harness's network rule, and that the fixtures start and stop cleanly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from ros_harness import MessageCollector, wait_for_publishers, wait_for_subscribers
from std_msgs.msg import String

from smolvla_interfaces.msg import ActionChunk

HERE = Path(__file__).resolve().parent
RELIABLE_LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


def test_context_uses_the_harness_domain(rclpy_context):
    assert rclpy_context.get_domain_id() == int(os.environ['ROS_DOMAIN_ID'])


def test_publish_subscribe_in_one_process(make_node, spin):
    talker, listener = make_node('smoke_talker'), make_node('smoke_listener')
    received = MessageCollector()
    pub = talker.create_publisher(String, 'smoke/chatter', 10)
    sub = listener.create_subscription(String, 'smoke/chatter', received, 10)
    spin(talker, listener)
    wait_for_subscribers(pub, 1)
    wait_for_publishers(sub, 1)
    pub.publish(String(data='hello over loopback'))
    (msg,) = received.wait_for(1)
    assert msg.data == 'hello over loopback'


def test_action_chunk_across_processes(make_node, spin):
    topic = 'smoke/action_chunk'
    listener = make_node('smoke_chunk_listener')
    received = MessageCollector()
    sub = listener.create_subscription(ActionChunk, topic, received, RELIABLE_LATCHED)
    spin(listener)
    proc = subprocess.Popen(
        [sys.executable, str(HERE / 'chunk_publisher_proc.py'), topic],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_publishers(sub, 1, timeout=30.0)
        (msg,) = received.wait_for(1, timeout=30.0)
    except TimeoutError:
        proc.kill()
        pytest.fail(f'no chunk from the publisher process; its output: {proc.communicate()[0]}')
    out, _ = proc.communicate(input='', timeout=30.0)
    assert proc.returncode == 0, out
    assert 'published' in out
    # The values the subprocess set, field by field.
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (12, 345_678_901)
    assert (msg.chunk_id, msg.request_id) == (7, 3)
    assert msg.inference_latency_s == 0.25
    assert msg.dt_s == 0.5
    assert list(msg.trajectory.joint_names) == ['shoulder_pan', 'gripper']
    assert [list(p.positions) for p in msg.trajectory.points] == [[0.1, -0.2], [0.3, 0.4]]
    stamps = [(p.time_from_start.sec, p.time_from_start.nanosec) for p in msg.trajectory.points]
    assert stamps == [(0, 500_000_000), (1, 0)]
