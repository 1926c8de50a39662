"""Build the MuJoCo model: the SO-101 URDF plus table, cube, bin, lights, cameras and servos.

The arm comes from the same URDF the ROS side uses (``urdf/so101.urdf``), compiled by MuJoCo's
URDF importer, so kinematics cannot drift between RViz/Gazebo and this simulator. Everything
MuJoCo-specific (actuators, contacts, cameras, the scene) is added here with ``mujoco.MjSpec``.

Frames: world = base_link, x forward, z up, the table top at z = 0.
"""

from __future__ import annotations

import mujoco
import numpy as np

from so_arm_driver.robots import robot_spec
from so_arm_driver.sim.config import CAMERA_SLOTS, SimConfig
from so_arm_driver.sim.description import urdf_path

CUBE_BODY = 'cube'
BIN_BODY = 'bin'
GRASP_SITE = 'grasp_site'
TCP_BODY = 'gripper_frame_link'
GRIPPER_BODY = 'gripper_link'
# Where the cube's centre sits when held: on the gripper's inner axis between the finger pads,
# just above the finger tips (gripper_link frame, metres; see the jaw geometry in the xacro).
GRASP_SITE_POS = (0.001, 0.0, -0.086)
# Vertical field of view per camera, degrees. The wrist camera is wide-angle (like the small
# UVC modules people mount there) so that the jaw, the cube area and the bin all fit at home.
CAMERA_FOVY_DEG = {'top': 58.0, 'wrist': 100.0, 'side': 50.0}
# Mesh resolution of cylinders/capsules/spheres in renders (MuJoCo's defaults: 28 and 16).
RENDER_SLICES = 12
RENDER_STACKS = 6

# Contact groups: the arm touches the scene and the cube but not itself (the real arm's links
# overlap in their simple shapes); static scene geoms only need to be hit.
_ARM_CONTYPE, _ARM_CONAFFINITY = 1, 0
_SCENE_CONTYPE, _SCENE_CONAFFINITY = 0, 1
_CUBE_CONTYPE, _CUBE_CONAFFINITY = 1, 1

_YELLOW = (0.95, 0.72, 0.12, 1.0)
_BLACK = (0.15, 0.15, 0.16, 1.0)
_BODY_COLOURS = {
    'base_link': _YELLOW,
    'shoulder_link': _BLACK,
    'upper_arm_link': _YELLOW,
    'lower_arm_link': _YELLOW,
    'wrist_link': _BLACK,
    'gripper_link': _YELLOW,
    'moving_jaw_so101_v1_link': (0.9, 0.45, 0.1, 1.0),
}


def _load_arm_spec() -> mujoco.MjSpec:
    spec = mujoco.MjSpec.from_file(str(urdf_path()))
    # Keep fixed-joint links (TCP, camera frames) as bodies so cameras can hang on them.
    spec.compiler.fusestatic = False
    spec.compiler.discardvisual = True
    return spec


def _mat_to_quat(mat: np.ndarray) -> np.ndarray:
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.asarray(mat, dtype=float).reshape(9))
    return quat


