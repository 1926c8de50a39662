"""Settings of the MuJoCo simulator and its pick-and-place task, validated on construction."""

from __future__ import annotations

import math
from dataclasses import dataclass

from so_arm_driver.robots import ROBOTS
from so_arm_driver.sim.errors import SimConfigError

CAMERA_SLOTS: tuple[str, ...] = ('top', 'wrist', 'side')


@dataclass(frozen=True)
class ServoModel:
    """Position-servo model of the STS3215 used for every joint.

    Numbers from TheRobotStudio's SO-101 MJCF (class ``sts3215``): a position actuator
    (``kp`` N·m/rad, ``kv`` N·m·s/rad) saturating at ``force_limit_nm``, plus the joint's
    viscous damping, dry friction and reflected rotor inertia (armature).
    """

    kp: float = 998.22
    kv: float = 2.731
    force_limit_nm: float = 2.94
    damping: float = 0.60
    frictionloss: float = 0.052
    armature: float = 0.028

    def __post_init__(self) -> None:
        for name in ('kp', 'force_limit_nm'):
            if not getattr(self, name) > 0:
                raise SimConfigError(f'servo {name} must be positive, got {getattr(self, name)}')
        for name in ('kv', 'damping', 'frictionloss', 'armature'):
            if getattr(self, name) < 0:
                raise SimConfigError(f'servo {name} must be >= 0, got {getattr(self, name)}')


@dataclass(frozen=True)
class TaskConfig:
    """Pick-and-place scene: a cube on the table, an open bin beside it. Metres, radians.

    The cube's centre is drawn uniformly from ``cube_x_range`` x ``cube_y_range`` (base_link
    frame, x forward, table top at z = 0) and its yaw from ``cube_yaw_range``.
    """

    cube_size_m: float = 0.025
    cube_mass_kg: float = 0.03
    cube_x_range: tuple[float, float] = (0.17, 0.25)
    cube_y_range: tuple[float, float] = (-0.10, 0.05)
    cube_yaw_range: tuple[float, float] = (-math.pi / 4, math.pi / 4)
    bin_center_xy: tuple[float, float] = (0.17, 0.17)
    bin_inner_size_m: float = 0.10
    bin_wall_height_m: float = 0.035
    friction: float = 1.5

    def __post_init__(self) -> None:
        if not 0.005 <= self.cube_size_m <= 0.05:
            raise SimConfigError(
                f'cube_size_m {self.cube_size_m} is outside 0.005..0.05 m (the open gripper '
                'spans about 0.05 m)'
            )
        if self.cube_mass_kg <= 0:
            raise SimConfigError('cube_mass_kg must be positive')
        for name in ('cube_x_range', 'cube_y_range', 'cube_yaw_range'):
            lo, hi = getattr(self, name)
            if not lo <= hi:
                raise SimConfigError(f'{name} must be (low, high) with low <= high, got {lo, hi}')
        if self.bin_inner_size_m <= self.cube_size_m * 1.5:
            raise SimConfigError('bin_inner_size_m must be comfortably larger than the cube')
        if self.bin_wall_height_m <= 0 or self.friction <= 0:
            raise SimConfigError('bin_wall_height_m and friction must be positive')


@dataclass(frozen=True)
class SimConfig:
    """Simulator settings.

    Attributes:
        robot: 'so101' or 'so100' (both use the SO-101 description; see robots.py).
        physics_dt_s: MuJoCo integration step. 1/600 s keeps the stiff servo model stable and
            divides the default control period exactly.
        control_dt_s: period of ``step()``, rounded to a whole number of physics steps
            (``substeps``). 1/30 s matches the 30 Hz the executor runs at by default.
        image_width / image_height: camera render size, pixels.
        seed: default seed of ``reset()``; the same seed gives the same episode.
        render_shadows: shadows cost about a third of the CPU render time; off by default.
        render_antialias: 4x multisampling; about doubles the CPU render time; off by default.
    """

    robot: str = 'so101'
    physics_dt_s: float = 1.0 / 600.0
    control_dt_s: float = 1.0 / 30.0
    image_width: int = 256
    image_height: int = 256
    seed: int = 0
    render_shadows: bool = False
    render_antialias: bool = False
    servo: ServoModel = ServoModel()
    task: TaskConfig = TaskConfig()

    def __post_init__(self) -> None:
        if self.robot not in ROBOTS:
            raise SimConfigError(f'unknown robot {self.robot!r}; choose one of {sorted(ROBOTS)}')
        if not 0 < self.physics_dt_s <= 0.01:
            raise SimConfigError(
                f'physics_dt_s {self.physics_dt_s} must be in (0, 0.01] s; larger steps make the '
                'servo model unstable'
            )
        if self.control_dt_s < self.physics_dt_s:
            raise SimConfigError(
                f'control_dt_s {self.control_dt_s} must be at least physics_dt_s '
                f'{self.physics_dt_s}'
            )
        for name in ('image_width', 'image_height'):
            value = getattr(self, name)
            if not 16 <= value <= 2048:
                raise SimConfigError(f'{name} {value} is outside 16..2048 pixels')

    @property
    def substeps(self) -> int:
        """Physics steps per control step."""
        return max(1, round(self.control_dt_s / self.physics_dt_s))

    @property
    def effective_control_dt_s(self) -> float:
        """The control period actually simulated: ``substeps * physics_dt_s``."""
        return self.substeps * self.physics_dt_s
