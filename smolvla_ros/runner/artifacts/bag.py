"""The run as a rosbag2 in MCAP storage, written with ``rosbags`` (no ROS install needed).

Topics (the suite's names, see ``smolvla_ros/nodes/topics.py``; radians, REP-103):

=============================================  ================================================
``/joint_states``                              sensor_msgs/msg/JointState, measured, every tick
``/smolvla/joint_command``                     sensor_msgs/msg/JointState, the executor's
                                               command, every tick
``/smolvla/action_chunk``                      smolvla_interfaces/msg/ActionChunk, each chunk
                                               handed to the executor (stamp = observation time)
``/smolvla/cameras/<slot>/image_raw/compressed``  sensor_msgs/msg/CompressedImage (JPEG), each
                                               camera frame
=============================================  ================================================

Time: every stamp and record time is ``time_base_ns`` (the run's start on the UNIX clock) plus
the run's own time (simulated seconds on the simulator), so the bag sorts and plays in order and
shows the date it was recorded.

The ActionChunk type is read at run time from ``smolvla_interfaces/msg/ActionChunk.msg`` in this
tree and registered in rosbags' type store; the definition goes into the bag, so Foxglove
decodes it without the package. The bag is only complete after :meth:`BagWriter.close` (rosbags
writes ``metadata.yaml`` then); the runner closes it on every exit path, Ctrl-C included.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from smolvla_ros.runtime.chunk import ActionChunk

TOPIC_JOINT_STATES = '/joint_states'
TOPIC_JOINT_COMMAND = '/smolvla/joint_command'
TOPIC_ACTION_CHUNK = '/smolvla/action_chunk'
TOPIC_CAMERA = '/smolvla/cameras/{slot}/image_raw/compressed'
ACTION_CHUNK_TYPE = 'smolvla_interfaces/msg/ActionChunk'
# The interface package's message folder in this tree (setup.py does not install it as data; the
# runner reads it from the source tree, as the ROS build does).
MSG_DIR = Path(__file__).resolve().parents[3] / 'smolvla_interfaces' / 'msg'
JPEG_QUALITY = 85


class BagError(RuntimeError):
    """The bag cannot be created (the message says where and why)."""


def _typestore() -> Any:
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    path = MSG_DIR / 'ActionChunk.msg'
    try:
        text = path.read_text(encoding='utf-8')
    except OSError as e:
        raise BagError(
            f'cannot read the ActionChunk definition {path} ({e}); the runner needs the '
            'smolvla_interfaces/msg folder of the source tree'
        ) from e
    store.register(get_types_from_msg(text, ACTION_CHUNK_TYPE))
    return store


def check_bag_support() -> None:
    """Fail early, before a run starts, when the bag cannot be written.

    Raises:
        BagError: rosbags is missing or the ActionChunk definition cannot be read.
    """
    try:
        import rosbags.rosbag2  # noqa: F401
    except ImportError as e:
        raise BagError(
            'the runner writes its bag with rosbags, which is not installed: pip install '
            "'smolvla_ros[runner]' (or rosbags)"
        ) from e
    _typestore()


def encode_jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """JPEG bytes of an (H, W, 3) uint8 RGB image (Pillow)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format='JPEG', quality=quality)
    return buf.getvalue()


