"""executor_node against the real rclpy: a test node plays the policy (answers chunk requests
with chunks planned from a known trajectory) and the arm (a first-order servo following the
commands); lifecycle through the real lifecycle services; one run across processes."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from node_process import NodeProcess
from rclpy.parameter import Parameter
from ros_harness import (
    MessageCollector,
    wait_for_service,
    wait_for_subscribers,
    wait_until,
)
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import Marker, MarkerArray

from smolvla_interfaces.msg import ActionChunk as ActionChunkMsg
from smolvla_interfaces.msg import ChunkRequest, ExecutorStatus
from smolvla_ros.nodes import topics
from smolvla_ros.nodes.conversions import (
    chunk_to_msg,
    joint_positions_from_msg,
    joint_state_to_msg,
    time_from_msg,
    time_to_msg,
)
from smolvla_ros.nodes.executor_node import ExecutorNode
from smolvla_ros.runtime import ActionChunk
from so_arm_driver.robots import JOINT_NAMES, robot_spec

J = len(JOINT_NAMES)
DT = 1.0 / 30.0  # the test policy's step, s
AMP, FREQ = 0.3, 0.25  # test trajectory of shoulder_pan: AMP * sin(2 pi FREQ (t - t0)), rad


def _now(node) -> float:
    return node.get_clock().now().nanoseconds * 1e-9


class World:
    """The policy and the arm of the tests, on one plain node.

    Policy: answers every ChunkRequest (when ``answer`` is set) with a 50-action chunk of the
    trajectory f(t) sampled at the request's stamp + (i+1)*DT. Arm: a first-order servo
    (time constant TAU) integrated at 50 Hz towards the newest command, publishing its
    position as joint_states, stamped now.
    """

    TAU = 0.05  # s

    def __init__(self, node, *, arm: bool = True, answer: bool = True) -> None:
        self.node = node
        self.t0 = _now(node)
        self.answer = answer
        self.lock = threading.Lock()
        self.q = np.zeros(J)
        self.cmd: np.ndarray | None = None
        self.next_chunk_id = 1
        self.requests = MessageCollector()
        self.commands = MessageCollector()
        self.chunk_pub = node.create_publisher(
            ActionChunkMsg, topics.ACTION_CHUNK, topics.CHUNK_QOS
        )
        self.req_sub = node.create_subscription(
            ChunkRequest, topics.CHUNK_REQUEST, self._on_request, topics.CHUNK_QOS
        )
        self.state_pub = node.create_publisher(JointState, topics.JOINT_STATES, topics.STATE_QOS)
        self.cmd_sub = node.create_subscription(
            JointState, topics.JOINT_COMMAND, self._on_command, topics.STATE_QOS
        )
        self.last_step = _now(node)
        if arm:
            node.create_timer(0.02, self._step)

    def f(self, t: np.ndarray | float) -> np.ndarray:
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        q = np.zeros((len(t), J))
        q[:, 0] = AMP * np.sin(2 * math.pi * FREQ * (t - self.t0))
        return q

    def chunk(self, obs_t: float, request_id: int = -1, n: int = 50, f=None) -> ActionChunkMsg:
        f = f or self.f
        with self.lock:
            cid, self.next_chunk_id = self.next_chunk_id, self.next_chunk_id + 1
        actions = f(obs_t + DT * np.arange(1, n + 1))
        return chunk_to_msg(ActionChunk(JOINT_NAMES, actions, obs_t, DT, cid, 0.01, request_id))

    def _on_request(self, msg: ChunkRequest) -> None:
        self.requests(msg)
        if self.answer:
            self.chunk_pub.publish(self.chunk(time_from_msg(msg.header.stamp), msg.request_id))

    def _on_command(self, msg: JointState) -> None:
        self.commands(msg)
        with self.lock:
            self.cmd = joint_positions_from_msg(msg, JOINT_NAMES)

    def _step(self) -> None:
        now = _now(self.node)
        with self.lock:
            dt, self.last_step = now - self.last_step, now
            if self.cmd is not None:
                self.q += (self.cmd - self.q) * (1.0 - math.exp(-dt / self.TAU))
            q = self.q.copy()
        self.state_pub.publish(joint_state_to_msg(q, JOINT_NAMES, now))


@pytest.fixture
def executor_node(rclpy_context):
    """Factory: ``executor_node(**params)`` -> an ExecutorNode in this test's context.

    List it before ``spin`` in a test's arguments, so the executor stops before the node is
    destroyed.
    """
    nodes = []

    def factory(**params):
        overrides = [Parameter(k, value=v) for k, v in params.items()]
        node = ExecutorNode(context=rclpy_context, parameter_overrides=overrides)
        nodes.append(node)
        return node

    try:
        yield factory
    finally:
        for node in nodes:
            node.destroy_node()


def _listen(node, msg_type, topic, qos=10) -> MessageCollector:
    collector = MessageCollector()
    node.create_subscription(msg_type, topic, collector, qos)
    return collector


def _up(node) -> None:
    from rclpy.lifecycle import TransitionCallbackReturn

    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS


def _status(collector: MessageCollector, what, timeout: float = 10.0) -> ExecutorStatus:
    """Wait for a status satisfying ``what`` and return it."""
    wait_until(lambda: any(what(m) for m in collector.messages), timeout, 'an ExecutorStatus')
    return next(m for m in reversed(collector.messages) if what(m))


def _call(node, client, request=None, timeout: float = 10.0):
    future = client.call_async(request if request is not None else client.srv_type.Request())
    wait_until(future.done, timeout, f'a response of {client.srv_name}')
    return future.result()


_AFTER = {
    Transition.TRANSITION_CONFIGURE: State.PRIMARY_STATE_INACTIVE,
    Transition.TRANSITION_ACTIVATE: State.PRIMARY_STATE_ACTIVE,
    Transition.TRANSITION_DEACTIVATE: State.PRIMARY_STATE_INACTIVE,
    Transition.TRANSITION_CLEANUP: State.PRIMARY_STATE_UNCONFIGURED,
}


def _get_state(node, get) -> int:
    """The node's lifecycle state id (GetState is idempotent: asked again if unanswered)."""
    for _ in range(3):
        try:
            return _call(node, get, timeout=5.0).current_state.id
        except TimeoutError:
            continue
    raise TimeoutError(f'no answer from {get.srv_name} in 3 tries')


