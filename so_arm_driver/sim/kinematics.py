"""Forward and inverse kinematics of the arm on MuJoCo's kinematic tree (no physics stepped).

IK is damped least squares on the grasp site: three position rows and three orientation rows
(the gripper's z axis up, i.e. fingers pointing down, and its x axis, the closing direction,
along a requested horizontal direction). The SO-101 has five arm joints and this target has five
independent constraints (position 3, pitch 1, yaw 1; the arm plane is vertical so tilt is zero),
so a reachable target is met exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from so_arm_driver.sim.errors import IKError
from so_arm_driver.sim.scene import GRASP_SITE

ARM_JOINTS: tuple[str, ...] = (
    'shoulder_pan',
    'shoulder_lift',
    'elbow_flex',
    'wrist_flex',
    'wrist_roll',
)


# Postures (ARM_JOINTS order, rad) that IK restarts from: gripper down near, mid and far.
_RESTARTS = (
    np.array([0.0, 0.0, 0.0, 1.5, 1.6]),
    np.array([0.0, -0.3, 0.8, 1.0, 1.6]),
    np.array([0.0, 0.6, -0.4, 1.3, 1.6]),
)


@dataclass(frozen=True)
class IKResult:
    """A solved arm configuration (radians, ARM_JOINTS order) and its residuals."""

    q_rad: np.ndarray
    position_error_m: float
    orientation_error_rad: float


def grasp_rotation(closing_dir_xy: np.ndarray) -> np.ndarray:
    """Rotation (3x3, world) of a downward gripper closing along ``closing_dir_xy``.

    Columns are the gripper_link axes in the world: x = the horizontal closing direction,
    z = +world z (the fingers extend along gripper -z, so they point down), y = z cross x.
    """
    x = np.array([closing_dir_xy[0], closing_dir_xy[1], 0.0], dtype=float)
    norm = np.linalg.norm(x)
    if norm < 1e-9:
        raise ValueError('closing direction must be a non-zero horizontal vector')
    x /= norm
    z = np.array([0.0, 0.0, 1.0])
    y = np.cross(z, x)
    return np.column_stack([x, y, z])


class Kinematics:
    """FK/IK for one compiled model, on a private ``MjData`` (the simulation is not touched)."""

    def __init__(self, model: mujoco.MjModel) -> None:
        self.model = model
        self._data = mujoco.MjData(model)
        self._qadr = np.array([model.joint(n).qposadr[0] for n in ARM_JOINTS])
        self._dofadr = np.array([model.joint(n).dofadr[0] for n in ARM_JOINTS])
        self._limits = np.array([model.joint(n).range for n in ARM_JOINTS])
        self._site = model.site(GRASP_SITE).id

    def grasp_pose(self, q_arm_rad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World position (m, shape (3,)) and rotation (3x3) of the grasp site at ``q_arm_rad``."""
        self._data.qpos[self._qadr] = q_arm_rad
        mujoco.mj_kinematics(self.model, self._data)
        return (
            self._data.site_xpos[self._site].copy(),
            self._data.site_xmat[self._site].reshape(3, 3).copy(),
        )

    def solve(
        self,
        target_pos: np.ndarray,
        target_rot: np.ndarray,
        q_start_rad: np.ndarray,
        *,
        position_tol_m: float = 1e-3,
        orientation_tol_rad: float = 0.03,
        orientation_weight: float = 0.05,
        max_iters: int = 200,
    ) -> IKResult:
        """Arm joint angles putting the grasp site at ``target_pos`` with rotation ``target_rot``.

        Orientation rows are weighted by ``orientation_weight`` (metres per radian) so a
        centimetre and a few degrees count alike. Joint limits are enforced every iteration.

        Damped least squares can stall against a joint limit, so it restarts from a few fixed
        arm postures when the first start fails and returns the first solution found.

        Raises:
            IKError: the residual stays above tolerance from every start (target out of reach).
        """
        starts = [np.asarray(q_start_rad, dtype=float), *_RESTARTS]
        best: IKError | None = None
        for q0 in starts:
            try:
                return self._solve_from(
                    target_pos,
                    target_rot,
                    q0,
                    position_tol_m,
                    orientation_tol_rad,
                    orientation_weight,
                    max_iters,
                )
            except IKError as e:
                best = best or e
        assert best is not None
        raise best

    def _solve_from(  # noqa: PLR0917 (private helper of solve)
        self,
        target_pos: np.ndarray,
        target_rot: np.ndarray,
        q_start_rad: np.ndarray,
        position_tol_m: float,
        orientation_tol_rad: float,
        orientation_weight: float,
        max_iters: int,
    ) -> IKResult:
        model, data = self.model, self._data
        q = np.clip(np.asarray(q_start_rad, dtype=float), self._limits[:, 0], self._limits[:, 1])
        jacp = np.zeros((3, model.nv))
        jacr = np.zeros((3, model.nv))
        damping = 1e-4
        pos_err = rot_err = np.inf
        for _ in range(max_iters):
            data.qpos[self._qadr] = q
            mujoco.mj_kinematics(model, data)
            mujoco.mj_comPos(model, data)
            pos = data.site_xpos[self._site]
            rot = data.site_xmat[self._site].reshape(3, 3)
            e_pos = target_pos - pos
            # Small-angle rotation error taking rot onto target_rot, world frame.
            e_rot = 0.5 * sum(np.cross(rot[:, i], target_rot[:, i]) for i in range(3))
            pos_err, rot_err = float(np.linalg.norm(e_pos)), float(np.linalg.norm(e_rot))
            if pos_err < position_tol_m and rot_err < orientation_tol_rad:
                break
            mujoco.mj_jacSite(model, data, jacp, jacr, self._site)
            jac = np.vstack([jacp[:, self._dofadr], orientation_weight * jacr[:, self._dofadr]])
            err = np.concatenate([e_pos, orientation_weight * e_rot])
            step = jac.T @ np.linalg.solve(jac @ jac.T + damping * np.eye(6), err)
            q = np.clip(q + step, self._limits[:, 0], self._limits[:, 1])
        if not (pos_err < position_tol_m * 3 and rot_err < orientation_tol_rad * 3):
            raise IKError(
                f'IK did not reach {np.round(target_pos, 4).tolist()} m: residual '
                f'{pos_err:.4f} m, '
                f'{rot_err:.3f} rad after {max_iters} iterations; the target is probably out of '
                'reach'
            )
        return IKResult(q, pos_err, rot_err)
