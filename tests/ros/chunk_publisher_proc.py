"""Subprocess of test_ros_smoke: publish one smolvla_interfaces/ActionChunk, then wait.

Usage: python chunk_publisher_proc.py TOPIC. Waits for a subscriber (at most 30 s), publishes one
chunk (reliable, transient local), prints 'published', and stays alive until stdin closes so the
message is not lost with the writer. The network rule comes from the environment of the test.
"""

from __future__ import annotations

import sys
import time

import rclpy
from builtin_interfaces.msg import Duration
from rclpy.context import Context
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from trajectory_msgs.msg import JointTrajectoryPoint

from smolvla_interfaces.msg import ActionChunk


def main() -> int:
    topic = sys.argv[1]
    context = Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node('chunk_publisher_proc', context=context)
        qos = QoSProfile(
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        publisher = node.create_publisher(ActionChunk, topic, qos)
        deadline = time.monotonic() + 30.0
        while publisher.get_subscription_count() < 1:
            if time.monotonic() > deadline:
                print('no subscriber within 30 s', flush=True)
                return 1
            time.sleep(0.01)
        msg = ActionChunk()
        msg.header.stamp.sec = 12
        msg.header.stamp.nanosec = 345_678_901
        msg.chunk_id = 7
        msg.request_id = 3
        msg.inference_latency_s = 0.25
        msg.dt_s = 0.5
        msg.trajectory.header = msg.header
        msg.trajectory.joint_names = ['shoulder_pan', 'gripper']
        msg.trajectory.points = [
            JointTrajectoryPoint(
                positions=[0.1, -0.2], time_from_start=Duration(sec=0, nanosec=500_000_000)
            ),
            JointTrajectoryPoint(positions=[0.3, 0.4], time_from_start=Duration(sec=1, nanosec=0)),
        ]
        publisher.publish(msg)
        print('published', flush=True)
        sys.stdin.read()  # the test closes stdin once it has the message
        node.destroy_node()
        return 0
    finally:
        if context.ok():
            rclpy.shutdown(context=context)


if __name__ == '__main__':
    sys.exit(main())