def _change(node, change, get, tid: int) -> bool:
    """Request a lifecycle transition; True when it succeeded.

    A request can be lost while the DDS endpoints of a fresh client are still matching the
    server's (wait_for_service sees the server in the graph before the local writer has
    matched; seen across processes on a loaded machine). ChangeState must not run twice, so an
    unanswered request is judged by the state the node reached and sent again only when the
    node is still where it was.
    """
    for _ in range(3):
        try:
            req = ChangeState.Request(transition=Transition(id=tid))
            return _call(node, change, req, 5.0).success
        except TimeoutError:
            if _get_state(node, get) == _AFTER[tid]:
                return True
    return False


@pytest.mark.realtime
def test_commands_follow_the_chunks_and_requests_and_status_are_published(
    executor_node, make_node, spin
):
    """The executor tracks f(now) from the policy's chunks (time-aligned, linear interpolation
    of 30 Hz samples of a 0.25 Hz sine: < 1e-3 rad), requests carry increasing ids and stamps,
    statuses and planned-path markers come out.

    realtime: on the wall clock (no use_sim_time), so its verdict includes whether this host
    kept the 30 Hz tick (stalls of up to 0.8 s were seen on the shared 2-core machine, and the
    limiter lags the plan after one). The same behaviour on simulated time, which a loaded host
    slows but cannot break, runs in CI: test_tracking_on_sim_time_in_lockstep.
    """
    ex = executor_node(epsilon_rad=0.0, max_state_age_s=2.0)
    world = World(make_node('world'))
    tester = make_node('tester')
    statuses = _listen(tester, ExecutorStatus, topics.EXECUTOR_STATUS, topics.STATUS_QOS)
    paths = _listen(tester, MarkerArray, topics.PLANNED_PATH, 1)
    _up(ex)
    spin(ex, world.node, tester)
    world.commands.wait_for(90, timeout=20.0)  # ~3 s at 30 Hz
    wait_until(lambda: len(world.requests.messages) >= 3, 10.0, '3 chunk requests')
    cmds = world.commands.messages
    # Within limits: no command steps more than the velocity limit times one tick period (the
    # safety rule, also after a host stall, which the shared CI machine does produce).
    vmax = np.array([robot_spec('so101').joint(n).velocity_limit_rad_s for n in JOINT_NAMES])
    q = np.array([list(m.position) for m in cmds])
    assert np.all(np.abs(np.diff(q, axis=0)) <= vmax * (1 / 30.0) + 1e-9)
    # Following the chunks: after the soft start (< 0.5 s), a command is f(its stamp) up to the
    # linear interpolation of 30 Hz samples (< 1e-4 rad) whenever the host kept time; a stall
    # makes the limiter lag behind, so require that of most commands and a bounded lag of all.
    # Counted from the first request, not from the test's start: discovery and activation take
    # a variable part of a second before the first chunk can arrive.
    first_request = time_from_msg(world.requests.messages[0].header.stamp)
    late = [m for m in cmds if time_from_msg(m.header.stamp) > first_request + 1.0]
    assert len(late) > 30
    errors = np.array(
        [abs(m.position[0] - world.f(time_from_msg(m.header.stamp))[0, 0]) for m in late]
    )
    assert np.mean(errors < 2e-3) > 0.5, errors
    # and never far outside what the chunks asked for: blends of values in [-AMP, AMP] stay
    # inside, but after a host stall the limiter catches up at up to v_max and must brake at
    # a_max, which can carry it past the plan by up to v_max^2 / (2 a_max) (0.225 rad at 3 rad/s
    # and 20 rad/s^2); the other joints stay at 0
    spec = robot_spec('so101').joint(JOINT_NAMES[0])
    overshoot = spec.velocity_limit_rad_s**2 / (2 * 20.0)
    assert np.all(np.abs(q[:, 0]) <= AMP + overshoot) and np.all(q[:, 1:] == 0.0)
    assert max(abs(m.position[0]) for m in late) > 0.05  # it did move
    reqs = world.requests.messages
    ids = [r.request_id for r in reqs]
    stamps = [time_from_msg(r.header.stamp) for r in reqs]
    assert ids == sorted(set(ids)) and np.all(np.diff(stamps) > 0)
    assert reqs[0].must_go and reqs[0].queue_fill == 0.0
    # later requests come once the queue fell to g = 0.7 of the 50-action chunk: never above
    # it, and (unless a stall delayed the tick) within the tick after: 35/50 >= fill > 33/50
    fills = [r.queue_fill for r in reqs[1:]]
    assert all(0.0 < f <= 0.7 + 1e-6 for f in fills), fills
    assert np.median(fills) > 0.64, fills
    st = _status(statuses, lambda m: m.chunks_accepted >= 2)
    assert st.mode == ExecutorStatus.MODE_ASYNC and st.requests_sent >= 2
    assert st.tick_rate_hz == 30.0 and st.threshold_g == pytest.approx(0.7)
    assert 0.0 <= st.tick_jitter_p99_s < 1.0  # measured on the timer grid (not NaN)
    assert st.chunks_rejected == 0 and not st.estop_latched and not st.watchdog_holding
    wait_until(lambda: any(len(m.markers[0].points) >= 10 for m in paths.messages), 5.0, 'a path')
    marker = next(m for m in paths.messages if len(m.markers[0].points) >= 10).markers[0]
    assert marker.type == Marker.LINE_STRIP and marker.header.frame_id == 'base_link'
    pts = np.array([[p.x, p.y, p.z] for p in marker.points])
    reach = np.linalg.norm(pts, axis=1)
    assert np.all(np.isfinite(pts)) and np.all(reach < 0.6) and np.all(reach > 0.1)
    assert np.ptp(pts[:, 1]) > 1e-3  # the pan joint moves: the path sweeps sideways
    label = next(m for m in paths.messages if len(m.markers[0].points) >= 10).markers[1]
    assert label.ns == 'status' and label.type == Marker.TEXT_VIEW_FACING
    assert label.text.startswith('tracking | queue ') and '| chunks ' in label.text


