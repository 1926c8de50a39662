"""The policy node alone, for a GPU machine (pairs with robot.launch.py on the robot's computer).

    ros2 launch smolvla_ros policy_server.launch.py checkpoint:=/path/to/checkpoint device:=cuda:0

Arguments: `ros2 launch smolvla_ros policy_server.launch.py --show-args` (the table is
smolvla_ros/launch_tables.py; parameters come from config/*.yaml, non-empty arguments override).
"""

from smolvla_ros.nodes.launch_actions import launch_description


def generate_launch_description():
    return launch_description('policy_server')
