"""Fault matrix: the LeRobot v3.0 dataset writer and reader (smolvla_model.datasets).

Each test names its fault in the docstring's first line and checks the named error or the safe
state AND that nothing else changed: the metadata files are byte-identical, the dataset still
reads as the episodes saved before, and the writer's state is unchanged.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip('pyarrow')
pytest.importorskip('av')

from smolvla_model.datasets import (
    DatasetError,
    LeRobotDataset,
    LeRobotDatasetWriter,
)

CAM = 'observation.images.top'
FEATURES = {
    'observation.state': {'dtype': 'float32', 'shape': [2], 'names': ['a.pos', 'b.pos']},
    'action': {'dtype': 'float32', 'shape': [2], 'names': ['a.pos', 'b.pos']},
    CAM: {'dtype': 'video', 'shape': [16, 16, 3], 'names': ['height', 'width', 'channels']},
}


def _add(writer: LeRobotDatasetWriter, n: int, value: float) -> None:
    for i in range(n):
        writer.add_frame(
            {
                'observation.state': np.array([value, i], np.float32),
                'action': np.array([value, -i], np.float32),
                CAM: np.full((16, 16, 3), (10 * i) % 256, np.uint8),
            },
            'task',
        )


def _meta(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / 'meta').rglob('*'))
        if p.is_file()
    }


@pytest.fixture
def one_episode(tmp_path: Path) -> tuple[Path, LeRobotDatasetWriter]:
    root = tmp_path / 'ds'
    writer = LeRobotDatasetWriter.create(root, fps=30, robot_type='so101', features=FEATURES)
    _add(writer, 5, 1.0)
    writer.save_episode()
    return root, writer


def test_data_file_cannot_be_written(one_episode) -> None:
    """Fault: the episode's data file cannot be written -> Expected: DatasetError naming it;
    metadata untouched, the dataset still the saved episode, a retry succeeds once cleared."""
    root, writer = one_episode
    _add(writer, 4, 2.0)
    blocker = root / 'data/chunk-000/file-001.parquet'
    blocker.mkdir(parents=True)  # a folder where the file must go: os.replace fails
    before = _meta(root)
    with pytest.raises(DatasetError, match=r'file-001\.parquet'):
        writer.save_episode()
    assert _meta(root) == before
    ds = LeRobotDataset(root)
    assert (ds.num_episodes, ds.num_frames) == (1, 5)
    assert len(writer.episodes) == 1 and writer.episode_length == 4
    blocker.rmdir()
    assert writer.save_episode() == 1
    writer.close()
    ds = LeRobotDataset(root)
    assert (ds.num_episodes, ds.num_frames) == (2, 9)
    np.testing.assert_array_equal(ds.table()['action'][5:, 0], [2.0] * 4)
    assert ds.episode_frames(CAM, 1).shape == (4, 16, 16, 3)


def test_truncated_video(one_episode) -> None:
    """Fault: an episode's MP4 is truncated -> Expected: DatasetError naming the file when its
    frames are decoded; the tables still load; nothing is written by reading."""
    root, writer = one_episode
    writer.close()
    video = root / f'videos/{CAM}/chunk-000/file-000.mp4'
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 3])
    before = _meta(root)
    ds = LeRobotDataset(root)
    assert ds.num_frames == 5
    with pytest.raises(DatasetError, match=r'file-000\.mp4'):
        ds.episode_frames(CAM, 0)
    assert _meta(root) == before


def test_leftovers_of_a_killed_save(one_episode) -> None:
    """Fault: a save killed between its writes left a temp file, an unreferenced data file and
    staged videos -> Expected: the reader ignores them and reads the saved episode exactly."""
    root, writer = one_episode
    writer.close()
    (root / 'meta/.info.json.x1y2.tmp').write_text('{"half": ')
    shutil.copy(root / 'data/chunk-000/file-000.parquet', root / 'data/chunk-000/file-001.parquet')
    (root / '.staging').mkdir()
    (root / '.staging' / f'{CAM}.mp4').write_bytes(b'\x00' * 100)
    ds = LeRobotDataset(root)
    assert (ds.num_episodes, ds.num_frames) == (1, 5)
    np.testing.assert_array_equal(ds.table()['index'], np.arange(5))
    assert ds.episode_frames(CAM, 0).shape == (5, 16, 16, 3)


def test_writer_used_after_close(one_episode) -> None:
    """Fault: add_frame/save_episode after close() -> Expected: DatasetError; nothing written."""
    root, writer = one_episode
    writer.close()
    before = _meta(root)
    with pytest.raises(DatasetError, match='closed'):
        _add(writer, 1, 3.0)
    with pytest.raises(DatasetError, match='closed'):
        writer.save_episode()
    assert _meta(root) == before
    assert not (root / '.staging').exists()
