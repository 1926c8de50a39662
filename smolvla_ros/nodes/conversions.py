"""The one place where ROS messages become core objects and back: pure functions, no node state.

Nodes call these at their boundary (convert, call the core, convert, publish). Naming follows
``x_to_msg`` (core -> message) and ``x_from_msg`` (message -> core). Every malformed message
raises :class:`ConversionError` (a ``ValueError``) naming the field, the joints or the encoding and
what is expected; nothing is partially converted.

Time base: the cores take times as float seconds on one clock. The nodes use their node clock's
ROS time (``node.get_clock().now()``; simulated time from /clock when ``use_sim_time`` is true) as
that clock, so a message stamp converts to core seconds with :func:`time_from_msg` and back with
:func:`time_to_msg`, and the executor, the frames and the chunks share it. Integer nanoseconds
(:func:`time_ns_from_msg`, :func:`time_ns_to_msg`) are exact; float seconds round to the nearest
nanosecond and round-trip exactly for times below 2**22 s (48 days: sim time, uptime); beyond,
float64 itself holds about 0.24 us at today's epoch seconds, far below any control period.

Units: joint positions are radians (REP-103), times seconds, images RGB uint8 (H, W, 3).
"""

from __future__ import annotations

import array
import json
import math
from collections.abc import Mapping, Sequence
from fractions import Fraction

import numpy as np
from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import CompressedImage, Image, JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from smolvla_interfaces.msg import ActionChunk as ActionChunkMsg
from smolvla_interfaces.msg import ExecutorStatus, PolicyStatus
from smolvla_ros.frames.frame import Frame
from smolvla_ros.policy.worker import WorkerStatus
from smolvla_ros.runtime.chunk import ActionChunk
from smolvla_ros.runtime.enums import ExecutorState

NS_PER_S = 1_000_000_000
_INT32_MAX = 2**31 - 1
_UINT64_MAX = 2**64 - 1
# builtin_interfaces/Time: sec is int32 and ROS time is never negative.
MAX_TIME_NS = _INT32_MAX * NS_PER_S + NS_PER_S - 1
# A chunk point's time_from_start may differ from (i + 1) * dt_s by rounding to whole nanoseconds
# (one per point when the sender rounded each product); more means a non-uniform trajectory, which
# the core chunk (one dt) cannot represent.
_CHUNK_TIME_TOLERANCE_NS = 1_000


class ConversionError(ValueError):
    """A message (or core object) that cannot be converted; the message says what to fix."""


# --------------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------------
def time_ns_to_msg(ns: int) -> Time:
    """builtin_interfaces/Time of ``ns`` integer nanoseconds (exact).

    Raises:
        ConversionError: ``ns`` negative or beyond int32 seconds (year 2038).
    """
    ns = int(ns)
    if not 0 <= ns <= MAX_TIME_NS:
        raise ConversionError(
            f'time {ns} ns is outside builtin_interfaces/Time (0 .. {MAX_TIME_NS} ns); ROS time '
            'is non-negative seconds with an int32 seconds field'
        )
    sec, nanosec = divmod(ns, NS_PER_S)
    return Time(sec=sec, nanosec=nanosec)


def time_ns_from_msg(msg: Time) -> int:
    """Integer nanoseconds of a builtin_interfaces/Time (exact).

    Raises:
        ConversionError: negative seconds or nanosec outside 0..999999999 (not normalised).
    """
    if msg.sec < 0 or not 0 <= msg.nanosec < NS_PER_S:
        raise ConversionError(
            f'builtin_interfaces/Time(sec={msg.sec}, nanosec={msg.nanosec}) is not a valid ROS '
            'time: sec must be >= 0 and nanosec in 0..999999999'
        )
    return msg.sec * NS_PER_S + msg.nanosec


def _seconds_to_ns(seconds: float, what: str) -> int:
    """Nearest integer nanoseconds of a float (exactly rounded, ties to even)."""
    if not math.isfinite(seconds):
        raise ConversionError(f'{what} must be a finite number of seconds, got {seconds}')
    # Fraction is the exact value of the float, so the rounding is exact too.
    return round(Fraction(seconds) * NS_PER_S)


def time_to_msg(seconds: float) -> Time:
    """builtin_interfaces/Time of ``seconds`` on the node clock's time base.

    Rounds to the nearest nanosecond.

    Raises:
        ConversionError: not finite, negative, or beyond int32 seconds.
    """
    return time_ns_to_msg(_seconds_to_ns(seconds, 'time'))


def time_from_msg(msg: Time) -> float:
    """Seconds (float) of a builtin_interfaces/Time: the float nearest to the exact value.

    Raises:
        ConversionError: as :func:`time_ns_from_msg`.
    """
    # int / int true division is correctly rounded, unlike sec + nanosec * 1e-9.
    return time_ns_from_msg(msg) / NS_PER_S


def duration_to_msg(seconds: float) -> Duration:
    """builtin_interfaces/Duration of ``seconds`` (may be negative; nanosec stays 0..999999999).

    Raises:
        ConversionError: not finite or beyond int32 seconds.
    """
    ns = _seconds_to_ns(seconds, 'duration')
    sec, nanosec = divmod(ns, NS_PER_S)  # floor division keeps nanosec non-negative, as ROS does
    if not -(2**31) <= sec <= _INT32_MAX:
        raise ConversionError(f'duration {seconds} s does not fit builtin_interfaces/Duration')
    return Duration(sec=sec, nanosec=nanosec)


def _duration_ns(msg: Duration) -> int:
    if not 0 <= msg.nanosec < NS_PER_S:
        raise ConversionError(
            f'builtin_interfaces/Duration(sec={msg.sec}, nanosec={msg.nanosec}) is not '
            'normalised: nanosec must be in 0..999999999'
        )
    return msg.sec * NS_PER_S + msg.nanosec


def duration_from_msg(msg: Duration) -> float:
    """Seconds (float) of a builtin_interfaces/Duration.

    Raises:
        ConversionError: nanosec outside 0..999999999.
    """
    return _duration_ns(msg) / NS_PER_S


