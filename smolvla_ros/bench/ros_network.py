"""The network rule for benchmark processes: DDS discovery on this machine only.

Default discovery multicasts on every interface. A benchmark measures loopback transport, so it
has no reason to reach another host, and on shared machines it must not. The scripts call
:func:`localhost_only` before anything imports rclpy; every node and worker process they start
inherits the environment.
"""

from __future__ import annotations

import os


def localhost_only(default_domain_id: int) -> dict[str, str]:
    """Set ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` (Iron and later) and
    ``ROS_LOCALHOST_ONLY=1`` (Humble) in this process's environment, and ``ROS_DOMAIN_ID`` to
    ``default_domain_id`` unless one is set (so two benchmarks can be kept apart).

    Returns:
        The three values now in force.
    """
    if not 0 <= default_domain_id <= 101:
        raise ValueError(f'default_domain_id must be in 0..101, got {default_domain_id}')
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    os.environ['ROS_LOCALHOST_ONLY'] = '1'
    os.environ.setdefault('ROS_DOMAIN_ID', str(default_domain_id))
    keys = ('ROS_AUTOMATIC_DISCOVERY_RANGE', 'ROS_LOCALHOST_ONLY', 'ROS_DOMAIN_ID')
    return {k: os.environ[k] for k in keys}
