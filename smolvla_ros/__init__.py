"""smolvla_ros: run the SmolVLA policy on SO-100/SO-101 arms, with or without ROS 2.

What exists in this package:

- ``smolvla_ros.runtime``: the ROS-free async action-chunk executor (time-aligned queue, request
  threshold g, blending, observation filter, safety limiter, watchdog, e-stop), its clocks and
  the fixed-rate loop;
- ``smolvla_ros.frames`` and ``smolvla_ros.policy``: the contracts the policy side builds on
  (timestamped camera frames per slot, the ``Policy`` protocol and its input);
- ``smolvla_ros.bench``: benchmarks of the runtime against simulated arms (``smolvla-bench``).

Planned, not here yet: the policy worker that turns SmolVLA outputs into chunks, the
standalone runner (frames -> policy -> executor -> arm in one process) and the rclpy nodes in
``smolvla_ros.nodes`` (that package is still empty). Everything outside ``smolvla_ros.nodes``
never imports ROS; ``tests/test_layering.py`` enforces it.
"""

__version__ = '0.1.0'
