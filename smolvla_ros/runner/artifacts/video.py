"""The run's MP4: the cameras side by side with a text strip (imageio + ffmpeg, Pillow text).

Each video frame is one render of the cameras (in the slots' order, left to right) above a strip
of :data:`STRIP_HEIGHT` pixels with the instruction, the queue fill, the last chunk latency, the
success so far and, when set, the banner (a random-weights warning). The writer streams frames
to ffmpeg as they come and :meth:`VideoWriter.close` finishes the file, so a run stopped with
Ctrl-C still leaves a playable MP4 of what ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

STRIP_HEIGHT = 64
# H.264 in yuv420p needs even sizes and ffmpeg prefers multiples of 16; frames are padded to it
# here so the file's size is the one :func:`frame_size` predicts (imageio would rescale).
MACRO_BLOCK = 16


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def frame_size(camera_hw: tuple[int, int], n_cameras: int) -> tuple[int, int]:
    """(height, width) of a video frame for ``n_cameras`` images of ``camera_hw`` pixels."""
    h, w = camera_hw
    return (
        _round_up(h + STRIP_HEIGHT, MACRO_BLOCK),
        _round_up(w * max(1, n_cameras), MACRO_BLOCK),
    )


def compose(
    images: Sequence[np.ndarray], camera_hw: tuple[int, int], lines: Sequence[str]
) -> np.ndarray:
    """One video frame: ``images`` (RGB uint8, each resized to ``camera_hw`` if needed; a missing
    camera is None and shows black) side by side, ``lines`` of text below."""
    from PIL import Image, ImageDraw

    h, w = camera_hw
    out_h, out_w = frame_size(camera_hw, len(images))
    canvas = np.zeros((out_h, out_w, 3), dtype=np.uint8)
    for i, img in enumerate(images):
        if img is None:
            continue
        fitted = (
            img if img.shape[:2] == (h, w) else np.asarray(Image.fromarray(img).resize((w, h)))
        )
        canvas[:h, i * w : (i + 1) * w] = fitted
    pil = Image.fromarray(canvas)
    draw = ImageDraw.Draw(pil)
    for k, line in enumerate(lines[:5]):
        draw.text((4, h + 2 + 12 * k), line, fill=(255, 255, 255))
    return np.asarray(pil)


class VideoWriter:
    """Streams composed frames into an MP4 at ``fps``.

    Raises:
        OSError: the file cannot be created (ffmpeg missing: install imageio-ffmpeg).
    """

    def __init__(self, path: Path, fps: float) -> None:
        import imageio.v2 as imageio

        self.path = Path(path)
        self.frames = 0
        self._writer: Any = imageio.get_writer(
            str(self.path),
            fps=fps,
            codec='libx264',
            quality=7,
            macro_block_size=MACRO_BLOCK,
            ffmpeg_log_level='error',
        )
        self._closed = False

    def append(self, frame: np.ndarray) -> None:
        """Add one (H, W, 3) uint8 frame (sizes from :func:`frame_size`)."""
        self._writer.append_data(frame)
        self.frames += 1

    def close(self) -> None:
        """Finish the MP4. Idempotent."""
        if not self._closed:
            self._closed = True
            self._writer.close()


__all__ = ['STRIP_HEIGHT', 'VideoWriter', 'compose', 'frame_size']
