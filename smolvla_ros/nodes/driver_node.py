"""driver_node: a lifecycle node over so_arm_driver's SoFollower (a real SO-100/SO-101 arm).

Run: ``ros2 run smolvla_ros driver_node --ros-args -p port:=/dev/ttyACM0 -p robot_id:=follower``
then ``ros2 lifecycle set /driver_node configure`` and ``... activate``. Without ROS tools, the
transitions are the standard lifecycle services (``driver_node/change_state``).

The node holds no driver logic: it reads its parameters into ``ArmConfig`` and
``HealthThresholds`` (``build_settings``), converts messages with ``conversions`` and calls the
follower (``SoFollower``) and ``so_arm_driver.health``.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState

from smolvla_ros.nodes import topics
from smolvla_ros.nodes.conversions import (
    ConversionError,
    diagnostic_status,
    joint_command_from_msg,
    joint_state_to_msg,
    time_ns_to_msg,
)
from smolvla_ros.nodes.executors import run_node
from smolvla_ros.nodes.params import (
    ParamSpec,
    current_values,
    declare_parameters,
    validate_changes,
)
from so_arm_driver.errors import SoArmError
from so_arm_driver.follower import ArmConfig, SoFollower
from so_arm_driver.health import (
    HealthLevel,
    HealthThresholds,
    ReadFailureMonitor,
    assess,
    read_servo_health,
)
from so_arm_driver.robots import robot_spec

_OK = int.from_bytes(DiagnosticStatus.OK, 'little')
_WARN = int.from_bytes(DiagnosticStatus.WARN, 'little')
_ERROR = int.from_bytes(DiagnosticStatus.ERROR, 'little')

_d = ArmConfig(port='')  # ArmConfig's own defaults, so the parameter defaults cannot drift
_t = HealthThresholds()

PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec('port', '/dev/ttyACM0', 'serial device of the servo bus adapter'),
    ParamSpec('robot', 'so101', 'arm model', choices=('so101', 'so100')),
    ParamSpec('robot_id', _d.robot_id, "LeRobot's arm id; names the default calibration file"),
    ParamSpec(
        'calibration',
        '',
        "LeRobot calibration JSON; '' = LeRobot's default location for robot_id",
    ),
    ParamSpec('vendor', _d.vendor, 'servo vendor', choices=('feetech', 'dynamixel')),
    ParamSpec(
        'baudrate', _d.baudrate, 'bus speed', unit='bit/s', min_value=9600, max_value=4_000_000
    ),
    ParamSpec('servo_model', _d.servo_model, 'model every joint must report (LeRobot spelling)'),
    ParamSpec(
        'joint_signs',
        (1, 1, 1, 1, 1, 1),
        'URDF direction of each joint relative to ticks (+1/-1), in the arm joint order',
    ),
    ParamSpec(
        'read_retries',
        _d.read_retries,
        'extra tries after a failed bus transaction',
        min_value=0,
        max_value=10,
    ),
    ParamSpec(
        'check_eeprom',
        _d.check_eeprom,
        'refuse to configure when the calibration file disagrees with the servo EEPROM',
    ),
    ParamSpec(
        'configure_servos',
        _d.configure_servos,
        "write LeRobot's servo configuration (gains, gripper limits) at configure",
    ),
    ParamSpec(
        'p_coefficient', _d.p_coefficient, 'position-loop P gain', min_value=0, max_value=254
    ),
    ParamSpec(
        'i_coefficient', _d.i_coefficient, 'position-loop I gain', min_value=0, max_value=254
    ),
    ParamSpec(
        'd_coefficient', _d.d_coefficient, 'position-loop D gain', min_value=0, max_value=254
    ),
    ParamSpec(
        'gripper_max_torque',
        _d.gripper_max_torque,
        'gripper Max_Torque_Limit (raw)',
        min_value=0,
        max_value=1000,
    ),
    ParamSpec(
        'gripper_protection_current',
        _d.gripper_protection_current,
        'gripper Protection_Current (raw)',
        min_value=0,
        max_value=2047,
    ),
    ParamSpec(
        'gripper_overload_torque',
        _d.gripper_overload_torque,
        'gripper Overload_Torque',
        unit='%',
        min_value=0,
        max_value=100,
    ),
    ParamSpec(
        'max_relative_target_rad',
        0.0,
        'largest move per command and joint from the measured position; 0 = no cap',
        unit='rad',
        min_value=0.0,
        max_value=6.3,
    ),
    ParamSpec(
        'joint_state_rate_hz',
        30.0,
        'joint state publishing rate',
        unit='Hz',
        min_value=0.1,
        max_value=500.0,
    ),
    ParamSpec(
        'diagnostics_rate_hz',
        1.0,
        'servo health (voltage, temperature, flags) rate',
        unit='Hz',
        min_value=0.01,
        max_value=50.0,
    ),
    ParamSpec(
        'torque_on_activate', True, 'enable torque (holding the present position) on activate'
    ),
    ParamSpec(
        'release_torque_on_deactivate',
        False,
        'false: deactivate holds position (torque on, commands ignored); true: releases',
    ),
    ParamSpec(
        'read_failures_to_error',
        3,
        'consecutive failed joint-state reads that turn the WARN diagnostic into ERROR',
        min_value=1,
        max_value=1000,
    ),
    ParamSpec(
        'voltage_error_min_v',
        _t.voltage_error_min_v,
        'servo supply below: ERROR',
        unit='V',
        min_value=0.0,
        max_value=30.0,
    ),
    ParamSpec(
        'voltage_warn_min_v',
        _t.voltage_warn_min_v,
        'servo supply below: WARN',
        unit='V',
        min_value=0.0,
        max_value=30.0,
    ),
    ParamSpec(
        'voltage_warn_max_v',
        _t.voltage_warn_max_v,
        'servo supply above: WARN',
        unit='V',
        min_value=0.0,
        max_value=30.0,
    ),
    ParamSpec(
        'voltage_error_max_v',
        _t.voltage_error_max_v,
        'servo supply above: ERROR',
        unit='V',
        min_value=0.0,
        max_value=30.0,
    ),
    ParamSpec(
        'temperature_warn_c',
        _t.temperature_warn_c,
        'servo temperature from: WARN',
        unit='degC',
        min_value=0.0,
        max_value=150.0,
    ),
    ParamSpec(
        'temperature_error_c',
        _t.temperature_error_c,
        'servo temperature from: ERROR',
        unit='degC',
        min_value=0.0,
        max_value=150.0,
    ),
)
del _d, _t


@dataclass(frozen=True)
class DriverSettings:
    """Everything the node reads at configure: the core configs and its own rates and policy.

    Attributes:
        arm: the follower's configuration (validated by ``ArmConfig``).
        thresholds: servo health thresholds (validated by ``HealthThresholds``).
        joint_state_rate_hz / diagnostics_rate_hz: timer rates, Hz.
        torque_on_activate / release_torque_on_deactivate: torque policy of the transitions.
        read_failures_to_error: consecutive failed reads before the diagnostic is an ERROR.
    """

    arm: ArmConfig
    thresholds: HealthThresholds
    joint_state_rate_hz: float
    diagnostics_rate_hz: float
    torque_on_activate: bool
    release_torque_on_deactivate: bool
    read_failures_to_error: int


def build_settings(v: Mapping[str, Any]) -> DriverSettings:
    """Parameter values -> DriverSettings.

    Raises:
        ValueError (SoArmConfigError included): an impossible value or combination, naming it.
    """
    joints = robot_spec(v['robot']).joint_names
    signs = tuple(v['joint_signs'])
    if len(signs) != len(joints) or any(s not in (1, -1) for s in signs):
        raise ValueError(
            f'joint_signs must be {len(joints)} values of +1 or -1 for {list(joints)}, '
            f'got {list(signs)}'
        )
    arm = ArmConfig(
        port=v['port'],
        robot=v['robot'],
        robot_id=v['robot_id'],
        calibration_path=v['calibration'] or None,
        vendor=v['vendor'],
        baudrate=v['baudrate'],
        servo_model=v['servo_model'],
        joint_signs=dict(zip(joints, signs, strict=True)),
        max_relative_target_rad=v['max_relative_target_rad'] or None,
        read_retries=v['read_retries'],
        check_eeprom=v['check_eeprom'],
        configure_servos=v['configure_servos'],
        # Torque is the lifecycle's business: on at activate, off at cleanup/shutdown.
        torque_on_connect=False,
        torque_off_on_close=True,
        p_coefficient=v['p_coefficient'],
        i_coefficient=v['i_coefficient'],
        d_coefficient=v['d_coefficient'],
        gripper_max_torque=v['gripper_max_torque'],
        gripper_protection_current=v['gripper_protection_current'],
        gripper_overload_torque=v['gripper_overload_torque'],
    )
    if not arm.port:
        raise ValueError('port is empty; set it to the serial device of the arm (/dev/ttyACM0)')
    thresholds = HealthThresholds(
        voltage_error_min_v=v['voltage_error_min_v'],
        voltage_warn_min_v=v['voltage_warn_min_v'],
        voltage_warn_max_v=v['voltage_warn_max_v'],
        voltage_error_max_v=v['voltage_error_max_v'],
        temperature_warn_c=v['temperature_warn_c'],
        temperature_error_c=v['temperature_error_c'],
    )
    return DriverSettings(
        arm=arm,
        thresholds=thresholds,
        joint_state_rate_hz=v['joint_state_rate_hz'],
        diagnostics_rate_hz=v['diagnostics_rate_hz'],
        torque_on_activate=v['torque_on_activate'],
        release_torque_on_deactivate=v['release_torque_on_deactivate'],
        read_failures_to_error=v['read_failures_to_error'],
    )


class DriverNode(LifecycleNode):
    """Lifecycle node driving an SO-100/SO-101 follower arm on a Feetech (or Dynamixel) bus.

    Lifecycle:
        configure: open the port, check servo model numbers and the calibration against the
            servos' EEPROM (``SoFollower.connect``); torque stays off. A failure returns FAILURE,
            logs the driver's message, publishes it as an ERROR diagnostic and leaves the node
            unconfigured with the port closed.
        activate: torque on (the goal is set to the present position first, so nothing jumps)
            when ``torque_on_activate``; start publishing joint states and accepting commands.
        deactivate: stop publishing and ignore commands; torque stays on (the arm holds) unless
            ``release_torque_on_deactivate``.
        cleanup / shutdown: torque off on every servo (each is tried; failures are logged as
            errors and published as an ERROR diagnostic, never raised) and close the port.

    Publishes:
        ``joint_states`` (topics.JOINT_STATES, sensor_msgs/JointState, STATE_QOS): positions
            [rad, URDF convention], the arm's joint names, stamp = read time on the node clock
            (middle of the bus transaction); at ``joint_state_rate_hz`` while active.
        ``/diagnostics`` (diagnostic_msgs/DiagnosticArray, depth 10 reliable): one status per
            servo at ``diagnostics_rate_hz`` while configured (voltage [V], temperature [°C],
            error flags; OK/WARN/ERROR by the threshold parameters); ``<node>: joint_states``
            on read failures (WARN, ERROR after ``read_failures_to_error`` in a row, OK on
            recovery); ``<node>: commands`` on rejected commands; ``<node>: connection`` on
            transition failures. hardware_id is the port.

    Subscribes:
        ``smolvla/joint_command`` (topics.JOINT_COMMAND, sensor_msgs/JointState, STATE_QOS):
            goal positions [rad] by joint name, every joint of the arm and no other; sent in one
            write (clamped to the calibrated and URDF limits, and to ``max_relative_target_rad``
            per command). Missing, unknown or NaN joints: nothing is sent, a counter, a
            throttled warning and a WARN diagnostic. Ignored (counted) unless active.

    Parameters (read at configure; see ``PARAMS`` for ranges):
        port, robot (so101|so100), robot_id, calibration (path; '' = LeRobot's default),
        vendor (feetech|dynamixel), baudrate [bit/s], servo_model, joint_signs (±1 per joint),
        read_retries, check_eeprom, configure_servos, p/i/d_coefficient, gripper_max_torque,
        gripper_protection_current, gripper_overload_torque [%], max_relative_target_rad [rad;
        0 = no cap], joint_state_rate_hz [Hz], diagnostics_rate_hz [Hz], torque_on_activate,
        release_torque_on_deactivate, read_failures_to_error, voltage_error_min_v /
        voltage_warn_min_v / voltage_warn_max_v / voltage_error_max_v [V], temperature_warn_c /
        temperature_error_c [°C].
    """

    def __init__(self, node_name: str = 'driver_node', **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        # Held around every use of the arm and the node's state: transitions, timers and the
        # command callback may run on different executor threads.
        self._lock = threading.RLock()
        self._arm: SoFollower | None = None
        self._settings: DriverSettings | None = None
        self._active = False
        self._js_timer = None
        self._diag_timer = None
        self._reads: ReadFailureMonitor | None = None
        self._last_read_level = HealthLevel.OK
        # Separate groups: a slow health read (a silent servo costs a timeout per read) must not
        # starve joint states and commands in a multi-threaded executor; self._lock and the
        # bus's own lock still serialise access to the arm.
        self._control_group = MutuallyExclusiveCallbackGroup()
        self._health_group = MutuallyExclusiveCallbackGroup()
        self.commands_sent = 0
        self.commands_rejected = 0
        self.commands_ignored = 0
        declare_parameters(self, PARAMS)
        # Refuse a change the core would reject, or of a configure-time value while configured.
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._js_pub = self.create_publisher(JointState, topics.JOINT_STATES, topics.STATE_QOS)
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self.create_subscription(
            JointState,
            topics.JOINT_COMMAND,
            self._on_command,
            topics.STATE_QOS,
            callback_group=self._control_group,
        )

    # ---- parameters ----------------------------------------------------------------------

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        return validate_changes(
            self, PARAMS, params, build_settings, configured=self._arm is not None
        )

    # ---- lifecycle -----------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        with self._lock:
            try:
                settings = build_settings(current_values(self, PARAMS))
            except ValueError as e:
                return self._fail('configure', f'bad parameters: {e}', '')
            port = settings.arm.port
            arm = None
            try:
                arm = SoFollower(settings.arm)
                arm.connect()  # closes the port again when it raises
            except (SoArmError, OSError) as e:
                if arm is not None:
                    arm.bus.close()
                return self._fail('configure', f'{type(e).__name__}: {e}', port)
            self._arm, self._settings = arm, settings
            self._reads = ReadFailureMonitor(settings.read_failures_to_error)
            self._last_read_level = HealthLevel.OK
            self._diag_timer = self.create_timer(
                1.0 / settings.diagnostics_rate_hz,
                self._publish_health,
                callback_group=self._health_group,
            )
            self.get_logger().info(
                f'configured {settings.arm.robot} on {port} ({len(arm.joint_names)} joints, '
                'torque off)'
            )
            self._publish([self._status('connection', _OK, f'connected on {port}', {}, port)])
            return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        with self._lock:
            arm, settings = self._arm, self._settings
            assert arm is not None and settings is not None  # the state machine guarantees it
            if settings.torque_on_activate:
                try:
                    arm.set_torque(True)
                except SoArmError as e:
                    return self._fail('activate', str(e), settings.arm.port)
            self._active = True
            self._js_timer = self.create_timer(
                1.0 / settings.joint_state_rate_hz,
                self._publish_joint_state,
                callback_group=self._control_group,
            )
            return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        with self._lock:
            self._active = False
            self._drop_timer('_js_timer')
            arm, settings = self._arm, self._settings
            if arm is not None and settings is not None and settings.release_torque_on_deactivate:
                try:
                    arm.set_torque(False)
                except SoArmError as e:
                    self._report_release_failure('deactivate', e)
            return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release('cleanup')
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release('shutdown')
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        # A transition callback raised: release the arm and go back to unconfigured.
        self.release('error')
        return TransitionCallbackReturn.SUCCESS

    def release(self, why: str = 'shutdown') -> None:
        """Stop timers, turn torque off on every servo and close the port. Never raises.

        Torque-off failures (some servos did not confirm) are logged as errors and published as
        an ERROR diagnostic; the port is closed either way. Idempotent.
        """
        with self._lock:
            self._active = False
            self._drop_timer('_js_timer')
            self._drop_timer('_diag_timer')
            arm, self._arm = self._arm, None
            if arm is None:
                return
            try:
                arm.close()
            except SoArmError as e:
                self._report_release_failure(why, e)
            else:
                self.get_logger().info(f'{why}: torque off, port {arm.config.port} closed')

    # ---- callbacks -----------------------------------------------------------------------

    def _publish_joint_state(self) -> None:
        with self._lock:
            arm, reads = self._arm, self._reads
            if not self._active or arm is None or reads is None:
                return
            port = arm.config.port
            t0 = self.get_clock().now().nanoseconds
            try:
                positions = arm.read_positions()
            except SoArmError as e:
                self._on_read_failure(reads.failure(), e, port)
                return
            t1 = self.get_clock().now().nanoseconds
            if reads.success():
                self._last_read_level = HealthLevel.OK
                self._publish([self._status('joint_states', _OK, 'reads recovered', {}, port)])
            # Stamp: the middle of the bus transaction, the best estimate of when it sampled.
            msg = joint_state_to_msg(positions, arm.joint_names, 0.0)
            msg.header.stamp = time_ns_to_msg((t0 + t1) // 2)
            self._js_pub.publish(msg)

    def _on_read_failure(self, level: HealthLevel, error: SoArmError, port: str) -> None:
        reads = self._reads
        assert reads is not None
        text = f'joint state read failed ({reads.consecutive} in a row): {error}'
        self.get_logger().warning(text, throttle_duration_sec=2.0)
        # One diagnostic per level change and then one per failure streak step up to the ERROR
        # threshold; beyond it, at the diagnostics rate (a dead servo must not flood at 30 Hz).
        if level != self._last_read_level or reads.consecutive <= reads.error_after:
            self._last_read_level = level
            values = {'consecutive_failures': reads.consecutive, 'total_failures': reads.total}
            self._publish([self._status('joint_states', int(level), text, values, port)])

    def _on_command(self, msg: JointState) -> None:
        with self._lock:
            arm = self._arm
            if not self._active or arm is None:
                self.commands_ignored += 1
                return
            port = arm.config.port
            try:
                goals = joint_command_from_msg(msg, arm.joint_names)
            except ConversionError as e:
                self.commands_rejected += 1
                self._command_problem(_WARN, f'command rejected, nothing sent: {e}', port)
                return
            try:
                arm.write_goals(goals)
            except SoArmError as e:
                self.commands_rejected += 1
                self._command_problem(_ERROR, f'command not sent: {e}', port)
                return
            self.commands_sent += 1

    def _command_problem(self, level: int, text: str, port: str) -> None:
        self.get_logger().warning(text, throttle_duration_sec=2.0)
        values = {
            'sent': self.commands_sent,
            'rejected': self.commands_rejected,
            'ignored_inactive': self.commands_ignored,
        }
        self._publish([self._status('commands', level, text, values, port)])

    def _publish_health(self) -> None:
        with self._lock:
            arm, settings = self._arm, self._settings
            if arm is None or settings is None:
                return
            port = arm.config.port
            try:
                healths = read_servo_health(arm)
            except SoArmError as e:
                self._publish([self._status('servos', _ERROR, str(e), {}, port)])
                return
            statuses = []
            reads = self._reads
            if reads is not None and reads.consecutive > 0:
                text = f'{reads.consecutive} joint state reads in a row failed'
                values = {'consecutive_failures': reads.consecutive, 'total_failures': reads.total}
                level = int(self._last_read_level)
                statuses.append(self._status('joint_states', level, text, values, port))
            for h in healths:
                level, text = assess(h, settings.thresholds)
                name = f'servo {h.joint} (id {h.servo_id})'
                statuses.append(self._status(name, int(level), text, h.values(), port))
            self._publish(statuses)

    # ---- helpers -------------------------------------------------------------------------

    def _fail(self, transition: str, reason: str, port: str) -> TransitionCallbackReturn:
        text = f'{transition} failed: {reason}'
        self.get_logger().error(text)
        self._publish([self._status('connection', _ERROR, text, {'port': port}, port)])
        return TransitionCallbackReturn.FAILURE

    def _report_release_failure(self, why: str, error: SoArmError) -> None:
        text = f'{why}: turning torque off failed: {error}'
        self.get_logger().error(text)
        port = self._settings.arm.port if self._settings is not None else ''
        self._publish([self._status('connection', _ERROR, text, {}, port)])

    def _status(
        self, what: str, level: int, text: str, values: Mapping[str, object], port: str
    ) -> DiagnosticStatus:
        return diagnostic_status(f'{self.get_name()}: {what}', level, text, values, port)

    def _publish(self, statuses: list[DiagnosticStatus]) -> None:
        if not self.context.ok():  # after Ctrl-C the context is gone; the log has it all
            return
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = statuses
        self._diag_pub.publish(msg)

    def _drop_timer(self, attr: str) -> None:
        timer = getattr(self, attr)
        if timer is not None:
            self.destroy_timer(timer)
            setattr(self, attr, None)


def main(args: list[str] | None = None) -> int:
    """Console script ``driver_node``: spin until SIGINT/SIGTERM, then torque off and close the
    port (while the context is still valid, so the last log lines and diagnostics go out)."""
    return run_node('driver_node', DriverNode, args, stop=lambda node: node.release('shutdown'))


if __name__ == '__main__':
    sys.exit(main())
