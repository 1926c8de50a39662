"""LeRobot v3.0 datasets: a crash-safe writer and a reader (pyarrow + PyAV, no torch, no ROS).

See :mod:`smolvla_model.datasets.writer` and :mod:`smolvla_model.datasets.reader`;
docs/notes/data.md lists the format facts and where they come from in LeRobot's code.
"""

from smolvla_model.datasets.layout import CODEBASE_VERSION, DEFAULT_FEATURES, DEFAULT_VIDEO_CODEC
from smolvla_model.datasets.reader import LeRobotDataset
from smolvla_model.datasets.writer import LeRobotDatasetWriter
from smolvla_model.errors import DatasetError

__all__ = [
    'CODEBASE_VERSION',
    'DEFAULT_FEATURES',
    'DEFAULT_VIDEO_CODEC',
    'DatasetError',
    'LeRobotDataset',
    'LeRobotDatasetWriter',
]
