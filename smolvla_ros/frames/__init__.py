"""Frame sources: timestamped RGB frames per camera slot (top / wrist / side)."""

from smolvla_ros.frames.frame import CAMERA_SLOTS, Frame

__all__ = ['CAMERA_SLOTS', 'Frame']