# --------------------------------------------------------------------------------------------
# Joint states
# --------------------------------------------------------------------------------------------
def joint_positions_from_msg(msg: JointState, joint_order: Sequence[str]) -> np.ndarray:
    """Positions [rad] of ``joint_order``'s joints, in that order, from a sensor_msgs/JointState.

    Joints in the message but not in ``joint_order`` are ignored (a robot may publish more).

    Returns:
        float64 array of shape (len(joint_order),).

    Raises:
        ConversionError: name and position lengths differ, a name repeats, a joint of
            ``joint_order`` is missing, or one of them is NaN/inf.
    """
    names = list(msg.name)
    positions = np.asarray(msg.position, dtype=np.float64)
    if len(names) != positions.shape[0]:
        raise ConversionError(
            f'JointState has {len(names)} names but {positions.shape[0]} positions; every named '
            'joint needs a position'
        )
    index = {}
    for i, name in enumerate(names):
        if name in index:
            raise ConversionError(f'JointState names joint {name!r} twice')
        index[name] = i
    missing = [j for j in joint_order if j not in index]
    if missing:
        raise ConversionError(
            f'JointState lacks joints {missing} (it has {names}); publish them or fix the '
            'configured joint names'
        )
    out = positions[[index[j] for j in joint_order]]
    bad = [j for j, v in zip(joint_order, out, strict=True) if not math.isfinite(v)]
    if bad:
        raise ConversionError(f'JointState positions of joints {bad} are NaN or infinite')
    return out


def joint_state_to_msg(
    positions: Sequence[float] | np.ndarray,
    joint_names: Sequence[str],
    stamp_s: float,
    velocities: Sequence[float] | np.ndarray | None = None,
) -> JointState:
    """A sensor_msgs/JointState of positions [rad] (and velocities [rad/s]) at ``stamp_s``.

    Raises:
        ConversionError: lengths differ from ``joint_names``, names repeat, or a value is not
            finite.
    """
    names = [str(n) for n in joint_names]
    pos = np.asarray(positions, dtype=np.float64).reshape(-1)
    if len(set(names)) != len(names):
        raise ConversionError(f'joint names repeat: {names}')
    arrays = {'positions': pos}
    if velocities is not None:
        arrays['velocities'] = np.asarray(velocities, dtype=np.float64).reshape(-1)
    for what, values in arrays.items():
        if values.shape[0] != len(names):
            raise ConversionError(
                f'{values.shape[0]} {what} for {len(names)} joints {names}; give one per joint'
            )
        bad = [n for n, v in zip(names, values, strict=True) if not math.isfinite(v)]
        if bad:
            raise ConversionError(f'{what} of joints {bad} are NaN or infinite')
    msg = JointState()
    msg.header.stamp = time_to_msg(stamp_s)
    msg.name = names
    msg.position = pos.tolist()
    if velocities is not None:
        msg.velocity = arrays['velocities'].tolist()
    return msg


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------
# Bytes per pixel of each supported encoding (all 8-bit per sample, so is_bigendian, which only
# orders the bytes of multi-byte samples, never matters for them).
_BYTES_PER_PIXEL = {
    'rgb8': 3,
    'bgr8': 3,
    'mono8': 1,
    'yuv422': 2,  # UYVY: U0 Y0 V0 Y1 per pixel pair (ROS's name for it)
    'yuv422_yuy2': 2,  # YUYV: Y0 U0 Y1 V0
    'bayer_rggb8': 1,
    'bayer_bggr8': 1,
    'bayer_gbrg8': 1,
    'bayer_grbg8': 1,
}
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_BYTES_PER_PIXEL)
# Byte offsets of (Y0, U, Y1, V) inside one 4-byte pixel pair.
_YUV422_LAYOUT = {'yuv422': (1, 0, 3, 2), 'yuv422_yuy2': (0, 1, 2, 3)}
# Colour of the top-left 2x2 cell, row-major, as RGB channel indices.
_BAYER_CELL = {
    'bayer_rggb8': (0, 1, 1, 2),
    'bayer_bggr8': (2, 1, 1, 0),
    'bayer_gbrg8': (1, 2, 0, 1),
    'bayer_grbg8': (1, 0, 2, 1),
}
# OpenCV's Bayer names count from the second row's second pixel (cv_bridge's mapping):
# ROS rggb == OpenCV BayerBG. These constants exist under these names in OpenCV 3, 4 and 5.
_BAYER_CV = {
    'bayer_rggb8': 'COLOR_BayerBG2RGB',
    'bayer_bggr8': 'COLOR_BayerRG2RGB',
    'bayer_gbrg8': 'COLOR_BayerGR2RGB',
    'bayer_grbg8': 'COLOR_BayerGB2RGB',
}
# ITU-R BT.601, limited ("video") range: Y in 16..235, U/V in 16..240 around 128. That is what
# UVC cameras send and what OpenCV (hence cv_bridge) assumes for 4:2:2 YUV.
_KR, _KB = 0.299, 0.114  # BT.601 luma weights of red and blue (green is the rest)
_LUMA = np.array([_KR, 1.0 - _KR - _KB, _KB])
_YUV_FROM_RGB = np.diag([219.0, 224.0, 224.0]) / 255.0 @ np.stack(
    [_LUMA, (np.array([0.0, 0.0, 1.0]) - _LUMA) / (2 * (1 - _KB)),
     (np.array([1.0, 0.0, 0.0]) - _LUMA) / (2 * (1 - _KR))]
)  # fmt: skip
_RGB_FROM_YUV = np.linalg.inv(_YUV_FROM_RGB)


def _import_cv2():
    try:
        import cv2
    except ImportError as e:
        raise ConversionError(
            'OpenCV is needed for Bayer and compressed images: pip install -e .[camera] '
            '(opencv-python-headless)'
        ) from e
    return cv2


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape:
        raise ConversionError(
            f'expected an RGB uint8 array of shape (H, W, 3), got dtype {rgb.dtype} shape '
            f'{rgb.shape}'
        )
    return rgb


def _check_encoding(encoding: str) -> str:
    if encoding not in _BYTES_PER_PIXEL:
        raise ConversionError(
            f'image encoding {encoding!r} is not supported; supported: '
            f'{", ".join(SUPPORTED_ENCODINGS)}'
        )
    return encoding


