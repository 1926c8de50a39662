"""executor_node: the async chunk runtime (ChunkExecutor) as a ROS 2 lifecycle node.

Run: ``ros2 run smolvla_ros executor_node`` (or ``python -m smolvla_ros.nodes.executor_node``),
then configure and activate it (``ros2 lifecycle set /executor_node configure`` / ``activate``).
The node is thin: parameters are read once into RuntimeConfig / SafetyConfig /
ObservationFilterConfig; callbacks convert messages (``conversions``), call the core, convert and
publish. See :class:`ExecutorNode` for the interface.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import Point
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
from visualization_msgs.msg import Marker, MarkerArray

from smolvla_interfaces.msg import ActionChunk as ActionChunkMsg
from smolvla_interfaces.msg import ChunkRequest, ExecutorStatus, PolicyStatus
from smolvla_ros.nodes import topics
from smolvla_ros.nodes.conversions import (
    ConversionError,
    chunk_from_msg,
    diagnostic_status,
    duration_to_msg,
    executor_mode,
    executor_status_to_msg,
    joint_positions_from_msg,
    joint_state_to_msg,
    policy_refusal_from_msg,
    status_text_marker,
    time_from_msg,
    time_to_msg,
)
from smolvla_ros.nodes.executors import run_node
from smolvla_ros.nodes.params import ParamSpec, declare_parameters, validate_changes
from smolvla_ros.planned_path import UrdfChain, default_urdf_path, planned_path_points
from smolvla_ros.runtime import (
    BLEND_MODES,
    CallableClock,
    ChunkExecutor,
    ChunkRejectedError,
    DeadlineTracker,
    ExecutorState,
    ObservationFilterConfig,
    ObservationSnapshot,
    RuntimeConfig,
    SafetyConfig,
    TickOutput,
    status_text,
)

OUTPUTS: tuple[str, ...] = ('driver', 'jtc', 'fjt')
NODE_NAME = 'executor_node'
# Key of conversion failures (a message that is not a valid chunk) in the rejection counts.
MALFORMED = 'malformed_message'
_THROTTLE_S = 2.0

SPECS: tuple[ParamSpec, ...] = (
    ParamSpec('robot', 'so101', 'arm (joint names, limits)', choices=('so101', 'so100')),
    ParamSpec(
        'mode', 'async', 'sync waits for an empty queue', choices=('async', 'sync'), dynamic=True
    ),
    ParamSpec(
        'g', 0.7, 'request at this remaining chunk fraction', min_value=0.0, max_value=1.0,
        dynamic=True,
    ),
    ParamSpec(
        'blending', 'crossfade', 'merge of overlapping chunks',
        choices=tuple(str(b) for b in BLEND_MODES), dynamic=True,
    ),
    ParamSpec(
        'crossfade_s', 0.3, 'minimum crossfade length', 's', min_value=0.0, max_value=10.0,
        dynamic=True,
    ),
    ParamSpec(
        'epsilon_rad', 0.05, 'skip requests for observations closer than this (0: never skip)',
        'rad', min_value=0.0, max_value=10.0, dynamic=True,
    ),
    ParamSpec('tick_rate_hz', 30.0, 'command rate', 'Hz', min_value=1.0, max_value=1000.0),
    ParamSpec(
        'request_timeout_s', 5.0, 'an unanswered request is resent after', 's', min_value=0.01,
        max_value=600.0,
    ),
    ParamSpec(
        'watchdog_timeout_s', 3.0, 'no valid chunk for this long: drop the queue and hold', 's',
        min_value=0.01, max_value=600.0,
    ),
    ParamSpec(
        'acceleration_limit_rad_s2', 20.0, 'per-joint acceleration clamp', 'rad/s^2',
        min_value=0.01, max_value=1.0e4,
    ),
    ParamSpec(
        'future_tolerance_s', 0.05, 'reject chunks observed this far after now', 's',
        min_value=0.0, max_value=10.0,
    ),
    ParamSpec('max_chunk_length', 1000, 'most actions per chunk', min_value=1, max_value=100000),
    ParamSpec(
        'max_state_age_s', 0.5, 'hold when the newest joint state is older than this', 's',
        min_value=0.001, max_value=60.0,
    ),
    ParamSpec(
        'status_rate_hz', 10.0, 'ExecutorStatus and /diagnostics rate', 'Hz', min_value=0.1,
        max_value=100.0,
    ),
    ParamSpec(
        'path_rate_hz', 5.0, 'planned-path marker rate', 'Hz', min_value=0.1, max_value=30.0
    ),
    ParamSpec('output', 'driver', 'where commands go', choices=OUTPUTS),
    ParamSpec(
        'controller_topic', 'arm_controller/joint_trajectory',
        'JointTrajectoryController topic (output jtc)',
    ),
    ParamSpec(
        'controller_action', 'arm_controller/follow_joint_trajectory',
        'FollowJointTrajectory action (output fjt)',
    ),
    ParamSpec('frame_id', 'base_link', 'frame of the planned-path marker'),
    ParamSpec('urdf_path', '', 'URDF for the planned path (empty: the SO-101 description)'),
)  # fmt: skip


@dataclass(frozen=True)
class ExecutorNodeSettings:
    """Everything the node reads at configure: the core config plus its own ROS-side settings
    (units as in SPECS)."""

    runtime: RuntimeConfig
    max_state_age_s: float
    status_rate_hz: float
    path_rate_hz: float
    output: str
    controller_topic: str
    controller_action: str
    frame_id: str
    urdf_path: str


def build_settings(values: Mapping[str, Any]) -> ExecutorNodeSettings:
    """The node's settings from parameter values (one function, so the core's own checks judge
    every combination).

    Raises:
        ValueError: the core config rejects a value, or a name parameter is empty.
    """
    safety = SafetyConfig.from_robot(
        values['robot'],
        acceleration_limit_rad_s2=values['acceleration_limit_rad_s2'],
        watchdog_timeout_s=values['watchdog_timeout_s'],
    )
    runtime = RuntimeConfig(
        tick_rate_hz=values['tick_rate_hz'],
        mode=values['mode'],
        g=values['g'],
        blending=values['blending'],
        crossfade_s=values['crossfade_s'],
        request_timeout_s=values['request_timeout_s'],
        future_tolerance_s=values['future_tolerance_s'],
        max_chunk_length=values['max_chunk_length'],
        observation_filter=ObservationFilterConfig(epsilon_rad=values['epsilon_rad']),
        safety=safety,
    )
    for name in ('controller_topic', 'controller_action', 'frame_id'):
        if not values[name]:
            raise ValueError(f'parameter {name} must not be empty')
    return ExecutorNodeSettings(
        runtime=runtime,
        max_state_age_s=values['max_state_age_s'],
        status_rate_hz=values['status_rate_hz'],
        path_rate_hz=values['path_rate_hz'],
        output=values['output'],
        controller_topic=values['controller_topic'],
        controller_action=values['controller_action'],
        frame_id=values['frame_id'],
        urdf_path=values['urdf_path'],
    )


def control_msgs_missing_message() -> str:
    """The configure error when ``output:=fjt`` but control_msgs cannot be imported."""
    distro = os.environ.get('ROS_DISTRO', '<distro>')
    return (
        f'control_msgs is not installed: install ros-{distro}-control-msgs or choose '
        'output:=driver|jtc'
    )


class ExecutorNode(LifecycleNode):
    """Lifecycle node running the async action-chunk executor on a fixed-rate timer.

    Subscriptions:
        ``smolvla/action_chunk`` (smolvla_interfaces/ActionChunk, CHUNK_QOS): chunks, reordered
            to the executor's joints and submitted. Malformed ones (wrong joints, NaN, bad
            times) are counted, logged (throttled) and reported on /diagnostics; the arm holds.
        ``joint_states`` (sensor_msgs/JointState, rad, STATE_QOS): measured positions. Each tick
            uses the newest; with none, or one older than ``max_state_age_s`` (by its stamp, or
            its arrival when unstamped), or stamped that much after the node clock (another
            clock), the tick holds and reports: no command is computed from stale state.
        ``smolvla/policy_status`` (smolvla_interfaces/PolicyStatus, STATUS_QOS latched): a
            refusal of the request in flight (last_refused_request_id) frees it: a new request
            goes out on a following tick (backoff 1, 2, 4, ... ticks, at most 0.2 s, while the
            policy keeps refusing; a status without a new refusal ends the backoff), counted as
            refused (requests_refused on /diagnostics), not as a request timeout.
    Publishers:
        ``smolvla/chunk_request`` (smolvla_interfaces/ChunkRequest, CHUNK_QOS): header.stamp =
            the observation (snapshot) time, request_id (increasing), must_go, queue_fill.
        ``output`` = ``driver``: ``smolvla/joint_command`` (sensor_msgs/JointState positions,
            rad, STATE_QOS) for driver_node / sim_node.
        ``output`` = ``jtc``: ``controller_topic`` (trajectory_msgs/JointTrajectory, STATE_QOS):
            each tick one point, time_from_start = one tick period, header.stamp zero ("start on
            receipt"). The controller then interpolates from where it is to the command over
            exactly the time until the next command replaces the trajectory: the arm moves
            continuously at the executor's velocity instead of jumping (time 0) or stopping and
            starting every tick (a longer time would lag by that much).
        ``output`` = ``fjt``: the ``controller_action`` FollowJointTrajectory action: on every
            tick that merged a chunk, one goal with the whole queued plan (position-limited;
            velocity/acceleration limits are then the controller's own); a hold, e-stop,
            watchdog or stale state cancels the goal. Needs control_msgs (not on PyPI).
        ``smolvla/executor_status`` (smolvla_interfaces/ExecutorStatus, STATUS_QOS latched) and
            ``/diagnostics`` (diagnostic_msgs/DiagnosticArray) at ``status_rate_hz``: ERROR for
            e-stop, watchdog or missing/stale joint state; WARN when starved, on new clamps,
            stalls or rejected chunks; OK otherwise.
        ``smolvla/planned_path`` (visualization_msgs/MarkerArray, depth 1) at ``path_rate_hz``
        (plus a text marker, namespace ``status``, with the executor's state for RViz):
            a LINE_STRIP in ``frame_id`` through the gripper tool frame's positions of the
            queued actions (forward kinematics of the URDF); DELETE when nothing is queued.
    Services (std_srvs/Trigger):
        ``smolvla/estop``: latch the emergency stop (hold; reject chunks until reset).
        ``smolvla/reset_estop``: release it; the next tick re-anchors at the measured position.
        ``smolvla/hold``: drop the queue and hold; chunks observed after the hold are served.
            ExecutorStatus shows mode HOLD (last_fault names the hold) until a chunk observed
            after it is tracked.
    Parameters (SPECS; units in their descriptions): robot, mode*, g*, blending*,
        crossfade_s* [s], epsilon_rad* [rad], tick_rate_hz [Hz], request_timeout_s [s],
        watchdog_timeout_s [s], acceleration_limit_rad_s2 [rad/s^2], future_tolerance_s [s],
        max_chunk_length, max_state_age_s [s], status_rate_hz [Hz], path_rate_hz [Hz], output
        (driver|jtc|fjt), controller_topic, controller_action, frame_id, urdf_path. (*) change at
        run time (swapped into the core between ticks); the others are read at configure.
    Lifecycle: configure builds the settings, loads the URDF chain, checks control_msgs for fjt
        and creates the interfaces (a failure returns FAILURE, logged, and the node stays
        unconfigured); activate builds a fresh core (it anchors at the first measured state and
        soft-starts) and starts the timers; deactivate holds (drops the plan, stops commanding;
        the driver/controller keeps the last command); cleanup frees; shutdown stops safely.
    Time: the core's clock is the node clock (ROS time; sim time with use_sim_time); timers run
        on it too.
    """

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._values = declare_parameters(self, SPECS)
        self._lock = threading.Lock()  # node state shared by the two callback groups
        self._settings: ExecutorNodeSettings | None = None
        self._core: ChunkExecutor | None = None
        self._chain: UrdfChain | None = None
        self._state: tuple[np.ndarray, float] | None = None  # (positions rad, stamp s)
        self._pending_estop: str | None = None  # latched while inactive
        self._last_fault = ''
        # (time s, reason) of the last hold service call until a later tick tracks a chunk.
        self._held: tuple[float, str] | None = None
        self._bad = {'chunk': 0, 'joint_state': 0}
        self._stale_ticks = 0
        self._stale_reason = ''
        self._last_out: TickOutput | None = None
        self._deadlines: DeadlineTracker | None = None
        self._last_counts: dict[str, int] = {}
        self._accepted_seen = 0
        self._fjt: Any = None  # (ActionClient, goal class) for output fjt
        self._goal_handle: Any = None
        self._tick_timers: list[Any] = []
        self._trigger_services: list[Any] = []
        # names differ from rclpy.Node's own _services/_timers lists, which the executor reads
        self._tick_group = MutuallyExclusiveCallbackGroup()
        self._io_group = MutuallyExclusiveCallbackGroup()
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def _now(self) -> float:
        """The node clock (ROS time; sim time with use_sim_time), seconds."""
        # Divided, not multiplied by 1e-9: ns / 1e9 is correctly rounded, as time_from_msg is,
        # so a request stamp read back from a chunk compares equal to the time it was sent at.
        return self.get_clock().now().nanoseconds / 1e9

    # -- parameters ------------------------------------------------------------------------------
    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        result = validate_changes(
            self, SPECS, params, build_settings, configured=self._settings is not None
        )
        if not result.successful or self._settings is None:
            return result
        values = dict(self._values)
        values.update({p.name: p.value for p in params if p.name in values})
        settings = build_settings(values)
        with self._lock:
            if self._core is not None:
                self._core.update_config(settings.runtime)
            self._settings = settings
            self._values = values
        return result

    # -- lifecycle -------------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            values = {s.name: self.get_parameter(s.name).value for s in SPECS}
            settings = build_settings(values)
            urdf = settings.urdf_path or str(default_urdf_path())
            chain = UrdfChain.from_urdf(urdf)
            fjt = self._import_fjt() if settings.output == 'fjt' else None
        except Exception as e:  # every configure failure: logged, node stays unconfigured
            self.get_logger().error(f'configure failed: {e}')
            return TransitionCallbackReturn.FAILURE
        self._values, self._settings, self._chain = values, settings, chain
        try:
            self._create_interfaces(settings, fjt)
        except Exception as e:  # e.g. an invalid controller_topic name: undo what was made
            self._destroy_interfaces()
            self.get_logger().error(f'configure failed: {e}')
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info(
            f'configured: robot {values["robot"]}, output {settings.output}, '
            f'{settings.runtime.tick_rate_hz} Hz, mode {settings.runtime.mode}, '
            f'g {settings.runtime.g}'
        )
        return TransitionCallbackReturn.SUCCESS

    def _import_fjt(self) -> Any:
        try:
            from control_msgs.action import FollowJointTrajectory
        except ImportError as e:
            raise RuntimeError(control_msgs_missing_message()) from e
        return FollowJointTrajectory

    def _create_interfaces(self, s: ExecutorNodeSettings, fjt: Any) -> None:
        io = self._io_group
        self._chunk_sub = self.create_subscription(
            ActionChunkMsg,
            topics.ACTION_CHUNK,
            self._on_chunk,
            topics.CHUNK_QOS,
            callback_group=io,
        )
        self._state_sub = self.create_subscription(
            JointState, topics.JOINT_STATES, self._on_joint_state, topics.STATE_QOS,
            callback_group=io,
        )  # fmt: skip
        self._policy_status_sub = self.create_subscription(
            PolicyStatus, topics.POLICY_STATUS, self._on_policy_status, topics.STATUS_QOS,
            callback_group=io,
        )  # fmt: skip
        self._request_pub = self.create_publisher(
            ChunkRequest, topics.CHUNK_REQUEST, topics.CHUNK_QOS
        )
        self._status_pub = self.create_publisher(
            ExecutorStatus, topics.EXECUTOR_STATUS, topics.STATUS_QOS
        )
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self._path_pub = self.create_publisher(MarkerArray, topics.PLANNED_PATH, 1)
        self._command_pub = None
        if s.output == 'driver':
            self._command_pub = self.create_publisher(
                JointState, topics.JOINT_COMMAND, topics.STATE_QOS
            )
        elif s.output == 'jtc':
            self._command_pub = self.create_publisher(
                JointTrajectory, s.controller_topic, topics.STATE_QOS
            )
        else:
            from rclpy.action import ActionClient

            self._fjt = (ActionClient(self, fjt, s.controller_action, callback_group=io), fjt)
        self._trigger_services = [
            self.create_service(Trigger, name, cb, callback_group=io)
            for name, cb in (
                (topics.ESTOP, self._on_estop),
                (topics.RESET_ESTOP, self._on_reset_estop),
                (topics.HOLD, self._on_hold),
            )
        ]

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        s = self._settings
        assert s is not None  # the lifecycle only activates a configured node
        core = ChunkExecutor(s.runtime, self._request, CallableClock(self._now))
        with self._lock:
            if self._pending_estop is not None:
                core.emergency_stop(self._pending_estop)
                self._pending_estop = None
            self._core = core
            self._deadlines = DeadlineTracker(s.runtime.tick_period_s, core.metrics)
            self._last_out = None
            self._held = None
            self._accepted_seen = 0
            self._last_counts = {}
        g = self._tick_group
        self._tick_timers = [
            self.create_timer(s.runtime.tick_period_s, self._on_tick, callback_group=g),
            self.create_timer(1.0 / s.status_rate_hz, self._on_status, callback_group=g),
            self.create_timer(1.0 / s.path_rate_hz, self._on_path, callback_group=g),
        ]
        self.get_logger().info(f'active: ticking at {s.runtime.tick_rate_hz:.1f} Hz')
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_ticking('deactivated')
        return TransitionCallbackReturn.SUCCESS

    def _stop_ticking(self, reason: str) -> None:
        for timer in self._tick_timers:
            timer.cancel()
            self.destroy_timer(timer)
        self._tick_timers = []
        with self._lock:
            core, self._core = self._core, None
            if core is not None and core.estopped:
                self._pending_estop = 'latched before deactivation'
        if core is not None:
            core.hold(reason)  # nothing planned so far runs if the node comes back
        self._cancel_goal()

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._destroy_interfaces()
        return TransitionCallbackReturn.SUCCESS

    def _destroy_interfaces(self) -> None:
        for name in ('_chunk_sub', '_state_sub', '_policy_status_sub'):
            sub = getattr(self, name, None)
            if sub is not None:
                self.destroy_subscription(sub)
        for pub in ('_request_pub', '_status_pub', '_diag_pub', '_path_pub', '_command_pub'):
            if getattr(self, pub, None) is not None:
                self.destroy_publisher(getattr(self, pub))
            setattr(self, pub, None)
        for srv in self._trigger_services:
            self.destroy_service(srv)
        self._trigger_services = []
        if self._fjt is not None:
            self._fjt[0].destroy()
            self._fjt = None
        self._chunk_sub = self._state_sub = self._policy_status_sub = None
        with self._lock:
            self._settings, self._chain, self._state = None, None, None

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        # From any state: stop commanding first (the driver/controller holds), then free.
        self._stop_ticking('shutdown')
        if self._settings is not None:
            self._destroy_interfaces()
        return TransitionCallbackReturn.SUCCESS

    # -- inputs (io group) -----------------------------------------------------------------------
    def _bad_input(self, what: str, error: Exception) -> None:
        with self._lock:
            self._bad[what] += 1
            self._last_fault = f'bad {what}: {error}'
            count = self._bad[what]
        self.get_logger().warning(
            f'ignored a bad {what} ({count} so far): {error}', throttle_duration_sec=_THROTTLE_S
        )
        self._publish_diagnostics(
            [
                diagnostic_status(
                    f'{self.get_name()}: input',
                    DiagnosticStatus.WARN,
                    f'bad {what} ignored; the arm holds if no valid input follows',
                    {'error': str(error), f'bad_{what}_count': count},
                )
            ]
        )

    def _on_chunk(self, msg: ActionChunkMsg) -> None:
        with self._lock:
            core = self._core
        if core is None:
            return  # inactive: no chunk may queue up for a later activation
        try:
            chunk = chunk_from_msg(msg, joint_order=core.config.joint_names)
        except ConversionError as e:
            self._bad_input('chunk', e)
            return
        try:
            core.submit_chunk(chunk, strict=True)
        except ChunkRejectedError as e:
            with self._lock:
                self._last_fault = str(e)
            self.get_logger().warning(str(e), throttle_duration_sec=_THROTTLE_S)

    def _on_joint_state(self, msg: JointState) -> None:
        s = self._settings
        if s is None:
            return
        try:
            q = joint_positions_from_msg(msg, s.runtime.joint_names)
            stamp = time_from_msg(msg.header.stamp)
        except ConversionError as e:
            self._bad_input('joint_state', e)
            return
        if stamp == 0.0:  # unstamped: its arrival is the best time we have
            stamp = self._now()
        with self._lock:
            self._state = (q, stamp)

    # -- services (io group) ---------------------------------------------------------------------
    def _on_estop(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self._lock:
            core = self._core
            if core is None:
                self._pending_estop = 'estop service (while inactive)'
        if core is not None:
            core.emergency_stop('estop service')
        self._cancel_goal()
        response.success = True
        response.message = 'emergency stop latched; call reset_estop to release it'
        return response

    def _on_reset_estop(
        self, request: Trigger.Request, response: Trigger.Response
    ) -> Trigger.Response:
        with self._lock:
            core = self._core
            was = self._pending_estop is not None or (core is not None and core.estopped)
            self._pending_estop = None
        if core is not None:
            core.reset_emergency_stop()
        response.success = True
        response.message = 'emergency stop released' if was else 'emergency stop was not latched'
        return response

    def _on_hold(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self._lock:
            core = self._core
        if core is None:
            response.success = False
            response.message = 'not active: nothing is commanded, so there is nothing to hold'
            return response
        core.hold('hold service')
        with self._lock:
            # Shown in ExecutorStatus (mode HOLD) until a chunk observed after it is tracked.
            self._held = (self._now(), 'holding: hold service called')
        self._cancel_goal()
        response.success = True
        response.message = 'holding; chunks observed from now on are served'
        return response

    def _on_policy_status(self, msg: PolicyStatus) -> None:
        # A refused request is answered by nothing: the core frees it if it is the one in flight
        # (asked again with backoff, counted as refused); any other status ends the backoff.
        refusal = policy_refusal_from_msg(msg)
        with self._lock:
            core = self._core
        if core is not None:
            core.policy_status(*(refusal if refusal is not None else (None, '')))

    # -- tick group ------------------------------------------------------------------------------
    def _request(self, snapshot: ObservationSnapshot) -> bool | None:
        pub = self._request_pub
        if pub is None or pub.get_subscription_count() == 0:
            return False  # no policy listening: refused, so the next tick asks again
        msg = ChunkRequest()
        msg.header.stamp = time_to_msg(snapshot.time_s)
        msg.request_id = snapshot.request_id
        msg.must_go = snapshot.must_go
        msg.queue_fill = float(snapshot.queue_fill)
        pub.publish(msg)
        return None

    def _on_tick(self) -> None:
        with self._lock:
            core, state, s = self._core, self._state, self._settings
        if core is None or s is None:
            return
        now = self._now()
        self._deadlines.observe(now)  # timer lateness -> tick_jitter_s, overruns
        reason = ''
        if state is None:
            reason = 'no joint state received yet on ' + self._state_sub.topic_name
        elif now - state[1] > s.max_state_age_s:
            reason = (
                f'newest joint state is {now - state[1]:.3f} s old (max_state_age_s '
                f'{s.max_state_age_s} s)'
            )
        elif state[1] - now > s.max_state_age_s:
            # a stamp from another clock (wall vs sim time, an unsynchronized host) would never
            # look old, so a stopped driver would go unnoticed: refuse it too
            reason = (
                f'newest joint state is stamped {state[1] - now:.3f} s after the node clock: '
                'the driver and this node use different clocks (use_sim_time? NTP?)'
            )
        if reason:
            # Never command from stale state: no tick, no command (the driver or controller
            # keeps the last one), and no request (its observation would be stale too).
            with self._lock:
                self._stale_ticks += 1
                self._stale_reason = reason
            self.get_logger().warning(f'holding: {reason}', throttle_duration_sec=_THROTTLE_S)
            self._cancel_goal()
            return
        with self._lock:
            self._stale_reason = ''
        out = core.tick(state[0])
        self._last_out = out
        self._send(out, core, s)

    def _send(self, out: TickOutput, core: ChunkExecutor, s: ExecutorNodeSettings) -> None:
        names = s.runtime.joint_names
        if s.output == 'driver':
            self._command_pub.publish(joint_state_to_msg(out.command_rad, names, out.time_s))
        elif s.output == 'jtc':
            msg = JointTrajectory()
            msg.joint_names = list(names)
            point = JointTrajectoryPoint()
            point.positions = out.command_rad.tolist()
            point.time_from_start = duration_to_msg(s.runtime.tick_period_s)
            msg.points = [point]
            self._command_pub.publish(msg)
        else:
            accepted = core.metrics.chunks_accepted
            if out.state != ExecutorState.TRACKING:
                self._cancel_goal()
            elif accepted != self._accepted_seen:
                self._send_goal(out, core, s)
            self._accepted_seen = accepted

    def _send_goal(self, out: TickOutput, core: ChunkExecutor, s: ExecutorNodeSettings) -> None:
        client, action = self._fjt
        times, targets = core.planned_samples()
        ahead = times > out.time_s
        if not np.any(ahead):
            return
        safety = s.runtime.safety
        targets = np.clip(targets[ahead], safety.lower_rad, safety.upper_rad)
        goal = action.Goal()
        goal.trajectory.header.stamp = time_to_msg(out.time_s)
        goal.trajectory.joint_names = list(s.runtime.joint_names)
        for t, q in zip(times[ahead], targets, strict=True):
            p = JointTrajectoryPoint()
            p.positions = q.tolist()
            p.time_from_start = duration_to_msg(float(t - out.time_s))
            goal.trajectory.points.append(p)
        if not client.server_is_ready():
            self.get_logger().warning(
                f'no FollowJointTrajectory server on {s.controller_action}; goal not sent',
                throttle_duration_sec=_THROTTLE_S,
            )
            return
        future = client.send_goal_async(goal)
        future.add_done_callback(self._on_goal_response)

    def _on_goal_response(self, future: Any) -> None:
        handle = future.result()
        if handle is not None and handle.accepted:
            self._goal_handle = handle
        else:
            self.get_logger().warning('the controller rejected the trajectory goal')

    def _cancel_goal(self) -> None:
        handle, self._goal_handle = self._goal_handle, None
        if handle is not None:
            handle.cancel_goal_async()

    def _on_status(self) -> None:
        with self._lock:
            core, s = self._core, self._settings
            stale_reason, stale_ticks = self._stale_reason, self._stale_ticks
            bad = dict(self._bad)
            last_fault = self._last_fault
        if core is None or s is None or self._status_pub is None:
            return
        now = self._now()
        summary = core.metrics.summary()
        summary['chunks_rejected'] = dict(summary['chunks_rejected'])
        if bad['chunk']:
            summary['chunks_rejected'][MALFORMED] = bad['chunk']
        out = self._last_out
        state = out.state if out is not None else ExecutorState.STARTUP
        queue_length = out.queue_length if out is not None else 0
        size = core.chunk_size
        latency = list(core.metrics.inference_latency_s)[-1:]
        estop = core.estopped
        mode = executor_mode(state, core.config.mode)
        if estop:  # latched now, even if no tick has run since (the tick's state lags)
            mode = ExecutorStatus.MODE_ESTOP
        tracking = state == ExecutorState.TRACKING
        with self._lock:
            held = self._held
            if held is not None and out is not None and out.time_s > held[0] and tracking:
                self._held = None  # a chunk observed after the hold is being followed
            held = self._held
        if held is not None and not estop:
            mode = ExecutorStatus.MODE_HOLD
            last_fault = held[1]
        if stale_reason and not estop:
            mode = ExecutorStatus.MODE_HOLD
        self._status_pub.publish(
            executor_status_to_msg(
                summary,
                stamp_s=now,
                mode=mode,
                tick_rate_hz=core.config.tick_rate_hz,
                queue_length=queue_length,
                queue_fill=min(1.0, queue_length / size) if size else 0.0,
                threshold_g=core.config.effective_g,
                last_inference_latency_s=latency[0] if latency else math.nan,
                watchdog_holding=state == ExecutorState.WATCHDOG or bool(stale_reason),
                estop_latched=estop,
                last_fault=stale_reason or last_fault,
            )
        )
        level, message = self._health(summary, state, estop, stale_reason)
        values = {
            'state': str(state),
            'queue_length': queue_length,
            'stale_state_ticks': stale_ticks,
            'bad_chunks': bad['chunk'],
            'bad_joint_states': bad['joint_state'],
            'last_fault': stale_reason or last_fault,
            'last_refusal': core.last_refusal,
            **{
                k: summary[k]
                for k in (
                    'chunks_accepted',
                    'requests_sent',
                    'requests_refused',
                    'request_timeouts',
                    'stalls',
                )
            },
            'chunks_rejected': summary['chunks_rejected'],
            'clamps': summary['clamps'],
        }
        self._publish_diagnostics(
            [diagnostic_status(f'{self.get_name()}: executor', level, message, values)]
        )

    def _health(
        self, summary: Mapping[str, Any], state: str, estop: bool, stale_reason: str
    ) -> tuple[int, str]:
        """Diagnostic level and message; WARN items are counts that grew since last status."""
        counts = {
            'clamps': sum(sum(c.values()) for c in summary['clamps'].values()),
            'stalls': int(summary['stalls']),
            'rejected chunks': sum(int(n) for n in summary['chunks_rejected'].values()),
        }
        grew = [k for k, n in counts.items() if n > self._last_counts.get(k, 0)]
        self._last_counts = counts
        if estop:
            return 2, 'emergency stop latched: holding'
        if stale_reason:
            return 2, f'holding: {stale_reason}'
        if state == ExecutorState.WATCHDOG:
            return 2, 'watchdog: no valid chunk for too long; holding'
        if state == ExecutorState.STARVED:
            return 1, 'starved: the queue ran empty; holding until the next chunk'
        timeouts = int(summary.get('request_timeouts', 0))
        refused = int(summary.get('requests_refused', 0))
        if state == ExecutorState.STARTUP and (timeouts or refused):
            # No chunk ever arrived and requests go unanswered: say so, not just 'startup'.
            return 1, (
                f'no chunk yet: {timeouts + refused} chunk request(s) unanswered ({refused} '
                f'refused, see last_refusal; {timeouts} timed out); holding (is a policy node '
                'active and serving an instruction or goal?)'
            )
        if grew:
            return 1, 'new ' + ', '.join(grew) + ' since the last status'
        return 0, str(state)

    def _publish_diagnostics(self, statuses: list[DiagnosticStatus]) -> None:
        pub = self._diag_pub
        if pub is None:
            return
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = statuses
        pub.publish(msg)

    def _on_path(self) -> None:
        with self._lock:
            core, s, chain = self._core, self._settings, self._chain
        out = self._last_out
        if core is None or s is None or chain is None or self._path_pub is None:
            return
        times, targets = core.planned_samples()
        if out is not None:
            ahead = times > out.time_s
            targets = np.vstack((out.command_rad[None, :], targets[ahead]))
        marker = Marker()
        marker.header.frame_id = s.frame_id
        marker.header.stamp = self.get_clock().now().to_msg()
        marker.ns = 'planned_path'
        marker.id = 0
        marker.type = Marker.LINE_STRIP
        if len(targets) < 2:
            marker.action = Marker.DELETE  # nothing ahead: remove the old line
        else:
            points = planned_path_points(chain, s.runtime.joint_names, targets)
            marker.action = Marker.ADD
            marker.pose.orientation.w = 1.0
            marker.scale.x = 0.004  # line width, m
            marker.color.r, marker.color.g, marker.color.b, marker.color.a = 0.1, 0.8, 1.0, 1.0
            marker.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in points]
        text = status_text(
            state='inactive' if out is None else str(out.state),
            queue_length=0 if out is None else out.queue_length,
            chunk_size=core.chunk_size,
            summary=core.metrics.summary(),
        )
        label = status_text_marker(text, s.frame_id, marker.header.stamp)
        self._path_pub.publish(MarkerArray(markers=[marker, label]))


def main(args: list[str] | None = None) -> int:
    """Console script ``executor_node``: spin the node until SIGINT/SIGTERM."""
    return run_node('executor_node', ExecutorNode, args)


if __name__ == '__main__':
    sys.exit(main())
