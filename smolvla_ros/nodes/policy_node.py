"""policy_node: the policy side of the ROS suite (a lifecycle node over PolicyWorker).

Run: ``ros2 run smolvla_ros policy_node --ros-args -p checkpoint:=<folder or hub id>`` (no
checkpoint: the pretrained SmolVLA if cached, else the one shipped with the project), then
configure and activate it (``ros2 lifecycle set /policy_node configure`` / ``activate``).
"""

from __future__ import annotations

import math
import os
import sys
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseStamped
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from smolvla_interfaces.action import RunTask
from smolvla_interfaces.msg import ActionChunk as ActionChunkMsg
from smolvla_interfaces.msg import ChunkRequest, ExecutorStatus, PolicyStatus
from smolvla_interfaces.srv import SetInstruction
from smolvla_ros.frames.latest import LatestFrames
from smolvla_ros.nodes import topics
from smolvla_ros.nodes.conversions import (
    ConversionError,
    chunk_to_msg,
    chunk_to_trajectory_msg,
    diagnostic_status,
    frame_from_msg,
    joint_positions_from_msg,
    policy_status_to_msg,
    position_yaw_from_pose_msg,
    time_from_msg,
)
from smolvla_ros.nodes.executors import run_node
from smolvla_ros.nodes.params import (
    ParamSpec,
    current_values,
    declare_parameters,
    validate_changes,
)
from smolvla_ros.policy.default_checkpoint import DEFAULT_CHECKPOINT
from smolvla_ros.policy.serving import (
    POLICY_KINDS,
    UNITS_CHOICES,
    PolicySettings,
    RequestRefusedError,
    build_policy,
    parse_camera_map,
    resolve_checkpoint,
    snapshot_for_request,
)
from smolvla_ros.policy.worker import PolicyWorker, WorkerClosedError, WorkerConfig
from smolvla_ros.runtime.chunk import ActionChunk
from so_arm_driver.robots import SO101

# Status and RunTask feedback period [s] (2 Hz, as PolicyStatus.msg says).
STATUS_PERIOD_S = 0.5
FEEDBACK_PERIOD_S = 0.5
# How often the RunTask loop checks for success / cancel / timeout when nothing wakes it [s].
_GOAL_POLL_S = 0.05
# Bad-input log throttle [s]: one line per second per kind, the counters say how many.
_LOG_THROTTLE_S = 1.0

PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec('policy', 'smolvla', 'what computes the chunks', choices=POLICY_KINDS),
    ParamSpec('joint_names', tuple(SO101.joint_names), 'the arm joints, chunk column order'),
    ParamSpec(
        'checkpoint',
        '',
        "SmolVLA checkpoint folder or hub repo id (local cache); '' = the pretrained "
        'SmolVLA if cached, else the checkpoint shipped with the project',
    ),
    ParamSpec('device', 'cpu', "torch device of SmolVLA ('cpu', 'cuda:0')"),
    ParamSpec('precision', 'fp32', "SmolVLA precision ('fp32', 'bf16', 'fp16', 'int8')"),
    ParamSpec(
        'num_threads',
        0,
        'torch CPU threads for SmolVLA (0 = one per core; 1 on a busy 2-core machine)',
        '',
        0,
        1024,
    ),
    ParamSpec(
        'units', '', "the checkpoint's joint units ('' = recorded in it)", choices=UNITS_CHOICES
    ),
    ParamSpec(
        'calibration',
        '',
        "LeRobot calibration JSON of the arm, 'virtual' for the simulator, '' for none",
    ),
    ParamSpec(
        'camera_map', '', "slot=feature overrides, e.g. 'top=observation.images.front,wrist=...'"
    ),
    ParamSpec('dt_s', 0.0, 'seconds between actions (0 = checkpoint/file/sim)', 's', 0.0, 10.0),
    ParamSpec('seed', -1, 'noise seed per request (-1 = none)', '', -1, 2**31 - 1),
    ParamSpec('max_frame_age_s', 0.2, 'oldest camera frame a request may use', 's', 0.0, 60.0),
    ParamSpec('max_state_age_s', 0.2, 'oldest joint state a request may use', 's', 0.0, 60.0),
    ParamSpec('replay_file', '', 'recorded chunks for policy=replay (.npz)'),
    ParamSpec('required_slots', '', "camera slots scripted/replay require, e.g. 'top,wrist'"),
    ParamSpec('chunk_size', 50, 'actions per chunk of the scripted expert', '', 1, 10000),
    ParamSpec('compressed_images', False, 'also subscribe to <image>/compressed'),
    ParamSpec('success_topic', topics.TASK_SUCCESS, "std_msgs/Bool success ('' = none)"),
)