def _rgb_to_yuv422(rgb: np.ndarray, encoding: str) -> np.ndarray:
    h, w, _ = rgb.shape
    if w % 2:
        raise ConversionError(f'{encoding} packs pixel pairs: the width must be even, got {w}')
    yuv = rgb.astype(np.float64) @ _YUV_FROM_RGB.T + np.array([16.0, 128.0, 128.0])
    y = yuv[..., 0]
    # Chroma is shared by each horizontal pair: the mean of the pair's chroma.
    u = 0.5 * (yuv[:, 0::2, 1] + yuv[:, 1::2, 1])
    v = 0.5 * (yuv[:, 0::2, 2] + yuv[:, 1::2, 2])
    out = np.empty((h, w // 2, 4), dtype=np.float64)
    iy0, iu, iy1, iv = _YUV422_LAYOUT[encoding]
    out[..., iy0], out[..., iy1] = y[:, 0::2], y[:, 1::2]
    out[..., iu], out[..., iv] = u, v
    return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(h, w * 2)


def _yuv422_to_rgb(packed: np.ndarray, encoding: str, width: int) -> np.ndarray:
    h = packed.shape[0]
    if width % 2:
        raise ConversionError(f'{encoding} packs pixel pairs: the width must be even, got {width}')
    pairs = packed.reshape(h, width // 2, 4)
    iy0, iu, iy1, iv = _YUV422_LAYOUT[encoding]
    # float32 is ample for 8-bit values (error ~1e-5 levels) and halves the memory traffic; the
    # chroma terms are computed once per pixel pair and shared by both pixels.
    m = _RGB_FROM_YUV.astype(np.float32)
    y = np.empty((h, width), dtype=np.float32)
    y[:, 0::2], y[:, 1::2] = pairs[..., iy0], pairs[..., iy1]
    y = (y - 16.0) * m[0, 0]  # the Y column is 255/219 for R, G and B alike
    u = pairs[..., iu].astype(np.float32) - 128.0
    v = pairs[..., iv].astype(np.float32) - 128.0
    rgb = np.empty((h, width, 3), dtype=np.float32)
    for channel in range(3):
        chroma = m[channel, 1] * u + m[channel, 2] * v  # (h, width / 2)
        rgb[:, 0::2, channel] = y[:, 0::2] + chroma
        rgb[:, 1::2, channel] = y[:, 1::2] + chroma
    np.rint(rgb, out=rgb)
    np.clip(rgb, 0, 255, out=rgb)
    return rgb.astype(np.uint8)


def _rgb_to_bayer(rgb: np.ndarray, encoding: str) -> np.ndarray:
    h, w, _ = rgb.shape
    raw = np.empty((h, w), dtype=np.uint8)
    cell = _BAYER_CELL[encoding]
    for k, channel in enumerate(cell):
        r0, c0 = divmod(k, 2)
        raw[r0::2, c0::2] = rgb[r0::2, c0::2, channel]
    return raw


def rgb_to_image_msg(
    rgb: np.ndarray, encoding: str = 'rgb8', stamp_s: float = 0.0, frame_id: str = ''
) -> Image:
    """A sensor_msgs/Image of an RGB uint8 (H, W, 3) array in ``encoding`` (no row padding).

    mono8 stores the BT.601 luma (0.299 R + 0.587 G + 0.114 B); yuv422/yuv422_yuy2 use BT.601
    limited range with the chroma of each pixel pair averaged; Bayer keeps one channel per pixel.
    Those encodings lose information, so converting back gives an approximation.

    Raises:
        ConversionError: ``rgb`` is not uint8 (H, W, 3), the encoding is not supported, or a YUV
            image has an odd width.
    """
    rgb = _check_rgb(rgb)
    _check_encoding(encoding)
    h, w, _ = rgb.shape
    if encoding == 'rgb8':
        pixels = rgb
    elif encoding == 'bgr8':
        pixels = rgb[..., ::-1]
    elif encoding == 'mono8':
        luma = rgb.astype(np.float64) @ _LUMA
        pixels = np.clip(np.rint(luma), 0, 255).astype(np.uint8)
    elif encoding in _YUV422_LAYOUT:
        pixels = _rgb_to_yuv422(rgb, encoding)
    else:
        pixels = _rgb_to_bayer(rgb, encoding)
    msg = Image()
    msg.header.stamp = time_to_msg(stamp_s)
    msg.header.frame_id = frame_id
    msg.height, msg.width = h, w
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = w * _BYTES_PER_PIXEL[encoding]
    msg.data = array.array('B', np.ascontiguousarray(pixels).tobytes())
    return msg


def rgb_from_image_msg(msg: Image) -> np.ndarray:
    """RGB uint8 (H, W, 3) array of a sensor_msgs/Image.

    Honours ``step`` (row padding beyond width * bytes-per-pixel is skipped). mono8 is replicated
    into the three channels; Bayer is demosaiced with OpenCV (bilinear; imported on first use).

    Raises:
        ConversionError: unsupported encoding (the message lists the supported ones), zero size,
            ``step`` shorter than a row, ``data`` not exactly step * height bytes, odd width for
            YUV, or a Bayer image smaller than 2x2.
    """
    encoding = _check_encoding(msg.encoding)
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = w * _BYTES_PER_PIXEL[encoding]
    if h == 0 or w == 0:
        raise ConversionError(f'{encoding} image has size {w}x{h}; it must not be empty')
    if step < row_bytes:
        raise ConversionError(
            f'{encoding} image of width {w} needs step >= {row_bytes} bytes, got step={step}'
        )
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size != step * h:
        raise ConversionError(
            f'{encoding} image {w}x{h} with step {step} must carry step * height = {step * h} '
            f'bytes, got {data.size}'
        )
    rows = data.reshape(h, step)[:, :row_bytes]
    if encoding == 'rgb8':
        return rows.reshape(h, w, 3).copy()
    if encoding == 'bgr8':
        return rows.reshape(h, w, 3)[..., ::-1].copy()
    if encoding == 'mono8':
        return np.repeat(rows[..., None], 3, axis=2)
    if encoding in _YUV422_LAYOUT:
        return _yuv422_to_rgb(rows, encoding, w)
    if h < 2 or w < 2:
        raise ConversionError(f'{encoding} image {w}x{h} is too small to demosaic (2x2 at least)')
    cv2 = _import_cv2()
    return cv2.cvtColor(np.ascontiguousarray(rows), getattr(cv2, _BAYER_CV[encoding]))


# Compressed formats by the name used in CompressedImage.format (image_transport writes e.g.
# 'rgb8; jpeg compressed bgr8'; plain 'jpeg'/'png' is common too).
COMPRESSED_FORMATS: tuple[str, ...] = ('jpeg', 'png')


def _compressed_kind(fmt: str) -> str:
    words = fmt.lower().replace(';', ' ').split()
    if 'jpeg' in words or 'jpg' in words:
        return 'jpeg'
    if 'png' in words:
        return 'png'
    raise ConversionError(
        f'CompressedImage format {fmt!r} is not supported; supported: '
        f'{", ".join(COMPRESSED_FORMATS)}'
    )


def rgb_to_compressed_msg(
    rgb: np.ndarray,
    fmt: str = 'jpeg',
    stamp_s: float = 0.0,
    frame_id: str = '',
    jpeg_quality: int = 90,
) -> CompressedImage:
    """A sensor_msgs/CompressedImage of an RGB uint8 (H, W, 3) array.

    ``format`` is written the way image_transport's compressed plugin does
    ('rgb8; jpeg compressed bgr8'), so its subscribers decode it too.

    Raises:
        ConversionError: bad array, format not jpeg/png, quality outside 1..100, or encoding
            failed.
    """
    rgb = _check_rgb(rgb)
    kind = _compressed_kind(fmt)
    if not 1 <= jpeg_quality <= 100:
        raise ConversionError(f'jpeg_quality must be in 1..100, got {jpeg_quality}')
    cv2 = _import_cv2()
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if kind == 'jpeg' else []
    ok, buf = cv2.imencode('.jpg' if kind == 'jpeg' else '.png', rgb[..., ::-1], params)
    if not ok:
        raise ConversionError(f'OpenCV could not encode a {rgb.shape} image as {kind}')
    msg = CompressedImage()
    msg.header.stamp = time_to_msg(stamp_s)
    msg.header.frame_id = frame_id
    msg.format = f'rgb8; {kind} compressed bgr8'
    msg.data = array.array('B', buf.tobytes())
    return msg


def rgb_from_compressed_msg(msg: CompressedImage) -> np.ndarray:
    """RGB uint8 (H, W, 3) array of a jpeg or png sensor_msgs/CompressedImage.

    Raises:
        ConversionError: format not jpeg/png, or the bytes do not decode as an image.
    """
    kind = _compressed_kind(msg.format)
    cv2 = _import_cv2()
    data = np.frombuffer(msg.data, dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise ConversionError(
            f'CompressedImage ({msg.format!r}, {data.size} bytes) does not decode as {kind}'
        )
    return np.ascontiguousarray(bgr[..., ::-1])


def frame_to_msg(frame: Frame, encoding: str = 'rgb8', frame_id: str = '') -> Image:
    """A sensor_msgs/Image of a camera Frame; header.stamp is the frame's capture time.

    Raises:
        ConversionError: as :func:`rgb_to_image_msg`, or a negative capture time.
    """
    return rgb_to_image_msg(frame.rgb, encoding, frame.capture_time_s, frame_id)


def frame_from_msg(msg: Image | CompressedImage, slot: str, sequence: int = 0) -> Frame:
    """A camera Frame for ``slot`` from an Image or CompressedImage; capture time = header.stamp.

    Raises:
        ConversionError: as :func:`rgb_from_image_msg` / :func:`rgb_from_compressed_msg`.
        ValueError: empty ``slot`` (from Frame).
    """
    if isinstance(msg, CompressedImage):
        rgb = rgb_from_compressed_msg(msg)
    else:
        rgb = rgb_from_image_msg(msg)
    return Frame(slot, rgb, time_from_msg(msg.header.stamp), sequence)


# --------------------------------------------------------------------------------------------
# Action chunks
# --------------------------------------------------------------------------------------------
def chunk_to_trajectory_msg(chunk: ActionChunk) -> JointTrajectory:
    """A trajectory_msgs/JointTrajectory of a chunk: stamp = observation time, point i at
    (i + 1) * dt_s, positions [rad] in ``chunk.joint_names`` order.

    Raises:
        ConversionError: actions not (n >= 1, J) finite, dt_s not finite > 0, or the
            observation time not a valid ROS time.
    """
    a = chunk.actions
    names = list(chunk.joint_names)
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] != len(names):
        raise ConversionError(
            f'chunk {chunk.chunk_id} actions have shape {a.shape}; expected (n >= 1, {len(names)})'
            f' for joints {names}'
        )
    if not np.all(np.isfinite(a)):
        bad = sorted({names[j] for j in np.argwhere(~np.isfinite(a))[:, 1]})
        raise ConversionError(f'chunk {chunk.chunk_id} has NaN or inf actions for joints {bad}')
    if not (math.isfinite(chunk.dt_s) and chunk.dt_s > 0):
        raise ConversionError(f'chunk {chunk.chunk_id} dt_s must be finite and > 0')
    msg = JointTrajectory()
    msg.header.stamp = time_to_msg(chunk.observation_time_s)
    msg.joint_names = names
    dt = Fraction(chunk.dt_s)
    points = []
    for i, row in enumerate(a):
        ns = round(dt * (i + 1) * NS_PER_S)
        sec, nanosec = divmod(ns, NS_PER_S)
        points.append(
            JointTrajectoryPoint(
                positions=row.tolist(), time_from_start=Duration(sec=sec, nanosec=nanosec)
            )
        )
    msg.points = points
    return msg


# ActionChunk.msg carries request_id as uint64; the core uses -1 for a chunk nobody requested
# (request ids start at 0), so that one value travels as the largest uint64.
UNREQUESTED_ID = _UINT64_MAX


def chunk_to_msg(chunk: ActionChunk) -> ActionChunkMsg:
    """A smolvla_interfaces/ActionChunk of a core chunk.

    ``request_id`` is the chunk's (the ChunkRequest it answers); an unrequested chunk
    (``request_id == -1``) is sent as :data:`UNREQUESTED_ID`. The frames' capture times
    (``chunk.frame_times_s``) have no field in the message and stay on the policy side.

    Raises:
        ConversionError: as :func:`chunk_to_trajectory_msg`, a negative chunk_id, a request_id
            below -1, or a latency that is not finite.
    """
    request_id = UNREQUESTED_ID if chunk.request_id == -1 else chunk.request_id
    for what, value in (('chunk_id', chunk.chunk_id), ('request_id', request_id)):
        if not 0 <= int(value) <= _UINT64_MAX:
            raise ConversionError(f'{what} must be in 0..2**64-1 (uint64), got {value}')
    if not math.isfinite(chunk.inference_latency_s):
        raise ConversionError(f'chunk {chunk.chunk_id} inference_latency_s must be finite')
    trajectory = chunk_to_trajectory_msg(chunk)
    msg = ActionChunkMsg()
    msg.header.stamp = trajectory.header.stamp
    msg.chunk_id = int(chunk.chunk_id)
    msg.request_id = int(request_id)
    msg.inference_latency_s = float(chunk.inference_latency_s)
    msg.dt_s = float(chunk.dt_s)
    msg.trajectory = trajectory
    return msg


def _positions_matrix(msg: JointTrajectory, joint_order: Sequence[str] | None) -> tuple:
    names = list(msg.joint_names)
    if len(set(names)) != len(names):
        raise ConversionError(f'trajectory names a joint twice: {names}')
    if not msg.points:
        raise ConversionError('trajectory has no points; a chunk needs at least one action')
    rows = []
    for i, point in enumerate(msg.points):
        if len(point.positions) != len(names):
            raise ConversionError(
                f'trajectory point {i} has {len(point.positions)} positions for {len(names)} '
                f'joints {names}'
            )
        rows.append(np.asarray(point.positions, dtype=np.float64))
    actions = np.stack(rows)
    if joint_order is not None:
        order = list(joint_order)
        missing = [j for j in order if j not in names]
        if missing:
            raise ConversionError(f'trajectory lacks joints {missing} (it has {names})')
        actions = actions[:, [names.index(j) for j in order]]
        names = order
    if not np.all(np.isfinite(actions)):
        bad = sorted({names[j] for j in np.argwhere(~np.isfinite(actions))[:, 1]})
        raise ConversionError(f'trajectory has NaN or inf positions for joints {bad}')
    return tuple(names), actions


def _check_uniform_times(msg: JointTrajectory, dt_s: float) -> None:
    dt = Fraction(dt_s)
    for i, point in enumerate(msg.points):
        expected = dt * (i + 1) * NS_PER_S
        got = _duration_ns(point.time_from_start)
        if abs(got - expected) > _CHUNK_TIME_TOLERANCE_NS:
            raise ConversionError(
                f'trajectory point {i} is at {got / NS_PER_S} s from start; a chunk with dt '
                f'{dt_s} s puts it at (i + 1) * dt = {float(expected) / NS_PER_S} s'
            )


def chunk_from_msg(msg: ActionChunkMsg, joint_order: Sequence[str] | None = None) -> ActionChunk:
    """The core chunk of a smolvla_interfaces/ActionChunk.

    Args:
        msg: the message; header.stamp is the observation time, point i must sit at
            (i + 1) * dt_s.
        joint_order: reorder the columns to these joints (e.g. the executor's); None keeps the
            message's order.

    Raises:
        ConversionError: no points, a point with the wrong number of positions, missing or
            repeated joints, NaN/inf positions, dt_s not finite > 0, points not at
            (i + 1) * dt_s, an invalid stamp or a non-finite latency.
    """
    if not (math.isfinite(msg.dt_s) and msg.dt_s > 0):
        raise ConversionError(f'ActionChunk {msg.chunk_id} dt_s must be finite and > 0')
    if not math.isfinite(msg.inference_latency_s):
        raise ConversionError(f'ActionChunk {msg.chunk_id} inference_latency_s must be finite')
    names, actions = _positions_matrix(msg.trajectory, joint_order)
    _check_uniform_times(msg.trajectory, msg.dt_s)
    return ActionChunk(
        joint_names=names,
        actions=actions,
        observation_time_s=time_from_msg(msg.header.stamp),
        dt_s=float(msg.dt_s),
        chunk_id=int(msg.chunk_id),
        inference_latency_s=float(msg.inference_latency_s),
        request_id=-1 if msg.request_id == UNREQUESTED_ID else int(msg.request_id),
    )


def chunk_from_trajectory_msg(
    msg: JointTrajectory,
    joint_order: Sequence[str] | None = None,
    now_s: float | None = None,
    chunk_id: int = 0,
) -> ActionChunk:
    """The core chunk of a bare trajectory_msgs/JointTrajectory (e.g. from another stack).

    dt is the first point's time_from_start, and every point i must sit at (i + 1) * dt: the
    core chunk has one uniform step.

    Args:
        msg: the trajectory; header.stamp is taken as the observation time.
        joint_order: reorder the columns to these joints; None keeps the message's order.
        now_s: the time to use when header.stamp is zero, which JointTrajectory defines as
            "start now"; None makes a zero stamp an error.
        chunk_id: the id to give the chunk (a bare trajectory has none).

    Raises:
        ConversionError: as :func:`chunk_from_msg`, a first point at time <= 0, or a zero stamp
            without ``now_s``.
    """
    names, actions = _positions_matrix(msg, joint_order)
    first_ns = _duration_ns(msg.points[0].time_from_start)
    if first_ns <= 0:
        raise ConversionError(
            'trajectory point 0 has time_from_start <= 0; a chunk starts one dt after its stamp'
        )
    dt_s = first_ns / NS_PER_S
    _check_uniform_times(msg, dt_s)
    stamp = msg.header.stamp
    if stamp.sec == 0 and stamp.nanosec == 0:
        if now_s is None:
            raise ConversionError(
                'trajectory header.stamp is zero ("start now"); pass now_s, the current time'
            )
        observation_time_s = float(now_s)
    else:
        observation_time_s = time_from_msg(stamp)
    return ActionChunk(names, actions, observation_time_s, dt_s, chunk_id=chunk_id)


# --------------------------------------------------------------------------------------------
# Statuses and diagnostics
# --------------------------------------------------------------------------------------------
def executor_mode(state: ExecutorState | str, runtime_mode: str) -> int:
    """ExecutorStatus.MODE_* of an executor tick state and the runtime's mode ('async'/'sync').

    estop -> MODE_ESTOP; watchdog -> MODE_HOLD; startup (no chunk yet) -> MODE_IDLE; tracking and
    starved (running, queue momentarily empty) -> MODE_ASYNC or MODE_SYNC.

    Raises:
        ConversionError: unknown state or runtime mode.
    """
    try:
        state = ExecutorState(state)
    except ValueError:
        allowed = ', '.join(s.value for s in ExecutorState)
        raise ConversionError(f'executor state {state!r} is not one of {allowed}') from None
    if runtime_mode not in ('async', 'sync'):
        raise ConversionError(f"runtime mode must be 'async' or 'sync', got {runtime_mode!r}")
    if state == ExecutorState.ESTOP:
        return ExecutorStatus.MODE_ESTOP
    if state == ExecutorState.WATCHDOG:
        return ExecutorStatus.MODE_HOLD
    if state == ExecutorState.STARTUP:
        return ExecutorStatus.MODE_IDLE
    return ExecutorStatus.MODE_ASYNC if runtime_mode == 'async' else ExecutorStatus.MODE_SYNC


def executor_status_to_msg(
    summary: Mapping[str, object],
    *,
    stamp_s: float,
    mode: int,
    tick_rate_hz: float,
    queue_length: int,
    queue_fill: float,
    threshold_g: float,
    last_inference_latency_s: float,
    watchdog_holding: bool,
    estop_latched: bool,
    last_fault: str = '',
) -> ExecutorStatus:
    """A smolvla_interfaces/ExecutorStatus of ``RuntimeMetrics.summary()`` and the live state.

    From the summary: tick_jitter_p99_s (tick_jitter_p99_ms / 1000; NaN before the first
    tick), chunks_accepted, chunks_rejected (all reasons summed), requests_sent,
    starvation_ticks, max_seam_jump_rad, and position/velocity/acceleration clamps (summed over
    joints). The other fields are the executor's current state, passed by the node. Latency
    NaN means "no chunk yet".

    Raises:
        ConversionError: a summary key is missing, ``mode`` is not a MODE_* value, or a count is
            negative.
    """
    modes = (
        ExecutorStatus.MODE_IDLE,
        ExecutorStatus.MODE_ASYNC,
        ExecutorStatus.MODE_SYNC,
        ExecutorStatus.MODE_HOLD,
        ExecutorStatus.MODE_ESTOP,
    )
    if mode not in modes:
        raise ConversionError(f'mode {mode} is not an ExecutorStatus.MODE_* value {modes}')
    try:
        p99_ms = summary['tick_jitter_p99_ms']
        clamps = summary['clamps']
        rejected = summary['chunks_rejected']
        counts = {k: int(summary[k]) for k in ('chunks_accepted', 'requests_sent')}
        counts['starvation_ticks'] = int(summary['starvation_ticks'])
        max_seam = float(summary['max_seam_jump_rad'])
    except KeyError as e:
        raise ConversionError(
            f'metrics summary lacks {e}; pass RuntimeMetrics.summary() unchanged'
        ) from None
    counts['chunks_rejected'] = sum(int(n) for n in rejected.values())  # type: ignore[attr-defined]
    for kind in ('position', 'velocity', 'acceleration'):
        counts[f'{kind}_clamps'] = sum(int(n) for n in clamps.get(kind, {}).values())  # type: ignore[attr-defined]
    counts['queue_length'] = int(queue_length)
    negative = sorted(k for k, v in counts.items() if v < 0)
    if negative:
        raise ConversionError(f'counts {negative} are negative')
    msg = ExecutorStatus()
    msg.header.stamp = time_to_msg(stamp_s)
    msg.mode = int(mode)
    msg.tick_rate_hz = float(tick_rate_hz)
    msg.tick_jitter_p99_s = math.nan if p99_ms is None else float(p99_ms) / 1e3  # type: ignore[arg-type]
    msg.queue_length = counts['queue_length']
    msg.queue_fill = float(queue_fill)
    msg.threshold_g = float(threshold_g)
    msg.last_inference_latency_s = float(last_inference_latency_s)
    msg.chunks_accepted = counts['chunks_accepted']
    msg.chunks_rejected = counts['chunks_rejected']
    msg.requests_sent = counts['requests_sent']
    msg.starvation_ticks = counts['starvation_ticks']
    msg.max_seam_jump_rad = max_seam
    msg.position_clamps = counts['position_clamps']
    msg.velocity_clamps = counts['velocity_clamps']
    msg.acceleration_clamps = counts['acceleration_clamps']
    msg.watchdog_holding = bool(watchdog_holding)
    msg.estop_latched = bool(estop_latched)
    msg.last_fault = str(last_fault)
    return msg


DIAGNOSTIC_LEVELS: dict[int, str] = {
    int.from_bytes(DiagnosticStatus.OK, 'little'): 'OK',
    int.from_bytes(DiagnosticStatus.WARN, 'little'): 'WARN',
    int.from_bytes(DiagnosticStatus.ERROR, 'little'): 'ERROR',
    int.from_bytes(DiagnosticStatus.STALE, 'little'): 'STALE',
}


def _diagnostic_value(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)  # true / false / null
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back to the same float
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def diagnostic_status(
    name: str,
    level: int,
    message: str,
    values: Mapping[str, object],
    hardware_id: str = '',
) -> DiagnosticStatus:
    """A diagnostic_msgs/DiagnosticStatus with one KeyValue per entry of ``values``.

    Values become text: strings as they are, floats with ``repr`` (exact), bools and None as JSON
    (true/false/null), dicts and lists as sorted JSON (e.g. a metrics summary's clamp counts).

    Args:
        level: 0 OK, 1 WARN, 2 ERROR, 3 STALE (DiagnosticStatus constants, as int or bytes).

    Raises:
        ConversionError: unknown level or empty name.
    """
    if isinstance(level, bytes | bytearray):
        level = int.from_bytes(level, 'little')
    if level not in DIAGNOSTIC_LEVELS:
        raise ConversionError(
            f'diagnostic level {level!r} is not one of {DIAGNOSTIC_LEVELS} (DiagnosticStatus)'
        )
    if not name:
        raise ConversionError('a diagnostic status needs a non-empty name')
    msg = DiagnosticStatus()
    msg.level = bytes([level])
    msg.name = name
    msg.message = message
    msg.hardware_id = hardware_id
    msg.values = [KeyValue(key=str(k), value=_diagnostic_value(v)) for k, v in values.items()]
    return msg


# ============================================================================================
# Camera info, simulator poses, clock and joint commands by name (camera_node, sim_node)
# ============================================================================================
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import CameraInfo  # noqa: E402


def camera_info_msg(
    width: int,
    height: int,
    stamp_s: float,
    frame_id: str = '',
    *,
    intrinsics: Sequence[float] | None = None,
    distortion: Sequence[float] = (),
    distortion_model: str = 'plumb_bob',
) -> CameraInfo:
    """A sensor_msgs/CameraInfo of a ``width`` x ``height`` camera at ``stamp_s``.

    Args:
        intrinsics: (fx, fy, cx, cy) in pixels, or None when unknown: K, R and P are then all
            zeros, which CameraInfo defines as "uncalibrated" (consumers must not rectify or
            project with it).
        distortion: D coefficients of ``distortion_model`` (empty when unknown).

    Raises:
        ConversionError: a non-positive size, or intrinsics that are not four finite numbers
            with positive focal lengths.
    """
    if width <= 0 or height <= 0:
        raise ConversionError(f'camera size must be positive, got {width}x{height} pixels')
    msg = CameraInfo()
    msg.header.stamp = time_to_msg(stamp_s)
    msg.header.frame_id = frame_id
    msg.width = int(width)
    msg.height = int(height)
    msg.distortion_model = distortion_model
    msg.d = [float(v) for v in distortion]
    if intrinsics is not None:
        values = [float(v) for v in intrinsics]
        if len(values) != 4 or not all(math.isfinite(v) for v in values):
            raise ConversionError(f'intrinsics must be finite (fx, fy, cx, cy), got {values}')
        fx, fy, cx, cy = values
        if fx <= 0 or fy <= 0:
            raise ConversionError(f'focal lengths must be positive pixels, got fx={fx} fy={fy}')
        msg.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
        msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        msg.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def pose_stamped_msg(
    position_m: Sequence[float] | np.ndarray,
    yaw_rad: float,
    stamp_s: float,
    frame_id: str = 'base_link',
) -> PoseStamped:
    """A geometry_msgs/PoseStamped at ``position_m`` (metres) turned ``yaw_rad`` about z.

    The orientation is the unit quaternion (x, y, z, w) = (0, 0, sin(yaw/2), cos(yaw/2)).

    Raises:
        ConversionError: not three finite coordinates, or a non-finite yaw.
    """
    pos = np.asarray(position_m, dtype=np.float64).reshape(-1)
    if pos.shape != (3,) or not np.all(np.isfinite(pos)) or not math.isfinite(yaw_rad):
        raise ConversionError(
            f'a pose needs three finite coordinates and a finite yaw, got {pos.tolist()} and '
            f'{yaw_rad}'
        )
    msg = PoseStamped()
    msg.header.stamp = time_to_msg(stamp_s)
    msg.header.frame_id = frame_id
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in pos)
    msg.pose.orientation.z = math.sin(yaw_rad / 2.0)
    msg.pose.orientation.w = math.cos(yaw_rad / 2.0)
    return msg


def yaw_from_pose_msg(msg: PoseStamped) -> float:
    """The rotation about z (radians, in (-pi, pi]) of a PoseStamped's orientation.

    Raises:
        ConversionError: as :func:`position_yaw_from_pose_msg`.
    """
    return position_yaw_from_pose_msg(msg)[1]


def clock_msg(stamp_s: float) -> Clock:
    """A rosgraph_msgs/Clock holding ``stamp_s`` seconds.

    Raises:
        ConversionError: a negative or non-finite time.
    """
    msg = Clock()
    msg.clock = time_to_msg(stamp_s)
    return msg


# --------------------------------------------------------------------------------------------
# Joint commands (driver_node, sim_node): strict, every joint of the arm and no other
# --------------------------------------------------------------------------------------------
def joint_command_from_msg(msg: JointState, joint_order: Sequence[str]) -> np.ndarray:
    """Goal positions [rad] in ``joint_order`` from a sensor_msgs/JointState command.

    Stricter than :func:`joint_positions_from_msg`: a command naming a joint the arm does not
    have is refused (a typo or a command meant for another arm must not half-apply), as is one
    that misses a joint or carries a NaN/inf.

    Returns:
        float64 array of shape (len(joint_order),).

    Raises:
        ConversionError: unknown joint names, plus every error of :func:`joint_positions_from_msg`.
    """
    unknown = [n for n in msg.name if n not in joint_order]
    if unknown:
        raise ConversionError(
            f'joint command names joints {unknown} that this arm does not have; its joints are '
            f'{list(joint_order)}'
        )
    return joint_positions_from_msg(msg, joint_order)


# --------------------------------------------------------------------------------------------
# Policy node: PolicyStatus, simulator poses (policy_node)
# --------------------------------------------------------------------------------------------
def policy_status_to_msg(
    status: WorkerStatus | None,
    *,
    stamp_s: float,
    checkpoint: str = '',
    device: str = '',
    precision: str = '',
    instruction: str = '',
    refused_by_node: int = 0,
    fault: str = '',
    last_refused_request_id: int | None = None,
    last_refusal: str = '',
) -> PolicyStatus:
    """A smolvla_interfaces/PolicyStatus of the worker's status and the node's own state.

    ``status`` None means no policy is loaded: MODE_UNCONFIGURED with ``fault`` (e.g. why
    configure failed). Otherwise the mode follows the worker (idle, running, fault; closed ->
    MODE_UNCONFIGURED); a node-level ``fault`` (a request the node refused before the worker)
    makes an idle worker MODE_FAULT and replaces the worker's fault text. ``inference_errors``
    counts every failed request: predict exceptions, refused outputs, the worker's refusals
    (missing/stale frames, joint names) and ``refused_by_node``. ``requests_filtered`` is 0:
    the worker runs no observation filter. Latencies and ages stay NaN until known.
    ``last_refused_request_id`` (None = none refused yet, sent as PolicyStatus.NO_REFUSAL) and
    ``last_refusal`` (its reason) name the last chunk request refused without an answer, in every
    mode (see :func:`policy_refusal_from_msg`).

    Raises:
        ConversionError: a negative count, a refused request id outside [0, 2**64 - 2], or a
            stamp that is not a valid ROS time.
    """
    msg = PolicyStatus()
    msg.header.stamp = time_to_msg(stamp_s)
    msg.checkpoint = str(checkpoint)
    msg.device = str(device)
    msg.precision = str(precision)
    if refused_by_node < 0:
        raise ConversionError(f'refused_by_node must be >= 0, got {refused_by_node}')
    if last_refused_request_id is None:
        msg.last_refused_request_id = PolicyStatus.NO_REFUSAL
    elif (
        isinstance(last_refused_request_id, bool)
        or not isinstance(last_refused_request_id, int)
        or not 0 <= last_refused_request_id < PolicyStatus.NO_REFUSAL
    ):
        raise ConversionError(
            f'last_refused_request_id must be None or an int in [0, 2**64 - 2] (2**64 - 1 is '
            f'PolicyStatus.NO_REFUSAL), got {last_refused_request_id!r}'
        )
    else:
        msg.last_refused_request_id = last_refused_request_id
    msg.last_refusal = str(last_refusal)
    nan = math.nan
    if status is None:
        msg.mode = PolicyStatus.MODE_UNCONFIGURED
        msg.instruction = str(instruction)
        msg.last_latency_s = msg.median_latency_s = nan
        msg.image_age_s = msg.state_age_s = nan
        msg.fault = str(fault)
        return msg
    modes = {
        'idle': PolicyStatus.MODE_IDLE,
        'running': PolicyStatus.MODE_RUNNING,
        'fault': PolicyStatus.MODE_FAULT,
        'closed': PolicyStatus.MODE_UNCONFIGURED,
    }
    if status.mode not in modes:
        raise ConversionError(f'worker mode {status.mode!r} is not one of {sorted(modes)}')
    mode = modes[status.mode]
    if fault and mode == PolicyStatus.MODE_IDLE:
        mode = PolicyStatus.MODE_FAULT
    failed = (
        status.inference_errors
        + sum(status.invalid_outputs.values())
        + sum(status.requests_refused.values())
        + refused_by_node
    )
    if min(status.chunks_produced, failed) < 0:
        raise ConversionError('worker counts must be >= 0')
    msg.mode = mode
    msg.instruction = str(instruction or status.instruction)
    msg.last_latency_s = float(status.last_latency_s)
    msg.median_latency_s = float(status.median_latency_s)
    msg.chunks_produced = int(status.chunks_produced)
    msg.requests_filtered = 0
    msg.inference_errors = int(failed)
    msg.image_age_s = float(status.image_age_s)
    msg.state_age_s = float(status.state_age_s)
    msg.fault = str(fault or status.fault) if mode == PolicyStatus.MODE_FAULT else ''
    return msg


# A unit quaternion's norm may differ from 1 by float rounding of whoever built it; more means
# the pose is not a rotation (e.g. an all-zero default message).
_QUATERNION_NORM_TOLERANCE = 1e-3


def position_yaw_from_pose_msg(msg: PoseStamped) -> tuple[np.ndarray, float]:
    """Position [m] (3,) and yaw about z [rad] in (-pi, pi] of a geometry_msgs/PoseStamped.

    The yaw is the heading of the rotated x axis projected on the xy plane,
    ``atan2(2(wz + xy), 1 - 2(y^2 + z^2))``; for a pure rotation about z by ``a`` the
    quaternion is (0, 0, sin(a/2), cos(a/2)) and this gives ``a``.

    Raises:
        ConversionError: a NaN/inf value, or an orientation that is not a unit quaternion
            (e.g. all zeros: the publisher left it unset).
    """
    p, q = msg.pose.position, msg.pose.orientation
    pos = np.array([p.x, p.y, p.z], dtype=np.float64)
    quat = np.array([q.x, q.y, q.z, q.w], dtype=np.float64)
    if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(quat))):
        raise ConversionError('pose has NaN or infinite position or orientation values')
    norm = float(np.linalg.norm(quat))
    if abs(norm - 1.0) > _QUATERNION_NORM_TOLERANCE:
        raise ConversionError(
            f'pose orientation (x, y, z, w) = {quat.tolist()} has norm {norm:.6f}, not a unit '
            'quaternion; publish a rotation (identity is w = 1)'
        )
    x, y, z, w = quat / norm
    yaw = math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    return pos, yaw


