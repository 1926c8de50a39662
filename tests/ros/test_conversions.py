"""smolvla_ros.nodes.conversions against the real generated message classes.

Expected values come from the message specs and standards, not from the code: ROS time is
sec/nanosec, bgr8 stores blue first, BT.601 limited range maps Y 16..235 to 0..255, a Bayer
pattern's name spells its top-left 2x2 cell, and (i + 1) * dt spaces a chunk's points.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import DiagnosticStatus
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sensor_msgs.msg import CompressedImage, Image, JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
from visualization_msgs.msg import Marker

from smolvla_interfaces.msg import ActionChunk as ActionChunkMsg
from smolvla_interfaces.msg import ExecutorStatus
from smolvla_ros.frames.frame import Frame
from smolvla_ros.nodes import conversions as cv
from smolvla_ros.nodes.conversions import ConversionError
from smolvla_ros.runtime.chunk import ActionChunk
from smolvla_ros.runtime.enums import ExecutorState
from smolvla_ros.runtime.metrics import RuntimeMetrics

FAST = settings(max_examples=40, deadline=None)
NS = 1_000_000_000
JOINTS = ('shoulder_pan', 'shoulder_lift', 'elbow_flex', 'wrist_flex', 'wrist_roll', 'gripper')


# -- time ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ('ns', 'sec', 'nanosec'),
    [
        (0, 0, 0),
        (1, 0, 1),
        (NS - 1, 0, 999_999_999),
        (NS, 1, 0),
        (NS + 1, 1, 1),
        ((2**31 - 1) * NS + NS - 1, 2**31 - 1, 999_999_999),
    ],
)
def test_time_ns_edges(ns, sec, nanosec):
    msg = cv.time_ns_to_msg(ns)
    assert (msg.sec, msg.nanosec) == (sec, nanosec)
    assert cv.time_ns_from_msg(msg) == ns


@pytest.mark.parametrize('ns', [-1, 2**31 * NS])
def test_time_ns_out_of_range(ns):
    with pytest.raises(ConversionError, match='outside builtin_interfaces/Time'):
        cv.time_ns_to_msg(ns)


@pytest.mark.parametrize('bad', [Time(sec=-1, nanosec=0), Time(sec=0, nanosec=NS)])
def test_invalid_time_message(bad):
    with pytest.raises(ConversionError, match='not a valid ROS time'):
        cv.time_from_msg(bad)


def test_time_seconds_hand_values():
    assert cv.time_from_msg(Time(sec=1, nanosec=500_000_000)) == 1.5
    # 0.1 is 0.1000000000000000055... as a float: the nearest nanosecond is 100000000.
    msg = cv.time_to_msg(0.1)
    assert (msg.sec, msg.nanosec) == (0, 100_000_000)
    # 1.9999999995 s rounds up across the second boundary.
    msg = cv.time_to_msg(1.9999999996)
    assert (msg.sec, msg.nanosec) == (2, 0)
    msg = cv.time_to_msg(1_700_000_000.25)  # an epoch time: .25 is exact in float64
    assert (msg.sec, msg.nanosec) == (1_700_000_000, 250_000_000)


@pytest.mark.parametrize('bad', [math.nan, math.inf, -0.5])
def test_time_to_msg_rejects(bad):
    with pytest.raises(ConversionError):
        cv.time_to_msg(bad)


@FAST
@given(st.integers(0, (2**31 - 1) * NS + NS - 1))
def test_time_ns_round_trip(ns):
    assert cv.time_ns_from_msg(cv.time_ns_to_msg(ns)) == ns


@FAST
@given(st.integers(0, 2**22 * NS - 1))
def test_time_seconds_round_trip_exact_below_2_pow_22(ns):
    # Below 2**22 s a float64 spaces values < 1 ns apart, so the nearest float and back is exact.
    msg = cv.time_ns_to_msg(ns)
    back = cv.time_to_msg(cv.time_from_msg(msg))
    assert (back.sec, back.nanosec) == (msg.sec, msg.nanosec)


def test_duration_negative_follows_ros_convention():
    # ROS normalises -0.25 s as sec=-1, nanosec=750000000.
    msg = cv.duration_to_msg(-0.25)
    assert (msg.sec, msg.nanosec) == (-1, 750_000_000)
    assert cv.duration_from_msg(msg) == -0.25
    with pytest.raises(ConversionError, match='not normalised'):
        cv.duration_from_msg(Duration(sec=0, nanosec=NS))


# -- joint states ----------------------------------------------------------------------------
def joint_state(names, positions):
    msg = JointState()
    msg.name = list(names)
    msg.position = [float(p) for p in positions]
    return msg


def test_joint_positions_in_requested_order():
    msg = joint_state(['a', 'b', 'c', 'extra'], [1.0, 2.0, 3.0, 4.0])
    assert cv.joint_positions_from_msg(msg, ['c', 'a']).tolist() == [3.0, 1.0]


def test_joint_state_missing_joint_is_named():
    msg = joint_state(['a', 'b'], [1.0, 2.0])
    with pytest.raises(ConversionError, match=r"lacks joints \['gripper'\]"):
        cv.joint_positions_from_msg(msg, ['a', 'gripper'])


def test_joint_state_nan_is_named():
    msg = joint_state(['a', 'b'], [1.0, math.nan])
    with pytest.raises(ConversionError, match=r"joints \['b'\] are NaN"):
        cv.joint_positions_from_msg(msg, ['a', 'b'])
    # A NaN on a joint the caller does not use is not an error.
    assert cv.joint_positions_from_msg(msg, ['a']).tolist() == [1.0]


def test_joint_state_length_mismatch_and_duplicates():
    msg = joint_state(['a', 'b'], [1.0])
    with pytest.raises(ConversionError, match='2 names but 1 positions'):
        cv.joint_positions_from_msg(msg, ['a'])
    with pytest.raises(ConversionError, match="'a' twice"):
        cv.joint_positions_from_msg(joint_state(['a', 'a'], [1.0, 2.0]), ['a'])


def test_joint_state_to_msg_rejects():
    with pytest.raises(ConversionError, match='1 positions for 2 joints'):
        cv.joint_state_to_msg([0.0], ['a', 'b'], 0.0)
    with pytest.raises(ConversionError, match=r"positions of joints \['b'\]"):
        cv.joint_state_to_msg([0.0, math.inf], ['a', 'b'], 0.0)
    with pytest.raises(ConversionError, match='1 velocities'):
        cv.joint_state_to_msg([0.0, 1.0], ['a', 'b'], 0.0, velocities=[0.0])


@FAST
@given(
    st.permutations(JOINTS),
    st.lists(st.floats(-10, 10, allow_nan=False), min_size=6, max_size=6),
    st.integers(0, 2**22 * NS - 1),
)
def test_joint_state_round_trip(order, positions, stamp_ns):
    stamp_s = stamp_ns / NS
    msg = cv.joint_state_to_msg(positions, JOINTS, stamp_s)
    assert cv.time_ns_from_msg(msg.header.stamp) == stamp_ns
    got = cv.joint_positions_from_msg(msg, order)
    assert got.tolist() == [positions[JOINTS.index(j)] for j in order]


# -- raw images ------------------------------------------------------------------------------
def image_msg(encoding, height, width, step, data):
    msg = Image()
    msg.encoding, msg.height, msg.width, msg.step = encoding, height, width, step
    msg.data = bytes(data)
    return msg


def test_bgr8_red_pixel_is_rgb_red():
    # bgr8 stores blue, green, red: (0, 0, 255) is pure red.
    rgb = cv.rgb_from_image_msg(image_msg('bgr8', 1, 1, 3, [0, 0, 255]))
    assert rgb.tolist() == [[[255, 0, 0]]]
    assert bytes(cv.rgb_to_image_msg(rgb, 'bgr8').data) == bytes([0, 0, 255])


def test_step_padding_is_skipped():
    # 2x2 rgb8 rows of 6 bytes padded to 8 with 0xEE.
    data = [1, 2, 3, 4, 5, 6, 0xEE, 0xEE, 7, 8, 9, 10, 11, 12, 0xEE, 0xEE]
    rgb = cv.rgb_from_image_msg(image_msg('rgb8', 2, 2, 8, data))
    assert rgb.reshape(-1).tolist() == list(range(1, 13))


def test_mono8_is_replicated():
    rgb = cv.rgb_from_image_msg(image_msg('mono8', 1, 2, 2, [77, 200]))
    assert rgb.tolist() == [[[77, 77, 77], [200, 200, 200]]]


@FAST
@given(arrays(np.uint8, st.tuples(st.integers(1, 6), st.integers(1, 6))))
def test_mono8_round_trip_of_gray_is_exact(gray):
    # Luma weights sum to 1, so a gray pixel's luma is its value.
    rgb = np.repeat(gray[..., None], 3, axis=2)
    msg = cv.rgb_to_image_msg(rgb, 'mono8')
    assert bytes(msg.data) == gray.tobytes()
    assert np.array_equal(cv.rgb_from_image_msg(msg), rgb)


@FAST
@given(
    arrays(np.uint8, st.tuples(st.integers(1, 5), st.integers(1, 5), st.just(3))),
    st.sampled_from(['rgb8', 'bgr8']),
    st.integers(0, 5),
)
def test_rgb_bgr_round_trip_with_padding(rgb, encoding, pad):
    msg = cv.rgb_to_image_msg(rgb, encoding, 3.5, 'cam')
    assert (msg.height, msg.width, msg.step) == (rgb.shape[0], rgb.shape[1], 3 * rgb.shape[1])
    assert msg.header.frame_id == 'cam'
    padded = np.frombuffer(bytes(msg.data), np.uint8).reshape(rgb.shape[0], -1)
    padded = np.concatenate([padded, np.full((rgb.shape[0], pad), 0xEE, np.uint8)], axis=1)
    again = image_msg(encoding, rgb.shape[0], rgb.shape[1], msg.step + pad, padded.tobytes())
    assert np.array_equal(cv.rgb_from_image_msg(again), rgb)


@pytest.mark.parametrize(
    ('encoding', 'pair'),
    [('yuv422', [128, 16, 128, 235]), ('yuv422_yuy2', [16, 128, 235, 128])],
)
def test_yuv422_black_and_white_pair(encoding, pair):
    # UYVY is U Y0 V Y1, YUY2 is Y0 U Y1 V; Y 16 is black and 235 white in BT.601 limited range.
    rgb = cv.rgb_from_image_msg(image_msg(encoding, 1, 2, 4, pair))
    assert rgb.tolist() == [[[0, 0, 0], [255, 255, 255]]]


@FAST
@given(
    arrays(np.uint8, st.tuples(st.integers(1, 4), st.integers(1, 4).map(lambda n: 2 * n)),
           elements=st.integers(16, 235)),
    st.sampled_from(['yuv422', 'yuv422_yuy2']),
)  # fmt: skip
def test_yuv422_gray_decodes_exactly(luma, encoding):
    # U = V = 128 is gray; BT.601 limited range maps Y to (Y - 16) * 255 / 219.
    h, w = luma.shape
    pairs = np.full((h, w // 2, 4), 128, np.uint8)
    y0, y1 = (1, 3) if encoding == 'yuv422' else (0, 2)
    pairs[..., y0], pairs[..., y1] = luma[:, 0::2], luma[:, 1::2]
    rgb = cv.rgb_from_image_msg(image_msg(encoding, h, w, 2 * w, pairs.tobytes()))
    expected = np.rint((luma.astype(np.float64) - 16) * 255 / 219).astype(np.uint8)
    assert np.array_equal(rgb, np.repeat(expected[..., None], 3, axis=2))


@FAST
@given(
    arrays(np.uint8, st.tuples(st.integers(1, 4), st.integers(1, 4), st.just(3))),
    st.sampled_from(['yuv422', 'yuv422_yuy2']),
)
def test_yuv422_round_trip_within_quantisation(half, encoding):
    # Pixel pairs of equal colour lose nothing to chroma sharing; what is left is quantising
    # Y, U, V to integers: at most 0.5 * (1.164 + 2.017) = 1.6 levels per channel -> 2 after
    # rounding.
    rgb = np.repeat(half, 2, axis=1)
    msg = cv.rgb_to_image_msg(rgb, encoding)
    assert msg.step == 2 * rgb.shape[1]
    back = cv.rgb_from_image_msg(msg)
    assert np.max(np.abs(back.astype(int) - rgb.astype(int))) <= 2


def test_yuv422_matches_opencv():
    # Second opinion: OpenCV (what cv_bridge uses) on the same bytes, within its fixed-point
    # rounding (1 level) plus coefficient rounding (< 1 level).
    import cv2

    rng = np.random.default_rng(7)
    packed = rng.integers(16, 236, size=(8, 16), dtype=np.uint8)
    for encoding, code in (
        ('yuv422', cv2.COLOR_YUV2RGB_UYVY),
        ('yuv422_yuy2', cv2.COLOR_YUV2RGB_YUY2),
    ):
        ours = cv.rgb_from_image_msg(image_msg(encoding, 8, 8, 16, packed.tobytes()))
        theirs = cv2.cvtColor(packed.reshape(8, 8, 2), code)
        assert np.max(np.abs(ours.astype(int) - theirs.astype(int))) <= 2


BAYER_CELLS = {
    'bayer_rggb8': ('r', 'g', 'g', 'b'),
    'bayer_bggr8': ('b', 'g', 'g', 'r'),
    'bayer_gbrg8': ('g', 'b', 'r', 'g'),
    'bayer_grbg8': ('g', 'r', 'b', 'g'),
}


@FAST
@given(
    st.sampled_from(sorted(BAYER_CELLS)),
    st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
    st.integers(3, 6),
    st.integers(3, 6),
)
def test_bayer_uniform_colour(encoding, colour, half_h, half_w):
    h, w = 2 * half_h, 2 * half_w
    rgb = np.empty((h, w, 3), np.uint8)
    rgb[...] = colour
    msg = cv.rgb_to_image_msg(rgb, encoding)
    raw = np.frombuffer(bytes(msg.data), np.uint8).reshape(h, w)
    # The encoding's name spells the top-left 2x2 cell.
    value = dict(zip('rgb', colour, strict=True))
    cell = [value[c] for c in BAYER_CELLS[encoding]]
    assert [raw[0, 0], raw[0, 1], raw[1, 0], raw[1, 1]] == cell
    # Demosaicing a uniform colour gives that colour away from the borders.
    back = cv.rgb_from_image_msg(msg)
    assert back.shape == (h, w, 3)
    assert np.all(back[2:-2, 2:-2] == np.array(colour, np.uint8))


@pytest.mark.parametrize(
    ('msg', 'match'),
    [
        (image_msg('16UC1', 1, 1, 2, [0, 0]), r'16UC1.*supported: rgb8, bgr8, mono8'),
        (image_msg('rgb8', 2, 2, 6, [0] * 11), 'must carry step \\* height = 12 bytes, got 11'),
        (image_msg('rgb8', 1, 2, 5, [0] * 5), 'needs step >= 6'),
        (image_msg('rgb8', 0, 2, 6, []), 'must not be empty'),
        (image_msg('yuv422', 1, 3, 6, [0] * 6), 'width must be even'),
        (image_msg('bayer_rggb8', 1, 4, 4, [0] * 4), 'too small to demosaic'),
    ],
)
def test_image_errors(msg, match):
    with pytest.raises(ConversionError, match=match):
        cv.rgb_from_image_msg(msg)


def test_rgb_to_image_errors():
    with pytest.raises(ConversionError, match='uint8 array of shape'):
        cv.rgb_to_image_msg(np.zeros((2, 2, 3), np.float32))
    with pytest.raises(ConversionError, match="'rgba8' is not supported"):
        cv.rgb_to_image_msg(np.zeros((2, 2, 3), np.uint8), 'rgba8')
    with pytest.raises(ConversionError, match='width must be even'):
        cv.rgb_to_image_msg(np.zeros((2, 3, 3), np.uint8), 'yuv422')


# -- compressed images and frames ------------------------------------------------------------
@FAST
@given(arrays(np.uint8, st.tuples(st.integers(1, 8), st.integers(1, 8), st.just(3))))
def test_png_round_trip_is_lossless(rgb):
    msg = cv.rgb_to_compressed_msg(rgb, 'png', 2.0, 'cam')
    assert 'png' in msg.format
    assert np.array_equal(cv.rgb_from_compressed_msg(msg), rgb)


def test_jpeg_of_uniform_colour():
    # A uniform 16x16 image is pure DC in every JPEG block: only DC quantisation (step <= 3 at
    # quality 90) and YCbCr rounding change it, a few levels at most.
    rgb = np.empty((16, 16, 3), np.uint8)
    rgb[...] = (200, 40, 90)
    msg = cv.rgb_to_compressed_msg(rgb, 'jpeg', jpeg_quality=90)
    assert msg.format == 'rgb8; jpeg compressed bgr8'  # image_transport's spelling
    back = cv.rgb_from_compressed_msg(msg)
    assert back.shape == rgb.shape
    assert np.max(np.abs(back.astype(int) - rgb.astype(int))) <= 4


def test_compressed_errors():
    msg = CompressedImage()
    msg.format = 'tiff'
    msg.data = b'II*\x00'
    with pytest.raises(ConversionError, match="'tiff' is not supported; supported: jpeg, png"):
        cv.rgb_from_compressed_msg(msg)
    msg.format = 'jpeg'
    msg.data = b'not a jpeg'
    with pytest.raises(ConversionError, match='does not decode as jpeg'):
        cv.rgb_from_compressed_msg(msg)
    with pytest.raises(ConversionError, match='jpeg_quality'):
        cv.rgb_to_compressed_msg(np.zeros((2, 2, 3), np.uint8), 'jpeg', jpeg_quality=0)


def test_frame_round_trip_raw_and_compressed():
    rgb = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    frame = Frame('wrist', rgb, 12.25, sequence=3)
    msg = cv.frame_to_msg(frame, 'bgr8', 'wrist_camera_optical')
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (12, 250_000_000)
    assert msg.header.frame_id == 'wrist_camera_optical'
    back = cv.frame_from_msg(msg, 'wrist', sequence=3)
    assert back.slot == 'wrist'
    assert back.capture_time_s == 12.25
    assert back.sequence == 3
    assert np.array_equal(back.rgb, rgb)
    compressed = cv.rgb_to_compressed_msg(rgb, 'png', 12.25)
    again = cv.frame_from_msg(compressed, 'top')
    assert (again.slot, again.capture_time_s) == ('top', 12.25)
    assert np.array_equal(again.rgb, rgb)


# -- chunks ----------------------------------------------------------------------------------
def test_chunk_to_msg_hand_values():
    actions = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    chunk = ActionChunk(
        ('a', 'b'), actions, 100.5, 0.1, chunk_id=9, inference_latency_s=0.2, request_id=4
    )
    msg = cv.chunk_to_msg(chunk)
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (100, 500_000_000)
    assert msg.trajectory.header.stamp == msg.header.stamp
    assert (msg.chunk_id, msg.request_id) == (9, 4)
    assert (msg.dt_s, msg.inference_latency_s) == (0.1, 0.2)
    assert list(msg.trajectory.joint_names) == ['a', 'b']
    times = [(p.time_from_start.sec, p.time_from_start.nanosec) for p in msg.trajectory.points]
    assert times == [(0, 100_000_000), (0, 200_000_000), (0, 300_000_000)]
    assert [list(p.positions) for p in msg.trajectory.points] == actions.tolist()


@FAST
@given(
    st.integers(1, 12).flatmap(
        lambda n: arrays(np.float64, (n, len(JOINTS)), elements=st.floats(-4, 4))
    ),
    st.integers(1, 2**22 * NS - 1),  # 0 would mean "start now" to a bare JointTrajectory
    st.floats(1e-3, 1.0),
    st.tuples(st.integers(0, 2**40), st.floats(0, 5)),
    st.permutations(JOINTS),
)
def test_chunk_round_trip(actions, stamp_ns, dt, id_and_latency, order):
    chunk_id, latency = id_and_latency
    chunk = ActionChunk(JOINTS, actions, stamp_ns / NS, dt, chunk_id, latency)
    back = cv.chunk_from_msg(cv.chunk_to_msg(chunk))
    assert back.joint_names == JOINTS
    assert np.array_equal(back.actions, actions)
    assert back.observation_time_s == chunk.observation_time_s
    assert (back.dt_s, back.chunk_id, back.inference_latency_s) == (dt, chunk_id, latency)
    # Reordered to another joint order, column by column.
    reordered = cv.chunk_from_msg(cv.chunk_to_msg(chunk), joint_order=order)
    assert reordered.joint_names == tuple(order)
    for j, name in enumerate(order):
        assert np.array_equal(reordered.actions[:, j], actions[:, JOINTS.index(name)])
    # The bare JointTrajectory carries everything but the ids, dt (from the point times) and
    # latency.
    bare = cv.chunk_from_trajectory_msg(cv.chunk_to_trajectory_msg(chunk))
    assert np.array_equal(bare.actions, actions)
    assert bare.observation_time_s == chunk.observation_time_s
    assert abs(bare.dt_s - dt) <= 1e-9  # dt through whole nanoseconds


def chunk_msg(times_ns, positions, names=('a', 'b'), dt=0.5):
    msg = ActionChunkMsg()
    msg.header.stamp = Time(sec=3, nanosec=0)
    msg.dt_s = dt
    msg.trajectory.joint_names = list(names)
    msg.trajectory.points = [
        JointTrajectoryPoint(
            positions=list(p), time_from_start=Duration(sec=t // NS, nanosec=t % NS)
        )
        for t, p in zip(times_ns, positions, strict=True)
    ]
    return msg


@pytest.mark.parametrize(
    ('msg', 'match'),
    [
        (chunk_msg([], []), 'no points'),
        (chunk_msg([NS // 2], [[1.0]]), 'point 0 has 1 positions for 2 joints'),
        (chunk_msg([NS // 2, 3 * NS // 2], [[1.0, 2.0]] * 2), r'point 1 is at 1.5 s'),
        (chunk_msg([NS // 2], [[1.0, math.nan]]), r"joints \['b'\]"),
        (chunk_msg([NS // 2], [[1.0, 2.0]], names=('a', 'a')), 'twice'),
        (chunk_msg([NS // 2], [[1.0, 2.0]], dt=0.0), 'dt_s must be finite and > 0'),
    ],
)
def test_chunk_from_msg_errors(msg, match):
    with pytest.raises(ConversionError, match=match):
        cv.chunk_from_msg(msg)


def test_request_id_round_trip_and_the_unrequested_value():
    """Request ids start at 0 in the executor, so 0 is a real request; the core's -1
    (unrequested) travels as the largest uint64 and comes back as -1."""
    for rid, wire in ((0, 0), (7, 7), (-1, 2**64 - 1)):
        chunk = ActionChunk(('a',), [[0.5]], 3.0, 0.1, chunk_id=2, request_id=rid)
        msg = cv.chunk_to_msg(chunk)
        assert msg.request_id == wire
        assert cv.chunk_from_msg(msg).request_id == rid


def test_chunk_from_msg_missing_joint_in_order():
    msg = chunk_msg([NS // 2], [[1.0, 2.0]])
    with pytest.raises(ConversionError, match=r"lacks joints \['gripper'\]"):
        cv.chunk_from_msg(msg, joint_order=['a', 'gripper'])


def test_chunk_to_msg_errors():
    with pytest.raises(ConversionError, match='request_id must be in'):
        cv.chunk_to_msg(ActionChunk(('a',), [[0.0]], 1.0, 0.1, request_id=-2))
    with pytest.raises(ConversionError, match="NaN or inf actions for joints \\['a'\\]"):
        cv.chunk_to_msg(ActionChunk(('a',), [[math.nan]], 1.0, 0.1))
    with pytest.raises(ConversionError, match='shape'):
        cv.chunk_to_msg(ActionChunk(('a', 'b'), [[0.0]], 1.0, 0.1))


def test_bare_trajectory_zero_stamp_means_now():
    msg = JointTrajectory()
    msg.joint_names = ['a']
    msg.points = [
        JointTrajectoryPoint(
            positions=[1.0], time_from_start=Duration(sec=0, nanosec=250_000_000)
        ),
        JointTrajectoryPoint(
            positions=[2.0], time_from_start=Duration(sec=0, nanosec=500_000_000)
        ),
    ]
    with pytest.raises(ConversionError, match='pass now_s'):
        cv.chunk_from_trajectory_msg(msg)
    chunk = cv.chunk_from_trajectory_msg(msg, now_s=42.0, chunk_id=5)
    assert (chunk.observation_time_s, chunk.dt_s, chunk.chunk_id) == (42.0, 0.25, 5)
    assert chunk.actions.tolist() == [[1.0], [2.0]]
    msg.points[0].time_from_start = Duration(sec=0, nanosec=0)
    with pytest.raises(ConversionError, match='time_from_start <= 0'):
        cv.chunk_from_trajectory_msg(msg, now_s=42.0)


# -- statuses and diagnostics ----------------------------------------------------------------
def test_executor_status_from_metrics_summary():
    metrics = RuntimeMetrics(('a', 'b'))
    metrics.add(chunks_accepted=5, requests_sent=7, starvation_ticks=2)
    metrics.reject('non_finite')
    metrics.reject('shape')
    metrics.reject('shape')
    metrics.count_clamps('position', np.array([True, True]))
    metrics.count_clamps('velocity', np.array([False, True]))
    for ms in range(1, 101):  # 1..100 ms: the 99th percentile (linear) is 99.01 ms
        metrics.record('tick_jitter_s', ms / 1e3)
    metrics.record('seam_jumps_rad', 0.03)
    metrics.record('seam_jumps_rad', 0.01)
    msg = cv.executor_status_to_msg(
        metrics.summary(),
        stamp_s=7.5,
        mode=ExecutorStatus.MODE_ASYNC,
        tick_rate_hz=30.0,
        queue_length=12,
        queue_fill=0.24,
        threshold_g=0.7,
        last_inference_latency_s=0.35,
        watchdog_holding=False,
        estop_latched=False,
        last_fault='chunk 3: shape',
    )
    assert isinstance(msg, ExecutorStatus)
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (7, 500_000_000)
    assert msg.tick_jitter_p99_s == pytest.approx(0.09901, abs=1e-12)
    assert (msg.chunks_accepted, msg.chunks_rejected, msg.requests_sent) == (5, 3, 7)
    assert msg.starvation_ticks == 2
    assert (msg.position_clamps, msg.velocity_clamps, msg.acceleration_clamps) == (2, 1, 0)
    assert msg.max_seam_jump_rad == 0.03
    assert (msg.mode, msg.queue_length, msg.last_fault) == (1, 12, 'chunk 3: shape')
    assert msg.queue_fill == pytest.approx(0.24)  # float32 field


def test_executor_status_before_first_tick_and_errors():
    summary = RuntimeMetrics(('a',)).summary()
    kwargs = dict(
        stamp_s=0.0,
        mode=ExecutorStatus.MODE_IDLE,
        tick_rate_hz=30.0,
        queue_length=0,
        queue_fill=0.0,
        threshold_g=0.7,
        last_inference_latency_s=math.nan,
        watchdog_holding=False,
        estop_latched=False,
    )
    msg = cv.executor_status_to_msg(summary, **kwargs)
    assert math.isnan(msg.tick_jitter_p99_s)
    with pytest.raises(ConversionError, match=r'not an ExecutorStatus\.MODE_'):
        cv.executor_status_to_msg(summary, **{**kwargs, 'mode': 9})
    with pytest.raises(ConversionError, match="lacks 'clamps'"):
        cv.executor_status_to_msg({k: v for k, v in summary.items() if k != 'clamps'}, **kwargs)


@pytest.mark.parametrize(
    ('state', 'runtime_mode', 'expected'),
    [
        (ExecutorState.ESTOP, 'async', ExecutorStatus.MODE_ESTOP),
        (ExecutorState.WATCHDOG, 'sync', ExecutorStatus.MODE_HOLD),
        (ExecutorState.STARTUP, 'async', ExecutorStatus.MODE_IDLE),
        (ExecutorState.TRACKING, 'async', ExecutorStatus.MODE_ASYNC),
        ('starved', 'sync', ExecutorStatus.MODE_SYNC),
    ],
)
def test_executor_mode(state, runtime_mode, expected):
    assert cv.executor_mode(state, runtime_mode) == expected


def test_executor_mode_errors():
    with pytest.raises(ConversionError, match="'flying' is not one of"):
        cv.executor_mode('flying', 'async')
    with pytest.raises(ConversionError, match="'turbo'"):
        cv.executor_mode('tracking', 'turbo')


def test_diagnostic_status_values():
    values = {'latency_s': 0.1, 'count': 3, 'ok': True, 'none': None, 'clamps': {'b': 1, 'a': 2}}
    msg = cv.diagnostic_status('smolvla/executor', DiagnosticStatus.WARN, 'slow', values, 'so101')
    assert msg.level == DiagnosticStatus.WARN
    assert (msg.name, msg.message, msg.hardware_id) == ('smolvla/executor', 'slow', 'so101')
    assert {kv.key: kv.value for kv in msg.values} == {
        'latency_s': '0.1',
        'count': '3',
        'ok': 'true',
        'none': 'null',
        'clamps': '{"a": 2, "b": 1}',
    }
    assert cv.diagnostic_status('x', 2, '', {}).level == DiagnosticStatus.ERROR


def test_diagnostic_status_errors():
    with pytest.raises(ConversionError, match='level 4'):
        cv.diagnostic_status('x', 4, '', {})
    with pytest.raises(ConversionError, match='non-empty name'):
        cv.diagnostic_status('', 0, '', {})


def test_status_text_marker_faces_the_camera_above_the_base():
    stamp = cv.time_to_msg(12.5)
    m = cv.status_text_marker('tracking | queue 3/50', 'base_link', stamp)
    assert (m.ns, m.id, m.type, m.action) == ('status', 0, Marker.TEXT_VIEW_FACING, Marker.ADD)
    assert m.text == 'tracking | queue 3/50' and m.header.frame_id == 'base_link'
    assert (m.header.stamp.sec, m.header.stamp.nanosec) == (12, 500_000_000)
    assert m.pose.position.z == cv.STATUS_TEXT_Z_M and m.pose.orientation.w == 1.0
    assert m.scale.z > 0 and m.color.a == 1.0  # visible: RViz drops zero-size or clear text


def test_a_worker_mid_inference_is_reported_as_running():
    """The policy node's status shows MODE_RUNNING while the worker computes a chunk and
    MODE_IDLE once it is done (the worker's own modes, mapped by policy_status_to_msg)."""
    from smolvla_interfaces.msg import PolicyStatus
    from smolvla_ros.nodes.conversions import policy_status_to_msg
    from smolvla_ros.policy import PolicyWorker
    from smolvla_ros.runtime import SimClock
    from tests.ros.ros_harness import wait_until
    from tests.worker_helpers import EchoPolicy, Sink, snap

    policy = EchoPolicy()
    policy.gate = True
    worker = PolicyWorker(policy, Sink(), now=SimClock(10.0).now)
    try:
        worker.request(snap(0, 10.0))
        assert policy.started.wait(5.0)
        assert policy_status_to_msg(worker.status(), stamp_s=10.0).mode == (
            PolicyStatus.MODE_RUNNING
        )
        policy.release.set()
        wait_until(lambda: worker.status().mode == 'idle', 5.0, 'the inference to end')
        assert policy_status_to_msg(worker.status(), stamp_s=10.0).mode == PolicyStatus.MODE_IDLE
    finally:
        policy.release.set()
        worker.close()
