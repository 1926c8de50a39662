"""Writes LeRobot v3.0 datasets episode by episode, crash-safe.

Use::

    writer = LeRobotDatasetWriter.create(root, fps=30, robot_type='so101_follower',
                                         features=features)
    for frame in episode:
        writer.add_frame(frame, task='pick up the red cube')
    writer.save_episode(success=True)     # the folder is now a valid dataset of all saved episodes
    writer.close()

Crash safety: frames of the current episode are encoded into a staging folder
(``<root>/.staging``, which no LeRobot loader looks into). ``save_episode`` writes the episode's
data file and moves its videos into place, then rewrites the metadata (tasks, episodes, stats,
info.json last), every file through a temporary file and ``os.replace``. A recording killed at any
moment therefore leaves the saved episodes valid; the partial episode is never referenced.

Layout choice: each episode gets its own data file and its own video file per camera
(file index = episode index, 1000 files per chunk folder). LeRobot packs many episodes into
files of up to 100 MB (data) / 500 MB (video); both layouts are valid v3.0, since the episodes
metadata names each episode's file and time range. Appending to a shared MP4 in place cannot be
made crash-safe without copying it, so this writer does not.
"""

from __future__ import annotations

import copy
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from smolvla_model.datasets import layout
from smolvla_model.datasets.stats import ImageStatsAccumulator, aggregate, array_stats
from smolvla_model.datasets.video import VideoEncoder, codec_canonical_name
from smolvla_model.errors import DatasetError

STAGING_DIR = '.staging'
# Episode-metadata columns the writer owns; save_episode(**meta) may not override them.
_RESERVED_PREFIXES = ('stats/', 'videos/', 'data/', 'meta/')
_RESERVED_COLUMNS = {'episode_index', 'tasks', 'length', 'dataset_from_index', 'dataset_to_index'}


def _pa():  # pyarrow and pyarrow.parquet, imported lazily
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as e:
        raise DatasetError(
            "pyarrow is not installed; datasets need it: pip install 'smolvla_ros[dataset]'"
        ) from e
    return pa, pq


def _arrow_type(pa: Any, dtype: str, shape: list[int]) -> Any:
    """The parquet column type LeRobot (HF datasets) uses: a scalar for shape (1,), else nested
    fixed-size lists."""
    t = pa.from_numpy_dtype(np.dtype(dtype))
    if list(shape) == [1]:
        return t
    for n in reversed(shape):
        t = pa.list_(t, int(n))
    return t


def _column(pa: Any, values: np.ndarray, dtype: str, shape: list[int]) -> Any:
    """A pyarrow column of ``values`` (T, *shape) with the LeRobot column type."""
    arr = np.ascontiguousarray(values, dtype=np.dtype(dtype))
    if list(shape) == [1]:
        return pa.array(arr.reshape(-1))
    col = pa.array(arr.reshape(-1))
    for n in reversed(shape):
        col = pa.FixedSizeListArray.from_arrays(col, int(n))
    return col


def _parquet_bytes(table: Any) -> bytes:
    _, pq = _pa()
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def tasks_table(tasks: list[str]) -> Any:
    """meta/tasks.parquet as LeRobot writes it with pandas: column 'task_index' and the task
    strings as the frame's index (named 'task'), with the pandas metadata that restores it."""
    pa, _ = _pa()
    table = pa.table(
        {
            'task_index': pa.array(range(len(tasks)), pa.int64()),
            'task': pa.array(tasks, pa.string()),
        }
    )
    pandas_meta = {
        'index_columns': ['task'],
        'column_indexes': [
            {
                'name': None,
                'field_name': None,
                'pandas_type': 'unicode',
                'numpy_type': 'object',
                'metadata': {'encoding': 'UTF-8'},
            }
        ],
        'columns': [
            {
                'name': 'task_index',
                'field_name': 'task_index',
                'pandas_type': 'int64',
                'numpy_type': 'int64',
                'metadata': None,
            },
            {
                'name': 'task',
                'field_name': 'task',
                'pandas_type': 'unicode',
                'numpy_type': 'object',
                'metadata': None,
            },
        ],
        'creator': {'library': 'pyarrow', 'version': pa.__version__},
        'pandas_version': '2.2.3',
    }
    return table.replace_schema_metadata({b'pandas': json.dumps(pandas_meta).encode()})