class BagWriter:
    """Streams the run into ``path`` (a folder rosbags creates; it must not exist).

    Args:
        path: the bag folder.
        joint_names: the arm's joints, in column order.
        camera_slots: the camera slots whose frames are recorded.
        time_base_ns: added to every run time, nanoseconds (the run's start, UNIX time).
        custom_data: strings stored in the bag's metadata (``custom_data``), e.g. the banner.

    Raises:
        BagError: the folder exists or the bag cannot be opened (nothing is left behind).
    """

    def __init__(
        self,
        path: Path,
        joint_names: Sequence[str],
        camera_slots: Sequence[str],
        time_base_ns: int,
        custom_data: Mapping[str, str] | None = None,
    ) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.path = Path(path)
        self.joint_names = list(joint_names)
        self.time_base_ns = int(time_base_ns)
        self.counts: dict[str, int] = {}
        self._store = _typestore()
        try:
            self._writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
            for key, value in (custom_data or {}).items():
                self._writer.set_custom_data(key, str(value))
            self._writer.open()
        except Exception as e:
            raise BagError(f'cannot create the bag {self.path}: {e}') from e
        self._conn: dict[str, Any] = {}
        topics = {
            TOPIC_JOINT_STATES: 'sensor_msgs/msg/JointState',
            TOPIC_JOINT_COMMAND: 'sensor_msgs/msg/JointState',
            TOPIC_ACTION_CHUNK: ACTION_CHUNK_TYPE,
        }
        for slot in camera_slots:
            topics[TOPIC_CAMERA.format(slot=slot)] = 'sensor_msgs/msg/CompressedImage'
        for topic, msgtype in topics.items():
            self._conn[topic] = self._writer.add_connection(topic, msgtype, typestore=self._store)
            self.counts[topic] = 0
        self._closed = False
        # The real-arm runner writes joint states from the control thread and images from its
        # media thread; rosbags' writer is not thread-safe.
        self._lock = threading.Lock()

    # -- messages ------------------------------------------------------------------------------
    def _stamp(self, t_s: float) -> tuple[int, Any]:
        ns = self.time_base_ns + round(t_s * 1e9)
        time_t = self._store.types['builtin_interfaces/msg/Time']
        return ns, time_t(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)

    def _header(self, t_s: float) -> tuple[int, Any]:
        ns, stamp = self._stamp(t_s)
        return ns, self._store.types['std_msgs/msg/Header'](stamp=stamp, frame_id='')

    def _write(self, topic: str, ns: int, msg: Any, msgtype: str) -> None:
        data = self._store.serialize_cdr(msg, msgtype)
        with self._lock:
            self._writer.write(self._conn[topic], ns, data)
            self.counts[topic] += 1

    def _joint_state(self, topic: str, t_s: float, positions_rad: np.ndarray) -> None:
        ns, header = self._header(t_s)
        empty = np.zeros(0, dtype=np.float64)
        msg = self._store.types['sensor_msgs/msg/JointState'](
            header=header,
            name=self.joint_names,
            position=np.asarray(positions_rad, dtype=np.float64),
            velocity=empty,
            effort=empty,
        )
        self._write(topic, ns, msg, 'sensor_msgs/msg/JointState')

    def joint_state(self, t_s: float, positions_rad: np.ndarray) -> None:
        """Record the measured joints at run time ``t_s`` (seconds), radians."""
        self._joint_state(TOPIC_JOINT_STATES, t_s, positions_rad)

    def joint_command(self, t_s: float, command_rad: np.ndarray) -> None:
        """Record the command sent at run time ``t_s`` (seconds), radians."""
        self._joint_state(TOPIC_JOINT_COMMAND, t_s, command_rad)

    def action_chunk(self, t_s: float, chunk: ActionChunk) -> None:
        """Record a chunk handed to the executor at run time ``t_s`` (seconds)."""
        types = self._store.types
        _, header = self._header(chunk.observation_time_s)
        duration = types['builtin_interfaces/msg/Duration']
        empty = np.zeros(0, dtype=np.float64)
        points = []
        for i, row in enumerate(chunk.actions):
            ns = round((i + 1) * chunk.dt_s * 1e9)
            points.append(
                types['trajectory_msgs/msg/JointTrajectoryPoint'](
                    positions=np.asarray(row, dtype=np.float64),
                    velocities=empty,
                    accelerations=empty,
                    effort=empty,
                    time_from_start=duration(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000),
                )
            )
        trajectory = types['trajectory_msgs/msg/JointTrajectory'](
            header=header, joint_names=list(chunk.joint_names), points=points
        )
        msg = types[ACTION_CHUNK_TYPE](
            header=header,
            chunk_id=max(0, int(chunk.chunk_id)),
            # The message counts requests from 1 and uses 0 for "unrequested" (-1 here).
            request_id=max(0, int(chunk.request_id)),
            inference_latency_s=float(chunk.inference_latency_s),
            dt_s=float(chunk.dt_s),
            trajectory=trajectory,
        )
        ns, _ = self._stamp(t_s)
        self._write(TOPIC_ACTION_CHUNK, ns, msg, ACTION_CHUNK_TYPE)

    def image(self, slot: str, t_s: float, rgb: np.ndarray) -> None:
        """Record a camera frame captured at run time ``t_s`` (seconds) as a JPEG."""
        ns, header = self._header(t_s)
        msg = self._store.types['sensor_msgs/msg/CompressedImage'](
            header=header, format='jpeg', data=np.frombuffer(encode_jpeg(rgb), dtype=np.uint8)
        )
        self._write(TOPIC_CAMERA.format(slot=slot), ns, msg, 'sensor_msgs/msg/CompressedImage')

    def close(self) -> None:
        """Finish the bag (writes metadata.yaml). Idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._writer.close()


def read_bag(path: Path) -> dict[str, list[tuple[int, Any]]]:
    """Read a bag this module wrote back: topic -> [(record time ns, decoded message)].

    Raises:
        BagError: the bag cannot be opened or decoded.
    """
    from rosbags.rosbag2 import Reader

    store = _typestore()
    out: dict[str, list[tuple[int, Any]]] = {}
    try:
        with Reader(Path(path)) as reader:
            for conn in reader.connections:
                out.setdefault(conn.topic, [])
            for conn, ns, raw in reader.messages():
                out[conn.topic].append((ns, store.deserialize_cdr(raw, conn.msgtype)))
    except Exception as e:
        raise BagError(f'cannot read the bag {path}: {e}') from e
    return out


def bag_custom_data(path: Path) -> dict[str, str]:
    """The ``custom_data`` strings of a bag's ``metadata.yaml``.

    Raises:
        BagError: no readable metadata.yaml (the bag was not closed).
    """
    import yaml

    meta = Path(path) / 'metadata.yaml'
    try:
        info = yaml.safe_load(meta.read_text(encoding='utf-8'))['rosbag2_bagfile_information']
    except (OSError, KeyError, TypeError, yaml.YAMLError) as e:
        raise BagError(f'cannot read {meta}: {e}') from e
    return dict(info.get('custom_data') or {})


__all__ = [
    'ACTION_CHUNK_TYPE',
    'TOPIC_ACTION_CHUNK',
    'TOPIC_CAMERA',
    'TOPIC_JOINT_COMMAND',
    'TOPIC_JOINT_STATES',
    'BagError',
    'BagWriter',
    'bag_custom_data',
    'check_bag_support',
    'encode_jpeg',
    'read_bag',
]