# Realtime again: the first commands of the counted window (from 1 s after the first request)
# were 13 mrad off the plan in a CI run on a quiet host (the soft start not yet done when the
# first chunk came late), so its verdict still depends on the host's timing.
@pytest.mark.realtime
def test_tracking_on_sim_time_in_lockstep(executor_node, make_node, spin):
    """On simulated time the executor tracks f(t) from the policy's chunks for every command
    after the soft start (< 2e-3 rad: 30 Hz linear interpolation of a 0.25 Hz sine of 0.3 rad
    is off by at most AMP (2 pi FREQ)^2 DT^2 / 8 = 1e-4 rad), misses no tick, asks for the next
    chunk when the queue falls to g = 0.7, and stays inside the velocity limit per tick.

    /clock comes from a test node driven by the simulator's lockstep pacing
    (``smolvla_ros.sim_bridge.LockstepClock``: simulated time runs at most 0.05 s, 1.5 ticks,
    past the executor's newest command), so a loaded host slows the world down instead of
    making the executor miss ticks of it; the policy and the arm (``World``) run on it too.
    """
    from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
    from rosgraph_msgs.msg import Clock

    from smolvla_ros.nodes.conversions import clock_msg
    from smolvla_ros.sim_bridge import LockstepClock

    pacer = LockstepClock(1.0, lead_s=0.05, timeout_s=30.0)
    clock_node = make_node('lockstep_clock')
    group = MutuallyExclusiveCallbackGroup()  # the pacer is touched by one callback at a time
    clock_pub = clock_node.create_publisher(Clock, topics.CLOCK, 10)
    clock_node.create_subscription(
        JointState,
        topics.JOINT_COMMAND,
        lambda m: pacer.command(time_from_msg(m.header.stamp)),
        topics.STATE_QOS,
        callback_group=group,
    )
    clock_node.create_timer(
        0.005, lambda: clock_pub.publish(clock_msg(pacer.advance())), callback_group=group
    )
    ex = executor_node(epsilon_rad=0.0, max_state_age_s=2.0, use_sim_time=True)
    world = World(make_node('world', parameter_overrides=[Parameter('use_sim_time', value=True)]))
    tester = make_node('tester')
    statuses = _listen(tester, ExecutorStatus, topics.EXECUTOR_STATUS, topics.STATUS_QOS)
    _up(ex)
    spin(ex, world.node, tester, clock_node)
    # The clock runs free until the executor's first command; its first ticks may come late
    # in simulated time, later ones cannot: count the stalls from there.
    wait_until(pacer.pacing, 30.0, 'the clock paced by the executor')
    n = len(world.commands.messages)
    wait_until(lambda: len(world.commands.messages) > n, 30.0, 'a command in lockstep')
    stalls0 = int(ex._core.metrics.summary()['stalls'])
    world.commands.wait_for(n + 120, timeout=120.0)  # 4 s more of simulated time at 30 Hz
    cmds = world.commands.messages
    reqs = world.requests.messages
    stamps = np.array([time_from_msg(m.header.stamp) for m in cmds])
    q = np.array([list(m.position) for m in cmds])
    # No tick missed (no two ticks more than two periods apart in simulated time), counted by
    # the executor itself: the test's collector may drop a command under load.
    assert int(ex._core.metrics.summary()['stalls']) == stalls0
    vmax = np.array([robot_spec('so101').joint(n).velocity_limit_rad_s for n in JOINT_NAMES])
    assert np.all(np.abs(np.diff(q, axis=0)) <= vmax * (1 / 30.0) + 1e-9)
    # Every command after the soft start follows the plan (the wall-clock test allows a stall
    # to spoil some; here none may): counted, as there, from 1 s after the first request.
    late = stamps > time_from_msg(reqs[0].header.stamp) + 1.0
    assert late.sum() > 60
    errors = np.abs(q[late, 0] - world.f(stamps[late])[:, 0])
    assert np.all(errors < 2e-3), errors.max()
    assert np.all(q[:, 1:] == 0.0)
    ids = [r.request_id for r in reqs]
    assert ids == sorted(set(ids)) and len(ids) >= 4
    assert np.all(np.diff([time_from_msg(r.header.stamp) for r in reqs]) > 0)
    # Requests once the queue fell to g = 0.7 of the 50-action chunk, within the tick after:
    # between two ticks (at most the 0.05 s lead apart) the queue loses at most 1.5 actions.
    fills = [r.queue_fill for r in reqs[1:]]
    assert all(0.7 - 3 / 50 < f <= 0.7 + 1e-6 for f in fills), fills
    st = _status(statuses, lambda m: m.chunks_accepted >= 3)
    assert st.mode == ExecutorStatus.MODE_ASYNC and st.chunks_rejected == 0


