"""LeRobot v3.0 dataset writer/reader (smolvla_model.datasets): round trip, schema, bad input.

Expected values come from the arrays the test makes (recomputed with numpy) and from the v3.0
format facts in docs/notes/data.md (LeRobot's public code), never from the writer's output.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip('pyarrow')
pq = pytest.importorskip('pyarrow.parquet')
av = pytest.importorskip('av')

from smolvla_model.datasets import (  # noqa: E402
    DatasetError,
    LeRobotDataset,
    LeRobotDatasetWriter,
)
from smolvla_model.errors import SmolVLAError  # noqa: E402

FPS = 30
TOP, WRIST = 'observation.images.top', 'observation.images.wrist'
NAMES = ['shoulder_pan.pos', 'shoulder_lift.pos', 'elbow_flex.pos', 'wrist_flex.pos']
FEATURES = {
    'observation.state': {'dtype': 'float32', 'shape': [4], 'names': NAMES},
    'action': {'dtype': 'float32', 'shape': [4], 'names': NAMES},
    TOP: {'dtype': 'video', 'shape': [32, 48, 3], 'names': ['height', 'width', 'channels']},
    WRIST: {'dtype': 'video', 'shape': [32, 32, 3], 'names': ['height', 'width', 'channels']},
}
REPO = Path(__file__).resolve().parents[1]


def _image(h: int, w: int, i: int, ep: int) -> np.ndarray:
    """A smooth test picture that identifies its frame: gradients in R/G, blue = 7*i + 50*ep."""
    yy, xx = np.mgrid[0:h, 0:w]
    blue = np.full((h, w), (7 * i + 50 * ep) % 256)
    return np.stack([xx * 255 // w, yy * 255 // h, blue], -1).astype(np.uint8)


def _episode(ep: int, n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        'observation.state': rng.normal(0, 40, (n, 4)).astype(np.float32),
        'action': rng.normal(0, 40, (n, 4)).astype(np.float32),
        TOP: np.stack([_image(32, 48, i, ep) for i in range(n)]),
        WRIST: np.stack([_image(32, 32, i, ep + 1) for i in range(n)]),
    }


def _write(root: Path, episodes: list[dict[str, np.ndarray]], tasks: list[str], **kw) -> None:
    writer = LeRobotDatasetWriter.create(
        root, fps=FPS, robot_type='so101_follower', features=FEATURES, **kw
    )
    for k, ep in enumerate(episodes):
        for i in range(len(ep['action'])):
            writer.add_frame({key: ep[key][i] for key in FEATURES}, tasks[k])
        writer.save_episode(success=k % 2 == 0)
    writer.close()


def _snapshot(root: Path) -> dict[str, str]:
    """Every file under root with its content hash (to prove that nothing changed)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob('*'))
        if p.is_file()
    }


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, list[dict[str, np.ndarray]], list[str]]:
    episodes = [_episode(0, 23, 1), _episode(1, 17, 2)]
    tasks = ['pick up the red cube', 'place it in the bin']
    root = tmp_path / 'ds'
    _write(root, episodes, tasks)
    return root, episodes, tasks


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float('inf') if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_round_trip_tables_frames_and_stats(recorded) -> None:
    root, episodes, tasks = recorded
    ds = LeRobotDataset(root)
    assert (ds.num_episodes, ds.num_frames, len(ds)) == (2, 40, 40)
    assert ds.fps == FPS and ds.robot_type == 'so101_follower'
    assert ds.tasks == tasks
    assert ds.camera_keys == (TOP, WRIST)
    np.testing.assert_array_equal(ds.episode_bounds, [[0, 23], [23, 40]])
    assert ds.episode_bounds.dtype == np.int64

    t = ds.table()
    for key in ('observation.state', 'action'):
        want = np.concatenate([e[key] for e in episodes])
        assert t[key].dtype == np.float32 and t[key].shape == (40, 4)
        np.testing.assert_array_equal(t[key], want)  # float32 stored losslessly
    frame_index = np.concatenate([np.arange(23), np.arange(17)])
    np.testing.assert_array_equal(t['frame_index'], frame_index)
    np.testing.assert_array_equal(t['timestamp'], (frame_index / FPS).astype(np.float32))
    assert t['timestamp'].dtype == np.float32
    np.testing.assert_array_equal(t['episode_index'], [0] * 23 + [1] * 17)
    np.testing.assert_array_equal(t['index'], np.arange(40))
    np.testing.assert_array_equal(t['task_index'], [0] * 23 + [1] * 17)
    for key in ('frame_index', 'episode_index', 'index', 'task_index'):
        assert t[key].dtype == np.int64

    # Frames: AV1 at CRF 30 with 4:2:0 chroma is lossy; on these smooth pictures it stays far
    # above 30 dB PSNR (an RMS error of 8 levels). Each decoded frame must also be nearer to its
    # own source than to any other frame of the episode (blue steps 7 levels per frame), which
    # catches a dropped, duplicated or shifted frame that a PSNR bound alone would pass.
    for ep, src in enumerate(episodes):
        for key in (TOP, WRIST):
            got = ds.episode_frames(key, ep)
            assert got.dtype == np.uint8 and got.shape == src[key].shape
            for i in range(len(got)):
                assert _psnr(got[i], src[key][i]) >= 30.0, (key, ep, i)
                errs = [np.mean(np.abs(got[i].astype(int) - s.astype(int))) for s in src[key]]
                assert int(np.argmin(errs)) == i, (key, ep, i)

    # Stats: recomputed here with numpy over all frames (images per channel, in [0, 1]).
    for key in ('observation.state', 'action'):
        v = np.concatenate([e[key] for e in episodes]).astype(np.float64)
        st = ds.stats[key]
        np.testing.assert_allclose(st['mean'], v.mean(0), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(st['std'], v.std(0), rtol=1e-9, atol=1e-9)
        np.testing.assert_array_equal(st['min'], v.min(0))
        np.testing.assert_array_equal(st['max'], v.max(0))
        np.testing.assert_array_equal(st['count'], [40])
    for key in (TOP, WRIST):
        px = np.concatenate([e[key] for e in episodes]).reshape(-1, 3).astype(np.float64) / 255
        st = ds.stats[key]
        for name, want in (
            ('mean', px.mean(0)),
            ('std', px.std(0)),
            ('min', px.min(0)),
            ('max', px.max(0)),
        ):
            assert st[name].shape == (3, 1, 1)
            np.testing.assert_allclose(st[name].reshape(3), want, rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(ds.stats[key]['count'], [40])

    item = ds[30]  # episode 1, frame 7
    assert item['task'] == tasks[1] and int(item['frame_index']) == 7
    np.testing.assert_array_equal(item['action'], episodes[1]['action'][7])
    assert item[TOP].shape == (32, 48, 3) and item[TOP].dtype == np.uint8
    assert _psnr(item[TOP], episodes[1][TOP][7]) >= 30.0
    assert ds.episodes['success'] == [True, False]


def test_schema_matches_lerobot_v30_facts(recorded) -> None:
    """Key names, dtypes and paths as LeRobot's v3.0 code defines them (docs/notes/data.md)."""
    root, _, tasks = recorded
    info = json.loads((root / 'meta/info.json').read_text())
    for key, value in {
        'codebase_version': 'v3.0',
        'robot_type': 'so101_follower',
        'total_episodes': 2,
        'total_frames': 40,
        'total_tasks': 2,
        'chunks_size': 1000,
        'fps': 30,
        'splits': {'train': '0:2'},
        'data_path': 'data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet',
        'video_path': 'videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4',
    }.items():
        assert info[key] == value, key
    assert isinstance(info['data_files_size_in_mb'], int)
    assert isinstance(info['video_files_size_in_mb'], int)
    feats = info['features']
    for key in ('timestamp', 'frame_index', 'episode_index', 'index', 'task_index'):
        assert feats[key]['shape'] == [1]
    assert feats['timestamp']['dtype'] == 'float32' and feats['index']['dtype'] == 'int64'
    assert feats['action'] == FEATURES['action']
    video_info = feats[TOP]['info']
    assert feats[TOP]['dtype'] == 'video' and feats[TOP]['shape'] == [32, 48, 3]
    assert video_info['video.height'] == 32 and video_info['video.width'] == 48
    assert video_info['video.codec'] == 'av1' and video_info['video.pix_fmt'] == 'yuv420p'
    assert video_info['video.fps'] == 30 and video_info['video.channels'] == 3
    assert video_info['video.is_depth_map'] is False and video_info['has_audio'] is False

    data = pq.read_table(root / 'data/chunk-000/file-001.parquet')
    assert data.schema.field('action').type == pa.list_(pa.float32(), 4)
    assert data.schema.field('observation.state').type == pa.list_(pa.float32(), 4)
    assert data.schema.field('timestamp').type == pa.float32()
    for key in ('frame_index', 'episode_index', 'index', 'task_index'):
        assert data.schema.field(key).type == pa.int64()
    assert data.num_rows == 17

    ep = pq.read_table(root / 'meta/episodes/chunk-000/file-000.parquet').to_pylist()
    assert [r['episode_index'] for r in ep] == [0, 1]
    assert [r['tasks'] for r in ep] == [[tasks[0]], [tasks[1]]]
    assert [(r['dataset_from_index'], r['dataset_to_index'], r['length']) for r in ep] == [
        (0, 23, 23),
        (23, 40, 17),
    ]
    assert [(r['data/chunk_index'], r['data/file_index']) for r in ep] == [(0, 0), (0, 1)]
    assert ep[1][f'videos/{TOP}/from_timestamp'] == 0.0
    assert ep[1][f'videos/{TOP}/to_timestamp'] == pytest.approx(17 / 30)
    assert ep[0]['meta/episodes/chunk_index'] == 0 and ep[0]['meta/episodes/file_index'] == 0
    assert np.asarray(ep[0][f'stats/{TOP}/mean']).shape == (3, 1, 1)
    assert ep[0]['stats/action/count'] == [23]

    tasks_table = pq.read_table(root / 'meta/tasks.parquet')
    assert tasks_table.column('task_index').to_pylist() == [0, 1]
    pandas_meta = json.loads(tasks_table.schema.metadata[b'pandas'])
    # pandas.read_parquet turns this column back into the frame's index, as LeRobot expects.
    assert pandas_meta['index_columns'] == ['task']
    assert tasks_table.column('task').to_pylist() == tasks

    stats = json.loads((root / 'meta/stats.json').read_text())
    assert set(stats[TOP]) >= {'mean', 'std', 'min', 'max', 'count'}
    assert np.all((np.asarray(stats[TOP]['min']) >= 0) & (np.asarray(stats[TOP]['max']) <= 1))

    path = root / f'videos/{WRIST}/chunk-000/file-001.mp4'
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert (s.codec_context.name, s.codec_context.pix_fmt) in {
            ('libdav1d', 'yuv420p'),
            ('av1', 'yuv420p'),
            ('libaom-av1', 'yuv420p'),
        }
        assert (s.width, s.height) == (32, 32)
        assert sum(1 for _ in c.decode(s)) == 17
    assert not (root / '.staging').exists()


def _good_frame() -> dict[str, np.ndarray]:
    return {key: _episode(0, 1, 3)[key][0] for key in FEATURES}


@pytest.mark.parametrize(
    ('change', 'words'),
    [
        (lambda f: f.update(action=np.zeros(5, np.float32)), 'shape'),
        (lambda f: f.pop('observation.state'), 'missing'),
        (lambda f: f.update(extra=np.zeros(1)), 'unexpected'),
        (lambda f: f.update({TOP: f[TOP].astype(np.float32)}), 'uint8'),
        (lambda f: f.update({WRIST: f[WRIST][:, :, :2].copy()}), 'shape'),
        (lambda f: f.update(action=np.array([0, np.nan, 0, 0])), 'NaN'),
    ],
)
def test_bad_frame_is_refused_and_changes_nothing(tmp_path: Path, change, words: str) -> None:
    """Fault: a frame with a wrong shape/dtype/key set -> Expected: DatasetError naming it, the
    folder and the buffered episode unchanged, and the writer still usable."""
    root = tmp_path / 'ds'
    writer = LeRobotDatasetWriter.create(
        root, fps=FPS, robot_type='so101_follower', features=FEATURES
    )
    first = _episode(0, 3, 4)
    for i in range(3):
        writer.add_frame({k: first[k][i] for k in FEATURES}, 'task')
    writer.save_episode()
    writer.add_frame(_good_frame(), 'task')
    before = _snapshot(root)
    bad = _good_frame()
    change(bad)
    with pytest.raises(DatasetError, match=words):
        writer.add_frame(bad, 'task')
    assert _snapshot(root) == before
    assert writer.episode_length == 1
    writer.add_frame(_good_frame(), 'task')
    assert writer.save_episode() == 1
    writer.close()
    ds = LeRobotDataset(root)
    assert ds.num_episodes == 2 and ds.num_frames == 5


def test_create_refuses_existing_folder_and_bad_features(tmp_path: Path) -> None:
    """Fault: create() on a non-empty folder or with invalid features -> Expected: DatasetError,
    nothing written."""
    root = tmp_path / 'used'
    root.mkdir()
    (root / 'keep.txt').write_text('mine')
    before = _snapshot(root)
    with pytest.raises(DatasetError, match='not empty'):
        LeRobotDatasetWriter.create(root, fps=FPS, robot_type='so101', features=FEATURES)
    assert _snapshot(root) == before
    assert issubclass(DatasetError, SmolVLAError)

    fresh = tmp_path / 'fresh'
    bad_video = dict(FEATURES)
    bad_video[TOP] = {'dtype': 'video', 'shape': [32, 48, 4]}
    for kwargs, words in (
        ({'features': bad_video}, 'RGB'),
        ({'features': {**FEATURES, 'a/b': {'dtype': 'float32', 'shape': [1]}}}, '/'),
        ({'features': {'x': {'dtype': 'string', 'shape': [1]}}}, 'unsupported'),
        ({'features': FEATURES, 'fps': 0}, 'fps'),
        ({'features': FEATURES, 'video_codec': 'no-such-codec'}, 'no-such-codec'),
    ):
        args = {'fps': FPS, 'robot_type': 'so101', **kwargs}
        with pytest.raises(DatasetError, match=words):
            LeRobotDatasetWriter.create(fresh, **args)
        assert not fresh.exists()

    # An existing empty folder is fine.
    empty = tmp_path / 'empty'
    empty.mkdir()
    LeRobotDatasetWriter.create(empty, fps=FPS, robot_type='so101', features=FEATURES).close()
    assert LeRobotDataset(empty).num_episodes == 0


def test_save_without_frames_and_clear_episode(tmp_path: Path) -> None:
    root = tmp_path / 'ds'
    writer = LeRobotDatasetWriter.create(root, fps=FPS, robot_type='so101', features=FEATURES)
    with pytest.raises(DatasetError, match='no frame'):
        writer.save_episode()
    with pytest.raises(DatasetError, match='reserved'):
        writer.add_frame(_good_frame(), 'task')
        writer.save_episode(length=3)
    dropped = _episode(5, 4, 5)
    writer.clear_episode()
    for i in range(4):
        writer.add_frame({k: dropped[k][i] for k in FEATURES}, 'dropped task')
    writer.clear_episode()
    kept = _episode(0, 2, 6)
    for i in range(2):
        writer.add_frame({k: kept[k][i] for k in FEATURES}, 'kept task')
    assert writer.save_episode() == 0
    writer.close()
    ds = LeRobotDataset(root)
    assert ds.num_frames == 2 and ds.tasks == ['kept task']
    np.testing.assert_array_equal(ds.table()['action'], kept['action'])


@pytest.mark.parametrize(
    ('target', 'damage'),
    [
        ('meta/info.json', 'delete'),
        ('meta/info.json', 'garbage'),
        ('meta/stats.json', 'garbage'),
        ('meta/tasks.parquet', 'delete'),
        ('meta/episodes/chunk-000/file-000.parquet', 'garbage'),
        ('data/chunk-000/file-001.parquet', 'garbage'),
        ('data/chunk-000/file-000.parquet', 'delete'),
    ],
)
def test_missing_or_corrupt_files_name_the_file(recorded, target: str, damage: str) -> None:
    """Fault: a dataset meta/data file missing or corrupt -> Expected: DatasetError naming that
    file; the folder is not modified by reading."""
    root = recorded[0]
    path = root / target
    if damage == 'delete':
        path.unlink()
    else:
        path.write_bytes(b'\x00not what it should be')
    before = _snapshot(root)
    with pytest.raises(DatasetError, match=Path(target).name):
        LeRobotDataset(root)
    assert _snapshot(root) == before


def test_missing_video_names_the_file(recorded) -> None:
    """Fault: one episode's MP4 is deleted -> Expected: the tables load; decoding that episode
    raises DatasetError naming the file."""
    root = recorded[0]
    (root / f'videos/{TOP}/chunk-000/file-001.mp4').unlink()
    ds = LeRobotDataset(root)
    assert ds.episode_frames(TOP, 0).shape == (23, 32, 48, 3)
    with pytest.raises(DatasetError, match=r'file-001\.mp4'):
        ds.episode_frames(TOP, 1)


def test_unsupported_version_is_refused(recorded) -> None:
    root = recorded[0]
    info = json.loads((root / 'meta/info.json').read_text())
    info['codebase_version'] = 'v2.1'
    (root / 'meta/info.json').write_text(json.dumps(info))
    with pytest.raises(DatasetError, match=r'v2\.1'):
        LeRobotDataset(root)


KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_dataset_lerobot import FEATURES, _episode
    from smolvla_model.datasets import LeRobotDatasetWriter
    writer = LeRobotDatasetWriter.create({root!r}, fps=30, robot_type='so101_follower',
                                         features=FEATURES)
    for k, n in enumerate((6, 9)):
        ep = _episode(k, n, k)
        for i in range(n):
            writer.add_frame({{key: ep[key][i] for key in FEATURES}}, 'task')
        writer.save_episode(success=True)
    ep = _episode(2, 40, 2)
    for i in range(40):
        writer.add_frame({{key: ep[key][i] for key in FEATURES}}, 'a new task')
        if i == 20:
            print('MID', flush=True)
            time.sleep(60)
    """
)


def test_recording_killed_mid_episode_leaves_saved_episodes_valid(tmp_path: Path) -> None:
    """Fault: the recording process is SIGKILLed mid-episode -> Expected: the folder reads as a
    valid dataset of the 2 saved episodes; the partial episode is referenced nowhere."""
    root = tmp_path / 'ds'
    script = KILL_SCRIPT.format(tests=str(REPO / 'tests'), root=str(root))
    env = {**os.environ, 'PYTHONPATH': str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, '-c', script], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        line = proc.stdout.readline()
        assert line.strip() == 'MID', line
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert (root / '.staging').is_dir()  # the partial episode was being encoded there
    ds = LeRobotDataset(root)
    assert (ds.num_episodes, ds.num_frames) == (2, 15)
    assert ds.tasks == ['task']
    np.testing.assert_array_equal(ds.table()['action'][6:], _episode(1, 9, 1)['action'])
    assert ds.episode_frames(WRIST, 1).shape == (9, 32, 32, 3)
    assert sorted(p.name for p in (root / 'data/chunk-000').iterdir()) == [
        'file-000.parquet',
        'file-001.parquet',
    ]
