"""A leader arm as a policy: teleoperation through the same pipeline as every other policy.

:class:`LeaderPolicy` reads an SO-101 leader arm (``so_arm_driver.follower.SoLeader``, a Feetech
bus, torque off, moved by hand) on every request and returns its joint positions as a one-step
chunk. With one action per chunk the executor requests on every control tick, so the leader is
read once per tick and the simulated follower gets that pose one tick later, through the
executor's safety limits (velocity and acceleration clamps), exactly as a policy's actions would.
"""

from __future__ import annotations

import numpy as np

from smolvla_ros.policy.protocol import PolicyInput


class LeaderPolicy:
    """The leader arm's measured joints (radians, URDF convention) as a chunk of one action.

    Args:
        leader: a connected leader (anything with ``joint_names`` and ``read_positions()`` in
            radians, e.g. ``SoLeader``).
        dt_s: the control period, seconds (the action is meant for observation time + dt_s).

    Raises:
        ValueError: dt_s is not > 0.
    """

    def __init__(self, leader: object, dt_s: float) -> None:
        if not dt_s > 0:
            raise ValueError(f'dt_s must be > 0 seconds, got {dt_s}')
        self._leader = leader
        self._dt = float(dt_s)
        self._joints = tuple(leader.joint_names)  # type: ignore[attr-defined]

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self._joints

    @property
    def dt_s(self) -> float:
        return self._dt

    @property
    def required_slots(self) -> tuple[str, ...]:
        return ()

    def reset(self) -> None:
        """Nothing to forget between episodes (the human resets the scene by hand)."""

    def predict(self, request: PolicyInput) -> np.ndarray:
        """The leader's joints now, shape (1, J), radians.

        Raises:
            ValueError: the bus read failed (the worker counts it and asks again next tick;
                so_arm_driver's communication errors are wrapped so the worker stays alive).
        """
        from so_arm_driver.errors import SoArmError

        try:
            q = np.asarray(self._leader.read_positions(), dtype=np.float64)  # type: ignore[attr-defined]
        except SoArmError as e:
            raise ValueError(f'reading the leader arm failed: {e}') from e
        return q.reshape(1, -1)


__all__ = ['LeaderPolicy']