def test_bad_chunks_are_rejected_and_reported_and_the_arm_holds(executor_node, make_node, spin):
    """Wrong joint names and NaN positions: counted in the status, a WARN diagnostic names the
    fault, the commands stay at the start position, the node keeps ticking."""
    ex = executor_node(max_state_age_s=2.0)
    world = World(make_node('world'), answer=False)
    tester = make_node('tester')
    statuses = _listen(tester, ExecutorStatus, topics.EXECUTOR_STATUS, topics.STATUS_QOS)
    diags = _listen(tester, DiagnosticArray, topics.DIAGNOSTICS)
    _up(ex)
    spin(ex, world.node, tester)
    world.requests.wait_for(1, timeout=10.0)
    wait_for_subscribers(world.chunk_pub, 1)
    t = time_from_msg(world.requests.messages[0].header.stamp)
    wrong = world.chunk(t)
    wrong.trajectory.joint_names = ['a', 'b', 'c', 'd', 'e', 'f']
    nan = world.chunk(t)
    nan.trajectory.points[3].positions[0] = float('nan')
    world.chunk_pub.publish(wrong)
    world.chunk_pub.publish(nan)
    st = _status(statuses, lambda m: m.chunks_rejected >= 2)
    assert st.chunks_accepted == 0 and 'bad chunk' in st.last_fault
    wait_until(
        lambda: any(
            s.level == b'\x01' and 'bad chunk' in s.message
            for m in diags.messages
            for s in m.status
        ),
        5.0,
        'a WARN diagnostic for the bad chunk',
    )
    n = len(world.commands.messages)
    world.commands.wait_for(n + 15, timeout=5.0)  # still ticking
    assert {tuple(m.position) for m in world.commands.messages} == {(0.0,) * J}  # holds


