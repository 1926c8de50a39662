"""Frame sources: timestamped RGB frames per camera slot (top / wrist / side).

ROS-free. ``FrameSource`` is the protocol; ``SimFrameSource`` (MuJoCo cameras),
``OpenCVFrameSource`` (USB cameras, reopened with back-off), ``VideoFileFrameSource`` and
``ImageFolderFrameSource`` (replay) implement it; ``MultiSource`` combines sources and
``FramePump`` feeds a source's frames to a sink on its own thread, e.g. ``LatestFrames.put``:
the thread-safe store of the newest frame per slot that the policy worker selects from.
OpenCV and MuJoCo are imported only when a source that needs them is created.
"""

from smolvla_ros.frames.errors import (
    EndOfStreamError,
    FrameSourceClosedError,
    FrameSourceConfigError,
    FrameSourceError,
    FrameSourceReadError,
    FrameSourceTimeoutError,
    FrameSourceUnavailableError,
)
from smolvla_ros.frames.files import ImageFolderFrameSource, VideoFileFrameSource
from smolvla_ros.frames.frame import CAMERA_SLOTS, Frame
from smolvla_ros.frames.latest import SELECTION_REASONS, FrameSelectionError, LatestFrames
from smolvla_ros.frames.multi import MultiSource
from smolvla_ros.frames.opencv_source import CameraEvent, CameraStatus, OpenCVFrameSource
from smolvla_ros.frames.pump import FramePump, PumpStatus
from smolvla_ros.frames.sim_source import SimFrameSource
from smolvla_ros.frames.source import Backoff, FrameSource

__all__ = [
    'CAMERA_SLOTS',
    'SELECTION_REASONS',
    'Backoff',
    'CameraEvent',
    'CameraStatus',
    'EndOfStreamError',
    'Frame',
    'FramePump',
    'FrameSelectionError',
    'FrameSource',
    'FrameSourceClosedError',
    'FrameSourceConfigError',
    'FrameSourceError',
    'FrameSourceReadError',
    'FrameSourceTimeoutError',
    'FrameSourceUnavailableError',
    'ImageFolderFrameSource',
    'LatestFrames',
    'MultiSource',
    'OpenCVFrameSource',
    'PumpStatus',
    'SimFrameSource',
    'VideoFileFrameSource',
]