@dataclass(frozen=True)
class PolicyNodeConfig:
    """The node's parameters, validated by the cores' configs."""

    settings: PolicySettings
    worker: WorkerConfig
    max_state_age_s: float
    compressed_images: bool
    success_topic: str
    # Which default checkpoint was chosen and why ('' when one was named), for the log.
    checkpoint_note: str = ''


def build_config(values: Mapping[str, Any], *, choose_default: bool = True) -> PolicyNodeConfig:
    """The core configs from parameter values.

    ``checkpoint: ''`` with ``policy: smolvla`` is resolved by
    :func:`~smolvla_ros.policy.serving.resolve_checkpoint` (pretrained if cached, else the
    shipped checkpoint); ``choose_default=False`` only validates the other values (at start,
    before configure looks for files).

    Raises:
        ValueError: a value or combination the cores refuse (the message names it);
            PolicyLoadError (a ValueError) when the default checkpoint is asked for and none is
            here.
    """
    slots = tuple(s.strip() for s in str(values['required_slots']).split(',') if s.strip())
    checkpoint, note = str(values['checkpoint']), ''
    if values['policy'] == 'smolvla' and not checkpoint:
        if choose_default:
            checkpoint, note = resolve_checkpoint('smolvla', checkpoint)
        else:
            checkpoint = DEFAULT_CHECKPOINT  # validation only; configure chooses for real
    settings = PolicySettings(
        policy=values['policy'],
        joint_names=tuple(values['joint_names']),
        checkpoint=checkpoint,
        device=values['device'],
        precision=values['precision'],
        num_threads=int(values['num_threads']),
        units=values['units'],
        calibration=values['calibration'],
        camera_map=parse_camera_map(values['camera_map']),
        dt_s=float(values['dt_s']),
        seed=int(values['seed']),
        replay_file=values['replay_file'],
        required_slots=slots,
        chunk_size=int(values['chunk_size']),
    )
    return PolicyNodeConfig(
        settings=settings,
        worker=WorkerConfig(max_frame_age_s=float(values['max_frame_age_s']), name='policy-node'),
        max_state_age_s=float(values['max_state_age_s']),
        compressed_images=bool(values['compressed_images']),
        success_topic=str(values['success_topic']),
        checkpoint_note=note,
    )


@dataclass
class _GoalRun:
    """One accepted RunTask goal (shared by the goal callbacks and its execute loop)."""

    instruction: str
    time_limit_s: float
    wake: threading.Event = field(default_factory=threading.Event)
    succeeded: bool = False
    preempted: bool = False