# --------------------------------------------------------------------------------------------
# Status text for RViz (executor_node)
# --------------------------------------------------------------------------------------------
from visualization_msgs.msg import Marker  # noqa: E402

STATUS_TEXT_HEIGHT_M = 0.03  # text height in RViz, metres
STATUS_TEXT_Z_M = 0.45  # above the SO-101's reach, so the text never hides the arm


def status_text_marker(text: str, frame_id: str, stamp: Time) -> Marker:
    """A camera-facing text marker (namespace ``status``) showing ``text`` above the base."""
    marker = Marker()
    marker.header.frame_id = frame_id
    marker.header.stamp = stamp
    marker.ns = 'status'
    marker.id = 0
    marker.type = Marker.TEXT_VIEW_FACING
    marker.action = Marker.ADD
    marker.pose.position.z = STATUS_TEXT_Z_M
    marker.pose.orientation.w = 1.0
    marker.scale.z = STATUS_TEXT_HEIGHT_M
    marker.color.r = marker.color.g = marker.color.b = marker.color.a = 1.0
    marker.text = text
    return marker


# --------------------------------------------------------------------------------------------
# Refused chunk requests in PolicyStatus (executor_node)
# --------------------------------------------------------------------------------------------
def policy_refusal_from_msg(msg: PolicyStatus) -> tuple[int, str] | None:
    """(request_id, reason) of the last chunk request the policy node refused, or None when the
    status names none (``last_refused_request_id`` is PolicyStatus.NO_REFUSAL).

    Never raises: every uint64 other than NO_REFUSAL is a valid request id.
    """
    request_id = int(msg.last_refused_request_id)
    if request_id == PolicyStatus.NO_REFUSAL:
        return None
    return request_id, str(msg.last_refusal)