def test_no_joint_state_holds_and_reports(executor_node, make_node, spin):
    ex = executor_node()
    tester = make_node('tester')
    statuses = _listen(tester, ExecutorStatus, topics.EXECUTOR_STATUS, topics.STATUS_QOS)
    commands = _listen(tester, JointState, topics.JOINT_COMMAND, topics.STATE_QOS)
    requests = _listen(tester, ChunkRequest, topics.CHUNK_REQUEST, topics.CHUNK_QOS)
    diags = _listen(tester, DiagnosticArray, topics.DIAGNOSTICS)
    _up(ex)
    spin(ex, tester)
    st = _status(statuses, lambda m: 'no joint state' in m.last_fault)
    assert st.mode == ExecutorStatus.MODE_HOLD and st.watchdog_holding
    wait_until(
        lambda: any(
            s.level == b'\x02' and 'no joint state' in s.message
            for m in diags.messages
            for s in m.status
        ),
        5.0,
        'an ERROR diagnostic',
    )
    assert commands.messages == [] and requests.messages == []  # nothing from no state
    # a state that stops (older than max_state_age_s) is the same: hold, no command
    pub = tester.create_publisher(JointState, topics.JOINT_STATES, topics.STATE_QOS)
    wait_for_subscribers(pub, 1)
    pub.publish(joint_state_to_msg(np.zeros(J), JOINT_NAMES, _now(tester)))
    commands.wait_for(1, timeout=5.0)
    _status(statuses, lambda m: 'joint state is' in m.last_fault and 's old' in m.last_fault)
    n = len(commands.messages)
    time.sleep(0.3)  # ~9 ticks that must not command
    assert len(commands.messages) <= n + 1
    # a state stamped by another clock (here 100 s ahead) never looks old: refused as well
    pub.publish(joint_state_to_msg(np.zeros(J), JOINT_NAMES, _now(tester) + 100.0))
    _status(statuses, lambda m: 'different clocks' in m.last_fault)
    n = len(commands.messages)
    time.sleep(0.3)
    assert len(commands.messages) <= n + 1


