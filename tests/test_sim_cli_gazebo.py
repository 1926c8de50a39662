"""smolvla-sim CLI end to end, and the Gazebo route's files (checked without ROS)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from so_arm_driver.robots import SO101
from so_arm_driver.sim.cli import main
from so_arm_driver.sim.description import urdf_path

ROOT = Path(__file__).resolve().parents[1]


def test_render_writes_three_pngs(tmp_path):
    assert main(['render', '--out', str(tmp_path), '--width', '64', '--height', '48']) == 0
    import imageio.v2 as imageio

    for slot in ('top', 'wrist', 'side'):
        img = imageio.imread(tmp_path / f'{slot}.png')
        assert img.shape == (48, 64, 3)


def test_pick_place_json_and_gif(tmp_path):
    out = tmp_path / 'summary.json'
    gif = tmp_path / 'ep.gif'
    proc = subprocess.run(
        [
            sys.executable,
            '-m',
            'so_arm_driver.sim.cli',
            'pick-place',
            '--episodes',
            '1',
            '--seed',
            '0',
            '--json',
            str(out),
            '--video',
            str(gif),
            '--width',
            '48',
            '--height',
            '48',
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(out.read_text())
    assert summary['episodes'] == 1
    assert summary['successes'] == 1
    assert summary['mean_time_s'] > 5.0
    assert gif.stat().st_size > 1000


def test_bad_video_suffix_is_a_clear_error_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / 's.json'
    rc = main(['pick-place', '--episodes', '1', '--json', str(out), '--video', 'x.avi'])
    assert rc == 2
    assert '--video must end in' in capsys.readouterr().err
    assert not out.exists()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob('*'))


@pytest.mark.parametrize(
    ('argv', 'flag', 'words'),
    [
        (['pick-place', '--seed', '-1'], '--seed', 'integer in 0..4294967295, got -1'),
        (['render', '--seed', 'x', '--out', '{tmp}/r'], '--seed', "got 'x'"),
        (['render', '--width', '8', '--out', '{tmp}/r'], '--width', 'integer in 16..2048'),
        (['pick-place', '--episodes', '0'], '--episodes', 'integer in 1..1000000, got 0'),
        (['pick-place', '--seed', '4294967295', '--episodes', '2'], '--seed', 'lower --seed'),
        (['pick-place', '--json', '{tmp}/nope/s.json'], '--json', 'nope does not exist'),
        (['pick-place', '--json', '{tmp}'], '--json', 'is a folder'),
        (['pick-place', '--video', '{tmp}/nope/e.gif'], '--video', 'nope does not exist'),
        (['pick-place', '--video', '{tmp}/e.avi'], '--video', 'must end in'),
        (['pick-place', '--record', '{tmp}/a_file/rec'], '--record', 'a_file is a file'),
        (['render', '--out', '{tmp}/a_file'], '--out', 'a_file is a file'),
        (['render', '--out', '{tmp}/a_file/sub'], '--out', 'a_file is a file'),
    ],
)
def test_bad_arguments_fail_in_one_line_with_status_2_before_any_work(
    tmp_path, capsys, argv, flag, words
):
    (tmp_path / 'a_file').write_text('x')
    before = _files(tmp_path)
    rc = main([a.replace('{tmp}', str(tmp_path)) for a in argv])
    captured = capsys.readouterr()
    assert rc == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith('smolvla-sim') and flag in lines[0] and words in lines[0]
    assert 'episode' not in captured.out  # no episode ran
    assert _files(tmp_path) == before  # nothing written, no probe file left behind


@pytest.mark.skipif(not Path('/proc/self').is_dir(), reason='needs /proc')
def test_unwritable_out_folder_fails_before_rendering(capsys):
    # /proc refuses new files even to root, for whom os.access() always says yes.
    rc = main(['render', '--out', '/proc/smolvla-sim-out'])
    assert rc == 2
    assert '--out: cannot write in /proc' in capsys.readouterr().err
    assert not Path('/proc/smolvla-sim-out').exists()


def test_controllers_yaml_names_the_urdf_joints():
    cfg = yaml.safe_load((ROOT / 'config' / 'so101_controllers.yaml').read_text())
    cm = cfg['controller_manager']['ros__parameters']
    assert cm['arm_controller']['type'] == (
        'joint_trajectory_controller/JointTrajectoryController'
    )
    joints = cfg['arm_controller']['ros__parameters']['joints']
    urdf = ET.parse(urdf_path()).getroot()
    urdf_joints = [j.get('name') for j in urdf.findall('joint') if j.get('type') == 'revolute']
    assert joints == urdf_joints == list(SO101.joint_names)


def test_gazebo_launch_refers_to_existing_files_and_controllers():
    source = (ROOT / 'launch' / 'gazebo.launch.py').read_text()
    tree = ast.parse(source)
    constants = {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
    }
    assert (ROOT / constants['XACRO_FILE']).is_file()
    assert (ROOT / constants['CONTROLLERS_FILE']).is_file()
    assert constants['PACKAGE'] == 'smolvla_ros'
    strings = {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }
    cfg = yaml.safe_load((ROOT / constants['CONTROLLERS_FILE']).read_text())
    for controller in ('joint_state_broadcaster', 'arm_controller'):
        assert controller in strings
        assert controller in cfg['controller_manager']['ros__parameters']
    assert any('hardware:=gazebo' in s for s in strings)


def test_pick_place_mp4_decodes_back_to_the_episode_frames(tmp_path):
    pytest.importorskip('imageio_ffmpeg', reason='MP4 needs the sim extra (imageio-ffmpeg)')
    import imageio.v2 as imageio

    video = tmp_path / 'ep.mp4'
    args = ['pick-place', '--episodes', '1', '--json', str(tmp_path / 's.json')]
    assert main([*args, '--video', str(video), '--width', '64', '--height', '48']) == 0
    reader = imageio.get_reader(video)
    try:
        frames = [frame for frame in reader]
    finally:
        reader.close()
    # An expert episode lasts several seconds: a real video, not a header or a single frame.
    assert len(frames) > 30
    assert frames[0].ndim == 3 and frames[0].shape[2] == 3
    assert frames[0].std() > 10
