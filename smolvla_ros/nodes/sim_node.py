"""``sim_node``: the MuJoCo SO-101 simulator behind the driver's topics, plus cameras and /clock.

Run: ``ros2 run smolvla_ros sim_node`` (or ``python -m smolvla_ros.nodes.sim_node``); other
nodes then run with ``use_sim_time:=true``. The physics (``so_arm_driver.sim``) is stepped up to
``real_time_factor`` x the steady (wall) time on one timer, which also renders the cameras when
due, so the simulator (not thread-safe) is only ever touched from one callback group.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, JointState
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from smolvla_ros.nodes import topics
from smolvla_ros.nodes.conversions import (
    ConversionError,
    camera_info_msg,
    clock_msg,
    diagnostic_status,
    joint_command_from_msg,
    joint_state_to_msg,
    pose_stamped_msg,
    rgb_to_compressed_msg,
    rgb_to_image_msg,
    time_from_msg,
    time_to_msg,
)
from smolvla_ros.nodes.executors import run_node
from smolvla_ros.nodes.params import ParamSpec, declare_parameters
from smolvla_ros.sim_bridge import (
    Cadence,
    LockstepClock,
    PoseGate,
    ScaledClock,
    SimNodeConfig,
    pinhole_intrinsics,
)
from so_arm_driver.sim import CAMERA_SLOTS, SimError
from so_arm_driver.sim.clock_synced import ClockSyncedSimArm

PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec('step_rate_hz', 100.0, 'physics catch-up and /clock rate (wall)', 'Hz', 1.0, 1000.0),
    ParamSpec('joint_state_rate_hz', 50.0, 'joint state rate (sim time)', 'Hz', 0.1, 1000.0),
    ParamSpec('camera_rate_hz', 10.0, 'camera set rate, 3 slots (sim time)', 'Hz', 0.1, 120.0),
    ParamSpec('pose_rate_hz', 2.0, 'cube/bin pose + success repeat rate', 'Hz', 0.1, 100.0),
    ParamSpec('real_time_factor', 1.0, 'simulated seconds per wall second', '', 0.01, 50.0),
    ParamSpec('image_width', 256, 'camera width', 'px', 16, 2048),
    ParamSpec('image_height', 256, 'camera height', 'px', 16, 2048),
    ParamSpec('seed', 0, 'scene seed; each reset uses the next one', '', 0, 2**31 - 1),
    ParamSpec('publish_clock', True, 'publish /clock with the simulated time'),
    ParamSpec('publish_raw', True, 'publish sensor_msgs/Image rgb8 per camera'),
    ParamSpec('publish_compressed', False, 'publish jpeg CompressedImage per camera'),
    ParamSpec('jpeg_quality', 90, 'jpeg quality of the compressed topics', '', 1, 100),
    ParamSpec('diagnostics_period_s', 1.0, '/diagnostics status period (wall)', 's', 0.05, 60.0),
    ParamSpec(
        'lockstep',
        False,
        'pace /clock by the joint commands: sim time runs at most lockstep_lead_s past the '
        'newest command stamp (for controllers on use_sim_time)',
    ),
    ParamSpec(
        'lockstep_lead_s',
        0.05,
        'lockstep: how far sim time may run past the newest command stamp; must exceed the '
        "controller's tick period",
        's',
        0.002,
        10.0,
    ),
    ParamSpec(
        'lockstep_timeout_s',
        2.0,
        'lockstep: wall seconds without a newer command after which the simulation runs free',
        's',
        0.1,
        60.0,
    ),
)


def build_config(values: Mapping[str, Any]) -> SimNodeConfig:
    """The core config from the parameter values.

    Raises:
        ValueError: an impossible value, named.
    """
    return SimNodeConfig(
        step_rate_hz=float(values['step_rate_hz']),
        joint_state_rate_hz=float(values['joint_state_rate_hz']),
        camera_rate_hz=float(values['camera_rate_hz']),
        pose_rate_hz=float(values['pose_rate_hz']),
        real_time_factor=float(values['real_time_factor']),
        image_width=int(values['image_width']),
        image_height=int(values['image_height']),
        seed=int(values['seed']),
        lockstep=bool(values['lockstep']),
        lockstep_lead_s=float(values['lockstep_lead_s']),
        lockstep_timeout_s=float(values['lockstep_timeout_s']),
    )


class SimNode(Node):
    """The simulated SO-101 with its three cameras, the cube-in-bin task and the sim clock.

    Publishes (names from ``smolvla_ros.nodes.topics``, relative, remappable):
        - ``joint_states`` (sensor_msgs/JointState: 6 named joints, position rad, velocity
          rad/s) at ``joint_state_rate_hz`` of simulated time; ``STATE_QOS``;
        - ``smolvla/cameras/{top,wrist,side}/image_raw`` (sensor_msgs/Image rgb8; and
          ``.../compressed`` jpeg when ``publish_compressed``) and ``.../camera_info`` (the
          MuJoCo pinhole: fx = fy = (H/2)/tan(fovy/2), centre ((W-1)/2, (H-1)/2)) at
          ``camera_rate_hz``, all slots with one stamp = the simulated time; ``SENSOR_QOS``;
        - ``/clock`` (rosgraph_msgs/Clock, simulated seconds; never goes back, also across
          resets) every step tick when ``publish_clock``; reliable, depth 10;
        - ``smolvla/sim/cube_pose`` and ``smolvla/sim/bin_pose`` (geometry_msgs/PoseStamped in
          base_link, metres; the cube's yaw as a quaternion about z; the bin unrotated) when
          they move and at ``pose_rate_hz``; ``STATUS_QOS`` (latched);
        - ``smolvla/task_success`` (std_msgs/Bool: the cube rests inside the bin, below the
          rim) when it changes and at ``pose_rate_hz``; ``STATUS_QOS``;
        - ``/diagnostics`` (DiagnosticArray): every ``diagnostics_period_s`` and at once on a
          bad command (WARN, with the reason and the count).

    Subscribes: ``smolvla/joint_command`` (sensor_msgs/JointState: positions by name, radians,
    every joint of the arm and no other, as driver_node takes them; out-of-range goals are
    clamped to the joint limits) with ``STATE_QOS``. A malformed command (NaN, an unknown or
    missing joint, lengths differ) is counted and reported and commands nothing.

    Services: ``smolvla/sim/reset`` (std_srvs/Trigger): a new scene with the next seed (arm
    at home, cube at the seed's pose).

    Parameters (read at start; units and ranges in PARAMS): step_rate_hz [Hz, wall],
    joint_state_rate_hz / camera_rate_hz / pose_rate_hz [Hz, sim time], real_time_factor,
    image_width / image_height [px], seed, publish_clock, publish_raw, publish_compressed,
    jpeg_quality, diagnostics_period_s [s], lockstep, lockstep_lead_s [s, sim time],
    lockstep_timeout_s [s, wall].

    Time: the step timer runs on the steady clock (the simulator is the source of /clock, so
    it must not wait for it); every stamp is simulated time. By default simulated time follows
    ``real_time_factor`` x the steady clock and catches up after a stall. With ``lockstep``
    it also never runs more than ``lockstep_lead_s`` past the newest joint command's stamp
    (``smolvla_ros.sim_bridge.LockstepClock``): a controller ticking on this /clock
    (executor_node with ``use_sim_time``) then sees every tick of simulated time however
    loaded the host is; the world slows down instead. Without newer commands for
    ``lockstep_timeout_s`` (wall) it runs free again. Rendering runs in the same
    callback as the physics (the simulator is not thread-safe): a camera set (~7.5 ms for
    3 x 256x256 on CPU) delays the next physics catch-up by that much, never its total.

    Raises:
        ValueError: an impossible parameter combination (at construction).
    """

    def __init__(self, *, node_name: str = 'sim_node', **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        values = declare_parameters(self, PARAMS)
        self.config = build_config(values)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._publish_clock = bool(values['publish_clock'])
        self._jpeg_quality = int(values['jpeg_quality'])
        self._lockstep = (
            LockstepClock(
                self.config.real_time_factor,
                self.config.lockstep_lead_s,
                self.config.lockstep_timeout_s,
            )
            if self.config.lockstep
            else None
        )
        self._scaled = ScaledClock(self.config.real_time_factor)
        time_source = self._lockstep.now if self._lockstep is not None else self._scaled.now
        self.arm = ClockSyncedSimArm(time_source, self.config.sim_config())
        self.sim = self.arm.sim_arm.sim
        self._seed = self.config.seed
        self._joint_cadence = Cadence(self.config.joint_state_rate_hz)
        self._camera_cadence = Cadence(self.config.camera_rate_hz)
        self._pose_period = 1.0 / self.config.pose_rate_hz
        self._cube_gate = self._make_gate()
        self._bin_gate = self._make_gate()
        self._success_cadence = Cadence(self.config.pose_rate_hz)
        self._last_success: bool | None = None
        self.bad_commands = 0
        self.commands = 0
        self._last_bad: str = ''
        self._bad_at_last_diag = 0
        width, height = self.config.image_width, self.config.image_height
        self._camera_info = {
            slot: pinhole_intrinsics(
                float(self.sim.model.cam_fovy[self.sim.model.camera(slot).id]), width, height
            )
            for slot in CAMERA_SLOTS
        }

        # Create the renderer (GL context, uploaded meshes) now: the first render takes far
        # longer than the others and would otherwise stall the first physics ticks.
        self.sim.render(CAMERA_SLOTS[:1])
        # One mutually exclusive group: the simulator is touched by one callback at a time.
        group = MutuallyExclusiveCallbackGroup()
        self._sim_lock = threading.Lock()
        self._closed = False
        self._joint_pub = self.create_publisher(JointState, topics.JOINT_STATES, topics.STATE_QOS)
        self._clock_pub = (
            self.create_publisher(ClockMsg, topics.CLOCK, 10) if self._publish_clock else None
        )
        self._raw_pubs = (
            {
                s: self.create_publisher(Image, topics.camera_topic(s), topics.SENSOR_QOS)
                for s in CAMERA_SLOTS
            }
            if values['publish_raw']
            else {}
        )
        self._compressed_pubs = (
            {
                s: self.create_publisher(
                    CompressedImage, topics.camera_topic(s, compressed=True), topics.SENSOR_QOS
                )
                for s in CAMERA_SLOTS
            }
            if values['publish_compressed']
            else {}
        )
        self._info_pubs = {
            s: self.create_publisher(CameraInfo, topics.camera_info_topic(s), topics.SENSOR_QOS)
            for s in CAMERA_SLOTS
        }
        self._cube_pub = self.create_publisher(
            PoseStamped, topics.SIM_CUBE_POSE, topics.STATUS_QOS
        )
        self._bin_pub = self.create_publisher(PoseStamped, topics.SIM_BIN_POSE, topics.STATUS_QOS)
        self._success_pub = self.create_publisher(Bool, topics.TASK_SUCCESS, topics.STATUS_QOS)
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self.create_subscription(
            JointState,
            topics.JOINT_COMMAND,
            self._guarded(self._on_command),
            topics.STATE_QOS,
            callback_group=group,
        )
        self.create_service(
            Trigger, topics.SIM_RESET, self._guarded(self._on_reset), callback_group=group
        )
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._step_timer = self.create_timer(
            1.0 / self.config.step_rate_hz,
            self._guarded(self._on_tick),
            callback_group=group,
            clock=steady,
        )
        self._diag_timer = self.create_timer(
            float(values['diagnostics_period_s']),
            self._guarded(self._publish_diagnostics),
            callback_group=group,
            clock=steady,
        )
        pacing = (
            f' in lockstep (lead {self.config.lockstep_lead_s} s)' if self.config.lockstep else ''
        )
        self.get_logger().info(
            f'simulator up: seed {self._seed}, x{self.config.real_time_factor} real time{pacing}, '
            f'joint states {self.config.joint_state_rate_hz} Hz, cameras '
            f'{self.config.camera_rate_hz} Hz ({width}x{height})'
        )

    def _guarded(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        # The callback group already serialises the callbacks; the lock also keeps
        # destroy_node from closing the simulator under a callback still running on an
        # executor thread, and the flag makes a late callback a no-op.
        def run(*args: Any) -> Any:
            with self._sim_lock:
                if self._closed:
                    return args[-1] if len(args) == 2 else None  # a service gets its response
                return callback(*args)

        return run

    def _make_gate(self) -> PoseGate:
        return PoseGate(
            self._pose_period, self.config.pose_tolerance_m, self.config.yaw_tolerance_rad
        )

    @property
    def sim_time_s(self) -> float:
        """Simulated seconds since the node started (continuous across resets)."""
        return self.arm.sim_time_s

    @property
    def seed(self) -> int:
        """The seed of the current scene."""
        return self._seed

    def _on_set_parameters(self, changes: list[Parameter]) -> SetParametersResult:
        names = {s.name for s in PARAMS}
        for p in changes:
            if p.name in names:
                return SetParametersResult(
                    successful=False,
                    reason=f'parameter {p.name} is read at start; restart sim_node with the '
                    'new value',
                )
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ the one sim thread
    def _on_tick(self) -> None:
        if self._lockstep is not None:
            self._lockstep.advance()
        self.arm.sync()
        t = self.arm.sim_time_s
        if self._clock_pub is not None:
            self._clock_pub.publish(clock_msg(t))
        if self._joint_cadence.due(t):
            self._joint_pub.publish(
                joint_state_to_msg(
                    self.sim.joint_positions(),
                    self.arm.joint_names,
                    t,
                    velocities=self.sim.joint_velocities(),
                )
            )
        self._publish_task_state(t)
        if self._camera_cadence.due(t):
            self._publish_cameras(t)

    def _publish_task_state(self, t: float) -> None:
        cube_pos, cube_yaw = self.sim.cube_pose()
        if self._cube_gate.should_publish(t, cube_pos, cube_yaw):
            self._cube_pub.publish(pose_stamped_msg(cube_pos, cube_yaw, t, 'base_link'))
        bin_pos = self.sim.bin_center()
        if self._bin_gate.should_publish(t, bin_pos, 0.0):
            self._bin_pub.publish(pose_stamped_msg(bin_pos, 0.0, t, 'base_link'))
        # The simulator's success check (what run_episode scores, besides "was lifted": a cube
        # never starts in the bin, so reaching it means it was carried or pushed there).
        # bool(): the message field needs a Python bool (numpy's np.True_ serialises as False).
        success = bool(self.sim.cube_in_bin())
        if success != self._last_success or self._success_cadence.due(t):
            self._success_pub.publish(Bool(data=success))
            self._last_success = success

    def _publish_cameras(self, t: float) -> None:
        images = self.sim.render(CAMERA_SLOTS)
        for slot, rgb in images.items():
            frame_id = f'{slot}_camera_optical_frame'
            height, width = rgb.shape[:2]
            if slot in self._raw_pubs:
                self._raw_pubs[slot].publish(rgb_to_image_msg(rgb, 'rgb8', t, frame_id))
            if slot in self._compressed_pubs:
                self._compressed_pubs[slot].publish(
                    rgb_to_compressed_msg(rgb, 'jpeg', t, frame_id, self._jpeg_quality)
                )
            self._info_pubs[slot].publish(
                camera_info_msg(width, height, t, frame_id, intrinsics=self._camera_info[slot])
            )

    def _on_command(self, msg: JointState) -> None:
        try:
            # The driver's rule (every joint of the arm, no other, all finite), so that a
            # controller tested against the simulator is not refused by the real arm.
            names = tuple(self.arm.joint_names)
            goals = dict(zip(names, joint_command_from_msg(msg, names).tolist(), strict=True))
            self.arm.sync()  # the motion up to now followed the previous goal
            result = self.arm.sim_arm.write_named_goals(goals)
        except (ConversionError, SimError) as e:
            # SimError: SimGoalError (a goal the simulator refuses); nothing was commanded.
            self.bad_commands += 1
            self._last_bad = f'{type(e).__name__}: {e}'
            self.get_logger().warning(
                f'joint command refused ({self.bad_commands} so far), the arm keeps its goal: '
                f'{self._last_bad}',
                throttle_duration_sec=2.0,
            )
            self._publish_diagnostics(bad_command=True)
            return
        self.commands += 1
        if self._lockstep is not None:
            # The controller stamps a command with the simulated time of its tick (an
            # unstamped one does not pace; see LockstepClock.command).
            self._lockstep.command(time_from_msg(msg.header.stamp))
        if result.clamped:
            self.get_logger().debug(f'goals clamped to the joint limits: {result.clamped}')

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.arm.sync()
        self._seed += 1
        self.sim.reset(self._seed)
        self._cube_gate.reset()
        self._bin_gate.reset()
        self._success_cadence.reset()
        self._camera_cadence.reset()
        self._publish_task_state(self.arm.sim_time_s)
        pos, yaw = self.sim.cube_pose()
        response.success = True
        response.message = (
            f'new scene, seed {self._seed}: cube at x={pos[0]:.3f} y={pos[1]:.3f} m, '
            f'yaw {yaw:.3f} rad'
        )
        self.get_logger().info(response.message)
        return response

    def _publish_diagnostics(self, bad_command: bool = False) -> None:
        new_bad = self.bad_commands - self._bad_at_last_diag
        if not bad_command:
            self._bad_at_last_diag = self.bad_commands
        level = 1 if (bad_command or new_bad) else 0
        message = (
            f'joint command refused: {self._last_bad}'
            if level
            else f'simulating at x{self.config.real_time_factor} real time'
        )
        stats = self.arm.stepping_stats_ms()
        values = {
            'sim_time_s': round(self.arm.sim_time_s, 4),
            'seed': self._seed,
            'commands': self.commands,
            'bad_commands': self.bad_commands,
            'last_bad_command': self._last_bad,
            'clamps': self.arm.sim_arm.clamp_counts,
            'step_p99_ms': stats['p99_ms'],
            'task_success': bool(self._last_success),
        }
        if self._lockstep is not None:
            newest = self._lockstep.newest_command_s
            values['lockstep'] = 'paced' if self._lockstep.pacing() else 'free'
            values['lockstep_held_ticks'] = self._lockstep.held_ticks
            values['lockstep_newest_command_s'] = '' if newest is None else round(newest, 4)
        array = DiagnosticArray()
        array.header.stamp = time_to_msg(self.arm.sim_time_s)
        array.status = [diagnostic_status(f'{self.get_name()}: simulator', level, message, values)]
        self._diag_pub.publish(array)

    def destroy_node(self) -> None:
        """Torque off and release the simulator (renderer), then destroy the node."""
        with self._sim_lock:
            self._closed = True
            self.arm.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Console script ``sim_node``: run the simulator until SIGINT/SIGTERM (exit 2: bad
    parameters)."""
    errors = (ValueError, ParameterException)
    return run_node('sim_node', SimNode, args, multi_threaded=False, config_errors=errors)


if __name__ == '__main__':
    sys.exit(main())