def _validate_features(features: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(features, dict) or not features:
        raise DatasetError(
            'features must be a non-empty dict {name: {"dtype", "shape", "names"}} '
            "(LeRobot's info.json features schema)"
        )
    out: dict[str, dict[str, Any]] = {}
    for key, ft in features.items():
        if not isinstance(key, str) or not key or '/' in key:
            raise DatasetError(f'feature name {key!r} is invalid: a non-empty string without "/"')
        if key in layout.DEFAULT_FEATURES:
            continue  # the writer fills these columns itself
        if not isinstance(ft, dict) or 'dtype' not in ft or 'shape' not in ft:
            raise DatasetError(f'feature {key!r} needs "dtype" and "shape" (got {ft!r})')
        shape = list(ft['shape'])
        if not shape or not all(isinstance(n, int) and n > 0 for n in shape):
            raise DatasetError(f'feature {key!r}: shape {shape} must be positive integers')
        dtype = ft['dtype']
        if dtype == 'video':
            if len(shape) != 3 or shape[2] != 3:
                raise DatasetError(
                    f'video feature {key!r}: shape {shape} must be [height, width, 3] (RGB)'
                )
            if shape[0] % 2 or shape[1] % 2:
                raise DatasetError(
                    f'video feature {key!r}: height and width {shape[:2]} must be even '
                    '(yuv420p halves the chroma resolution)'
                )
        elif dtype not in layout.NUMERIC_DTYPES:
            raise DatasetError(
                f'feature {key!r}: dtype {dtype!r} is unsupported; use "video" for cameras or '
                f'one of {layout.NUMERIC_DTYPES}'
            )
        names = ft.get('names')
        if dtype == 'video' and names is None:
            names = ['height', 'width', 'channels']
        out[key] = {'dtype': dtype, 'shape': shape, 'names': copy.deepcopy(names)}
    return out


def _meta_value(key: str, value: Any) -> Any:
    if not isinstance(key, str) or not key or key in _RESERVED_COLUMNS:
        raise DatasetError(f'episode metadata key {key!r} is reserved or invalid')
    if key.startswith(_RESERVED_PREFIXES):
        raise DatasetError(
            f'episode metadata key {key!r} uses a reserved prefix {_RESERVED_PREFIXES}'
        )
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, (bool, int, float, str)):
        raise DatasetError(
            f'episode metadata {key}={value!r}: only bool, int, float or str values are stored'
        )
    return value


