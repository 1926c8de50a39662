"""The MuJoCo simulation of an SO-101 at a table with a cube and a bin.

``Simulator`` owns the model and state: it steps physics at ``physics_dt_s`` in blocks of one
control period, keeps simulated time, renders the three cameras offscreen, and scores the
pick-and-place task. ``SimArm`` (sim_arm.py) wraps it in the ``Arm`` interface the runtime uses.

Deterministic: the same seed gives the same cube pose, and the same goals give the same motion
(MuJoCo is deterministic on one machine for a fixed step sequence).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

from so_arm_driver.robots import robot_spec
from so_arm_driver.sim.config import CAMERA_SLOTS, SimConfig
from so_arm_driver.sim.errors import SimConfigError
from so_arm_driver.sim.scene import BIN_BODY, CUBE_BODY, GRASP_SITE, build_model

# Start posture, radians (JOINT_NAMES order): gripper raised behind the cube area (so it does
# not hide the cube from the top camera), open, pointing forward-down and rolled so the wrist
# camera sees its jaw, the whole cube area and the bin.
HOME_POSE_RAD = np.array([0.0, -1.6, 0.4, 1.5, 2.8, 0.9])


@dataclass(frozen=True)
class Observation:
    """What the simulator shows at one instant.

    Attributes:
        time_s: simulated time since reset, seconds.
        joint_positions_rad: measured joint positions, shape (6,), JOINT_NAMES order.
        cube_pos_m: cube centre in the base frame, metres, shape (3,).
        cube_yaw_rad: cube rotation about the vertical, radians in (-pi, pi].
        bin_center_m: bin floor centre, metres, shape (3,).
        images: camera slot -> RGB uint8 array (H, W, 3); empty when not rendered.
    """

    time_s: float
    joint_positions_rad: np.ndarray
    cube_pos_m: np.ndarray
    cube_yaw_rad: float
    bin_center_m: np.ndarray
    images: dict[str, np.ndarray] = field(default_factory=dict)


class Simulator:
    """Physics, cameras and task of the simulated arm. Use as a context manager or ``close()``."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.spec = robot_spec(self.config.robot)
        self.model = build_model(self.config)
        self.data = mujoco.MjData(self.model)
        names = self.spec.joint_names
        self._qadr = np.array([self.model.joint(n).qposadr[0] for n in names])
        self._dofadr = np.array([self.model.joint(n).dofadr[0] for n in names])
        self._act = np.array([self.model.actuator(n).id for n in names])
        self._kp = self.model.actuator_gainprm[self._act, 0].copy()
        self._bias = self.model.actuator_biasprm[self._act, :3].copy()
        cube_joint = self.model.body(CUBE_BODY).jntadr[0]
        self._cube_qadr = self.model.jnt_qposadr[cube_joint]
        self._cube_dofadr = self.model.jnt_dofadr[cube_joint]
        self._cube_body = self.model.body(CUBE_BODY).id
        self._bin_body = self.model.body(BIN_BODY).id
        self._grasp_site = self.model.site(GRASP_SITE).id
        self._renderer: mujoco.Renderer | None = None
        self._scene_option = mujoco.MjvOption()
        self._cameras: dict[str, mujoco.MjvCamera] = {}
        for slot in CAMERA_SLOTS:
            camera = mujoco.MjvCamera()
            camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
            camera.fixedcamid = self.model.camera(slot).id
            self._cameras[slot] = camera
        self.torque_enabled = True
        self.seed = self.config.seed
        self.reset(self.config.seed)

    # ------------------------------------------------------------------ episode
    def reset(self, seed: int | None = None) -> Observation:
        """Start an episode: arm at HOME_POSE_RAD holding it, cube at a pose drawn from ``seed``.

        Returns the first observation (without images; call ``observe(render=True)``).
        """
        self.seed = self.config.seed if seed is None else int(seed)
        rng = np.random.default_rng(self.seed)
        task = self.config.task
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self._qadr] = HOME_POSE_RAD
        self.data.ctrl[self._act] = HOME_POSE_RAD
        x = rng.uniform(*task.cube_x_range)
        y = rng.uniform(*task.cube_y_range)
        yaw = rng.uniform(*task.cube_yaw_range)
        self.data.qpos[self._cube_qadr : self._cube_qadr + 7] = [
            x,
            y,
            task.cube_size_m / 2,
            np.cos(yaw / 2),
            0.0,
            0.0,
            np.sin(yaw / 2),
        ]
        self.set_torque(True)
        mujoco.mj_forward(self.model, self.data)
        return self.observe(render=False)

    # ------------------------------------------------------------------ physics
    @property
    def time_s(self) -> float:
        """Simulated seconds since the last reset."""
        return float(self.data.time)

    def step(self, control_steps: int = 1) -> None:
        """Advance ``control_steps`` control periods (each ``config.substeps`` physics steps)."""
        if control_steps < 0:
            raise SimConfigError(f'control_steps must be >= 0, got {control_steps}')
        for _ in range(control_steps * self.config.substeps):
            mujoco.mj_step(self.model, self.data)

    def place_arm(self, positions_rad: np.ndarray) -> None:
        """Put the joints at ``positions_rad`` (radians, JOINT_NAMES order, already validated and
        clamped by the caller) with the servos holding them, without running physics. The pose
        must be collision-free: MuJoCo would push a penetrating link out violently."""
        self.data.qpos[self._qadr] = positions_rad
        self.data.ctrl[self._act] = positions_rad
        mujoco.mj_forward(self.model, self.data)

    def joint_positions(self) -> np.ndarray:
        """Joint positions, radians, JOINT_NAMES order."""
        return self.data.qpos[self._qadr].copy()

    def joint_velocities(self) -> np.ndarray:
        """Joint velocities, rad/s, JOINT_NAMES order."""
        return self.data.qvel[self._dofadr].copy()

    def set_goals(self, goals_rad: np.ndarray) -> None:
        """Set the servos' goals (radians), already validated and clamped by the caller."""
        self.data.ctrl[self._act] = goals_rad

    def goals(self) -> np.ndarray:
        """The servos' current goal positions, radians."""
        return self.data.ctrl[self._act].copy()

    def set_torque(self, enabled: bool) -> None:
        """Torque on: servos hold their goals. Off: no actuator force, the joints go limp.

        Like the real servo, enabling torque first sets the goal to the present position so the
        arm does not jump.
        """
        if enabled and not self.torque_enabled:
            self.data.ctrl[self._act] = self.data.qpos[self._qadr]
        scale = 1.0 if enabled else 0.0
        self.model.actuator_gainprm[self._act, 0] = self._kp * scale
        self.model.actuator_biasprm[self._act, :3] = self._bias * scale
        self.torque_enabled = enabled

    # ------------------------------------------------------------------ task
    def cube_pose(self) -> tuple[np.ndarray, float]:
        """Cube centre (m, base frame) and yaw about the vertical (rad)."""
        pos = self.data.xpos[self._cube_body].copy()
        mat = self.data.xmat[self._cube_body].reshape(3, 3)
        return pos, float(np.arctan2(mat[1, 0], mat[0, 0]))

    def bin_center(self) -> np.ndarray:
        """Bin floor centre, metres, base frame."""
        return self.data.xpos[self._bin_body].copy()

    def cube_in_bin(self) -> bool:
        """True when the cube rests inside the bin: within its inner walls, below the rim,
        and nearly still (so a cube merely passing through does not count)."""
        task = self.config.task
        pos, _ = self.cube_pose()
        offset = np.abs(pos[:2] - self.bin_center()[:2])
        inside = bool(np.all(offset < task.bin_inner_size_m / 2))
        below_rim = pos[2] < task.bin_wall_height_m
        speed = np.linalg.norm(self.data.qvel[self._cube_dofadr : self._cube_dofadr + 3])
        # A Python bool, not numpy's: a np.bool_ handed to a ROS Bool message serialises wrong.
        return bool(inside and below_rim and speed < 0.05)

    def cube_lifted(self, height_m: float = 0.03) -> bool:
        """True when the cube's bottom is more than ``height_m`` above the table."""
        pos, _ = self.cube_pose()
        return bool(pos[2] - self.config.task.cube_size_m / 2 > height_m)

    # ------------------------------------------------------------------ cameras
    def render(self, slots: tuple[str, ...] = CAMERA_SLOTS) -> dict[str, np.ndarray]:
        """Render camera ``slots`` at the configured size: slot -> RGB uint8 (H, W, 3).

        Raises:
            SimConfigError: a slot is not one of CAMERA_SLOTS.
        """
        unknown = [s for s in slots if s not in CAMERA_SLOTS]
        if unknown:
            raise SimConfigError(f'unknown camera slot(s) {unknown}; choose from {CAMERA_SLOTS}')
        renderer = self._ensure_renderer()
        images: dict[str, np.ndarray] = {}
        for i, slot in enumerate(slots):
            camera = self._cameras[slot]
            if i == 0:
                # One scene update per frame: geoms and lights are the same for every camera.
                mujoco.mjv_updateScene(
                    self.model,
                    self.data,
                    self._scene_option,
                    None,
                    camera,
                    mujoco.mjtCatBit.mjCAT_ALL.value,
                    renderer.scene,
                )
            else:
                mujoco.mjv_updateCamera(self.model, self.data, camera, renderer.scene)
                # The headlight rides on the camera: place the lights for this view again.
                mujoco.mjv_makeLights(self.model, self.data, renderer.scene)
            images[slot] = renderer.render()  # a fresh array each call
        return images

    def _ensure_renderer(self) -> mujoco.Renderer:
        """The one renderer (GL context, offscreen buffer, uploaded meshes) for all cameras."""
        if self._renderer is None:
            renderer = mujoco.Renderer(
                self.model, self.config.image_height, self.config.image_width
            )
            # The scene has no skybox, reflective materials, fog or haze worth drawing, and
            # shadows only when configured: switch off the passes that would cost CPU time.
            flags = renderer.scene.flags
            flags[mujoco.mjtRndFlag.mjRND_SHADOW] = self.config.render_shadows
            flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
            flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = False
            flags[mujoco.mjtRndFlag.mjRND_FOG] = False
            flags[mujoco.mjtRndFlag.mjRND_HAZE] = False
            self._renderer = renderer
        return self._renderer

    def observe(self, render: bool = True) -> Observation:
        """The current observation, with camera images when ``render``."""
        pos, yaw = self.cube_pose()
        return Observation(
            time_s=self.time_s,
            joint_positions_rad=self.joint_positions(),
            cube_pos_m=pos,
            cube_yaw_rad=yaw,
            bin_center_m=self.bin_center(),
            images=self.render() if render else {},
        )

    def close(self) -> None:
        """Free the renderer (the OpenGL context). Idempotent."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
