"""Frame sources: timestamped RGB frames per camera slot (top / wrist / side)."""

from smolvla_ros.frames.frame import CAMERA_SLOTS, Frame
from smolvla_ros.frames.latest import SELECTION_REASONS, FrameSelectionError, LatestFrames

__all__ = ['CAMERA_SLOTS', 'SELECTION_REASONS', 'Frame', 'FrameSelectionError', 'LatestFrames']