class PolicyNode(LifecycleNode):
    """Serves the executor's chunk requests with a policy (SmolVLA, scripted expert or replay).

    Lifecycle: configure loads the policy (a failure returns FAILURE, logs the error, publishes
    it in PolicyStatus.fault and leaves the node unconfigured and alive) and subscribes to the
    policy's camera slots; activate starts serving; deactivate stops serving, ends a running
    goal (aborted) and asks the executor to hold; cleanup frees the policy; shutdown does both.

    Subscriptions:
        ``smolvla/chunk_request`` (smolvla_interfaces/ChunkRequest, CHUNK_QOS; own callback
        group): header.stamp = observation time on the node clock [s]. The snapshot is that
        stamp, the request id and the latest joint state; refused with a named reason (in
        PolicyStatus.fault) when nothing is to be served, no joint state came, or it is older
        than ``max_state_age_s`` before the stamp. Every refused request (these, the node not
        active, the worker's missing/stale frames) is named at once in PolicyStatus
        (last_refused_request_id, last_refusal), so the executor asks again without waiting
        its request_timeout_s.
        ``smolvla/cameras/<slot>/image_raw`` (sensor_msgs/Image, SENSOR_QOS) for each slot the
        policy requires, and ``.../image_raw/compressed`` (CompressedImage) when
        ``compressed_images``; stamp = capture time.
        ``joint_states`` (sensor_msgs/JointState, STATE_QOS) [rad].
        ``smolvla/instruction`` (std_msgs/String, CHUNK_QOS): sets the instruction and serving.
        ``smolvla/executor_status`` (ExecutorStatus, STATUS_QOS): RunTask feedback and result.
        ``success_topic`` (std_msgs/Bool, reliable): True ends the running goal as succeeded.
        ``smolvla/sim/cube_pose``, ``smolvla/sim/bin_pose`` (geometry_msgs/PoseStamped in
        base_link [m], cube yaw about z; STATUS_QOS) only with ``policy:=scripted``.
    Publishers:
        ``smolvla/action_chunk`` (smolvla_interfaces/ActionChunk, CHUNK_QOS): stamp =
        observation time, point i at (i+1)·dt [s], positions [rad], joint names.
        ``smolvla/action_chunk/trajectory`` (trajectory_msgs/JointTrajectory, CHUNK_QOS): the
        same chunk for existing stacks.
        ``smolvla/policy_status`` (smolvla_interfaces/PolicyStatus, STATUS_QOS): 2 Hz and on
        changes (each refused request included), also while unconfigured.
        ``/diagnostics`` (diagnostic_msgs/DiagnosticArray): 2 Hz and on bad input.
    Services: ``smolvla/set_instruction`` (SetInstruction; clear_queue calls the executor's
        ``smolvla/hold``, std_srvs/Trigger, without waiting for the answer).
    Actions: ``smolvla/run_task`` (RunTask): accepting a goal sets its instruction and starts
        serving; feedback at 2 Hz; ends SUCCEEDED on True on ``success_topic``, TIMEOUT at its
        time limit (0 = none; node clock), CANCELLED on cancel. Every end stops serving and
        calls ``smolvla/hold``. One goal at a time: a new goal preempts the running one, which
        ends ABORTED ('preempted') without a hold, since the new goal continues serving.
    Parameters (all read at configure; ``ros2 param describe`` shows units and ranges):
        ``policy`` smolvla|scripted|replay; ``joint_names`` (arm order); ``checkpoint`` (folder
        or hub id); ``device``; ``precision``; ``units`` (radians|degrees|range_m100_100, '' =
        from the checkpoint); ``calibration`` (LeRobot JSON path, 'virtual', '' = none);
        ``camera_map`` ('slot=feature,...'); ``dt_s`` [s] (0 = checkpoint/file/sim);
        ``seed`` (-1 = none); ``max_frame_age_s`` [s] (0.2); ``max_state_age_s`` [s] (0.2);
        ``replay_file``; ``required_slots`` ('top,wrist'; scripted/replay); ``chunk_size``
        (scripted, 50); ``compressed_images`` (false); ``success_topic``
        ('smolvla/task_success', '' = none).
    """

    def __init__(self, node_name: str = 'policy_node', **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._values = declare_parameters(self, PARAMS)
        # A bad YAML fails at start, naming the parameter.
        build_config(self._values, choose_default=False)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._lock = threading.RLock()
        self._config: PolicyNodeConfig | None = None
        self._worker: PolicyWorker | None = None
        # Workers whose inference outlived close(): main() must not let the interpreter finalise
        # under them (see main).
        self._stuck_workers: list[PolicyWorker] = []
        self._frames: LatestFrames | None = None
        self._active = False
        self._state: tuple[Any, float] | None = None  # (positions [rad], stamp [s])
        self._cube: tuple[Any, float] | None = None
        self._bin: Any = None
        self._configure_fault = ''
        self._node_fault = ''
        self._refused: Counter[str] = Counter()
        self._last_refused: tuple[int, str] | None = None  # (request_id, reason), newest
        self._bad_input: Counter[str] = Counter()
        self._bad_input_reported = 0
        self._instruction = ''
        self._serving = False
        self._chunks_served = 0
        self._requests = 0
        self._sequence: Counter[str] = Counter()
        self._executor_status: ExecutorStatus | None = None
        self._run: _GoalRun | None = None
        self._config_subs: list[Any] = []

        self._request_group = MutuallyExclusiveCallbackGroup()
        self._goal_group = ReentrantCallbackGroup()
        self._chunk_pub = self.create_publisher(
            ActionChunkMsg, topics.ACTION_CHUNK, topics.CHUNK_QOS
        )
        self._traj_pub = self.create_publisher(
            JointTrajectory, topics.TRAJECTORY, topics.CHUNK_QOS
        )
        self._status_pub = self.create_publisher(
            PolicyStatus, topics.POLICY_STATUS, topics.STATUS_QOS
        )
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self.create_subscription(
            ChunkRequest,
            topics.CHUNK_REQUEST,
            self._on_chunk_request,
            topics.CHUNK_QOS,
            callback_group=self._request_group,
        )
        self.create_subscription(
            JointState, topics.JOINT_STATES, self._on_joint_state, topics.STATE_QOS
        )
        self.create_subscription(
            String, topics.INSTRUCTION, self._on_instruction, topics.CHUNK_QOS
        )
        self.create_subscription(
            ExecutorStatus, topics.EXECUTOR_STATUS, self._on_executor_status, topics.STATUS_QOS
        )
        success_topic = str(self._values['success_topic'])
        if success_topic:
            qos = QoSProfile(
                history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE
            )
            self.create_subscription(Bool, success_topic, self._on_success, qos)
        self.create_service(SetInstruction, topics.SET_INSTRUCTION, self._on_set_instruction)
        self._hold_client = self.create_client(Trigger, topics.HOLD)
        self._action_server = ActionServer(
            self,
            RunTask,
            topics.RUN_TASK,
            execute_callback=self._execute_task,
            goal_callback=self._on_goal,
            handle_accepted_callback=self._on_goal_accepted,
            cancel_callback=self._on_cancel,
            callback_group=self._goal_group,
        )
        self.create_timer(STATUS_PERIOD_S, self._publish_status)
        self._publish_status()

    # -- lifecycle ----------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            config = build_config(current_values(self, PARAMS))
            if config.checkpoint_note:
                self.get_logger().info(config.checkpoint_note)
            if config.settings.policy == 'scripted':
                self._subscribe_poses()
            policy = build_policy(config.settings, poses=self._poses)
            frames = LatestFrames()
            worker = PolicyWorker(
                policy,
                self._submit,
                frames=frames,
                instruction=self._instruction,
                config=config.worker,
                now=self._now,
            )
        except Exception as e:  # any load failure: stay unconfigured, alive, and say why
            self._destroy_config_subs()
            with self._lock:
                self._configure_fault = f'configure failed: {e}'
            self.get_logger().error(self._configure_fault)
            self._publish_status()
            return TransitionCallbackReturn.FAILURE
        with self._lock:
            self._config, self._worker, self._frames = config, worker, frames
            self._configure_fault = ''
            self._node_fault = ''
            self._state = None
        for slot in policy.required_slots:
            self._subscribe_camera(slot, compressed=False)
            if config.compressed_images:
                self._subscribe_camera(slot, compressed=True)
        self.get_logger().info(
            f'configured {config.settings.policy} policy ({config.settings.source}): joints '
            f'{list(policy.joint_names)}, dt {worker.dt_s} s, cameras '
            f'{list(policy.required_slots)}'
        )
        self._publish_status()
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        with self._lock:
            self._active = True
        self._publish_status()
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop('node deactivated')
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop('node shut down')
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def close(self) -> None:
        """Stop serving and join the inference thread (call before destroy_node; idempotent)."""
        with self._lock:
            self._active = False
            run = self._run
        if run is not None:
            run.preempted = True
            run.wake.set()
        self._release()

    def inference_still_running(self) -> bool:
        """True when a closed worker's inference is still computing (after :meth:`close`)."""
        return any(w.alive for w in self._stuck_workers)

    def _stop(self, why: str) -> None:
        with self._lock:
            was_active = self._active
            self._active = False
            self._serving = False
            run = self._run
        if run is not None:
            run.wake.set()  # the goal loop sees the node inactive and aborts
        if was_active:
            self._call_hold(why)
        self._publish_status()

    def _release(self) -> None:
        with self._lock:
            worker, self._worker = self._worker, None
            self._config, self._frames, self._state = None, None, None
            self._cube = self._bin = None
        if worker is not None:
            worker.close()
            if worker.alive:
                self._stuck_workers.append(worker)
        self._destroy_config_subs()
        self._publish_status()

    def _destroy_config_subs(self) -> None:
        subs, self._config_subs = self._config_subs, []
        for sub in subs:
            self.destroy_subscription(sub)

    def _on_set_parameters(self, params: list[Any]) -> Any:
        # Validation only: the default checkpoint is chosen at configure, not on every set.
        return validate_changes(
            self,
            PARAMS,
            params,
            lambda values: build_config(values, choose_default=False),
            configured=self._config is not None,
        )

    # -- inputs -------------------------------------------------------------------------------
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds / 1e9

    def _subscribe_camera(self, slot: str, compressed: bool) -> None:
        kind = CompressedImage if compressed else Image

        def on_image(msg: Any) -> None:
            frames = self._frames
            if frames is None:
                return
            try:
                self._sequence[slot] += 1
                frames.put(frame_from_msg(msg, slot, self._sequence[slot]))
            except (ConversionError, ValueError) as e:
                self._on_bad_input(f'image_{slot}', e)

        topic = topics.camera_topic(slot, compressed=compressed)
        self._config_subs.append(
            self.create_subscription(kind, topic, on_image, topics.SENSOR_QOS)
        )

    def _subscribe_poses(self) -> None:
        def on_cube(msg: PoseStamped) -> None:
            try:
                pose = position_yaw_from_pose_msg(msg)
            except ConversionError as e:
                self._on_bad_input('cube_pose', e)
                return
            with self._lock:
                self._cube = pose

        def on_bin(msg: PoseStamped) -> None:
            try:
                pos, _ = position_yaw_from_pose_msg(msg)
            except ConversionError as e:
                self._on_bad_input('bin_pose', e)
                return
            with self._lock:
                self._bin = pos

        self._config_subs.append(
            self.create_subscription(PoseStamped, topics.SIM_CUBE_POSE, on_cube, topics.STATUS_QOS)
        )
        self._config_subs.append(
            self.create_subscription(PoseStamped, topics.SIM_BIN_POSE, on_bin, topics.STATUS_QOS)
        )

    def _poses(self) -> tuple[Any, float, Any]:
        """The scripted expert's privileged state, from the simulator's pose topics."""
        with self._lock:
            cube, bin_center = self._cube, self._bin
        if cube is None or bin_center is None:
            raise ValueError(
                f'no cube or bin pose received yet on {topics.SIM_CUBE_POSE} / '
                f'{topics.SIM_BIN_POSE}; the scripted expert needs sim_node running'
            )
        return cube[0], cube[1], bin_center

    def _on_joint_state(self, msg: JointState) -> None:
        config = self._config
        names = config.settings.joint_names if config else tuple(self._values['joint_names'])
        try:
            positions = joint_positions_from_msg(msg, names)
            stamp = time_from_msg(msg.header.stamp)
        except ConversionError as e:
            self._on_bad_input('joint_states', e)
            return
        with self._lock:
            self._state = (positions, stamp)

    def _on_executor_status(self, msg: ExecutorStatus) -> None:
        with self._lock:
            self._executor_status = msg

    def _on_bad_input(self, what: str, error: Exception) -> None:
        """Bad input never kills a callback: count it, log (throttled), publish a diagnostic."""
        with self._lock:
            self._bad_input[what] += 1
        self.get_logger().warning(
            f'ignored bad {what}: {error}', throttle_duration_sec=_LOG_THROTTLE_S
        )
        self._publish_diagnostics(f'ignored bad {what}: {error}')

    # -- chunk requests -----------------------------------------------------------------------
    def _on_chunk_request(self, msg: ChunkRequest) -> None:
        with self._lock:
            worker, config, active = self._worker, self._config, self._active
            serving, state = self._serving, self._state
        if worker is None or config is None or not active:
            self.get_logger().warning(
                'chunk request ignored: the node is not active (configure and activate it)',
                throttle_duration_sec=_LOG_THROTTLE_S,
            )
            self._refuse(msg.request_id, 'the policy node is not active')
            return
        try:
            stamp = time_from_msg(msg.header.stamp)
            snapshot = snapshot_for_request(
                msg.request_id,
                stamp,
                msg.must_go,
                serving=serving,
                joint_names=config.settings.joint_names,
                state=state,
                max_state_age_s=config.max_state_age_s,
            )
        except ConversionError as e:
            self._on_bad_input('chunk_request', e)
            return
        except RequestRefusedError as e:
            with self._lock:
                self._requests += 1
                self._refused[e.reason] += 1
                self._node_fault = str(e)
            self.get_logger().warning(str(e), throttle_duration_sec=_LOG_THROTTLE_S)
            self._refuse(msg.request_id, str(e))
            return
        with self._lock:
            self._requests += 1
            self._node_fault = ''
        try:
            accepted = worker.request(snapshot)
        except WorkerClosedError:
            self._refuse(msg.request_id, 'the policy was cleaned up')
            return  # cleaned up meanwhile
        if not accepted:
            self._refuse(msg.request_id, worker.status().last_error)

    def _refuse(self, request_id: int, reason: str) -> None:
        """Publish the refusal at once (PolicyStatus.last_refused_request_id): the executor
        then asks again on a following tick instead of waiting its request_timeout_s."""
        with self._lock:
            self._last_refused = (int(request_id), reason)
        self._publish_status()  # the refusal's reason shows at once

    def _submit(self, chunk: ActionChunk) -> bool:
        """The worker's submit (inference thread): publish both forms. Publishers are
        thread-safe in rclpy."""
        if not self._active:
            return False
        msg = chunk_to_msg(chunk)
        trajectory = chunk_to_trajectory_msg(chunk)
        self._chunk_pub.publish(msg)
        self._traj_pub.publish(trajectory)
        with self._lock:
            self._chunks_served += 1
        return True

    # -- instruction ----------------------------------------------------------------------------
    def _set_instruction(self, text: str) -> None:
        with self._lock:
            self._instruction = text
            self._serving = True
            worker = self._worker
        if worker is not None:
            worker.set_instruction(text)
        self._publish_status()

    def _on_instruction(self, msg: String) -> None:
        if not msg.data.strip():
            self._on_bad_input('instruction', ValueError('empty instruction (whitespace only)'))
            return
        self._set_instruction(msg.data)

    def _on_set_instruction(
        self, request: SetInstruction.Request, response: SetInstruction.Response
    ) -> SetInstruction.Response:
        if not request.instruction.strip():
            response.success = False
            response.message = 'instruction is empty; give the task in words'
            return response
        self._set_instruction(request.instruction)
        response.success = True
        response.message = 'instruction set'
        if request.clear_queue:
            if self._call_hold('instruction changed'):
                response.message += '; queue cleared (hold requested)'
            else:
                response.message += (
                    f'; queue NOT cleared: the executor hold service {topics.HOLD} is not '
                    'available'
                )
        return response

    def _call_hold(self, why: str) -> bool:
        """Ask the executor to hold (non-blocking); False when its service is not there."""
        if not self._hold_client.service_is_ready():
            self.get_logger().warning(f'{why}: hold service {topics.HOLD} is not available')
            return False
        self._hold_client.call_async(Trigger.Request())
        self.get_logger().info(f'{why}: hold requested')
        return True

    # -- RunTask ------------------------------------------------------------------------------
    def _on_goal(self, goal: RunTask.Goal) -> GoalResponse:
        limit = goal.time_limit_s
        if not goal.instruction.strip():
            self.get_logger().warning('RunTask goal rejected: empty instruction')
            return GoalResponse.REJECT
        if not (math.isfinite(limit) and limit >= 0):
            self.get_logger().warning(f'RunTask goal rejected: time_limit_s {limit} is not >= 0')
            return GoalResponse.REJECT
        if not self._active:
            self.get_logger().warning('RunTask goal rejected: the node is not active')
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _on_goal_accepted(self, goal_handle: Any) -> None:
        goal = goal_handle.request
        run = _GoalRun(goal.instruction, float(goal.time_limit_s))
        with self._lock:
            old, self._run = self._run, run
            worker = self._worker
        policy = worker.policy if worker is not None else None
        reset = getattr(policy, 'reset', None)
        if callable(reset):
            reset()  # a new goal is a new episode (the scripted expert plans again)
        # The new instruction first: the preempted goal's result must find it in place.
        self._set_instruction(goal.instruction)
        if old is not None:
            old.preempted = True
            old.wake.set()
        goal_handle.execute()

    def _on_cancel(self, goal_handle: Any) -> CancelResponse:
        with self._lock:
            run = self._run
        if run is not None:
            run.wake.set()
        return CancelResponse.ACCEPT

    def _on_success(self, msg: Bool) -> None:
        if not msg.data:
            return
        with self._lock:
            run = self._run
        if run is not None:
            run.succeeded = True
            run.wake.set()

    def _executor_counts(self) -> dict[str, int]:
        with self._lock:
            s = self._executor_status
            served, requests = self._chunks_served, self._requests
        if s is None:
            # No executor status seen: count what this node published instead.
            return {'chunks': served, 'requests': requests, 'starvation': 0, 'clamps': 0}
        clamps = s.position_clamps + s.velocity_clamps + s.acceleration_clamps
        return {
            'chunks': s.chunks_accepted,
            'requests': requests,
            'starvation': s.starvation_ticks,
            'clamps': clamps,
        }

    def _execute_task(self, goal_handle: Any) -> RunTask.Result:
        with self._lock:
            run = self._run
        assert run is not None
        t0 = self._now()
        base = self._executor_counts()
        next_feedback = t0
        while True:
            now = self._now()
            elapsed = now - t0
            if run.preempted:
                reason, why = RunTask.Result.REASON_ABORTED, 'preempted by a newer goal'
                break
            if goal_handle.is_cancel_requested:
                reason, why = RunTask.Result.REASON_CANCELLED, 'cancelled'
                break
            if run.succeeded:
                reason, why = RunTask.Result.REASON_SUCCEEDED, 'success reported'
                break
            if not self._active:
                reason, why = RunTask.Result.REASON_ABORTED, 'the node was deactivated'
                break
            if run.time_limit_s > 0 and elapsed >= run.time_limit_s:
                reason, why = RunTask.Result.REASON_TIMEOUT, f'time limit {run.time_limit_s} s'
                break
            if now >= next_feedback:
                goal_handle.publish_feedback(self._feedback(elapsed, base))
                next_feedback = now + FEEDBACK_PERIOD_S
            run.wake.wait(_GOAL_POLL_S)
            run.wake.clear()
        with self._lock:
            if self._run is run:
                self._run = None
                self._serving = False  # the arm must not keep acting on this goal's instruction
        # Success, timeout and cancel hold the arm here; a deactivation already held it, and a
        # preempting goal goes on serving.
        if reason != RunTask.Result.REASON_ABORTED:
            self._call_hold(f'RunTask ended ({why})')
        result = self._result(reason, why, self._now() - t0, base)
        if reason == RunTask.Result.REASON_SUCCEEDED:
            goal_handle.succeed()
        elif reason == RunTask.Result.REASON_CANCELLED:
            goal_handle.canceled()
        else:
            goal_handle.abort()
        self.get_logger().info(f'RunTask {run.instruction!r} ended: {why}')
        self._publish_status()
        return result

    def _feedback(self, elapsed: float, base: Mapping[str, int]) -> RunTask.Feedback:
        counts = self._executor_counts()
        with self._lock:
            s = self._executor_status
            worker = self._worker
        fb = RunTask.Feedback()
        fb.elapsed_s = float(elapsed)
        fb.chunks_executed = max(0, counts['chunks'] - base['chunks'])
        fb.queue_fill = float(s.queue_fill) if s is not None else 0.0
        fb.last_inference_latency_s = (
            float(worker.status().last_latency_s) if worker is not None else math.nan
        )
        fb.executor_mode = int(s.mode) if s is not None else ExecutorStatus.MODE_IDLE
        return fb

    def _result(
        self, reason: int, why: str, elapsed: float, base: Mapping[str, int]
    ) -> RunTask.Result:
        counts = self._executor_counts()
        result = RunTask.Result()
        result.success = reason == RunTask.Result.REASON_SUCCEEDED
        result.reason_code = reason
        result.reason = why
        result.elapsed_s = float(elapsed)
        result.chunks_executed = max(0, counts['chunks'] - base['chunks'])
        result.inference_requests = max(0, counts['requests'] - base['requests'])
        result.requests_filtered = 0
        result.starvation_ticks = max(0, counts['starvation'] - base['starvation'])
        result.clamp_count = max(0, counts['clamps'] - base['clamps'])
        return result

    # -- status ---------------------------------------------------------------------------------
    def _status_msg(self) -> PolicyStatus:
        with self._lock:
            worker, config = self._worker, self._config
            fault = self._node_fault or self._configure_fault
            instruction, refused = self._instruction, sum(self._refused.values())
            last_refused = self._last_refused
        settings = config.settings if config is not None else None
        return policy_status_to_msg(
            worker.status() if worker is not None else None,
            stamp_s=self._now(),
            checkpoint=settings.source if settings else '',
            device=settings.device if settings else '',
            precision=settings.precision if settings else '',
            instruction=instruction,
            refused_by_node=refused,
            fault=fault,
            last_refused_request_id=last_refused[0] if last_refused else None,
            last_refusal=last_refused[1] if last_refused else '',
        )

    def _publish_status(self) -> None:
        if not self.context.ok():
            return
        msg = self._status_msg()
        self._status_pub.publish(msg)
        self._publish_diagnostics(msg.fault, status=msg)

    def _publish_diagnostics(self, message: str, status: PolicyStatus | None = None) -> None:
        if not self.context.ok():
            return
        status = status or self._status_msg()
        with self._lock:
            bad = dict(self._bad_input)
            new_bad = sum(bad.values()) > self._bad_input_reported
            self._bad_input_reported = sum(bad.values())
            refused = dict(self._refused)
            active, served = self._active, self._chunks_served
        if status.mode == PolicyStatus.MODE_FAULT or self._configure_fault:
            level = DiagnosticStatus.ERROR
        elif new_bad:
            level = DiagnosticStatus.WARN
        else:
            level = DiagnosticStatus.OK
        text = message or ('serving' if active else 'inactive')
        values = {
            'mode': int(status.mode),
            'active': active,
            'chunks_published': served,
            'chunks_produced': int(status.chunks_produced),
            'failed_requests': int(status.inference_errors),
            'refused_by_node': refused,
            'bad_input': bad,
            'last_latency_s': float(status.last_latency_s),
        }
        array = DiagnosticArray()
        array.header.stamp = status.header.stamp
        array.status = [diagnostic_status(f'{self.get_name()}: policy', level, text, values)]
        self._diag_pub.publish(array)


def main(args: list[str] | None = None) -> int:
    """Console script ``policy_node``: spin a PolicyNode until SIGINT/SIGTERM."""
    stuck: list[bool] = []

    def stop(node: PolicyNode) -> None:
        node.close()
        stuck.append(node.inference_still_running())

    # Threads (make_executor): the RunTask loop holds one while a goal runs; requests, cameras
    # and the lifecycle services need the others (inference runs on the worker's own thread).
    status = run_node('policy_node', PolicyNode, args, stop=stop)
    if any(stuck):
        # An inference that outlived the worker's close timeout (a slow model on a loaded CPU)
        # still runs in a daemon thread inside a native torch call. Letting the interpreter
        # finalise under it aborts the process (std::terminate, SIGABRT, exit -6). The node is
        # destroyed and ROS shut down, its chunk would be dropped anyway: end the process now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


if __name__ == '__main__':
    sys.exit(main())