def build_spec(config: SimConfig) -> mujoco.MjSpec:
    """Return the editable MuJoCo spec of the whole scene for ``config`` (not yet compiled)."""
    spec = _load_arm_spec()
    spec.modelname = f'{config.robot}_pick_place'
    spec.option.timestep = config.physics_dt_s
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.noslip_iterations = 2  # keeps a held cube from creeping out of the fingers
    # Rendering cost on a CPU (OSMesa/llvmpipe) scales with pixels touched, so the offscreen
    # buffer is exactly the image size, multisampling is off unless asked for (4x MSAA doubled
    # the time per frame), and round shapes use coarse meshes (the arm's links are a few
    # centimetres across in a 256-pixel image; 28 slices cost a third of the frame time).
    spec.visual.global_.offwidth = config.image_width
    spec.visual.global_.offheight = config.image_height
    spec.visual.quality.offsamples = 4 if config.render_antialias else 0
    spec.visual.quality.numslices = RENDER_SLICES
    spec.visual.quality.numstacks = RENDER_STACKS
    spec.visual.quality.shadowsize = 2048 if config.render_shadows else 0
    spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    spec.visual.headlight.diffuse = [0.4, 0.4, 0.4]

    task = config.task
    servo = config.servo
    arm = robot_spec(config.robot)

    # --- arm: joint dynamics, colours, contacts ------------------------------------------------
    for joint in spec.joints:
        try:
            joint.damping = servo.damping
        except TypeError:  # MuJoCo >= 4 takes polynomial damping coefficients
            joint.damping = [servo.damping, 0.0, 0.0]
        joint.frictionloss = servo.frictionloss
        joint.armature = servo.armature
    for geom in spec.geoms:
        body_name = geom.parent.name
        geom.rgba = _BODY_COLOURS.get(body_name, _BLACK)
        geom.contype, geom.conaffinity = _ARM_CONTYPE, _ARM_CONAFFINITY
        geom.friction = [task.friction, 0.01, 0.0005]
        geom.condim = 4

    gripper = spec.body(GRIPPER_BODY)
    gripper.add_site(
        name=GRASP_SITE, pos=list(GRASP_SITE_POS), size=[0.004, 0, 0], rgba=[1, 0, 0, 0.0]
    )

    # --- servos: one position actuator per joint, STS3215-like --------------------------------
    for joint in arm.joints:
        spec.add_actuator(
            name=joint.name,
            target=joint.name,
            trntype=mujoco.mjtTrn.mjTRN_JOINT,
            gaintype=mujoco.mjtGain.mjGAIN_FIXED,
            biastype=mujoco.mjtBias.mjBIAS_AFFINE,
            gainprm=[servo.kp] + [0.0] * 9,
            biasprm=[0.0, -servo.kp, -servo.kv] + [0.0] * 7,
            forcelimited=mujoco.mjtLimited.mjLIMITED_TRUE,
            forcerange=[-servo.force_limit_nm, servo.force_limit_nm],
            ctrllimited=mujoco.mjtLimited.mjLIMITED_TRUE,
            ctrlrange=[joint.lower_rad, joint.upper_rad],
        )

    # --- cameras on the URDF optical frames ---------------------------------------------------
    # REP-103 optical frames look along +z with y down; MuJoCo cameras look along -z with y up:
    # the same frame turned half a turn about x, quaternion (w, x, y, z) = (0, 1, 0, 0).
    for slot in CAMERA_SLOTS:
        spec.body(f'{slot}_camera_optical_frame').add_camera(
            name=slot, quat=[0.0, 1.0, 0.0, 0.0], fovy=CAMERA_FOVY_DEG[slot]
        )

    world = spec.worldbody
    # --- lights --------------------------------------------------------------------------------
    world.add_light(
        name='key',
        pos=[0.3, -0.3, 1.2],
        dir=[-0.2, 0.25, -1.0],
        diffuse=[0.7, 0.7, 0.7],
        castshadow=config.render_shadows,
    )
    world.add_light(
        name='fill',
        pos=[-0.4, 0.4, 1.0],
        dir=[0.4, -0.3, -1.0],
        diffuse=[0.3, 0.3, 0.3],
        castshadow=False,
    )

    # A grey backdrop far below so renders do not show a black void; it touches nothing.
    world.add_geom(
        name='floor',
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[3, 3, 0.1],
        pos=[0, 0, -0.75],
        rgba=[0.62, 0.64, 0.68, 1.0],
        contype=0,
        conaffinity=0,
    )
    # --- table ----------------------------------------------------------------------------------
    world.add_geom(
        name='table',
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[0.45, 0.45, 0.02],
        pos=[0.18, 0.0, -0.02],
        rgba=[0.55, 0.42, 0.30, 1.0],
        contype=_SCENE_CONTYPE,
        conaffinity=_SCENE_CONAFFINITY,
        friction=[1.0, 0.01, 0.0005],
        condim=4,
    )

    # --- bin: a floor and four walls -------------------------------------------------------------
    inner = task.bin_inner_size_m / 2
    wall = 0.004
    height = task.bin_wall_height_m
    bin_body = world.add_body(name=BIN_BODY, pos=[*task.bin_center_xy, 0.0])
    bin_rgba = [0.15, 0.35, 0.75, 1.0]
    bin_geoms = [
        ('bin_floor', [inner + wall, inner + wall, wall / 2], [0, 0, wall / 2]),
        ('bin_wall_px', [wall / 2, inner + wall, height / 2], [inner + wall / 2, 0, height / 2]),
        ('bin_wall_nx', [wall / 2, inner + wall, height / 2], [-inner - wall / 2, 0, height / 2]),
        ('bin_wall_py', [inner, wall / 2, height / 2], [0, inner + wall / 2, height / 2]),
        ('bin_wall_ny', [inner, wall / 2, height / 2], [0, -inner - wall / 2, height / 2]),
    ]
    for name, size, pos in bin_geoms:
        bin_body.add_geom(
            name=name,
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=size,
            pos=pos,
            rgba=bin_rgba,
            contype=_SCENE_CONTYPE,
            conaffinity=_SCENE_CONAFFINITY,
            condim=4,
        )

    # --- cube (free body; its pose is set per episode by the task) ------------------------------
    half = task.cube_size_m / 2
    cube = world.add_body(name=CUBE_BODY, pos=[0.2, 0.0, half])
    cube.add_freejoint(name='cube_free')
    cube.add_geom(
        name='cube',
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[half, half, half],
        mass=task.cube_mass_kg,
        rgba=[0.85, 0.1, 0.1, 1.0],
        contype=_CUBE_CONTYPE,
        conaffinity=_CUBE_CONAFFINITY,
        friction=[task.friction, 0.01, 0.0005],
        condim=4,
    )
    return spec


def build_model(config: SimConfig) -> mujoco.MjModel:
    """Compile the scene of ``config`` into a ``mujoco.MjModel``."""
    return build_spec(config).compile()
