"""``camera_node``: one camera (USB device, video file or image folder) as ROS image topics.

Run: ``ros2 run smolvla_ros camera_node --ros-args -p source:=/dev/v4l/by-id/... -p slot:=top``
(or ``python -m smolvla_ros.nodes.camera_node``). The reading runs on a
:class:`~smolvla_ros.frames.pump.FramePump` thread whose sink converts and publishes; the source
(``smolvla_ros.frames.camera_setup``) reopens a lost camera, or waits for a missing replay file,
with back-off, and the node reports it on /diagnostics. The node never dies of a camera fault.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from smolvla_ros.frames.camera_setup import (
    SOURCE_TYPES,
    CameraSourceConfig,
    camera_health,
    open_camera_source,
    source_status,
)
from smolvla_ros.frames.frame import Frame
from smolvla_ros.frames.pump import FramePump
from smolvla_ros.nodes import topics
from smolvla_ros.nodes.conversions import (
    ConversionError,
    camera_info_msg,
    diagnostic_status,
    frame_to_msg,
    rgb_to_compressed_msg,
    time_to_msg,
)
from smolvla_ros.nodes.executors import run_node
from smolvla_ros.nodes.params import ParamSpec, declare_parameters

PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec(
        'source',
        '0',
        'camera index (0), device path (/dev/v4l/by-id/...), video file or image folder',
    ),
    ParamSpec(
        'source_type',
        'auto',
        'how to read source: auto guesses (digits or /dev/ -> device, folder -> folder, '
        'file -> video; a missing path with a suffix -> video, without -> folder)',
        choices=SOURCE_TYPES,
    ),
    ParamSpec('slot', 'top', 'camera role (top, wrist, side, ...): part of the topic names'),
    ParamSpec('width', 0, 'requested device frame width, 0 = driver default', 'px', 0, 8192),
    ParamSpec('height', 0, 'requested device frame height, 0 = driver default', 'px', 0, 8192),
    ParamSpec(
        'fps',
        0.0,
        'device: requested rate; replay: pacing rate (0 = the file rate, 30 for a folder)',
        'Hz',
        0.0,
        1000.0,
    ),
    ParamSpec('fourcc', '', "requested device pixel format such as 'MJPG' ('' = default)"),
    ParamSpec('loop', False, 'replays restart after the last frame'),
    ParamSpec('pace', True, 'replays are released at fps (false: as fast as they are read)'),
    ParamSpec('timeout_s', 1.0, 'longest blocking read', 's', 0.01, 60.0),
    ParamSpec('backoff_initial_s', 0.1, 'first reopen delay after a failure', 's', 0.001, 60.0),
    ParamSpec('backoff_max_s', 5.0, 'longest reopen delay (it doubles up to this)', 's', 0.001),
    ParamSpec('frame_id', '', "header.frame_id ('' = <slot>_camera_optical_frame, the URDF's)"),
    ParamSpec('publish_raw', True, 'publish sensor_msgs/Image rgb8 on .../image_raw'),
    ParamSpec('publish_compressed', False, 'publish jpeg CompressedImage on .../compressed'),
    ParamSpec('jpeg_quality', 90, 'jpeg quality of the compressed topic', '', 1, 100),
    ParamSpec('fx', 0.0, 'focal length x for camera_info (0 = intrinsics unknown)', 'px', 0.0),
    ParamSpec('fy', 0.0, 'focal length y for camera_info', 'px', 0.0),
    ParamSpec('cx', 0.0, 'principal point x for camera_info', 'px', 0.0),
    ParamSpec('cy', 0.0, 'principal point y for camera_info', 'px', 0.0),
    ParamSpec('diagnostics_period_s', 1.0, 'period of the /diagnostics status', 's', 0.05, 60.0),
    ParamSpec('stale_after_s', 2.0, 'no frame this long while open is a warning', 's', 0.1),
)


def build_config(values: Mapping[str, Any]) -> CameraSourceConfig:
    """The camera core's config from the parameter values.

    Raises:
        FrameSourceConfigError: an impossible combination (a ValueError).
    """
    return CameraSourceConfig(
        source=str(values['source']),
        source_type=values['source_type'],
        slot=values['slot'],
        width=int(values['width']),
        height=int(values['height']),
        fps=float(values['fps']),
        fourcc=values['fourcc'],
        loop=bool(values['loop']),
        pace=bool(values['pace']),
        timeout_s=float(values['timeout_s']),
        backoff_initial_s=float(values['backoff_initial_s']),
        backoff_max_s=float(values['backoff_max_s']),
    )


class CameraNode(Node):
    """Publishes one camera's frames.

    Topics (names from ``smolvla_ros.nodes.topics``, relative, remappable):
        - ``smolvla/cameras/<slot>/image_raw`` (sensor_msgs/Image, rgb8) when ``publish_raw``;
        - ``smolvla/cameras/<slot>/image_raw/compressed`` (sensor_msgs/CompressedImage, jpeg)
          when ``publish_compressed``;
        - ``smolvla/cameras/<slot>/camera_info`` (sensor_msgs/CameraInfo): the frame size; K/P
          from fx/fy/cx/cy, all zeros (= uncalibrated) while fx is 0;
        - ``/diagnostics`` (diagnostic_msgs/DiagnosticArray) every ``diagnostics_period_s``:
          OK streaming, WARN replay finished / no frame for ``stale_after_s``, ERROR camera
          unavailable (with state, failures, last error and seconds to the next retry).

    QoS: images and camera_info ``topics.SENSOR_QOS`` (best effort, newest only); diagnostics
    reliable, depth 10. header.stamp = the frame's capture time on the node clock (ROS time,
    simulated time under use_sim_time).

    Parameters (read at start; see PARAMS for units and ranges): source, source_type
    (auto|device|video|folder), slot, width/height [px], fps [Hz], fourcc, loop, pace,
    timeout_s [s], backoff_initial_s/backoff_max_s [s], frame_id, publish_raw,
    publish_compressed, jpeg_quality, fx/fy/cx/cy [px], diagnostics_period_s [s],
    stale_after_s [s].

    Not a lifecycle node: a camera is cheap to open. ``destroy_node`` stops the reading thread
    and closes the device.

    Raises:
        FrameSourceConfigError: an impossible parameter combination (at construction).
    """

    def __init__(self, *, node_name: str = 'camera_node', **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        values = declare_parameters(self, PARAMS)
        self.config = build_config(values)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        slot = self.config.slot
        self._frame_id = values['frame_id'] or f'{slot}_camera_optical_frame'
        self._jpeg_quality = int(values['jpeg_quality'])
        fx, fy, cx, cy = (float(values[k]) for k in ('fx', 'fy', 'cx', 'cy'))
        self._intrinsics = (fx, fy, cx, cy) if fx > 0 and fy > 0 else None
        self._stale_after_s = float(values['stale_after_s'])
        self._raw_pub = (
            self.create_publisher(Image, topics.camera_topic(slot), topics.SENSOR_QOS)
            if values['publish_raw']
            else None
        )
        self._compressed_pub = (
            self.create_publisher(
                CompressedImage, topics.camera_topic(slot, compressed=True), topics.SENSOR_QOS
            )
            if values['publish_compressed']
            else None
        )
        self._info_pub = self.create_publisher(
            CameraInfo, topics.camera_info_topic(slot), topics.SENSOR_QOS
        )
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self._last_level: int | None = None
        self._source = open_camera_source(self.config, now=self._now_s)
        self._pump = FramePump(self._source, self._publish_frame, name=f'camera-{slot}')
        self._pump.start()
        self._diag_timer = self.create_timer(
            float(values['diagnostics_period_s']), self._publish_diagnostics
        )
        self.get_logger().info(
            f'camera {slot}: {self.config.kind} {self.config.source!r} -> '
            f'{topics.camera_topic(slot)}'
        )

    def _now_s(self) -> float:
        # The frame sources stamp with this: node-clock seconds, so stamps are ROS times.
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_set_parameters(self, changes: list[Parameter]) -> SetParametersResult:
        names = {s.name for s in PARAMS}
        for p in changes:
            if p.name in names:
                return SetParametersResult(
                    successful=False,
                    reason=f'parameter {p.name} is read at start; restart the camera node with '
                    'the new value',
                )
        return SetParametersResult(successful=True)

    def _publish_frame(self, frame: Frame) -> None:
        """FramePump sink (pump thread): convert and publish; errors are counted by the pump."""
        height, width = frame.rgb.shape[:2]
        if self._raw_pub is not None:
            self._raw_pub.publish(frame_to_msg(frame, 'rgb8', self._frame_id))
        if self._compressed_pub is not None:
            self._compressed_pub.publish(
                rgb_to_compressed_msg(
                    frame.rgb, 'jpeg', frame.capture_time_s, self._frame_id, self._jpeg_quality
                )
            )
        self._info_pub.publish(
            camera_info_msg(
                width, height, frame.capture_time_s, self._frame_id, intrinsics=self._intrinsics
            )
        )

    def _publish_diagnostics(self) -> None:
        now_s = self._now_s()
        health = camera_health(
            source_status(self._source), self._pump.status, now_s, self._stale_after_s
        )
        try:
            status = diagnostic_status(
                f'{self.get_name()}: camera {self.config.slot}',
                health.level,
                health.message,
                health.values,
                hardware_id=self.config.source,
            )
        except ConversionError as e:  # cannot happen with the levels camera_health returns
            self.get_logger().error(f'diagnostic not published: {e}')
            return
        array = DiagnosticArray()
        array.header.stamp = time_to_msg(max(now_s, 0.0))
        array.status = [status]
        self._diag_pub.publish(array)
        if health.level != self._last_level:  # log changes only: an outage is not a log flood
            # One call site per severity: rclpy refuses a severity change at one call site.
            text = f'camera {self.config.slot}: {health.message}'
            if health.level == 0:
                self.get_logger().info(text)
            elif health.level == 1:
                self.get_logger().warning(text)
            else:
                self.get_logger().error(text)
            self._last_level = health.level

    def destroy_node(self) -> None:
        """Stop the reading thread and close the device, then destroy the node."""
        self._pump.close()
        self._source.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Console script ``camera_node``: run one camera until SIGINT/SIGTERM (exit 2: bad
    parameters, or OpenCV missing: the message names the extra to install)."""
    # FrameSourceConfigError is a ValueError.
    errors = (ValueError, ParameterException, ImportError)
    return run_node('camera_node', CameraNode, args, multi_threaded=False, config_errors=errors)


if __name__ == '__main__':
    sys.exit(main())
