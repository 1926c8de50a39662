"""Reads LeRobot v3.0 dataset folders (this project's writer's, or LeRobot's own).

Use::

    ds = LeRobotDataset('datasets/sim_pick')
    table = ds.table()                      # every non-video column over all frames
    frames = ds.episode_frames('observation.images.top', 0)   # (T, H, W, 3) uint8
    item = ds[17]                           # one frame with its images and task string

Only the episodes named in meta/episodes are read: files that no episode references (an
interrupted recording's leftovers) are ignored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from smolvla_model.datasets import layout
from smolvla_model.datasets.video import decode_frames
from smolvla_model.errors import DatasetError

_REQUIRED_INFO = ('codebase_version', 'fps', 'features', 'total_episodes', 'total_frames')
_REQUIRED_EPISODE_COLUMNS = ('episode_index', 'length', 'dataset_from_index', 'dataset_to_index')


def _read_parquet(path: Path) -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise DatasetError(
            "pyarrow is not installed; datasets need it: pip install 'smolvla_ros[dataset]'"
        ) from e
    if not path.is_file():
        raise DatasetError(f'{path} is missing; the dataset is incomplete or not LeRobot v3.0')
    try:
        return pq.read_table(path)
    except Exception as e:  # ArrowInvalid / OSError on corrupt files
        raise DatasetError(f'{path} is not a readable parquet file: {e}') from e


def _column_numpy(table: Any, key: str, dtype: str, shape: list[int], where: Path) -> np.ndarray:
    """A (N, *shape) array (or (N,) for shape [1]) of a parquet column of scalars or lists."""
    import pyarrow as pa

    flat = table.column(key).combine_chunks()
    n = len(flat)
    # Nested (fixed-size or variable) lists: flatten level by level.
    while (
        pa.types.is_list(flat.type)
        or pa.types.is_fixed_size_list(flat.type)
        or pa.types.is_large_list(flat.type)
    ):
        flat = flat.flatten()
    values = flat.to_numpy(zero_copy_only=False)
    size = int(np.prod(shape))
    if values.size != n * size:
        raise DatasetError(
            f'{where}: column {key!r} holds {values.size} values for {n} frames; expected '
            f'shape {shape} per frame as info.json says'
        )
    out = values.astype(np.dtype(dtype), copy=False)
    return out.reshape(n) if list(shape) == [1] else out.reshape(n, *shape)


class LeRobotDataset:
    """A LeRobot v3.0 dataset folder, loaded for reading (tables in memory, videos on demand).

    Attributes:
        root: the folder. info: meta/info.json. features: info['features']. fps: Hz.
        robot_type: info['robot_type'] or None. num_episodes, num_frames: totals.
        tasks: task strings by task_index. stats: meta/stats.json as arrays per feature.
        camera_keys: the video features. episode_bounds: (E, 2) int64 [from, to) frame indices.
        episodes: the episodes metadata (without stats columns) as column -> list.

    Raises (constructor):
        DatasetError: a meta file is missing or corrupt, the version is not v3.x, or the files
            disagree (names the file and what to do).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f'dataset folder {self.root} does not exist')
        info_path = self.root / layout.INFO_PATH
        info = layout.read_json(info_path)
        if not isinstance(info, dict):
            raise DatasetError(f'{info_path} must hold a JSON object')
        missing = [k for k in _REQUIRED_INFO if k not in info]
        if missing:
            raise DatasetError(f'{info_path} lacks {missing}; it is not a LeRobot v3.0 info.json')
        version = str(info['codebase_version'])
        if not version.startswith('v3.'):
            raise DatasetError(
                f'{info_path}: codebase_version {version!r} is unsupported; this reader reads '
                "v3.x. Convert older datasets with LeRobot's convert_dataset_v21_to_v30 script."
            )
        self.info: dict[str, Any] = info
        self.features: dict[str, dict[str, Any]] = info['features']
        if not isinstance(self.features, dict):
            raise DatasetError(f'{info_path}: "features" must be an object')
        try:
            self.fps = int(info['fps'])
            self.num_episodes = int(info['total_episodes'])
            self.num_frames = int(info['total_frames'])
            for ft in self.features.values():
                ft['shape'] = [int(n) for n in ft['shape']]
                str(ft['dtype'])
        except (TypeError, ValueError, KeyError) as e:
            raise DatasetError(f'{info_path}: malformed fps/totals/features ({e})') from e
        self.robot_type: str | None = info.get('robot_type')
        self.camera_keys: tuple[str, ...] = tuple(
            k for k, f in self.features.items() if f['dtype'] == 'video'
        )
        self.data_path_template = info.get('data_path') or layout.DATA_PATH
        self.video_path_template = info.get('video_path') or layout.VIDEO_PATH
        self._frame_cache: dict[str, tuple[int, np.ndarray]] = {}
        self._load_tasks()
        self._load_episodes()
        self._load_stats()
        self._load_data()

    # -- loading ------------------------------------------------------------------------------

    def _load_tasks(self) -> None:
        path = self.root / layout.TASKS_PATH
        if self.num_episodes == 0 and not path.exists():
            self.tasks: list[str] = []
            return
        table = _read_parquet(path)
        names = table.column_names
        if 'task_index' not in names:
            raise DatasetError(f'{path} lacks the task_index column')
        # The task strings are the pandas index: a 'task' column or pandas' default index name.
        text_col = next((c for c in ('task', '__index_level_0__') if c in names), None)
        if text_col is None:
            raise DatasetError(f'{path} holds no task strings (no "task" index column)')
        index = table.column('task_index').to_pylist()
        text = table.column(text_col).to_pylist()
        tasks: list[str | None] = [None] * len(index)
        for i, t in zip(index, text, strict=True):
            if not isinstance(i, int) or not 0 <= i < len(index) or tasks[i] is not None:
                raise DatasetError(f'{path}: task_index values must be 0..{len(index) - 1} once')
            tasks[i] = t
        self.tasks = [str(t) for t in tasks]

    def _load_episodes(self) -> None:
        folder = self.root / layout.EPISODES_DIR
        paths = sorted(folder.glob('*/*.parquet')) if folder.is_dir() else []
        if not paths:
            if self.num_episodes == 0:
                self.episodes: dict[str, list[Any]] = {}
                self.episode_bounds = np.zeros((0, 2), np.int64)
                return
            raise DatasetError(
                f'{folder} holds no episodes parquet file but {layout.INFO_PATH} says '
                f'{self.num_episodes} episodes; the dataset is incomplete'
            )
        rows: list[dict[str, Any]] = []
        for path in paths:
            table = _read_parquet(path)
            lacking = [c for c in _REQUIRED_EPISODE_COLUMNS if c not in table.column_names]
            if lacking:
                raise DatasetError(f'{path} lacks the columns {lacking}')
            keep = [c for c in table.column_names if not c.startswith('stats/')]
            rows.extend(table.select(keep).to_pylist())
        rows.sort(key=lambda r: r['episode_index'])
        if len(rows) != self.num_episodes or [r['episode_index'] for r in rows] != list(
            range(len(rows))
        ):
            raise DatasetError(
                f'{folder} lists episodes {[r["episode_index"] for r in rows][:10]}... '
                f'({len(rows)}) but {layout.INFO_PATH} says {self.num_episodes}; '
                'the metadata is inconsistent'
            )
        keys: list[str] = []
        for r in rows:
            keys.extend(k for k in r if k not in keys)
        self.episodes = {k: [r.get(k) for r in rows] for k in keys}
        self.episode_bounds = np.array(
            [[r['dataset_from_index'], r['dataset_to_index']] for r in rows], np.int64
        ).reshape(-1, 2)
        lengths = np.array([r['length'] for r in rows], np.int64)
        if np.any(self.episode_bounds[:, 1] - self.episode_bounds[:, 0] != lengths):
            raise DatasetError(f'{folder}: dataset_to_index - dataset_from_index != length')
        if int(lengths.sum()) != self.num_frames:
            raise DatasetError(
                f'{folder}: episodes hold {int(lengths.sum())} frames but {layout.INFO_PATH} '
                f'says total_frames={self.num_frames}'
            )

    def _load_stats(self) -> None:
        path = self.root / layout.STATS_PATH
        if self.num_episodes == 0 and not path.exists():
            self.stats: dict[str, dict[str, np.ndarray]] = {}
            return
        raw = layout.read_json(path)
        if not isinstance(raw, dict):
            raise DatasetError(f'{path} must hold a JSON object of features')
        try:
            self.stats = {
                key: {name: np.asarray(v, dtype=np.float64) for name, v in st.items()}
                for key, st in raw.items()
            }
        except (AttributeError, TypeError, ValueError) as e:
            raise DatasetError(f'{path}: malformed statistics ({e})') from e

    def _load_data(self) -> None:
        self._table: dict[str, np.ndarray] = {}
        columns = [k for k, f in self.features.items() if f['dtype'] not in ('video', 'image')]
        if self.num_episodes == 0:
            for key in columns:
                ft = self.features[key]
                shape = (0,) if ft['shape'] == [1] else (0, *ft['shape'])
                self._table[key] = np.zeros(shape, np.dtype(ft['dtype']))
            return
        files: list[tuple[int, int]] = []
        for c, f in zip(
            self.episodes['data/chunk_index'], self.episodes['data/file_index'], strict=True
        ):
            if (c, f) not in files:
                files.append((c, f))
        parts: dict[str, list[np.ndarray]] = {k: [] for k in columns}
        for c, f in files:
            path = self.root / self.data_path_template.format(chunk_index=c, file_index=f)
            table = _read_parquet(path)
            lacking = [k for k in columns if k not in table.column_names]
            if lacking:
                raise DatasetError(f'{path} lacks the columns {lacking} that info.json lists')
            for key in columns:
                ft = self.features[key]
                parts[key].append(_column_numpy(table, key, ft['dtype'], ft['shape'], path))
        merged = {k: np.concatenate(v) for k, v in parts.items()}
        # Keep exactly the referenced frames, in global index order (ignores orphan rows).
        index = merged['index']
        order = np.argsort(index, kind='stable')
        index_sorted = index[order]
        want = np.concatenate([np.arange(a, b) for a, b in self.episode_bounds])
        pos = np.minimum(np.searchsorted(index_sorted, want), len(index_sorted) - 1)
        if np.any(index_sorted[pos] != want):
            raise DatasetError(
                f'{self.root / "data"}: frames referenced by the episodes metadata are missing '
                'from the data files; the dataset is incomplete'
            )
        take = order[pos]
        self._table = {k: v[take] for k, v in merged.items()}
        ep_of_frame = np.repeat(
            np.arange(self.num_episodes), self.episode_bounds[:, 1] - self.episode_bounds[:, 0]
        )
        if np.any(self._table['episode_index'] != ep_of_frame):
            raise DatasetError(f'{self.root / "data"}: episode_index disagrees with meta/episodes')

    # -- access -------------------------------------------------------------------------------

    def table(self) -> dict[str, np.ndarray]:
        """Every non-video column over all frames (copies): 'observation.state' (N, D) float32,
        'action' (N, D) float32, 'timestamp' (N,) float32 s, 'frame_index', 'episode_index',
        'index', 'task_index' (N,) int64, plus any other numeric feature."""
        return {k: v.copy() for k, v in self._table.items()}

    def _check_episode(self, episode_index: int) -> int:
        if isinstance(episode_index, bool) or not isinstance(episode_index, (int, np.integer)):
            raise DatasetError(f'episode_index must be an int, got {episode_index!r}')
        if not 0 <= episode_index < self.num_episodes:
            raise DatasetError(
                f'episode {episode_index} does not exist; the dataset has {self.num_episodes}'
            )
        return int(episode_index)

    def episode_frames(self, camera_key: str, episode_index: int) -> np.ndarray:
        """Decode one camera's frames of one episode.

        Returns:
            (T, H, W, 3) uint8 RGB, T = the episode's length.

        Raises:
            DatasetError: unknown camera or episode, or the video is missing/corrupt.
        """
        if camera_key not in self.camera_keys:
            raise DatasetError(
                f'{camera_key!r} is not a camera of this dataset: {self.camera_keys}'
            )
        ep = self._check_episode(episode_index)
        cached = self._frame_cache.get(camera_key)
        if cached is not None and cached[0] == ep:
            return cached[1].copy()
        try:
            chunk = int(self.episodes[f'videos/{camera_key}/chunk_index'][ep])
            file = int(self.episodes[f'videos/{camera_key}/file_index'][ep])
            start = float(self.episodes[f'videos/{camera_key}/from_timestamp'][ep])
        except (KeyError, TypeError) as e:
            raise DatasetError(
                f'meta/episodes lacks the video columns of {camera_key!r} for episode {ep}'
            ) from e
        path = self.root / self.video_path_template.format(
            video_key=camera_key, chunk_index=chunk, file_index=file
        )
        length = int(self.episode_bounds[ep, 1] - self.episode_bounds[ep, 0])
        frames = decode_frames(path, from_timestamp=start, count=length, fps=self.fps)
        self._frame_cache[camera_key] = (ep, frames)
        return frames.copy()

    def __len__(self) -> int:
        return self.num_frames

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One frame: the table's columns at ``index``, each camera -> (H, W, 3) uint8, and
        'task' -> the task string. Decoding is per episode and cached per camera, so reading an
        episode's frames in order decodes its videos once."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise DatasetError(f'index must be an int, got {index!r}')
        if index < 0:
            index += self.num_frames
        if not 0 <= index < self.num_frames:
            raise IndexError(f'frame {index} out of range for {self.num_frames} frames')
        item: dict[str, Any] = {k: v[index].copy() for k, v in self._table.items()}
        ep = int(item['episode_index'])
        t = int(index - self.episode_bounds[ep, 0])
        for key in self.camera_keys:
            self.episode_frames(key, ep)  # fills the cache
            item[key] = self._frame_cache[key][1][t].copy()
        item['task'] = self.tasks[int(item['task_index'])]
        return item