def test_estop_reset_and_hold_services(executor_node, make_node, spin):
    ex = executor_node(epsilon_rad=0.0, max_state_age_s=2.0)
    world = World(make_node('world'), answer=False)
    tester = make_node('tester')
    statuses = _listen(tester, ExecutorStatus, topics.EXECUTOR_STATUS, topics.STATUS_QOS)
    clients = {
        n: tester.create_client(Trigger, n)
        for n in (topics.ESTOP, topics.RESET_ESTOP, topics.HOLD)
    }
    _up(ex)
    spin(ex, world.node, tester)
    for c in clients.values():
        wait_for_service(c)
    req = world.requests.wait_for(1, timeout=10.0)[0]
    wait_for_subscribers(world.chunk_pub, 1)

    def ramp_from(q0: float, t0: float):  # shoulder_pan from q0 at 0.2 rad/s from t0
        return lambda t: np.outer(q0 + 0.2 * (np.atleast_1d(t) - t0), np.eye(J)[0])

    def positions(first: int = 0) -> list[float]:
        return [m.position[0] for m in world.commands.messages[first:]]

    t_req = time_from_msg(req.header.stamp)
    world.chunk_pub.publish(world.chunk(t_req, req.request_id, 300, ramp_from(0.0, t_req)))
    wait_until(lambda: positions()[-1] > 0.05, 10.0, 'motion')
    # hold: the arm stops where it is (one command may be in flight), and only chunks observed
    # after the hold move it again
    n_req = len(world.requests.messages)
    assert _call(tester, clients[topics.HOLD]).success
    n = len(world.commands.messages)
    world.commands.wait_for(n + 12, timeout=10.0)
    after = positions(n + 1)
    assert len(set(after)) == 1, after
    held = after[0]
    new = world.requests.wait_for(n_req + 1, timeout=10.0)[n_req]
    assert new.must_go  # the queue was dropped, so it asks at once
    t_new = time_from_msg(new.header.stamp)
    world.chunk_pub.publish(world.chunk(t_new, new.request_id, 300, ramp_from(held, t_new)))
    wait_until(lambda: positions()[-1] > held + 0.05, 10.0, 'motion after the hold')
    # estop while moving: latched, reported, the arm stops, chunks are rejected until reset
    assert _call(tester, clients[topics.ESTOP]).success
    n = len(world.commands.messages)
    st = _status(statuses, lambda m: m.estop_latched)
    assert st.mode == ExecutorStatus.MODE_ESTOP
    world.chunk_pub.publish(world.chunk(_now(tester) - 0.01, -1, 50, ramp_from(0.0, t_req)))
    _status(statuses, lambda m: m.estop_latched and m.chunks_rejected >= 1)
    world.commands.wait_for(n + 12, timeout=10.0)
    after = positions(n + 1)
    assert len(set(after)) == 1, after
    res = _call(tester, clients[topics.RESET_ESTOP])
    assert res.success and res.message == 'emergency stop released'
    _status(statuses, lambda m: not m.estop_latched)


