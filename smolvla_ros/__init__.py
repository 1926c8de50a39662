"""smolvla_ros: run the SmolVLA policy on SO-100/SO-101 arms, with or without ROS 2.

The package has two layers:

- the ROS-free core (every module outside ``smolvla_ros.nodes``): the async action-chunk runtime,
  observation filtering, camera naming, units and the standalone runner;
- ``smolvla_ros.nodes``: thin rclpy nodes that convert messages and call the core.

The core never imports ROS; ``tests/test_layering.py`` enforces it.
"""

__version__ = '0.1.0'
