"""Robot definitions shared by the bus driver, the simulator and the URDF tests.

Joint names follow LeRobot and TheRobotStudio's URDF. Limits are the SO-101 ``so101_new_calib``
URDF limits (radians, zero at the middle of the calibrated range), the convention this suite uses
on the ROS side (REP-103 units). The SO-100 shares the names, ids and servo model; its official
URDF uses a different zero, so the suite drives it with the same middle-of-range convention and the
same limits until a calibrated SO-100 description says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

JOINT_NAMES: tuple[str, ...] = (
    'shoulder_pan',
    'shoulder_lift',
    'elbow_flex',
    'wrist_flex',
    'wrist_roll',
    'gripper',
)


@dataclass(frozen=True)
class JointSpec:
    """One joint of an arm.

    Attributes:
        name: LeRobot motor name, also the URDF joint name.
        servo_id: bus id (1..253).
        lower_rad / upper_rad: position limits in radians (URDF convention).
        velocity_limit_rad_s: the most the suite commands, well under the STS3215's no-load
            speed (about 0.222 s per 60 degrees at 7.4 V, i.e. 4.7 rad/s).
        servo_model: servo model name as LeRobot spells it.
    """

    name: str
    servo_id: int
    lower_rad: float
    upper_rad: float
    velocity_limit_rad_s: float = 3.0
    servo_model: str = 'sts3215'

    def __post_init__(self) -> None:
        if not self.lower_rad < self.upper_rad:
            raise ValueError(
                f'joint {self.name!r}: lower limit {self.lower_rad} rad must be below the upper '
                f'limit {self.upper_rad} rad'
            )
        if not 1 <= self.servo_id <= 253:
            raise ValueError(f'joint {self.name!r}: servo id {self.servo_id} is outside 1..253')
        if self.velocity_limit_rad_s <= 0:
            raise ValueError(f'joint {self.name!r}: velocity limit must be positive')


@dataclass(frozen=True)
class RobotSpec:
    """An arm: its joints in command order."""

    name: str
    joints: tuple[JointSpec, ...] = field(default_factory=tuple)

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints)

    def joint(self, name: str) -> JointSpec:
        for j in self.joints:
            if j.name == name:
                return j
        raise KeyError(f'robot {self.name!r} has no joint {name!r}; joints: {self.joint_names}')


# so101_new_calib URDF limits, radians.
_SO101_LIMITS: dict[str, tuple[float, float]] = {
    'shoulder_pan': (-1.91986, 1.91986),
    'shoulder_lift': (-1.74533, 1.74533),
    'elbow_flex': (-1.69, 1.69),
    'wrist_flex': (-1.65806, 1.65806),
    'wrist_roll': (-2.74385, 2.84121),
    'gripper': (-0.174533, 1.74533),
}


def _arm(name: str) -> RobotSpec:
    return RobotSpec(
        name=name,
        joints=tuple(
            JointSpec(name=j, servo_id=i + 1, lower_rad=lo, upper_rad=hi)
            for i, (j, (lo, hi)) in enumerate((j, _SO101_LIMITS[j]) for j in JOINT_NAMES)
        ),
    )


SO101 = _arm('so101')
SO100 = _arm('so100')
ROBOTS: dict[str, RobotSpec] = {'so101': SO101, 'so100': SO100}


def robot_spec(name: str) -> RobotSpec:
    """Return the definition of ``name`` ('so101' or 'so100')."""
    try:
        return ROBOTS[name]
    except KeyError:
        raise ValueError(f'unknown robot {name!r}; choose one of {sorted(ROBOTS)}') from None
