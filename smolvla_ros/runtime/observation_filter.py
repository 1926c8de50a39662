"""Skip inference for observations that are nearly the same as the last one processed.

Unlike LeRobot's hard-coded ``L2 < 1.0`` (which turns async into sync on radian robots), the
threshold is in radians, weighted per joint, can be switched off, and a request made while the
queue is empty always goes (must-go), so filtering can never deadlock the robot.
"""

from __future__ import annotations

import numpy as np

from smolvla_ros.runtime.config import ObservationFilterConfig


class ObservationFilter:
    """Decides whether a wanted inference request is worth sending.

    Args:
        config: epsilon, weights, on/off.
        num_joints: J, for the default weights.
    """

    def __init__(self, config: ObservationFilterConfig, num_joints: int) -> None:
        self._config = config
        w = config.joint_weights if config.joint_weights is not None else (1.0,) * num_joints
        if len(w) != num_joints:
            raise ValueError(f'joint_weights has {len(w)} values for {num_joints} joints')
        self._weights = np.asarray(w, dtype=np.float64)
        self._last: np.ndarray | None = None

    def distance_rad(self, positions_rad: np.ndarray) -> float:
        """Weighted Euclidean distance to the last processed observation, rad (inf if none)."""
        if self._last is None:
            return float('inf')
        d = np.asarray(positions_rad, dtype=np.float64) - self._last
        return float(np.sqrt(np.sum(self._weights * d * d)))

    def allows(self, positions_rad: np.ndarray, must_go: bool) -> bool:
        """True when the request should be sent.

        Args:
            positions_rad: the observation's joint positions, shape (J,).
            must_go: the queue is empty; the request is sent whatever the distance.
        """
        if must_go or not self._config.enabled:
            return True
        return self.distance_rad(positions_rad) >= self._config.epsilon_rad

    def mark_processed(self, positions_rad: np.ndarray) -> None:
        """Remember the observation that was just sent to the policy."""
        self._last = np.array(positions_rad, dtype=np.float64, copy=True)

    def reset(self) -> None:
        """Forget the last processed observation (the next request always goes)."""
        self._last = None
