"""Shared helpers of the frame-source tests: real video files and image folders on disk, and a
simulated clock whose sleep advances it (so pacing and back-off are checked exactly)."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from smolvla_ros.frames import Backoff
from smolvla_ros.runtime.clock import SimClock

WIDTH, HEIGHT = 64, 48


def colour_bgr(i: int) -> tuple[int, int, int]:
    """The flat colour of frame ``i`` as OpenCV writes it (blue, green, red)."""
    return (20 * i + 10, 100, 200)


def write_video(path: Path, n: int = 6, fps: float = 20.0) -> Path:
    """An MJPG .avi of ``n`` flat-colour frames, frame i coloured ``colour_bgr(i)``."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), fps, (WIDTH, HEIGHT))
    assert writer.isOpened(), 'this OpenCV cannot write MJPG .avi files'
    for i in range(n):
        image = np.empty((HEIGHT, WIDTH, 3), np.uint8)
        image[:] = colour_bgr(i)
        writer.write(image)
    writer.release()
    return path


def expected_rgb(i: int) -> np.ndarray:
    """What a correct BGR->RGB conversion must give for frame ``i``."""
    b, g, r = colour_bgr(i)
    return np.array([r, g, b], dtype=float)


def write_folder(folder: Path, names: list[str]) -> Path:
    """PNG files named ``names``; the k-th name (in list order) is coloured ``colour_bgr(k)``."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        image = np.empty((HEIGHT, WIDTH, 3), np.uint8)
        image[:] = colour_bgr(k)
        assert cv2.imwrite(str(folder / name), image)
    return folder


class SteppedClock:
    """``now``/``sleep`` pair on simulated time: sleeping advances the clock exactly."""

    def __init__(self, start_s: float = 100.0) -> None:
        self.clock = SimClock(start_s)
        self.slept: list[float] = []

    def now(self) -> float:
        return self.clock.now()

    def sleep(self, dt_s: float) -> None:
        self.slept.append(dt_s)
        self.clock.advance(dt_s)

    def advance(self, dt_s: float) -> float:
        return self.clock.advance(dt_s)


def snapshot_dir(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (to prove nothing was written or changed)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob('*') if p.is_file()}


# A back-off short enough for tests of outages (the defaults wait up to 5 s).
FAST = Backoff(initial_s=0.02, factor=2.0, max_s=0.05)


def wait_for(condition, timeout_s: float = 10.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout_s`` passes; its last value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()
