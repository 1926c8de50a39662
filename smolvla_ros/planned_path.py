"""The planned path of the executor's queue as gripper positions, by forward kinematics (ROS-free).

RViz shows what the arm is about to do as a line through the gripper's future positions. The
executor node takes the queued joint targets (radians) from the core, and this module turns them
into points in the robot's base frame with a pure-numpy forward kinematics of the URDF (no
MuJoCo, no ROS: the node must not pull a simulator in to draw a line).

>>> chain = UrdfChain.from_urdf(default_urdf_path())
>>> planned_path_points(chain, JOINTS, np.zeros((1, 6))).shape
(1, 3)

Only what a serial chain needs is read from the URDF: each joint's type (revolute, continuous,
prismatic, fixed), origin (xyz, rpy) and axis, from the root link to the tip link.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# The SO-101's gripper tool frame in urdf/so101.urdf (between the fingertips).
DEFAULT_TIP_LINK = 'gripper_frame_link'
DEFAULT_ROOT_LINK = 'base_link'
JOINTS: tuple[str, ...] = (
    'shoulder_pan',
    'shoulder_lift',
    'elbow_flex',
    'wrist_flex',
    'wrist_roll',
    'gripper',
)


class KinematicsError(ValueError):
    """A URDF that cannot be read as a chain, or joint values that do not fit it."""


def default_urdf_path() -> Path:
    """The project's SO-101 URDF (source tree, $SMOLVLA_URDF_DIR or the installed share folder).

    Raises:
        so_arm_driver.sim.DescriptionError: no folder holds it.
    """
    # Imported here: so_arm_driver.sim imports MuJoCo, which only this lookup would need.
    from so_arm_driver.sim.description import urdf_path

    return urdf_path()


def _rpy_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    # URDF: fixed-axis roll about x, then pitch about y, then yaw about z: R = Rz Ry Rx
    cr, sr, cp, sp = math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch)
    cy, sy = math.cos(yaw), math.sin(yaw)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _floats(text: str | None, default: str, what: str) -> np.ndarray:
    try:
        values = np.array([float(v) for v in (text or default).split()])
    except ValueError:
        raise KinematicsError(f'{what}: {text!r} is not three numbers') from None
    if values.shape != (3,) or not np.all(np.isfinite(values)):
        raise KinematicsError(f'{what}: {text!r} is not three finite numbers')
    return values


@dataclass(frozen=True)
class ChainJoint:
    """One joint of the chain: the fixed transform from its parent link, then its motion.

    Attributes:
        name: joint name.
        kind: 'revolute', 'continuous', 'prismatic' or 'fixed'.
        rotation / translation: the origin (parent link -> joint frame), 3x3 and metres.
        axis: unit axis in the joint frame.
    """

    name: str
    kind: str
    rotation: np.ndarray
    translation: np.ndarray
    axis: np.ndarray

    @property
    def movable(self) -> bool:
        return self.kind != 'fixed'


class UrdfChain:
    """The serial chain of a URDF from ``root`` to ``tip``.

    Args:
        joints: the chain's joints, root first.
        root / tip: link names.
    """

    def __init__(self, joints: Sequence[ChainJoint], root: str, tip: str) -> None:
        self.joints = tuple(joints)
        self.root = root
        self.tip = tip
        self.joint_names: tuple[str, ...] = tuple(j.name for j in self.joints if j.movable)

    @classmethod
    def from_urdf(
        cls, path: str | Path, root: str = DEFAULT_ROOT_LINK, tip: str = DEFAULT_TIP_LINK
    ) -> UrdfChain:
        """Read the chain from a URDF file.

        Raises:
            KinematicsError: the file cannot be parsed, ``tip`` is not below ``root``, or a
                joint on the way has an unsupported type or malformed origin/axis.
            OSError: the file cannot be read.
        """
        try:
            tree = ET.parse(str(path))
        except ET.ParseError as e:
            raise KinematicsError(f'URDF {path} is not valid XML: {e}') from e
        by_child = {}
        for j in tree.getroot().iter('joint'):
            child = j.find('child')
            if child is not None:
                by_child[child.get('link')] = j
        chain = []
        link = tip
        while link != root:
            j = by_child.get(link)
            if j is None:
                raise KinematicsError(
                    f'URDF {path}: link {link!r} has no parent joint, so {tip!r} is not below '
                    f'{root!r}; check the root and tip link names'
                )
            chain.append(cls._joint(j, path))
            parent = j.find('parent')
            link = parent.get('link') if parent is not None else None
            if len(chain) > len(by_child):
                raise KinematicsError(f'URDF {path}: the joints form a loop above {tip!r}')
        return cls(chain[::-1], root, tip)

    @staticmethod
    def _joint(j: ET.Element, path: str | Path) -> ChainJoint:
        name = j.get('name', '')
        kind = j.get('type', '')
        if kind not in ('revolute', 'continuous', 'prismatic', 'fixed'):
            raise KinematicsError(
                f'URDF {path}: joint {name!r} has type {kind!r}; a serial chain supports '
                'revolute, continuous, prismatic and fixed'
            )
        origin = j.find('origin')
        xyz = _floats(origin.get('xyz') if origin is not None else None, '0 0 0', f'{name} xyz')
        rpy = _floats(origin.get('rpy') if origin is not None else None, '0 0 0', f'{name} rpy')
        axis_el = j.find('axis')
        axis_text = axis_el.get('xyz') if axis_el is not None else None
        axis = _floats(axis_text, '1 0 0', f'{name} axis')  # URDF's default axis is x
        norm = float(np.linalg.norm(axis))
        if kind != 'fixed' and norm < 1e-12:
            raise KinematicsError(f'URDF {path}: joint {name!r} has a zero axis')
        return ChainJoint(name, kind, _rpy_matrix(*rpy), xyz, axis / (norm or 1.0))

    def tip_positions(self, q_rad: np.ndarray) -> np.ndarray:
        """Tip positions in the root frame, metres, shape (k, 3).

        Args:
            q_rad: joint values (radians; metres for prismatic joints), shape (k, M) in
                ``joint_names`` order.

        Raises:
            KinematicsError: wrong shape or non-finite values.
        """
        q = np.asarray(q_rad, dtype=np.float64)
        m = len(self.joint_names)
        if q.ndim != 2 or q.shape[1] != m or not np.all(np.isfinite(q)):
            raise KinematicsError(
                f'joint values must be a finite (k, {m}) array in the order {self.joint_names}, '
                f'got shape {q.shape}'
            )
        k = q.shape[0]
        rot = np.broadcast_to(np.eye(3), (k, 3, 3)).copy()
        pos = np.zeros((k, 3))
        col = 0
        for j in self.joints:
            pos = pos + rot @ j.translation
            rot = rot @ j.rotation
            if not j.movable:
                continue
            v = q[:, col]
            col += 1
            if j.kind == 'prismatic':
                pos = pos + (rot @ j.axis) * v[:, None]
            else:
                rot = rot @ _axis_angle(j.axis, v)
        return pos


def _axis_angle(axis: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rodrigues: rotations by ``angles`` (k,) about the unit ``axis``, shape (k, 3, 3)."""
    x, y, z = axis
    kmat = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    s = np.sin(angles)[:, None, None]
    c = np.cos(angles)[:, None, None]
    return np.eye(3) + s * kmat + (1 - c) * (kmat @ kmat)