def test_jtc_output_publishes_one_point_trajectories(executor_node, make_node, spin):
    ex = executor_node(output='jtc', tick_rate_hz=50.0)
    world = World(make_node('world'), arm=False)
    tester = make_node('tester')
    traj = _listen(tester, JointTrajectory, 'arm_controller/joint_trajectory', topics.STATE_QOS)
    _up(ex)
    spin(ex, world.node, tester)
    wait_for_subscribers(world.state_pub, 1)
    world.state_pub.publish(joint_state_to_msg(np.full(J, 0.1), JOINT_NAMES, _now(tester)))
    msgs = traj.wait_for(2, timeout=10.0)
    m = msgs[0]
    assert list(m.joint_names) == list(JOINT_NAMES) and len(m.points) == 1
    assert m.points[0].positions.tolist() == pytest.approx([0.1] * J)  # holds at the state
    d = m.points[0].time_from_start
    assert d.sec + d.nanosec * 1e-9 == pytest.approx(1 / 50.0, abs=1e-9)
    assert world.commands.messages == []  # nothing on the driver topic


def test_configure_failures_leave_the_node_unconfigured_and_alive(executor_node):
    """An invalid controller topic name (found while creating the interfaces) and an
    unreadable URDF: configure fails, nothing stays half-made, a fixed value then works."""
    from rclpy.lifecycle import TransitionCallbackReturn

    ex = executor_node(output='jtc', controller_topic='not a topic!')
    assert ex.trigger_configure() == TransitionCallbackReturn.FAILURE
    assert ex.get_subscriptions_info_by_topic('/' + topics.JOINT_STATES) == []
    assert ex.set_parameters([Parameter('urdf_path', value='/nonexistent.urdf')])[0].successful
    assert ex.set_parameters([Parameter('controller_topic', value='arm/jt')])[0].successful
    assert ex.trigger_configure() == TransitionCallbackReturn.FAILURE
    assert ex.set_parameters([Parameter('urdf_path', value='')])[0].successful
    # configure is only possible from unconfigured: the failures left the node there
    assert ex.trigger_configure() == TransitionCallbackReturn.SUCCESS


def test_lifecycle_through_services_and_fjt_without_control_msgs(
    executor_node, make_node, spin, capfd
):
    """fjt without control_msgs: configure FAILURE with the install hint in the node's log, the
    node stays unconfigured and alive; then output driver configures, activates, deactivates
    (no more commands), cleans up."""
    ex = executor_node(output='fjt')
    tester = make_node('tester')
    change = tester.create_client(ChangeState, 'executor_node/change_state')
    get = tester.create_client(GetState, 'executor_node/get_state')
    commands = _listen(tester, JointState, topics.JOINT_COMMAND, topics.STATE_QOS)
    spin(ex, tester)
    wait_for_service(change)
    wait_for_service(get)

    def transition(tid: int) -> bool:
        return _change(tester, change, get, tid)

    def state() -> int:
        return _get_state(tester, get)

    assert not transition(Transition.TRANSITION_CONFIGURE)
    assert state() == State.PRIMARY_STATE_UNCONFIGURED
    # the node's log (stderr; /rosout carries the same record)
    err = capfd.readouterr().err
    assert 'configure failed: control_msgs is not installed: install ros-' in err, err
    assert 'output:=driver|jtc' in err
    assert ex.set_parameters([Parameter('output', value='driver')])[0].successful
    assert transition(Transition.TRANSITION_CONFIGURE)
    assert state() == State.PRIMARY_STATE_INACTIVE
    # read-at-configure parameters are refused while configured; dynamic ones apply
    assert not ex.set_parameters([Parameter('tick_rate_hz', value=60.0)])[0].successful
    assert transition(Transition.TRANSITION_ACTIVATE)
    assert state() == State.PRIMARY_STATE_ACTIVE
    pub = tester.create_publisher(JointState, topics.JOINT_STATES, topics.STATE_QOS)
    wait_for_subscribers(pub, 1)
    stop = threading.Event()

    def publish_states():
        while not stop.is_set():
            pub.publish(joint_state_to_msg(np.zeros(J), JOINT_NAMES, _now(tester)))
            time.sleep(0.02)

    th = threading.Thread(target=publish_states)
    th.start()
    try:
        commands.wait_for(5, timeout=10.0)
        assert ex.set_parameters([Parameter('g', value=0.4)])[0].successful
        wait_until(lambda: ex._core.config.g == 0.4, 5.0, 'g swapped into the core')
        assert transition(Transition.TRANSITION_DEACTIVATE)
        assert state() == State.PRIMARY_STATE_INACTIVE
        n = len(commands.messages)
        time.sleep(0.3)
        assert len(commands.messages) <= n + 1  # at most one in flight at the transition
    finally:
        stop.set()
        th.join()
    assert transition(Transition.TRANSITION_CLEANUP)
    assert state() == State.PRIMARY_STATE_UNCONFIGURED


