"""The robot's computer: cameras, driver (or simulator), executor, robot_state_publisher, RViz.

Together with policy_server.launch.py on a GPU machine (same ROS_DOMAIN_ID) it equals bringup.

    ros2 launch smolvla_ros robot.launch.py backend:=real port:=/dev/ttyACM0 cameras:=top=0

Arguments: `ros2 launch smolvla_ros robot.launch.py --show-args` (the table is
smolvla_ros/launch_tables.py; parameters come from config/*.yaml, non-empty arguments override).
"""

from smolvla_ros.nodes.launch_actions import launch_description


def generate_launch_description():
    return launch_description('robot')
