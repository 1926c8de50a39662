"""smolvla_ros: run the SmolVLA policy on SO-100/SO-101 arms, with or without ROS 2.

What exists in this package:

- ``smolvla_ros.runtime``: the ROS-free async action-chunk executor (time-aligned queue, request
  threshold g, blending, observation filter, safety limiter, watchdog, e-stop), its clocks and
  the fixed-rate loop;
- ``smolvla_ros.frames``: timestamped camera frames per slot from the simulator, USB cameras,
  video files and image folders, and the store of the newest frame per slot;
- ``smolvla_ros.policy``: the ``Policy`` protocol, the policy worker (one inference thread that
  turns a policy's output into ``ActionChunk`` objects on the executor's time base) and the
  policies: SmolVLA (``policy.smolvla``; random-initialised ones in ``policy.random_smolvla``),
  the simulator's scripted expert, replay, the oracle;
- ``smolvla_ros.action_space``: the checkpoint's columns and units <-> the arm's joints in radians;
- ``smolvla_ros.pipeline``: the whole chain on the MuJoCo simulator in one process;
- ``smolvla_ros.runner``: the standalone runner (``smolvla-run``): the simulator or a real SO arm,
  a live display, and a run folder with a video, plots, metrics and a rosbag2 (MCAP);
- ``smolvla_ros.bench``: benchmarks of the runtime against simulated arms (``smolvla-bench``);
- ``smolvla_ros.nodes``: the rclpy nodes, message conversions, parameters and topic names (the
  only subpackage that imports ROS).

Everything outside ``smolvla_ros.nodes`` never imports ROS; ``tests/test_layering.py`` enforces it.
"""

__version__ = '0.1.0'
