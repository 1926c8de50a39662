"""Small LeRobot datasets for the training tests, written with the project's dataset writer.

Frames are synthetic (a bright square whose position follows the first joint, on noise), states
and actions are smooth ramps in LeRobot's so101_follower units (degrees, gripper 0..100).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from smolvla_model.datasets import LeRobotDatasetWriter

JOINTS = ('shoulder_pan', 'shoulder_lift', 'elbow_flex', 'wrist_flex', 'wrist_roll', 'gripper')
NAMES = [f'{j}.pos' for j in JOINTS]
TASK = 'pick up the cube'


def episode_arrays(episode: int, length: int, dim: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """(state, action) [length, dim] float32 of one episode: ramps in degrees (gripper 0..100)."""
    t = np.arange(length, dtype=np.float32)[:, None]
    base = np.linspace(-30, 30, dim, dtype=np.float32)[None, :] + 5.0 * episode
    state = base + 0.5 * t
    state[:, -1] = np.clip(10.0 + 2.0 * t[:, 0], 0, 100)
    action = state + 1.0
    return state.astype(np.float32), action.astype(np.float32)


def write_dataset(
    root: Path,
    *,
    episodes: int = 2,
    length: int = 24,
    size: int = 64,
    cameras: Sequence[str] = ('top', 'wrist', 'side'),
    dim: int = 6,
) -> Path:
    """Write a dataset of ``episodes`` x ``length`` frames at 30 fps into ``root``."""
    names = NAMES if dim == 6 else [f'j{i}.pos' for i in range(dim)]
    features = {
        'observation.state': {'dtype': 'float32', 'shape': [dim], 'names': names},
        'action': {'dtype': 'float32', 'shape': [dim], 'names': names},
    }
    for c in cameras:
        features[f'observation.images.{c}'] = {
            'dtype': 'video',
            'shape': [size, size, 3],
            'names': ['height', 'width', 'channels'],
        }
    writer = LeRobotDatasetWriter.create(
        root, fps=30, robot_type='so101_follower', features=features
    )
    rng = np.random.default_rng(0)
    for e in range(episodes):
        state, action = episode_arrays(e, length, dim)
        for i in range(length):
            frame = {'observation.state': state[i], 'action': action[i]}
            for c in cameras:
                img = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
                x = int(i * (size - 8) / max(1, length - 1))
                img[size // 2 - 4 : size // 2 + 4, x : x + 8] = 255
                frame[f'observation.images.{c}'] = img
            writer.add_frame(frame, task=TASK)
        writer.save_episode()
    writer.close()
    return root


def all_actions(episodes: int = 2, length: int = 24, dim: int = 6) -> np.ndarray:
    """Every action row the dataset holds, [episodes * length, dim]."""
    return np.concatenate([episode_arrays(e, length, dim)[1] for e in range(episodes)])


def tree_state(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with size and mtime (empty when it does not exist)."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob('*'))
    }