def planned_path_points(
    chain: UrdfChain, joint_names: Sequence[str], positions_rad: np.ndarray
) -> np.ndarray:
    """Tip positions (root frame, metres), shape (k, 3), of planned joint targets.

    Args:
        chain: the arm's chain (``UrdfChain.from_urdf``).
        joint_names: the columns of ``positions_rad`` (e.g. the executor's joint order); joints
            not in the chain (the gripper when the tip is on the gripper link) are ignored.
        positions_rad: planned joint targets, radians, shape (k, J); k may be 0.

    Raises:
        KinematicsError: a chain joint is missing from ``joint_names``, or the shape or values
            are wrong.
    """
    q = np.asarray(positions_rad, dtype=np.float64)
    names = list(joint_names)
    if q.ndim != 2 or q.shape[1] != len(names):
        raise KinematicsError(
            f'positions must be (k, {len(names)}) for joints {names}, got shape {q.shape}'
        )
    missing = [n for n in chain.joint_names if n not in names]
    if missing:
        raise KinematicsError(
            f'the chain {chain.root} -> {chain.tip} needs joints {missing}, not in {names}'
        )
    if q.shape[0] == 0:
        return np.zeros((0, 3))
    return chain.tip_positions(q[:, [names.index(n) for n in chain.joint_names]])
