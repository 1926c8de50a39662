"""driver_node against the real rclpy and the real Feetech SDK talking to the pty servo emulator.

Transitions go through the real lifecycle services (lifecycle_msgs ChangeState / GetState on
``driver_node/...``); expected radians and ticks are computed by hand from the calibration
(radians = (ticks - mid) * 2π / 4096, mid = middle of the calibrated range), and every check of
the arm reads the emulated servos' registers.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.parameter import Parameter
from ros_harness import MessageCollector, wait_for_publishers, wait_for_service, wait_until
from sensor_msgs.msg import JointState

from smolvla_ros.nodes import topics
from smolvla_ros.nodes.conversions import ConversionError, joint_command_from_msg
from smolvla_ros.nodes.driver_node import DriverNode
from so_arm_driver.bus.feetech import FeetechBus
from so_arm_driver.calibration import MotorCalibration, save_calibration
from so_arm_driver.emulator import so_arm_emulator
from so_arm_driver.robots import JOINT_NAMES
from so_arm_driver.tables import Register, decode_sign_magnitude, encode_sign_magnitude

REPO = Path(__file__).resolve().parents[2]
IDS = [1, 2, 3, 4, 5, 6]
# A hand-made calibration (ticks) with its homing offsets in the emulated EEPROM.
RANGES = [(1000, 3000), (900, 3100), (1000, 3000), (1100, 2900), (0, 4095), (2000, 3000)]
OFFSETS = [-37, 120, 0, 33, -5, 14]
MIDS = [(lo + hi) / 2 for lo, hi in RANGES]  # 2000, 2000, 2000, 2000, 2047.5, 2500
RAD_PER_TICK = 2 * math.pi / 4096


def _goal(emu, sid: int) -> int:
    return decode_sign_magnitude(emu.servo(sid).get(Register.GOAL_POSITION), 15)


def _goal_writes(emu) -> int:
    """Writes that touched Goal_Position (address 42 on the STS3215), over all servos."""
    return sum(1 for s in emu.servos.values() for a, d in s.writes if a <= 42 < a + len(d))


def _torque(emu) -> list[int]:
    return [emu.servo(i).get(Register.TORQUE_ENABLE) for i in IDS]


@pytest.fixture
def arm(tmp_path):
    """(emulator, calibration path): EEPROM and file agree; shoulder_pan at 2300, others mid."""
    with so_arm_emulator('so101') as emu:
        cal = {}
        for k, name in enumerate(JOINT_NAMES):
            c = MotorCalibration(k + 1, 0, OFFSETS[k], *RANGES[k])
            cal[name] = c
            s = emu.servo(c.id)
            s.set(Register.HOMING_OFFSET, encode_sign_magnitude(c.homing_offset, 11))
            s.set(Register.MIN_POSITION_LIMIT, c.range_min)
            s.set(Register.MAX_POSITION_LIMIT, c.range_max)
            present = 2300 if name == 'shoulder_pan' else int(MIDS[k])
            s.actual_ticks = (present + s.homing_offset) % 4096
        path = save_calibration(cal, tmp_path / 'follower.json')
        yield emu, path


@pytest.fixture
def drivers(arm, rclpy_context):
    """Factory: ``drivers(**params)`` -> a DriverNode on the emulator; released at teardown.

    Request it before ``spin`` so the executor stops before the node is destroyed.
    """
    emu, path = arm
    made = []

    def factory(**params):
        values = {
            'port': emu.port,
            'calibration': str(path),
            'read_retries': 0,
            'joint_state_rate_hz': 50.0,
            'diagnostics_rate_hz': 5.0,
        }
        values.update(params)
        node = DriverNode(
            f'driver_node_{len(made)}',
            context=rclpy_context,
            parameter_overrides=[Parameter(k, value=v) for k, v in values.items()],
        )
        made.append(node)
        return node

    try:
        yield factory
    finally:
        for servo in emu.servos.values():  # faults off, so the release reaches every servo
            servo.silent, servo.error_bits = False, 0
        for node in made:
            node.release('test teardown')
            node.destroy_node()


class Lifecycle:
    """Calls the lifecycle services of ``driver_node`` from a test node."""

    def __init__(self, node, name: str = 'driver_node') -> None:
        self.change = node.create_client(ChangeState, f'{name}/change_state')
        self.get = node.create_client(GetState, f'{name}/get_state')

    def wait(self, timeout: float = 30.0) -> None:
        """Wait until both services answer.

        A service is 'available' once its request topic is matched; the response path may match
        a moment later, and a response sent before that is lost. So, before any real transition
        (which must not be sent twice), ask get_state and an invalid transition (deactivate, from
        unconfigured: refused, nothing changes) until each answers. Call on an unconfigured node.
        """
        wait_for_service(self.change, timeout)
        wait_for_service(self.get, timeout)
        probe = ChangeState.Request()
        probe.transition.id = Transition.TRANSITION_DEACTIVATE
        for client, request in ((self.get, GetState.Request()), (self.change, probe)):
            deadline = time.monotonic() + timeout
            while True:
                fut = client.call_async(request)
                try:
                    wait_until(fut.done, 1.0, f'an answer from {client.srv_name}')
                    break
                except TimeoutError:
                    if time.monotonic() > deadline:
                        raise
            assert not getattr(fut.result(), 'success', False)

    def __call__(self, transition: int) -> bool:
        req = ChangeState.Request()
        req.transition.id = transition
        fut = self.change.call_async(req)
        wait_until(fut.done, 20.0, f'the answer to transition {transition}')
        return fut.result().success

    def state(self) -> int:
        fut = self.get.call_async(GetState.Request())
        wait_until(fut.done, 10.0, 'the answer to get_state')
        return fut.result().current_state.id


def _statuses(diags: MessageCollector, name_part: str) -> list:
    return [s for m in diags.messages for s in m.status if name_part in s.name]


def _wait_status(diags, name_part, level: int, timeout: float = 10.0):
    def found():
        return any(s.level == bytes([level]) for s in _statuses(diags, name_part))

    wait_until(found, timeout, f'a diagnostic {name_part!r} at level {level}')
    return [s for s in _statuses(diags, name_part) if s.level == bytes([level])][-1]


@pytest.fixture
def rig(drivers, spin, make_node):
    """(driver factory, start) where start(node) spins it with a tester and returns its tools."""

    def start(node):
        tester = make_node('tester')
        states, diags = MessageCollector(), MessageCollector()
        tester.create_subscription(JointState, topics.JOINT_STATES, states, topics.STATE_QOS)
        tester.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, diags, 50)
        cmd = tester.create_publisher(JointState, topics.JOINT_COMMAND, topics.STATE_QOS)
        lc = Lifecycle(tester, node.get_name())
        spin(node, tester)
        lc.wait()
        return lc, states, diags, cmd

    return drivers, start


def _command(names, positions) -> JointState:
    msg = JointState()
    msg.name = list(names)
    msg.position = [float(p) for p in positions]
    return msg


def test_configure_activate_publishes_radians_and_enables_torque(arm, rig):
    emu, _ = arm
    drivers, start = rig
    node = drivers()
    lc, states, _diags, _cmd = start(node)
    assert lc.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert lc(Transition.TRANSITION_CONFIGURE)
    assert lc.state() == State.PRIMARY_STATE_INACTIVE
    assert _torque(emu) == [0] * 6  # configure opens and checks; torque waits for activate
    assert states.messages == []
    assert lc(Transition.TRANSITION_ACTIVATE)
    assert _torque(emu) == [1] * 6
    # Torque on with goal = present position first: the arm holds where it is.
    assert _goal(emu, 1) == 2300
    msg = states.wait_for(2)[-1]
    assert list(msg.name) == list(JOINT_NAMES)
    # shoulder_pan: 2300 ticks, calibrated range 1000..3000 -> mid 2000 -> 300 ticks.
    assert msg.position[0] == pytest.approx(300 * RAD_PER_TICK, abs=1e-12)
    assert msg.position[5] == pytest.approx(0.0, abs=1e-12)  # gripper at its mid 2500
    now_ns = node.get_clock().now().nanoseconds
    stamp_ns = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
    assert 0 <= now_ns - stamp_ns < 5 * 10**9  # a read time on the node clock, not zero


def test_command_moves_the_goal_registers(arm, rig):
    emu, _ = arm
    drivers, start = rig
    lc, _states, _diags, cmd = start(drivers())
    assert lc(Transition.TRANSITION_CONFIGURE) and lc(Transition.TRANSITION_ACTIVATE)
    wait_for_publishers_of(cmd)
    # Names in another order than the arm's: the node maps by name.
    names = list(reversed(JOINT_NAMES))
    goals = {
        'shoulder_pan': 100 * RAD_PER_TICK,  # -> 2000 + 100 = 2100 ticks
        'shoulder_lift': 0.0,  # -> 2000
        'elbow_flex': -0.1,  # -> 2000 - 0.1 / (2π/4096) = 1934.8 -> 1935
        'wrist_flex': 0.0,
        'wrist_roll': 0.0,
        'gripper': 0.0,  # -> 2500
    }
    cmd.publish(_command(names, [goals[n] for n in names]))
    wait_until(lambda: _goal(emu, 1) == 2100, 10.0, 'shoulder_pan goal register 2100')
    assert _goal(emu, 2) == 2000
    assert _goal(emu, 3) == 1935
    assert _goal(emu, 6) == 2500
    assert emu.servo(1).present_ticks == 2100  # the emulated shaft followed


def wait_for_publishers_of(publisher) -> None:
    wait_until(lambda: publisher.get_subscription_count() >= 1, 10.0, 'the command subscriber')


@pytest.mark.parametrize(
    ('names', 'positions', 'says'),
    [
        (JOINT_NAMES, [0.0, math.nan, 0.0, 0.0, 0.0, 0.0], 'shoulder_lift'),
        (JOINT_NAMES[:5], [0.0] * 5, 'gripper'),  # a joint missing
        ((*JOINT_NAMES, 'elbow'), [0.0] * 7, 'elbow'),  # a joint this arm lacks
    ],
)
def test_bad_command_is_a_diagnostic_and_nothing_is_written(arm, rig, names, positions, says):
    emu, _ = arm
    drivers, start = rig
    node = drivers()
    lc, _states, diags, cmd = start(node)
    assert lc(Transition.TRANSITION_CONFIGURE) and lc(Transition.TRANSITION_ACTIVATE)
    goals_before = [_goal(emu, i) for i in IDS]
    writes_before = _goal_writes(emu)
    wait_for_publishers_of(cmd)
    cmd.publish(_command(names, positions))
    status = _wait_status(diags, 'driver_node_0: commands', 1)
    assert says in status.message and 'nothing sent' in status.message
    assert {kv.key: kv.value for kv in status.values}['rejected'] == '1'
    assert node.commands_rejected == 1 and node.commands_sent == 0
    assert [_goal(emu, i) for i in IDS] == goals_before
    assert _goal_writes(emu) == writes_before
    assert lc.state() == State.PRIMARY_STATE_ACTIVE  # the node is alive and still active


@pytest.mark.parametrize('release', [False, True])
def test_deactivate_ignores_commands_and_holds_or_releases(arm, rig, release):
    emu, _ = arm
    drivers, start = rig
    node = drivers(release_torque_on_deactivate=release)
    lc, _states, _diags, cmd = start(node)
    assert lc(Transition.TRANSITION_CONFIGURE) and lc(Transition.TRANSITION_ACTIVATE)
    assert lc(Transition.TRANSITION_DEACTIVATE)
    assert lc.state() == State.PRIMARY_STATE_INACTIVE
    assert _torque(emu) == ([0] * 6 if release else [1] * 6)
    writes_before = _goal_writes(emu)
    wait_for_publishers_of(cmd)
    cmd.publish(_command(JOINT_NAMES, [0.2, 0.0, 0.0, 0.0, 0.0, 0.0]))
    wait_until(lambda: node.commands_ignored >= 1, 10.0, 'the command to be ignored')
    assert _goal_writes(emu) == writes_before
    assert node.commands_sent == 0


def test_cleanup_turns_torque_off_on_every_servo(arm, rig):
    emu, _ = arm
    drivers, start = rig
    lc, _states, _diags, _cmd = start(drivers())
    assert lc(Transition.TRANSITION_CONFIGURE) and lc(Transition.TRANSITION_ACTIVATE)
    assert _torque(emu) == [1] * 6
    assert lc(Transition.TRANSITION_DEACTIVATE) and lc(Transition.TRANSITION_CLEANUP)
    assert lc.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert _torque(emu) == [0] * 6
    assert [emu.servo(i).get(Register.LOCK) for i in IDS] == [0] * 6
    # Configure again: the port was closed and can be opened anew.
    assert lc(Transition.TRANSITION_CONFIGURE)


def test_cleanup_with_a_silent_servo_releases_the_others_and_reports_it(arm, rig):
    emu, _ = arm
    drivers, start = rig
    lc, _states, diags, _cmd = start(drivers())
    assert lc(Transition.TRANSITION_CONFIGURE) and lc(Transition.TRANSITION_ACTIVATE)
    emu.servo(3).silent = True
    assert lc(Transition.TRANSITION_DEACTIVATE)
    assert lc(Transition.TRANSITION_CLEANUP)  # the transition succeeds: the port is closed
    assert lc.state() == State.PRIMARY_STATE_UNCONFIGURED
    # Every servo that answers is released; the silent one cannot hear and is named.
    assert _torque(emu) == [0, 0, 1, 0, 0, 0]
    status = _wait_status(diags, 'driver_node_0: connection', 2)
    assert 'torque off' in status.message and 'elbow_flex (id 3)' in status.message


def test_impossible_parameters_fail_configure_and_are_refused_at_run_time(arm, rig):
    emu, _ = arm
    drivers, start = rig
    node = drivers(temperature_warn_c=70.0)  # above temperature_error_c (65 °C)
    lc, _states, diags, _cmd = start(node)
    assert not lc(Transition.TRANSITION_CONFIGURE)
    assert lc.state() == State.PRIMARY_STATE_UNCONFIGURED
    status = _wait_status(diags, 'driver_node_0: connection', 2)
    assert 'temperature_warn_c' in status.message
    assert all(s.writes == [] for s in emu.servos.values())  # the port was never opened
    result = node.set_parameters([Parameter('joint_signs', value=[1, 1, 2, 1, 1, 1])])[0]
    assert not result.successful and 'joint_signs' in result.reason
    assert node.set_parameters([Parameter('temperature_warn_c', value=55.0)])[0].successful
    assert lc(Transition.TRANSITION_CONFIGURE)


def test_configure_with_a_missing_port_fails_and_leaves_the_node_unconfigured(arm, rig):
    emu, _ = arm
    drivers, start = rig
    node = drivers(port='/dev/ttyNOSUCHPORT9')
    lc, _states, diags, _cmd = start(node)
    assert not lc(Transition.TRANSITION_CONFIGURE)
    assert lc.state() == State.PRIMARY_STATE_UNCONFIGURED
    status = _wait_status(diags, 'driver_node_0: connection', 2)
    assert '/dev/ttyNOSUCHPORT9' in status.message and 'does not exist' in status.message
    assert status.hardware_id == '/dev/ttyNOSUCHPORT9'
    assert _torque(emu) == [0] * 6 and all(s.writes == [] for s in emu.servos.values())
    # Alive: the port can be fixed while unconfigured, and configure then works.
    assert node.set_parameters([Parameter('port', value=emu.port)])[0].successful
    assert lc(Transition.TRANSITION_CONFIGURE)
    assert lc.state() == State.PRIMARY_STATE_INACTIVE
    # While configured, the port is frozen (it would only apply at the next configure).
    assert not node.set_parameters([Parameter('port', value='/dev/null')])[0].successful


@pytest.mark.parametrize('fault', ['calibration mismatch', 'busy port', 'silent servo'])
def test_configure_failures_leave_the_node_unconfigured_with_the_driver_message(arm, rig, fault):
    emu, _ = arm
    drivers, start = rig
    holder = None
    if fault == 'calibration mismatch':
        emu.servo(2).set(Register.MIN_POSITION_LIMIT, 950)  # EEPROM says 950, the file 900
        expected = ('SoArmCalibrationError', 'shoulder_lift')
    elif fault == 'busy port':
        holder = FeetechBus(emu.port)  # another program holds the port (exclusive lock)
        holder.open()
        expected = ('SoArmPortError', 'busy')
    else:
        emu.servo(3).silent = True
        expected = ('SoArmTimeoutError', 'elbow_flex (id 3)')
    try:
        node = drivers()
        lc, _states, diags, _cmd = start(node)
        writes_before = {i: list(emu.servo(i).writes) for i in IDS}
        assert not lc(Transition.TRANSITION_CONFIGURE)
        assert lc.state() == State.PRIMARY_STATE_UNCONFIGURED
        status = _wait_status(diags, 'driver_node_0: connection', 2)
        for part in (*expected, emu.port):
            assert part in status.message
        # Nothing was written to any servo (torque, goals, configuration all as they were).
        assert {i: list(emu.servo(i).writes) for i in IDS} == writes_before
        assert _torque(emu) == [0] * 6
    finally:
        if holder is not None:
            holder.close()
    # The port was closed again: with the fault gone, configure works.
    emu.servo(2).set(Register.MIN_POSITION_LIMIT, 900)
    emu.servo(3).silent = False
    assert lc(Transition.TRANSITION_CONFIGURE)


def test_a_silent_servo_is_a_read_diagnostic_warn_then_error(arm, rig):
    emu, _ = arm
    drivers, start = rig
    node = drivers(read_failures_to_error=3)
    lc, states, diags, _cmd = start(node)
    assert lc(Transition.TRANSITION_CONFIGURE) and lc(Transition.TRANSITION_ACTIVATE)
    states.wait_for(1)
    emu.servo(4).silent = True
    warn = _wait_status(diags, 'driver_node_0: joint_states', 1)
    assert 'wrist_flex (id 4)' in warn.message
    error = _wait_status(diags, 'driver_node_0: joint_states', 2)
    assert int({kv.key: kv.value for kv in error.values}['consecutive_failures']) >= 3
    # The per-servo health names the silent servo as an error too.
    _wait_status(diags, 'servo wrist_flex (id 4)', 2)
    assert lc.state() == State.PRIMARY_STATE_ACTIVE
    emu.servo(4).silent = False
    ok = _wait_status(diags, 'driver_node_0: joint_states', 0)
    assert ok.message == 'reads recovered'
    n = len(states.messages)
    states.wait_for(n + 1)  # publishing resumed


def test_servo_diagnostics_carry_voltage_and_temperature(arm, rig):
    emu, _ = arm
    drivers, start = rig
    emu.servo(2).set(Register.PRESENT_VOLTAGE, 59)  # 5.9 V: below the 6.0 V warning
    emu.servo(5).set(Register.PRESENT_TEMPERATURE, 66)  # 66 °C: past the 65 °C error
    lc, _states, diags, _cmd = start(drivers())
    assert lc(Transition.TRANSITION_CONFIGURE)  # health is published while configured
    ok = _wait_status(diags, 'servo shoulder_pan (id 1)', 0)
    values = {kv.key: kv.value for kv in ok.values}
    assert float(values['voltage_v']) == pytest.approx(7.4)  # emulator factory 74 x 0.1 V
    assert float(values['temperature_c']) == 31.0
    assert ok.hardware_id == emu.port
    warn = _wait_status(diags, 'servo shoulder_lift (id 2)', 1)
    assert float({kv.key: kv.value for kv in warn.values}['voltage_v']) == pytest.approx(5.9)
    assert '5.9 V' in warn.message
    err = _wait_status(diags, 'servo wrist_roll (id 5)', 2)
    assert float({kv.key: kv.value for kv in err.values}['temperature_c']) == 66.0
    assert '66 °C' in err.message


def test_joint_command_conversion_is_strict():
    ok = joint_command_from_msg(_command(['b', 'a'], [2.0, 1.0]), ['a', 'b'])
    assert ok.tolist() == [1.0, 2.0]
    with pytest.raises(ConversionError, match="'c'"):
        joint_command_from_msg(_command(['a', 'b', 'c'], [1.0, 2.0, 3.0]), ['a', 'b'])
    with pytest.raises(ConversionError, match='lacks'):
        joint_command_from_msg(_command(['a'], [1.0]), ['a', 'b'])


def test_across_processes_lifecycle_services_and_sigint_releases_torque(arm, make_node, spin):
    emu, path = arm
    tester = make_node('tester')
    states = MessageCollector()
    sub = tester.create_subscription(JointState, topics.JOINT_STATES, states, topics.STATE_QOS)
    lc = Lifecycle(tester)
    spin(tester)
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(REPO), env.get('PYTHONPATH', '')])
    cmd = [
        sys.executable,
        '-m',
        'smolvla_ros.nodes.driver_node',
        '--ros-args',
        '-p',
        f'port:={emu.port}',
        '-p',
        f'calibration:={path}',
        '-p',
        'joint_state_rate_hz:=20.0',
    ]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            lc.wait(timeout=30.0)
            assert lc(Transition.TRANSITION_CONFIGURE)
            assert lc(Transition.TRANSITION_ACTIVATE)
            assert _torque(emu) == [1] * 6
            wait_for_publishers(sub, 1, timeout=10.0)
            msg = states.wait_for(1)[-1]
            assert msg.position[0] == pytest.approx(300 * RAD_PER_TICK, abs=1e-12)
            proc.send_signal(signal.SIGINT)
            rc = proc.wait(timeout=20.0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        log.seek(0)
        out = log.read().decode(errors='replace')
    assert rc == 0, out
    assert 'Traceback' not in out, out
    assert 'torque off' in out, out
    assert _torque(emu) == [0] * 6
