"""Everything on one machine: cameras or simulator, driver, policy, executor, RViz, TF.

    ros2 launch smolvla_ros bringup.launch.py backend:=mujoco policy:=scripted
    ros2 launch smolvla_ros bringup.launch.py backend:=real port:=/dev/ttyACM0 \\
        checkpoint:=/path/to/checkpoint device:=cuda:0 cameras:=top=0,wrist=2

Without checkpoint:= the policy node loads the pretrained SmolVLA when the Hugging Face cache has
it, else the checkpoint shipped with the project (checkpoints/smolvla_so101_sim/); its log says
which.

Arguments: `ros2 launch smolvla_ros bringup.launch.py --show-args` (the table is
smolvla_ros/launch_tables.py; parameters come from config/*.yaml, non-empty arguments override).
"""

from smolvla_ros.nodes.launch_actions import launch_description


def generate_launch_description():
    return launch_description('bringup')
