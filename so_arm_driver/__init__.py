"""so_arm_driver: SO-100/SO-101 arms over Feetech (or Dynamixel) servo buses, and a MuJoCo twin.

ROS-free: the ROS node that wraps it lives in ``smolvla_ros.nodes``.
"""

__version__ = '0.1.0'
