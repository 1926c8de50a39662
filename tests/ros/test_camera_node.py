"""camera_node against the real rclpy: replays from a real video file and image folder written
here, a source that appears late, and the console script across processes.

Expected pixels are what the test wrote: PNG is lossless (exact), MJPEG and jpeg are lossy
(flat colours within a few levels). Stamps are node-clock (system) times, so they must lie
between clock readings taken around the test.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from node_process import NodeProcess
from ros_harness import MessageCollector, wait_until
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from smolvla_ros.nodes import topics
from smolvla_ros.nodes.camera_node import CameraNode
from smolvla_ros.nodes.conversions import (
    rgb_from_compressed_msg,
    rgb_from_image_msg,
    time_from_msg,
)

W, H = 64, 48
N_FRAMES = 6


def colour_rgb(i: int) -> np.ndarray:
    """Flat colour of video frame i (RGB); distinct per frame in the red channel."""
    return np.array([30 * i + 20, 120, 200], dtype=float)


def write_video(path: Path, fps: float = 20.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), fps, (W, H))
    assert writer.isOpened()
    for i in range(N_FRAMES):
        rgb = np.empty((H, W, 3), np.uint8)
        rgb[:] = colour_rgb(i)
        writer.write(np.ascontiguousarray(rgb[..., ::-1]))
    writer.release()
    return path


def pattern(i: int) -> np.ndarray:
    """A non-flat RGB image (gradient in x and y), so orientation and channels are checked."""
    y, x = np.mgrid[0:H, 0:W]
    rgb = np.stack([x * 3, y * 5, np.full_like(x, 40 * i + 10)], axis=-1)
    return rgb.astype(np.uint8)


def write_folder(folder: Path) -> Path:
    folder.mkdir()
    for i in range(4):
        assert cv2.imwrite(str(folder / f'frame_{i}.png'), pattern(i)[..., ::-1])
    return folder


def nearest_frame(mean_rgb: np.ndarray) -> tuple[int, float]:
    errors = [np.abs(mean_rgb - colour_rgb(i)).max() for i in range(N_FRAMES)]
    return int(np.argmin(errors)), float(min(errors))


def ros_now_s(node) -> float:
    return node.get_clock().now().nanoseconds * 1e-9


@contextmanager
def camera(rclpy_context, spin, probe, **params):
    from rclpy.parameter import Parameter

    overrides = [Parameter(k, value=v) for k, v in params.items()]
    node = CameraNode(context=rclpy_context, parameter_overrides=overrides)
    executor = spin(node, probe)
    try:
        yield node
    finally:
        executor.remove_node(node)
        node.destroy_node()


def subscribe(probe, slot: str) -> dict[str, MessageCollector]:
    got = {k: MessageCollector() for k in ('raw', 'compressed', 'info', 'diag')}
    probe.create_subscription(Image, topics.camera_topic(slot), got['raw'], topics.SENSOR_QOS)
    probe.create_subscription(
        CompressedImage,
        topics.camera_topic(slot, compressed=True),
        got['compressed'],
        topics.SENSOR_QOS,
    )
    probe.create_subscription(
        CameraInfo, topics.camera_info_topic(slot), got['info'], topics.SENSOR_QOS
    )
    probe.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, got['diag'], 10)
    return got


def test_video_file_publishes_images_info_and_jpeg(tmp_path, rclpy_context, make_node, spin):
    video = write_video(tmp_path / 'run.avi')
    probe = make_node('probe')
    got = subscribe(probe, 'wrist')
    t0 = ros_now_s(probe)
    with camera(
        rclpy_context,
        spin,
        probe,
        source=str(video),
        slot='wrist',
        loop=True,
        fps=40.0,
        publish_compressed=True,
        fx=60.0,
        fy=61.0,
        cx=32.0,
        cy=24.0,
    ):
        images = got['raw'].wait_for(10)
        compressed = got['compressed'].wait_for(3)
        infos = got['info'].wait_for(3)
    t1 = ros_now_s(probe)
    previous = None
    for msg in images:
        assert (msg.encoding, msg.width, msg.height) == ('rgb8', W, H)
        assert msg.header.frame_id == 'wrist_camera_optical_frame'
        rgb = rgb_from_image_msg(msg).astype(float)
        i, err = nearest_frame(rgb.reshape(-1, 3).mean(axis=0))
        assert err < 8.0, f'image colour {rgb.reshape(-1, 3).mean(axis=0)} matches no frame'
        assert rgb.std(axis=(0, 1)).max() < 4.0  # flat colour: no garbled rows or channels
        stamp = time_from_msg(msg.header.stamp)
        assert t0 <= stamp <= t1
        if previous is not None:
            assert stamp > previous[1]
            # Best effort may drop images, but the replay only ever moves forward (mod loop).
            assert i != previous[0]
        previous = (i, stamp)
    for msg in compressed:
        rgb = rgb_from_compressed_msg(msg).astype(float)
        assert rgb.shape == (H, W, 3)
        assert nearest_frame(rgb.reshape(-1, 3).mean(axis=0))[1] < 10.0
    image_stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in images}
    info = infos[-1]
    assert (info.width, info.height) == (W, H)
    assert list(info.k) == [60.0, 0.0, 32.0, 0.0, 61.0, 24.0, 0.0, 0.0, 1.0]
    # camera_info goes out with every image, with the image's stamp.
    assert any((m.header.stamp.sec, m.header.stamp.nanosec) in image_stamps for m in infos)


def test_image_folder_exact_pixels_and_ok_diagnostic(tmp_path, rclpy_context, make_node, spin):
    folder = write_folder(tmp_path / 'frames')
    expected = [pattern(i) for i in range(4)]
    probe = make_node('probe')
    got = subscribe(probe, 'side')
    with camera(
        rclpy_context, spin, probe, source=str(folder), slot='side', loop=True, fps=50.0
    ) as node:
        images = got['raw'].wait_for(6)
        wait_until(
            lambda: any(
                s.level == b'\x00' and s.message == 'streaming'
                for a in got['diag'].messages
                for s in a.status
            ),
            5.0,
            'an OK diagnostic',
        )
        assert got['compressed'].messages == []  # publish_compressed defaults to false
        assert node.config.kind == 'folder'
    stamps = [time_from_msg(m.header.stamp) for m in images]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    indices = []
    for msg in images:
        rgb = rgb_from_image_msg(msg)
        matches = [i for i, e in enumerate(expected) if np.array_equal(rgb, e)]
        assert len(matches) == 1, 'a published image differs from every file'
        indices.append(matches[0])
    # Natural order, looping: each next image is a later file (mod 4).
    assert all(b != a for a, b in itertools.pairwise(indices))


def error_with(got: MessageCollector, text: str) -> list:
    return [s for a in got.messages for s in a.status if s.level == b'\x02' and text in s.message]


@pytest.mark.parametrize('case', [('auto', 'does not exist'), ('device', 'could not open')])
def test_missing_source_reports_error_then_streams_when_it_appears(
    tmp_path, rclpy_context, make_node, spin, case
):
    """Fault: the replay file / device path does not exist -> Expected: ERROR diagnostic
    naming it and the retry, the node stays alive and publishes no image; once the file
    appears, images flow (auto: the replay source; device: OpenCV's reopen back-off)."""
    source_type, reason = case
    late = tmp_path / 'late.avi'
    probe = make_node('probe')
    got = subscribe(probe, 'top')
    with camera(
        rclpy_context,
        spin,
        probe,
        source=str(late),
        source_type=source_type,
        backoff_max_s=0.2,
        diagnostics_period_s=0.1,
        loop=True,
    ) as node:
        wait_until(lambda: len(error_with(got['diag'], 'late.avi')) >= 2, 10.0, 'ERROR diag')
        status = error_with(got['diag'], 'late.avi')[-1]
        values = {kv.key: kv.value for kv in status.values}
        assert values['state'] == 'unavailable'
        assert reason in values['last_error']
        assert 0.0 <= float(values['retry_in_s']) <= 0.2
        assert int(values['consecutive_failures']) >= 1
        assert got['raw'].messages == []
        assert node.context.ok()
        # Write elsewhere, then rename: the source must never see a half-written file.
        write_video(tmp_path / 'tmp.avi')
        os.replace(tmp_path / 'tmp.avi', late)
        images = got['raw'].wait_for(3, timeout=10.0)
        assert nearest_frame(rgb_from_image_msg(images[0]).reshape(-1, 3).mean(axis=0))[1] < 8
        n = len(got['diag'].messages)
        wait_until(
            lambda: any(s.level == b'\x00' for a in got['diag'].messages[n:] for s in a.status),
            5.0,
            'OK diagnostic after recovery',
        )


def test_console_script_across_processes_and_sigint(tmp_path, make_node, spin):
    folder = write_folder(tmp_path / 'frames')
    probe = make_node('probe')
    got = MessageCollector()
    sub = probe.create_subscription(Image, topics.camera_topic('top'), got, topics.SENSOR_QOS)
    spin(probe)
    params = (f'source:={folder}', 'loop:=true', 'fps:=20.0')
    with NodeProcess('smolvla_ros.nodes.camera_node', *params) as node:
        node.wait_ready(lambda: sub.get_publisher_count() >= 1, 'the camera publisher')
        msg = got.wait_for(2, timeout=10.0)[-1]
        assert any(np.array_equal(rgb_from_image_msg(msg), pattern(i)) for i in range(4))
        node.stop(timeout=15.0)


def test_bad_parameter_exits_with_a_clear_error(tmp_path):
    """Fault: an impossible parameter (fourcc of 5 characters) -> Expected: exit code 2 and a
    message naming fourcc, no traceback."""
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            '-m',
            'smolvla_ros.nodes.camera_node',
            '--ros-args',
            '-p',
            'fourcc:=MJPEG',
        ],
        env=dict(os.environ),
        check=False,
        capture_output=True,
        text=True,
        timeout=30.0,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert 'fourcc' in proc.stderr and 'Traceback' not in proc.stderr
    assert time.monotonic() - started < 30.0


def test_destroy_closes_the_device(tmp_path, rclpy_context, make_node, spin):
    folder = write_folder(tmp_path / 'frames')
    probe = make_node('probe')
    with camera(rclpy_context, spin, probe, source=str(folder), slot='top', loop=True) as node:
        pump, source = node._pump, node._source
        wait_until(lambda: pump.status.frames > 0, 10.0, 'frames read')
    assert not pump.status.running
    assert source.status.state == 'closed'
