"""MuJoCo simulator of the SO-101 (ROS-free): scene from the project's URDF, STS3215-like
position servos, three offscreen cameras, a pick-and-place task and a scripted IK expert.

Typical use::

    from so_arm_driver.sim import SimArm, Simulator, run_episode
    with Simulator() as sim:
        result = run_episode(sim, seed=3)

Importing this package makes MuJoCo render on the CPU through OSMesa unless ``MUJOCO_GL`` is
already set (``egl`` on a machine with a GPU): MuJoCo picks its GL backend at import.
"""

import os

os.environ.setdefault('MUJOCO_GL', 'osmesa')
os.environ.setdefault('PYOPENGL_PLATFORM', os.environ['MUJOCO_GL'])

from so_arm_driver.sim.config import CAMERA_SLOTS, ServoModel, SimConfig, TaskConfig
from so_arm_driver.sim.errors import (
    DescriptionError,
    IKError,
    SimConfigError,
    SimError,
    SimGoalError,
    UnknownJointError,
)
from so_arm_driver.sim.expert import (
    EpisodeResult,
    ExpertConfig,
    JointPlan,
    ScriptedExpert,
    run_episode,
)
from so_arm_driver.sim.kinematics import Kinematics
from so_arm_driver.sim.sim_arm import SimArm
from so_arm_driver.sim.simulator import HOME_POSE_RAD, Observation, Simulator

__all__ = [
    'CAMERA_SLOTS',
    'HOME_POSE_RAD',
    'DescriptionError',
    'EpisodeResult',
    'ExpertConfig',
    'IKError',
    'JointPlan',
    'Kinematics',
    'Observation',
    'ScriptedExpert',
    'ServoModel',
    'SimArm',
    'SimConfig',
    'SimConfigError',
    'SimError',
    'SimGoalError',
    'Simulator',
    'TaskConfig',
    'UnknownJointError',
    'run_episode',
]
