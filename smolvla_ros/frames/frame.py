"""One camera frame with the time it was captured: what every frame source yields."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Cameras are named by role, not by device (architecture: slots). The order is the order the
# checkpoint's image features are usually listed in (OBS_IMAGE_1..3).
CAMERA_SLOTS: tuple[str, ...] = ('top', 'wrist', 'side')


@dataclass(frozen=True)
class Frame:
    """An RGB image from one camera slot.

    Attributes:
        slot: the camera's role ('top', 'wrist', 'side', or a configured name).
        rgb: uint8 array, shape (H, W, 3), RGB order. Stored read-only (no copy is made when the
            caller's array is already a uint8 HxWx3 array; it is only flagged read-only).
        capture_time_s: when the image was captured, seconds, on the clock the executor uses
            (time.monotonic for real devices, simulated time in the simulator).
        sequence: increasing frame number of this slot's source (for drop/duplicate accounting).
    """

    slot: str
    rgb: np.ndarray
    capture_time_s: float
    sequence: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.slot, str) or not self.slot:
            raise ValueError(f'Frame.slot must be a non-empty string, got {self.slot!r}')
        rgb = np.asarray(self.rgb)
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape:
            raise ValueError(
                f'frame for slot {self.slot!r} must be uint8 RGB of shape (H, W, 3), got '
                f'dtype {rgb.dtype} shape {rgb.shape}'
            )
        if not math.isfinite(self.capture_time_s):
            raise ValueError(
                f'frame for slot {self.slot!r} has capture_time_s={self.capture_time_s}; '
                'it must be a finite time in seconds'
            )
        if rgb.flags.writeable:
            rgb = rgb.view()
            rgb.setflags(write=False)
        object.__setattr__(self, 'rgb', rgb)

    def age_s(self, now_s: float) -> float:
        """Seconds between capture and ``now_s`` (negative if captured after ``now_s``)."""
        return now_s - self.capture_time_s