def test_console_script_across_processes_and_clean_sigint(make_node, spin):
    """``python -m smolvla_ros.nodes.executor_node`` in its own process: configured and
    activated over the lifecycle services, it commands the arm of this process from its joint
    states; SIGINT ends it with exit code 0 and no traceback."""
    tester = make_node('tester')
    commands = _listen(tester, JointState, topics.JOINT_COMMAND, topics.STATE_QOS)
    change = tester.create_client(ChangeState, 'executor_node/change_state')
    get = tester.create_client(GetState, 'executor_node/get_state')
    pub = tester.create_publisher(JointState, topics.JOINT_STATES, topics.STATE_QOS)
    spin(tester)
    with NodeProcess('smolvla_ros.nodes.executor_node', 'tick_rate_hz:=20.0') as node:
        node.wait_ready(change.service_is_ready, 'the node to offer its lifecycle services')
        wait_for_service(get, timeout=30.0)
        for tid in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
            if not _change(tester, change, get, tid):
                node.fail(f'transition {tid} failed')
        wait_for_subscribers(pub, 1, timeout=30.0)
        q = np.array([0.1, -0.2, 0.3, 0.0, 0.5, 0.2])
        deadline = time.monotonic() + 30.0
        while not commands.messages and time.monotonic() < deadline:
            pub.publish(joint_state_to_msg(q, JOINT_NAMES, _now(tester)))
            time.sleep(0.05)
        msg = commands.wait_for(1, timeout=1.0)[0]
        # no chunk: it holds at the measured position
        assert joint_positions_from_msg(msg, JOINT_NAMES) == pytest.approx(q)
        node.stop()


def test_sim_time_is_the_core_clock(executor_node, make_node, spin):
    """use_sim_time: the node clock follows /clock, and so do the executor's tick times (the
    command stamps) and observation times (the request stamps), not the wall clock."""
    from rosgraph_msgs.msg import Clock

    ex = executor_node(use_sim_time=True)
    tester = make_node('tester')
    commands = _listen(tester, JointState, topics.JOINT_COMMAND, topics.STATE_QOS)
    requests = _listen(tester, ChunkRequest, topics.CHUNK_REQUEST, topics.CHUNK_QOS)
    clock_pub = tester.create_publisher(Clock, topics.CLOCK, 10)
    state_pub = tester.create_publisher(JointState, topics.JOINT_STATES, topics.STATE_QOS)
    _up(ex)
    spin(ex, tester)
    wait_for_subscribers(clock_pub, 1)
    wait_for_subscribers(state_pub, 1)
    stop = threading.Event()
    sim_start = 1000.0  # s, far from the wall clock's ~1.7e9 s

    def run_clock():  # sim time at wall rate, from sim_start, with a state per step
        t0 = time.monotonic()
        while not stop.is_set():
            t = sim_start + (time.monotonic() - t0)
            msg = Clock()
            msg.clock = time_to_msg(t)
            clock_pub.publish(msg)
            state_pub.publish(joint_state_to_msg(np.zeros(J), JOINT_NAMES, t))
            time.sleep(0.01)

    th = threading.Thread(target=run_clock)
    th.start()
    try:
        commands.wait_for(10, timeout=20.0)
        requests.wait_for(1, timeout=10.0)
        wall = time.time()
    finally:
        stop.set()
        th.join()
    for m in commands.messages + requests.messages:
        t = time_from_msg(m.header.stamp)
        assert sim_start <= t < sim_start + 60.0 and t < wall - 1e6