class LeRobotDatasetWriter:
    """Writes a LeRobot v3.0 dataset; see the module docstring. Not thread-safe."""

    def __init__(
        self,
        root: Path,
        *,
        fps: int,
        robot_type: str,
        features: dict[str, dict[str, Any]],
        video_codec: str,
        video_codec_name: str,
    ) -> None:
        # Use create(); the constructor trusts its (validated) arguments.
        self.root = root
        self.fps = fps
        self.robot_type = robot_type
        self.user_features = features
        self.video_codec = video_codec
        self.camera_keys = tuple(k for k, f in features.items() if f['dtype'] == 'video')
        self.numeric_keys = tuple(k for k, f in features.items() if f['dtype'] != 'video')
        self.features: dict[str, dict[str, Any]] = {}
        for key, user_ft in features.items():
            ft = copy.deepcopy(user_ft)
            if ft['dtype'] == 'video':
                h, w, c = ft['shape']
                ft['info'] = {
                    'video.height': h,
                    'video.width': w,
                    'video.codec': video_codec_name,
                    'video.pix_fmt': layout.VIDEO_PIX_FMT,
                    'video.is_depth_map': False,
                    'video.fps': fps,
                    'video.channels': c,
                    'has_audio': False,
                }
            self.features[key] = ft
        self.features.update(copy.deepcopy(layout.DEFAULT_FEATURES))
        self.tasks: list[str] = []
        self.episodes: list[dict[str, Any]] = []  # episode-metadata rows
        self.episode_stats: list[dict[str, dict[str, np.ndarray]]] = []
        self.total_frames = 0
        self.extra_info: dict[str, Any] = {}
        self._closed = False
        self._reset_buffer()

    # -- creation -----------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        root: str | os.PathLike[str],
        *,
        fps: int,
        robot_type: str,
        features: dict,
        video_codec: str = layout.DEFAULT_VIDEO_CODEC,
        extra_info: dict[str, Any] | None = None,
    ) -> LeRobotDatasetWriter:
        """Start a new dataset in ``root`` and write its (empty) meta/info.json.

        Args:
            root: folder to create; may exist only if empty.
            fps: frames per second (Hz), a positive integer; timestamps are frame_index / fps.
            robot_type: LeRobot's robot type, e.g. 'so101_follower'.
            features: LeRobot info.json features (dtype/shape/names) of the recorded columns;
                cameras have dtype 'video' and shape [height, width, 3]. The default columns
                (timestamp, frame_index, episode_index, index, task_index) are added.
            video_codec: FFmpeg encoder; LeRobot's default 'libsvtav1' (AV1).
            extra_info: additional top-level info.json keys (e.g. 'units'); LeRobot's loader
                keeps unknown keys.

        Raises:
            DatasetError: ``root`` exists and is not empty, an argument is invalid, or the codec
                is unavailable. Nothing is written then.
        """
        if isinstance(fps, bool) or not isinstance(fps, int) or fps <= 0:
            raise DatasetError(f'fps must be a positive integer (Hz), got {fps!r}')
        if not isinstance(robot_type, str) or not robot_type:
            raise DatasetError(f'robot_type must be a non-empty string, got {robot_type!r}')
        user_features = _validate_features(features)
        reserved = set(layout.DEFAULT_FEATURES) | {
            'codebase_version',
            'features',
            'fps',
            'total_episodes',
            'total_frames',
            'total_tasks',
            'splits',
            'data_path',
            'video_path',
            'robot_type',
            'chunks_size',
            'data_files_size_in_mb',
            'video_files_size_in_mb',
        }
        extra = dict(extra_info or {})
        clash = sorted(set(extra) & reserved)
        if clash:
            raise DatasetError(f'extra_info keys {clash} collide with info.json keys')
        try:
            json.dumps(extra)
        except (TypeError, ValueError) as e:
            raise DatasetError(f'extra_info must be JSON-serialisable: {e}') from e
        codec_name = (
            codec_canonical_name(video_codec)
            if any(f['dtype'] == 'video' for f in user_features.values())
            else video_codec
        )
        _pa()
        path = Path(root)
        if path.exists():
            if not path.is_dir():
                raise DatasetError(f'{path} exists and is not a folder; choose a new output path')
            if any(path.iterdir()):
                raise DatasetError(
                    f'{path} exists and is not empty; refusing to write a dataset into it. '
                    'Choose a new folder or delete this one.'
                )
        writer = cls(
            path,
            fps=fps,
            robot_type=robot_type,
            features=user_features,
            video_codec=video_codec,
            video_codec_name=codec_name,
        )
        writer.extra_info = extra
        try:
            path.mkdir(parents=True, exist_ok=True)
            layout.atomic_write_json(path / layout.INFO_PATH, writer._info())
        except (OSError, DatasetError) as e:
            raise DatasetError(f'cannot create the dataset in {path}: {e}') from e
        return writer

    # -- frames -------------------------------------------------------------------------------

    def _reset_buffer(self) -> None:
        self._columns: dict[str, list[np.ndarray]] = {k: [] for k in self.numeric_keys}
        self._frame_tasks: list[int] = []
        self._encoders: dict[str, VideoEncoder] = {}
        self._image_stats: dict[str, ImageStatsAccumulator] = {}
        self._new_tasks: list[str] = []

    @property
    def episode_length(self) -> int:
        """Frames buffered in the current (unsaved) episode."""
        return len(self._frame_tasks)

    def _check_frame(self, frame: Any, task: Any) -> dict[str, np.ndarray]:
        if self._closed:
            raise DatasetError('the writer is closed; create a new one to write more')
        if not isinstance(task, str) or not task.strip():
            raise DatasetError(f'task must be a non-empty string, got {task!r}')
        if not isinstance(frame, dict):
            raise DatasetError(f'frame must be a dict of feature arrays, got {type(frame)}')
        missing = sorted(set(self.user_features) - set(frame))
        extra = sorted(set(frame) - set(self.user_features))
        if missing or extra:
            raise DatasetError(
                f'frame keys do not match the dataset features: missing {missing}, '
                f'unexpected {extra}; give exactly {sorted(self.user_features)} '
                '(timestamp and indices are filled by the writer)'
            )
        checked: dict[str, np.ndarray] = {}
        for key, ft in self.user_features.items():
            value = frame[key]
            if ft['dtype'] == 'video':
                arr = np.asarray(value)
                if arr.dtype != np.uint8:
                    raise DatasetError(
                        f'camera {key!r}: dtype {arr.dtype} is not uint8; give RGB uint8 '
                        '(H, W, 3) pixels (0..255)'
                    )
                if list(arr.shape) != ft['shape']:
                    raise DatasetError(
                        f'camera {key!r}: shape {arr.shape} != feature shape {tuple(ft["shape"])}'
                        ' (H, W, 3)'
                    )
            else:
                try:
                    arr = np.asarray(value, dtype=np.dtype(ft['dtype']))
                except (TypeError, ValueError) as e:
                    raise DatasetError(f'{key!r}: not convertible to {ft["dtype"]}: {e}') from e
                want = tuple(ft['shape'])
                if arr.shape != want and not (want == (1,) and arr.shape == ()):
                    raise DatasetError(f'{key!r}: shape {arr.shape} != feature shape {want}')
                if arr.dtype.kind == 'f' and not np.all(np.isfinite(arr)):
                    raise DatasetError(f'{key!r}: contains NaN or inf ({arr.tolist()})')
                if arr.dtype.kind == 'f' and np.asarray(value).dtype.kind in 'fi':
                    src = np.asarray(value, dtype=np.float64)
                    if np.any(np.isfinite(src) & ~np.isfinite(arr.astype(np.float64))):
                        raise DatasetError(f'{key!r}: values overflow {ft["dtype"]}')
                arr = arr.reshape(want).copy()
            checked[key] = arr
        return checked

    def add_frame(self, frame: dict, task: str) -> None:
        """Buffer one frame of the current episode.

        Args:
            frame: every feature given at create: numeric features as arrays of their shape
                (e.g. 'observation.state', 'action' float (D,)), cameras as (H, W, 3) uint8 RGB.
            task: the language instruction of this frame.

        Raises:
            DatasetError: a key is missing or unexpected, a shape or dtype is wrong, or a value
                is not finite. The frame is not added then.
        """
        checked = self._check_frame(frame, task)
        if task not in self.tasks and task not in self._new_tasks:
            self._new_tasks.append(task)
        for key in self.camera_keys:
            enc = self._encoders.get(key)
            if enc is None:
                h, w, _ = self.user_features[key]['shape']
                staging = self.root / STAGING_DIR / f'{key}.mp4'
                staging.parent.mkdir(parents=True, exist_ok=True)
                staging.unlink(missing_ok=True)
                enc = VideoEncoder(
                    staging, fps=self.fps, height=h, width=w, codec=self.video_codec
                )
                self._encoders[key] = enc
                self._image_stats[key] = ImageStatsAccumulator()
            enc.add(checked[key])
            self._image_stats[key].add(checked[key])
        for key in self.numeric_keys:
            self._columns[key].append(checked[key])
        all_tasks = self.tasks + self._new_tasks
        self._frame_tasks.append(all_tasks.index(task))

    def clear_episode(self) -> None:
        """Drop the buffered episode (its staged videos are deleted); saved episodes stay."""
        for enc in self._encoders.values():
            enc.abort()
        self._reset_buffer()

    # -- saving -------------------------------------------------------------------------------

    def save_episode(self, **episode_meta: Any) -> int:
        """Write the buffered episode; afterwards ``root`` is a valid dataset of all saved ones.

        Args:
            episode_meta: extra episode-metadata columns (bool/int/float/str), e.g.
                ``success=True``; episodes that lack a column get null there.

        Returns:
            The saved episode's index.

        Raises:
            DatasetError: no frame is buffered, a metadata value is invalid, or writing fails.
                On a failure nothing new is referenced by the metadata.
        """
        if self._closed:
            raise DatasetError('the writer is closed; create a new one to write more')
        length = self.episode_length
        if length == 0:
            raise DatasetError('save_episode: no frame was added since the last save')
        meta = {k: _meta_value(k, v) for k, v in episode_meta.items()}
        pa, _ = _pa()
        ep = len(self.episodes)
        chunk, file = layout.chunk_file(ep)
        start = self.total_frames
        tasks_after = self.tasks + self._new_tasks

        # 1. The data table of this episode.
        frame_index = np.arange(length, dtype=np.int64)
        values: dict[str, np.ndarray] = {k: np.stack(v) for k, v in self._columns.items()}
        values['timestamp'] = (frame_index / self.fps).astype(np.float32)
        values['frame_index'] = frame_index
        values['episode_index'] = np.full(length, ep, np.int64)
        values['index'] = start + frame_index
        values['task_index'] = np.asarray(self._frame_tasks, np.int64)
        cols = {}
        for key, ft in self.features.items():
            if ft['dtype'] == 'video':
                continue
            cols[key] = _column(pa, values[key], ft['dtype'], ft['shape'])
        data_table = pa.table(cols)

        # 2. Statistics of this episode.
        ep_stats: dict[str, dict[str, np.ndarray]] = {}
        for key, ft in self.features.items():
            if ft['dtype'] == 'video':
                ep_stats[key] = self._image_stats[key].stats()
            else:
                ep_stats[key] = array_stats(values[key].reshape(length, *ft['shape']))

        # 3. Finish the videos (still in staging) and move everything into place.
        row: dict[str, Any] = {
            'episode_index': ep,
            'tasks': sorted({tasks_after[i] for i in self._frame_tasks}, key=tasks_after.index),
            'length': length,
            'data/chunk_index': chunk,
            'data/file_index': file,
            'dataset_from_index': start,
            'dataset_to_index': start + length,
        }
        try:
            for key in self.camera_keys:
                self._encoders[key].close()
            for key in self.camera_keys:
                row[f'videos/{key}/chunk_index'] = chunk
                row[f'videos/{key}/file_index'] = file
                row[f'videos/{key}/from_timestamp'] = 0.0
                row[f'videos/{key}/to_timestamp'] = length / self.fps
            row['meta/episodes/chunk_index'] = 0
            row['meta/episodes/file_index'] = 0
            for key, st in ep_stats.items():
                for name in ('min', 'max', 'mean', 'std', 'count'):
                    row[f'stats/{key}/{name}'] = np.asarray(st[name]).tolist()
            row.update(meta)
            # Data and videos first: unreferenced until the metadata below names them.
            layout.atomic_write_bytes(
                self.root / layout.DATA_PATH.format(chunk_index=chunk, file_index=file),
                _parquet_bytes(data_table),
            )
            for key in self.camera_keys:
                dst = self.root / layout.VIDEO_PATH.format(
                    video_key=key, chunk_index=chunk, file_index=file
                )
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self._encoders[key].path, dst)
            self._commit_meta(
                tasks_after,
                [*self.episodes, row],
                [*self.episode_stats, ep_stats],
                self.total_frames + length,
            )
        except OSError as e:
            raise DatasetError(f'saving episode {ep} into {self.root} failed: {e}') from e
        self.tasks = tasks_after
        self.episodes.append(row)
        self.episode_stats.append(ep_stats)
        self.total_frames += length
        self._reset_buffer()
        return ep

    def _info(
        self, total_episodes: int = 0, total_frames: int = 0, total_tasks: int = 0
    ) -> dict[str, Any]:
        info: dict[str, Any] = {
            'codebase_version': layout.CODEBASE_VERSION,
            'robot_type': self.robot_type,
            'total_episodes': total_episodes,
            'total_frames': total_frames,
            'total_tasks': total_tasks,
            'chunks_size': layout.DEFAULT_CHUNKS_SIZE,
            'data_files_size_in_mb': layout.DEFAULT_DATA_FILE_SIZE_IN_MB,
            'video_files_size_in_mb': layout.DEFAULT_VIDEO_FILE_SIZE_IN_MB,
            'fps': self.fps,
            'splits': {'train': f'0:{total_episodes}'} if total_episodes else {},
            'data_path': layout.DATA_PATH,
            'video_path': layout.VIDEO_PATH if self.camera_keys else None,
            'features': self.features,
        }
        info.update(self.extra_info)
        return info

    def _commit_meta(
        self,
        tasks: list[str],
        episodes: list[dict[str, Any]],
        episode_stats: list[dict[str, dict[str, np.ndarray]]],
        total_frames: int,
    ) -> None:
        pa, _ = _pa()
        layout.atomic_write_bytes(
            self.root / layout.TASKS_PATH, _parquet_bytes(tasks_table(tasks))
        )
        keys: list[str] = []
        for r in episodes:
            keys.extend(k for k in r if k not in keys)
        columns = {}
        for k in keys:
            col = [r.get(k) for r in episodes]
            if k == 'tasks':
                columns[k] = pa.array(col, pa.list_(pa.string()))
            elif k.startswith('stats/') or isinstance(next(v for v in col if v is not None), list):
                columns[k] = pa.array(col)
            elif k.endswith('_timestamp'):
                columns[k] = pa.array(col, pa.float64())
            elif all(isinstance(v, bool) or v is None for v in col):
                columns[k] = pa.array(col, pa.bool_())
            elif all((isinstance(v, int) and not isinstance(v, bool)) or v is None for v in col):
                columns[k] = pa.array(col, pa.int64())
            else:
                columns[k] = pa.array(col)
        layout.atomic_write_bytes(
            self.root / layout.EPISODES_PATH.format(chunk_index=0, file_index=0),
            _parquet_bytes(pa.table(columns)),
        )
        stats = {key: aggregate([s[key] for s in episode_stats]) for key in episode_stats[0]}
        layout.atomic_write_json(
            self.root / layout.STATS_PATH,
            {k: {n: np.asarray(v).tolist() for n, v in st.items()} for k, st in stats.items()},
        )
        # info.json last: its totals are the commit point for readers that trust them.
        layout.atomic_write_json(
            self.root / layout.INFO_PATH, self._info(len(episodes), total_frames, len(tasks))
        )

    def close(self) -> None:
        """Drop any unsaved episode and remove the staging folder (idempotent). Saved episodes
        stay valid; a writer is also safe to abandon without close (a crash)."""
        if self._closed:
            return
        self.clear_episode()
        shutil.rmtree(self.root / STAGING_DIR, ignore_errors=True)
        self._closed = True

    def __enter__(self) -> LeRobotDatasetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ['LeRobotDatasetWriter', 'tasks_table']
