"""The MuJoCo simulator alone (sim_node), with robot_state_publisher and RViz.

    ros2 launch smolvla_ros sim.launch.py rviz:=false

Arguments: `ros2 launch smolvla_ros sim.launch.py --show-args` (the table is
smolvla_ros/launch_tables.py; parameters come from config/*.yaml, non-empty arguments override).
"""

from smolvla_ros.nodes.launch_actions import launch_description


def generate_launch_description():
    return launch_description('sim')
