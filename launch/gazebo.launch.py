"""Spawn the SO-101 in Gazebo with gz_ros2_control, a JointTrajectoryController and camera bridges.

Targets ROS 2 Humble + Gazebo Fortress and Jazzy + Harmonic (ros_gz_sim, gz_ros2_control).

    ros2 launch smolvla_ros gazebo.launch.py [world:=empty.sdf]
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, RegisterEventHandler
from launch.event_handlers import OnProcessExit
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import Command, LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription

PACKAGE = 'smolvla_ros'
XACRO_FILE = 'urdf/so101.urdf.xacro'
CONTROLLERS_FILE = 'config/so101_controllers.yaml'
CAMERA_SLOTS = ('top', 'wrist', 'side')


def generate_launch_description():
    share = get_package_share_directory(PACKAGE)
    xacro_path = os.path.join(share, XACRO_FILE)
    controllers = os.path.join(share, CONTROLLERS_FILE)
    description = ParameterValue(
        Command(['xacro ', xacro_path, ' hardware:=gazebo', ' controllers_yaml:=', controllers]),
        value_type=str,
    )
    gazebo = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            os.path.join(get_package_share_directory('ros_gz_sim'), 'launch', 'gz_sim.launch.py')
        ),
        launch_arguments={'gz_args': ['-r ', LaunchConfiguration('world')]}.items(),
    )
    state_publisher = Node(
        package='robot_state_publisher',
        executable='robot_state_publisher',
        parameters=[{'robot_description': description, 'use_sim_time': True}],
    )
    spawn = Node(
        package='ros_gz_sim',
        executable='create',
        arguments=['-topic', 'robot_description', '-name', 'so101', '-z', '0.0'],
    )
    joint_state_broadcaster = Node(
        package='controller_manager',
        executable='spawner',
        arguments=['joint_state_broadcaster'],
    )
    arm_controller = Node(
        package='controller_manager',
        executable='spawner',
        arguments=['arm_controller'],
    )
    bridge = Node(
        package='ros_gz_bridge',
        executable='parameter_bridge',
        arguments=[
            '/clock@rosgraph_msgs/msg/Clock[gz.msgs.Clock',
            *[
                f'/smolvla/cameras/{slot}/image_raw@sensor_msgs/msg/Image[gz.msgs.Image'
                for slot in CAMERA_SLOTS
            ],
        ],
    )
    return LaunchDescription(
        [
            DeclareLaunchArgument('world', default_value='empty.sdf'),
            gazebo,
            state_publisher,
            spawn,
            bridge,
            RegisterEventHandler(
                OnProcessExit(target_action=spawn, on_exit=[joint_state_broadcaster])
            ),
            RegisterEventHandler(
                OnProcessExit(target_action=joint_state_broadcaster, on_exit=[arm_controller])
            ),
        ]
    )
