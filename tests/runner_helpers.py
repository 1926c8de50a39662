"""Helpers shared by tests/test_runner.py and tests/faults/test_runner_faults.py."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# The text strip under the cameras: 64 px, lines 12 px apart from 2 px below the images.
STRIP_LINE_PX = 12


def env_without_checkpoints(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(ROOT) + os.pathsep + str(ROOT / 'tests'),
        MUJOCO_GL=env.get('MUJOCO_GL', 'osmesa'),
        HF_HUB_OFFLINE='1',
        # An empty Hugging Face cache: lerobot/smolvla_base cannot be had.
        HF_HOME=str(tmp_path / 'hf_home'),
        # No shipped checkpoint either (checkpoints/smolvla_so101_sim/ once it ships).
        SMOLVLA_SHIPPED_CHECKPOINT='',
    )
    return env


def run_folder(output: Path) -> Path:
    folders = [p for p in output.iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def video_frames(path: Path) -> np.ndarray:
    import imageio.v3 as iio

    # Decodes every frame through ffmpeg: a truncated or unfinished MP4 raises here.
    return np.asarray(iio.imread(path))


def png_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as img:
        img.load()  # decodes the whole file: a truncated PNG raises here
        return img.size


def text_in_band(frame: np.ndarray, top: int, height: int = STRIP_LINE_PX) -> int:
    """Bright pixels (text drawn in white) in a band of the strip; video noise stays < 100."""
    band = frame[top : top + height].astype(np.int32).sum(axis=2)
    return int((band > 3 * 160).sum())
