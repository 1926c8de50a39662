"""The LeRobot v3.0 dataset layout: paths, constants, and atomic file writes.

The facts here come from LeRobot's public code (``src/lerobot/datasets/utils.py``,
``video_utils.py``, ``lerobot_dataset.py``); docs/notes/data.md lists them with their sources.
Only numpy, pyarrow and the standard library are used, so this module imports anywhere.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from smolvla_model.errors import DatasetError

CODEBASE_VERSION = 'v3.0'
# LeRobot's defaults: at most 1000 files per chunk folder; size caps (MB) per data / video file.
# This writer keeps one data file and one video file per camera per episode, far under the caps,
# so a killed recording never leaves a half-appended shared file (see writer.py).
DEFAULT_CHUNKS_SIZE = 1000
DEFAULT_DATA_FILE_SIZE_IN_MB = 100
DEFAULT_VIDEO_FILE_SIZE_IN_MB = 500

INFO_PATH = 'meta/info.json'
STATS_PATH = 'meta/stats.json'
TASKS_PATH = 'meta/tasks.parquet'
EPISODES_DIR = 'meta/episodes'
EPISODES_PATH = EPISODES_DIR + '/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet'
DATA_PATH = 'data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet'
VIDEO_PATH = 'videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4'

# Columns every LeRobot frame carries besides the user's features (dtype, shape).
DEFAULT_FEATURES: dict[str, dict[str, Any]] = {
    'timestamp': {'dtype': 'float32', 'shape': [1], 'names': None},
    'frame_index': {'dtype': 'int64', 'shape': [1], 'names': None},
    'episode_index': {'dtype': 'int64', 'shape': [1], 'names': None},
    'index': {'dtype': 'int64', 'shape': [1], 'names': None},
    'task_index': {'dtype': 'int64', 'shape': [1], 'names': None},
}

# LeRobot encodes with libsvtav1 (AV1), yuv420p, GOP 2, CRF 30 by default (video_utils.py).
DEFAULT_VIDEO_CODEC = 'libsvtav1'
VIDEO_PIX_FMT = 'yuv420p'
VIDEO_GOP = 2
VIDEO_CRF = 30

# Numeric dtypes a non-video feature may have (LeRobot stores them as parquet scalars or
# fixed-size lists).
NUMERIC_DTYPES = ('float32', 'float64', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool')


def chunk_file(index: int, chunks_size: int = DEFAULT_CHUNKS_SIZE) -> tuple[int, int]:
    """The (chunk_index, file_index) of the ``index``-th file written (files fill a chunk folder
    up to ``chunks_size`` before the next one starts)."""
    return index // chunks_size, index % chunks_size


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never a part.

    Writes a temporary file in the same folder (same file system, so ``os.replace`` is atomic),
    fsyncs it and replaces the target. The temporary name does not end in ``.parquet``/``.json``,
    so LeRobot's globbing loaders never pick it up.

    Raises:
        DatasetError: the folder cannot be written (names the path).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.' + path.name + '.', suffix='.tmp', dir=path.parent)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise DatasetError(f'cannot write {path}: {e}; check the folder is writable') from e


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, (json.dumps(obj, indent=4, ensure_ascii=False) + '\n').encode())


def read_json(path: Path) -> Any:
    """Read a JSON file of a dataset.

    Raises:
        DatasetError: the file is missing or not valid JSON (names the file).
    """
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except FileNotFoundError as e:
        raise DatasetError(
            f'{path} is missing: not a LeRobot v3.0 dataset folder (or an interrupted copy); '
            'point at the folder that holds meta/info.json'
        ) from e
    except (OSError, ValueError) as e:
        raise DatasetError(f'{path} is unreadable or not valid JSON: {e}') from e
