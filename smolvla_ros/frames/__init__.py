"""Frame sources: timestamped RGB frames per camera slot (top / wrist / side).

ROS-free. ``FrameSource`` is the protocol; ``SimFrameSource`` (MuJoCo cameras),
``OpenCVFrameSource`` (USB cameras, reopened with back-off), ``VideoFileFrameSource`` and
``ImageFolderFrameSource`` (replay) implement it; ``MultiSource`` combines sources and
``FramePump`` feeds a source's frames to a sink on its own thread. OpenCV and MuJoCo are
imported only when a source that needs them is created.
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
from smolvla_ros.frames.multi import MultiSource
from smolvla_ros.frames.opencv_source import CameraEvent, CameraStatus, OpenCVFrameSource
from smolvla_ros.frames.pump import FramePump, PumpStatus
from smolvla_ros.frames.sim_source import SimFrameSource
from smolvla_ros.frames.source import Backoff, FrameSource

__all__ = [
    'CAMERA_SLOTS',
    'Backoff',
    'CameraEvent',
    'CameraStatus',
    'EndOfStreamError',
    'Frame',
    'FramePump',
    'FrameSource',
    'FrameSourceClosedError',
    'FrameSourceConfigError',
    'FrameSourceError',
    'FrameSourceReadError',
    'FrameSourceTimeoutError',
    'FrameSourceUnavailableError',
    'ImageFolderFrameSource',
    'MultiSource',
    'OpenCVFrameSource',
    'PumpStatus',
    'SimFrameSource',
    'VideoFileFrameSource',
]
