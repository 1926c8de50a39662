"""policy_node against the real rclpy: lifecycle services, chunk requests, instruction, RunTask.

The SmolVLA tests load a tiny random checkpoint built here with three cameras, units radians and
action std 0, so every predicted action equals the action mean (the normaliser's inverse of a
zero-std column is its mean): the expected radians are that mean, independent of the weights.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from node_process import NodeProcess
from rclpy.action import ActionClient
from rclpy.parameter import Parameter
from ros_harness import (
    MessageCollector,
    wait_for_action_server,
    wait_for_service,
    wait_for_subscribers,
    wait_until,
)
from sensor_msgs.msg import CompressedImage, Image, JointState
from smolvla_checkpoints import make_checkpoint, rgb
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from smolvla_interfaces.action import RunTask
from smolvla_interfaces.msg import ActionChunk, ChunkRequest, ExecutorStatus, PolicyStatus
from smolvla_interfaces.srv import SetInstruction
from smolvla_ros.nodes import topics
from smolvla_ros.nodes.conversions import (
    joint_state_to_msg,
    policy_status_to_msg,
    position_yaw_from_pose_msg,
    rgb_to_compressed_msg,
    rgb_to_image_msg,
    time_ns_from_msg,
    time_to_msg,
)
from smolvla_ros.nodes.policy_node import PolicyNode
from smolvla_ros.policy.replay import record
from smolvla_ros.policy.worker import WorkerStatus
from so_arm_driver.robots import SO101

ARM = SO101.joint_names
ACTION_MEAN = [0.1, -0.2, 0.3, -0.4, 0.5, 0.6]  # radians
CAMERAS = ('observation.images.top', 'observation.images.wrist', 'observation.images.side')
REPO = Path(__file__).resolve().parents[2]
_NODE_IDS = itertools.count()


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(
        tmp_path_factory.mktemp('policy_node') / 'ckpt',
        state_stats={'mean': [0.0] * 6, 'std': [1.0] * 6},
        action_stats={'mean': ACTION_MEAN, 'std': [0.0] * 6},
        state_names=[f'{j}.pos' for j in ARM],
        action_names=[f'{j}.pos' for j in ARM],
        units='radians',
        fps=30,
        cameras=CAMERAS,
    )


@pytest.fixture
def replay_file(tmp_path: Path) -> Path:
    """Two chunks of 4 actions at 0.1 s: chunk k holds the value k + 0.01 * i at action i."""
    actions = [[[k + 0.01 * i] * 6 for i in range(4)] for k in range(2)]
    return record(tmp_path / 'two.npz', np.array(actions), ARM, 0.1)


@pytest.fixture
def policy_node(rclpy_context: Any, make_node: Any) -> Iterator[Callable[..., PolicyNode]]:
    """Factory of PolicyNodes; list it before ``spin`` so the executor stops first."""
    made: list[PolicyNode] = []

    def factory(name: str = '', **params: Any) -> PolicyNode:
        # A name of its own per test: a node of the same name from the previous test (another
        # DDS participant, being torn down) must not be the one the lifecycle clients match.
        name = name or f'policy_node_{next(_NODE_IDS)}'

        overrides = [Parameter(k, value=v) for k, v in params.items()]
        node = PolicyNode(name, context=rclpy_context, parameter_overrides=overrides)
        made.append(node)
        return node

    try:
        yield factory
    finally:
        for node in made:
            node.close()
            node.destroy_node()


class GraphSide:
    """The test's side of the graph: publishers, collectors, lifecycle clients, a hold server."""

    def __init__(self, node: Any, target: str | PolicyNode) -> None:
        if isinstance(target, PolicyNode):
            target = target.get_fully_qualified_name()
        self.node = node
        self.target = target
        self.chunks = MessageCollector()
        self.trajectories = MessageCollector()
        self.statuses = MessageCollector()
        self.diagnostics = MessageCollector()
        self.holds = 0
        node.create_subscription(ActionChunk, topics.ACTION_CHUNK, self.chunks, topics.CHUNK_QOS)
        node.create_subscription(
            JointTrajectory, topics.TRAJECTORY, self.trajectories, topics.CHUNK_QOS
        )
        node.create_subscription(
            PolicyStatus, topics.POLICY_STATUS, self.statuses, topics.STATUS_QOS
        )
        node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self.diagnostics, 10)
        self.request_pub = node.create_publisher(
            ChunkRequest, topics.CHUNK_REQUEST, topics.CHUNK_QOS
        )
        self.state_pub = node.create_publisher(JointState, topics.JOINT_STATES, topics.STATE_QOS)
        self.instruction_pub = node.create_publisher(String, topics.INSTRUCTION, topics.CHUNK_QOS)
        self.success_pub = node.create_publisher(Bool, topics.TASK_SUCCESS, 10)
        self.image_pubs = {
            slot: node.create_publisher(Image, topics.camera_topic(slot), topics.SENSOR_QOS)
            for slot in ('top', 'wrist', 'side')
        }
        node.create_service(Trigger, topics.HOLD, self._hold)
        self.change_client = node.create_client(ChangeState, f'{target}/change_state')
        self.get_client = node.create_client(GetState, f'{target}/get_state')

    def _hold(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.holds += 1
        response.success = True
        return response

    def now_s(self) -> float:
        return self.node.get_clock().now().nanoseconds / 1e9

    def call(self, client: Any, request: Any, timeout: float = 60.0) -> Any:
        try:
            wait_for_service(client, timeout=30.0)
        except TimeoutError as e:
            services = self.node.get_service_names_and_types()
            nodes = self.node.get_node_names_and_namespaces()
            # Say what the graph held, so a discovery failure can be told from a dead node.
            domain = os.environ.get('ROS_DOMAIN_ID')
            raise TimeoutError(
                f'{e}; domain {domain}; nodes {nodes}; services {[n for n, _ in services]}'
            ) from e
        future = client.call_async(request)
        wait_until(future.done, timeout, f'an answer from {client.srv_name}')
        return future.result()

    def transition(self, transition_id: int) -> bool:
        request = ChangeState.Request(transition=Transition(id=transition_id))
        return self.call(self.change_client, request).success

    def state(self) -> int:
        return self.call(self.get_client, GetState.Request()).current_state.id

    def bring_up(self) -> None:
        assert self.transition(Transition.TRANSITION_CONFIGURE)
        assert self.transition(Transition.TRANSITION_ACTIVATE)
        assert self.state() == State.PRIMARY_STATE_ACTIVE

    def publish_state(self, q: list[float], stamp_s: float | None = None) -> None:
        wait_for_subscribers(self.state_pub, 1)
        stamp = self.now_s() if stamp_s is None else stamp_s
        self.state_pub.publish(joint_state_to_msg(q, ARM, stamp))

    def publish_images(self, slots: tuple[str, ...]) -> None:
        for i, slot in enumerate(slots):
            pub = self.image_pubs[slot]
            wait_for_subscribers(pub, 1)
            pub.publish(rgb_to_image_msg(rgb(i), 'rgb8', self.now_s()))

    def request(self, request_id: int, stamp_s: float | None = None) -> float:
        wait_for_subscribers(self.request_pub, 1)
        stamp = self.now_s() if stamp_s is None else stamp_s
        msg = ChunkRequest(request_id=request_id, must_go=True, queue_fill=0.0)
        msg.header.stamp = time_to_msg(stamp)
        self.request_pub.publish(msg)
        return stamp

    def wait_status(self, what: str, cond: Callable[[PolicyStatus], bool]) -> PolicyStatus:
        wait_until(lambda: any(cond(m) for m in self.statuses.messages), 20.0, what)
        return next(m for m in reversed(self.statuses.messages) if cond(m))


def _wait_frames(node: PolicyNode, slots: tuple[str, ...]) -> None:
    wait_until(
        lambda: node._frames is not None and set(slots) <= set(node._frames.slots),
        10.0,
        f'frames of {slots} in the node',
    )


def _wait_state(node: PolicyNode) -> None:
    wait_until(lambda: node._state is not None, 10.0, 'a joint state in the node')


def test_chunk_request_gives_action_chunk_and_trajectory(policy_node, make_node, spin, ckpt):
    node = policy_node(checkpoint=str(ckpt), max_frame_age_s=30.0, max_state_age_s=30.0)
    tester = GraphSide(make_node('tester'), node)
    spin(node, tester.node)
    tester.bring_up()
    tester.wait_status('an idle status', lambda m: m.mode == PolicyStatus.MODE_IDLE)
    wait_for_subscribers(tester.instruction_pub, 1)
    tester.instruction_pub.publish(String(data='pick up the cube'))
    tester.publish_images(('top', 'wrist', 'side'))
    tester.publish_state([0.0] * 6)
    _wait_frames(node, ('top', 'wrist', 'side'))
    _wait_state(node)
    wait_until(lambda: node._instruction == 'pick up the cube', 10.0, 'the instruction')
    stamp = tester.request(7)

    chunk = tester.chunks.wait_for(1, timeout=60.0)[0]
    trajectory = tester.trajectories.wait_for(1, timeout=10.0)[0]
    assert time_ns_from_msg(chunk.header.stamp) == time_ns_from_msg(time_to_msg(stamp))
    assert chunk.request_id == 7 and chunk.chunk_id == 0
    assert chunk.dt_s == pytest.approx(1 / 30, abs=1e-12)
    assert chunk.inference_latency_s > 0
    for traj in (chunk.trajectory, trajectory):
        assert list(traj.joint_names) == list(ARM)
        assert time_ns_from_msg(traj.header.stamp) == time_ns_from_msg(chunk.header.stamp)
        assert len(traj.points) == 10  # the checkpoint's chunk_size
        for i, point in enumerate(traj.points):
            # (i + 1) / 30 s, rounded to whole nanoseconds.
            assert point.time_from_start.sec * 10**9 + point.time_from_start.nanosec == round(
                (i + 1) * 10**9 / 30
            )
            # The statistics are stored and applied in float32: the mean as float32 exactly.
            expected = np.asarray(ACTION_MEAN, dtype=np.float32).astype(np.float64)
            np.testing.assert_allclose(point.positions, expected, rtol=0, atol=1e-12)
    status = tester.wait_status('a status with one chunk', lambda m: m.chunks_produced == 1)
    assert status.checkpoint == str(ckpt) and status.instruction == 'pick up the cube'
    assert status.device == 'cpu' and status.precision == 'fp32'


def test_missing_camera_is_refused_with_the_reason(policy_node, make_node, spin, ckpt):
    node = policy_node(checkpoint=str(ckpt), max_frame_age_s=30.0, max_state_age_s=30.0)
    tester = GraphSide(make_node('tester'), node)
    spin(node, tester.node)
    tester.bring_up()
    wait_for_subscribers(tester.instruction_pub, 1)
    tester.instruction_pub.publish(String(data='pick'))
    tester.publish_images(('top', 'wrist'))  # no 'side'
    tester.publish_state([0.0] * 6)
    _wait_frames(node, ('top', 'wrist'))
    _wait_state(node)
    wait_until(lambda: node._serving, 10.0, 'serving')
    tester.request(3)
    status = tester.wait_status('a fault status', lambda m: m.mode == PolicyStatus.MODE_FAULT)
    assert 'missing' in status.fault and "'side'" in status.fault
    assert status.inference_errors == 1 and status.chunks_produced == 0
    worker = node._worker.status()
    assert worker.requests_refused['missing'] == 1 and worker.chunks_produced == 0
    assert tester.chunks.messages == [] and tester.trajectories.messages == []
    assert tester.state() == State.PRIMARY_STATE_ACTIVE


@pytest.fixture
def no_pretrained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No pretrained SmolVLA here (an empty Hugging Face cache) and none shipped."""
    import huggingface_hub.constants

    empty = tmp_path / 'hf_cache'
    empty.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_CACHE', str(empty))
    monkeypatch.setenv('SMOLVLA_SHIPPED_CHECKPOINT', '')
    return monkeypatch


def test_no_checkpoint_configures_the_shipped_one(
    policy_node, make_node, spin, ckpt, no_pretrained
):
    """checkpoint '' (the config's default) with no pretrained SmolVLA cached: configure loads
    the checkpoint shipped with the project (here the test's, via SMOLVLA_SHIPPED_CHECKPOINT)
    and the status names it; with none shipped, configure fails naming the parameter."""
    node = policy_node()
    tester = GraphSide(make_node('tester'), node)
    spin(node, tester.node)
    assert not tester.transition(Transition.TRANSITION_CONFIGURE)
    tester.wait_status('the no-checkpoint fault', lambda m: 'checkpoint parameter' in m.fault)
    no_pretrained.setenv('SMOLVLA_SHIPPED_CHECKPOINT', str(ckpt))
    tester.bring_up()
    status = tester.wait_status('an idle status', lambda m: m.mode == PolicyStatus.MODE_IDLE)
    assert status.checkpoint == str(ckpt)


def test_num_threads_is_applied_at_configure(policy_node, make_node, spin, ckpt):
    """num_threads: 1 -> after configure, a new thread (as the worker's inference thread,
    started by configure) runs torch on 1 thread. torch's count is read per thread: a thread
    takes the process value at its first parallel operation, so the check runs in a fresh one.
    Restored after the test (the setting is process-wide)."""
    import torch

    def fresh_thread_count() -> int:
        seen: list[int] = []
        t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        t.start()
        t.join()
        return seen[0]

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        node = policy_node(checkpoint=str(ckpt), num_threads=1)
        tester = GraphSide(make_node('tester'), node)
        spin(node, tester.node)
        assert fresh_thread_count() == 2  # nothing happens before configure
        assert tester.transition(Transition.TRANSITION_CONFIGURE)
        assert fresh_thread_count() == 1
    finally:
        torch.set_num_threads(before)


def test_failed_configure_leaves_node_unconfigured_and_alive(
    policy_node, make_node, spin, ckpt, tmp_path
):
    missing = tmp_path / 'no_such_checkpoint'
    node = policy_node(checkpoint=str(missing))
    tester = GraphSide(make_node('tester'), node)
    spin(node, tester.node)
    assert tester.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert not tester.transition(Transition.TRANSITION_CONFIGURE)
    assert tester.state() == State.PRIMARY_STATE_UNCONFIGURED
    status = tester.wait_status(
        'the configure fault', lambda m: 'configure failed' in m.fault and str(missing) in m.fault
    )
    assert status.mode == PolicyStatus.MODE_UNCONFIGURED
    wait_until(
        lambda: any(
            d.status[0].level == b'\x02' and str(missing) in d.status[0].message
            for d in tester.diagnostics.messages
        ),
        10.0,
        'an ERROR diagnostic naming the checkpoint',
    )
    # Degrees without a calibration: the units cannot be converted, also a clean FAILURE.
    node.set_parameters([Parameter('checkpoint', value=str(ckpt))])
    node.set_parameters([Parameter('units', value='degrees')])
    assert not tester.transition(Transition.TRANSITION_CONFIGURE)
    assert tester.state() == State.PRIMARY_STATE_UNCONFIGURED
    tester.wait_status('the units fault', lambda m: 'calibration' in m.fault.lower())
    # A missing calibration file: FAILURE naming the file.
    node.set_parameters([Parameter('calibration', value=str(tmp_path / 'cal.json'))])
    assert not tester.transition(Transition.TRANSITION_CONFIGURE)
    tester.wait_status('the calibration fault', lambda m: 'cal.json' in m.fault)
    assert node._worker is None and tester.chunks.messages == []
    # Still alive: fixed parameters configure.
    node.set_parameters([Parameter('units', value=''), Parameter('calibration', value='')])
    assert tester.transition(Transition.TRANSITION_CONFIGURE)
    assert tester.state() == State.PRIMARY_STATE_INACTIVE
    tester.wait_status('no fault', lambda m: m.mode == PolicyStatus.MODE_IDLE and not m.fault)
    assert tester.transition(Transition.TRANSITION_CLEANUP)
    assert tester.state() == State.PRIMARY_STATE_UNCONFIGURED


def test_set_instruction_service_and_hold(policy_node, make_node, spin, replay_file):
    node = policy_node(policy='replay', replay_file=str(replay_file))
    tester = GraphSide(make_node('tester'), node)
    spin(node, tester.node)
    tester.bring_up()
    client = tester.node.create_client(SetInstruction, topics.SET_INSTRUCTION)
    answer = tester.call(client, SetInstruction.Request(instruction='  ', clear_queue=True))
    assert not answer.success and 'empty' in answer.message
    assert tester.holds == 0 and node._instruction == ''
    wait_until(node._hold_client.service_is_ready, 10.0, 'the hold service')
    answer = tester.call(client, SetInstruction.Request(instruction='stack', clear_queue=True))
    assert answer.success and 'queue cleared' in answer.message
    wait_until(lambda: tester.holds == 1, 10.0, 'one hold call')
    answer = tester.call(client, SetInstruction.Request(instruction='place', clear_queue=False))
    assert answer.success
    tester.wait_status('the instruction', lambda m: m.instruction == 'place')
    assert tester.holds == 1
    # Deactivate holds the arm and stops serving; cleanup frees the policy.
    assert tester.transition(Transition.TRANSITION_DEACTIVATE)
    assert tester.state() == State.PRIMARY_STATE_INACTIVE
    wait_until(lambda: tester.holds == 2, 10.0, 'the hold at deactivate')
    assert not node._serving
    assert tester.transition(Transition.TRANSITION_CLEANUP)
    assert tester.state() == State.PRIMARY_STATE_UNCONFIGURED and node._worker is None
    tester.wait_status('unconfigured', lambda m: m.mode == PolicyStatus.MODE_UNCONFIGURED)


def _goal_client(tester: GraphSide) -> ActionClient:
    client = ActionClient(tester.node, RunTask, topics.RUN_TASK)
    wait_for_action_server(client)
    return client


def _send_goal(client: ActionClient, instruction: str, limit: float, feedback: list) -> Any:
    future = client.send_goal_async(
        RunTask.Goal(instruction=instruction, time_limit_s=limit),
        feedback_callback=feedback.append,
    )
    wait_until(future.done, 10.0, 'the goal answer')
    handle = future.result()
    assert handle.accepted
    return handle


def _result(handle: Any, timeout: float = 20.0) -> RunTask.Result:
    future = handle.get_result_async()
    wait_until(future.done, timeout, 'the goal result')
    return future.result().result


def test_run_task_times_out_with_feedback(policy_node, make_node, spin, replay_file):
    node = policy_node(policy='replay', replay_file=str(replay_file))
    tester = GraphSide(make_node('tester'), node)
    spin(node, tester.node)
    tester.bring_up()
    client = _goal_client(tester)
    wait_until(node._hold_client.service_is_ready, 10.0, 'the hold service')
    executor_pub = tester.node.create_publisher(
        ExecutorStatus, topics.EXECUTOR_STATUS, topics.STATUS_QOS
    )
    executor_pub.publish(ExecutorStatus(mode=ExecutorStatus.MODE_ASYNC, queue_fill=0.5))
    wait_until(lambda: node._executor_status is not None, 10.0, 'the executor status')
    feedback: list = []
    t0 = time.monotonic()
    result = _result(_send_goal(client, 'wave', 1.2, feedback))
    assert time.monotonic() - t0 >= 1.2
    assert result.reason_code == RunTask.Result.REASON_TIMEOUT and not result.success
    assert 1.2 <= result.elapsed_s < 5.0
    # 2 Hz over 1.2 s: at 0, 0.5 and 1.0 s.
    assert len(feedback) >= 2
    assert all(0 <= f.feedback.elapsed_s <= result.elapsed_s for f in feedback)
    assert all(f.feedback.queue_fill == 0.5 for f in feedback)
    assert all(f.feedback.executor_mode == ExecutorStatus.MODE_ASYNC for f in feedback)
    wait_until(lambda: tester.holds == 1, 10.0, 'the hold after the timeout')
    assert not node._serving


def test_run_task_succeeds_on_the_success_topic(policy_node, make_node, spin, replay_file):
    node = policy_node(policy='replay', replay_file=str(replay_file), max_state_age_s=30.0)
    tester = GraphSide(make_node('tester'), node)
    spin(node, tester.node)
    tester.bring_up()
    tester.publish_state([0.0] * 6)
    _wait_state(node)
    # No goal and no instruction yet: refused with a named reason, no chunk.
    tester.request(1)
    status = tester.wait_status('not serving', lambda m: 'not_serving' in m.fault)
    assert status.mode == PolicyStatus.MODE_FAULT and status.inference_errors == 1
    client = _goal_client(tester)
    handle = _send_goal(client, 'put it in the bin', 0.0, [])
    wait_until(lambda: node._serving, 10.0, 'serving after the goal')
    tester.request(2)
    chunk = tester.chunks.wait_for(1)[0]
    assert chunk.request_id == 2
    np.testing.assert_allclose(
        [p.positions[0] for p in chunk.trajectory.points], [0, 0.01, 0.02, 0.03]
    )
    assert [m.request_id for m in tester.chunks.messages] == [2]
    wait_for_subscribers(tester.success_pub, 1)
    tester.success_pub.publish(Bool(data=True))
    result = _result(handle)
    assert result.reason_code == RunTask.Result.REASON_SUCCEEDED and result.success
    assert result.chunks_executed == 1 and result.inference_requests == 1


def test_run_task_cancel_holds_the_arm(policy_node, make_node, spin, replay_file):
    node = policy_node(policy='replay', replay_file=str(replay_file))
    tester = GraphSide(make_node('tester'), node)
    spin(node, tester.node)
    tester.bring_up()
    client = _goal_client(tester)
    wait_until(node._hold_client.service_is_ready, 10.0, 'the hold service')
    handle = _send_goal(client, 'wave', 0.0, [])
    wait_until(lambda: node._serving, 10.0, 'serving')
    cancel = handle.cancel_goal_async()
    wait_until(cancel.done, 10.0, 'the cancel answer')
    result = _result(handle)
    assert result.reason_code == RunTask.Result.REASON_CANCELLED and not result.success
    wait_until(lambda: tester.holds == 1, 10.0, 'the hold after the cancel')
    assert not node._serving


def test_replay_exhaustion_is_counted_and_node_stays_alive(
    policy_node, make_node, spin, replay_file
):
    node = policy_node(policy='replay', replay_file=str(replay_file), max_state_age_s=30.0)
    tester = GraphSide(make_node('tester'), node)
    spin(node, tester.node)
    tester.bring_up()
    wait_for_subscribers(tester.instruction_pub, 1)
    tester.instruction_pub.publish(String(data='replay'))
    tester.publish_state([0.0] * 6)
    _wait_state(node)
    wait_until(lambda: node._serving, 10.0, 'serving')
    for rid in (1, 2, 3):
        tester.request(rid)
        wait_until(lambda n=rid: node._worker.status().requests == n, 10.0, f'request {rid}')
        assert node._worker.wait_idle(10.0)
    tester.chunks.wait_for(2)
    status = tester.wait_status('the exhaustion', lambda m: m.inference_errors == 1)
    assert status.mode == PolicyStatus.MODE_FAULT and 'replayed' in status.fault
    assert [m.request_id for m in tester.chunks.messages] == [1, 2]
    assert tester.state() == State.PRIMARY_STATE_ACTIVE


def test_a_new_goal_preempts_the_running_one(policy_node, make_node, spin, replay_file):
    node = policy_node(policy='replay', replay_file=str(replay_file))
    tester = GraphSide(make_node('tester'), node)
    spin(node, tester.node)
    tester.bring_up()
    client = _goal_client(tester)
    wait_until(node._hold_client.service_is_ready, 10.0, 'the hold service')
    first = _send_goal(client, 'first', 0.0, [])
    wait_until(lambda: node._instruction == 'first', 10.0, 'the first instruction')
    second = _send_goal(client, 'second', 0.0, [])
    result = _result(first)
    assert result.reason_code == RunTask.Result.REASON_ABORTED and 'preempted' in result.reason
    # The second goal goes on serving its instruction; no hold for a preemption.
    assert node._serving and node._instruction == 'second' and tester.holds == 0
    cancel = second.cancel_goal_async()
    wait_until(cancel.done, 10.0, 'the cancel answer')
    assert _result(second).reason_code == RunTask.Result.REASON_CANCELLED
    wait_until(lambda: tester.holds == 1, 10.0, 'the hold after the cancel')


def test_bad_input_is_counted_and_diagnosed_and_stale_state_refused(
    policy_node, make_node, spin, replay_file
):
    node = policy_node(
        policy='replay',
        replay_file=str(replay_file),
        required_slots='top',
        compressed_images=True,
        max_frame_age_s=30.0,
    )
    tester = GraphSide(make_node('tester'), node)
    spin(node, tester.node)
    tester.bring_up()
    wait_for_subscribers(tester.instruction_pub, 1)
    tester.instruction_pub.publish(String(data='replay'))
    # An image in an encoding nobody can read: counted, a WARN diagnostic, nothing stored.
    bad = rgb_to_image_msg(rgb(0), 'rgb8', tester.now_s())
    bad.encoding = '32FC1'
    wait_for_subscribers(tester.image_pubs['top'], 1)
    tester.image_pubs['top'].publish(bad)
    wait_until(lambda: node._bad_input['image_top'] == 1, 10.0, 'the bad image counted')
    wait_until(
        lambda: any(
            d.status[0].level == b'\x01' and '32FC1' in d.status[0].message
            for d in tester.diagnostics.messages
        ),
        10.0,
        'a WARN diagnostic naming the encoding',
    )
    assert node._frames.slots == ()
    # A joint state with a NaN: counted, not stored.
    wait_for_subscribers(tester.state_pub, 1)
    nan_state = joint_state_to_msg([0.0] * 6, ARM, tester.now_s())
    nan_state.position[2] = math.nan
    tester.state_pub.publish(nan_state)
    wait_until(lambda: node._bad_input['joint_states'] == 1, 10.0, 'the bad state counted')
    assert node._state is None
    # A compressed frame fills the slot.
    compressed_pub = tester.node.create_publisher(
        CompressedImage, topics.camera_topic('top', compressed=True), topics.SENSOR_QOS
    )
    wait_for_subscribers(compressed_pub, 1)
    compressed_pub.publish(rgb_to_compressed_msg(rgb(1), 'png', tester.now_s()))
    _wait_frames(node, ('top',))
    # A joint state 1 s older than the request (limit 0.2 s): refused, named, no chunk.
    now = tester.now_s()
    tester.publish_state([0.0] * 6, stamp_s=now - 1.0)
    _wait_state(node)
    tester.request(5, stamp_s=now)
    status = tester.wait_status('stale state', lambda m: 'stale_state' in m.fault)
    assert status.mode == PolicyStatus.MODE_FAULT and status.inference_errors == 1
    assert node._worker.status().requests == 0 and tester.chunks.messages == []
    # The node is alive and serves a fresh request.
    now = tester.now_s()
    tester.publish_state([0.0] * 6, stamp_s=now)
    wait_until(lambda: node._state[1] == pytest.approx(now, abs=1e-9), 10.0, 'the new state')
    tester.request(6, stamp_s=now)
    assert tester.chunks.wait_for(1)[0].request_id == 6


def test_scripted_expert_raises_without_poses_then_serves(policy_node, make_node, spin):
    from so_arm_driver.sim import HOME_POSE_RAD, SimConfig

    node = policy_node(policy='scripted', chunk_size=5, max_state_age_s=30.0)
    tester = GraphSide(make_node('tester'), node)
    spin(node, tester.node)
    tester.bring_up()
    wait_for_subscribers(tester.instruction_pub, 1)
    tester.instruction_pub.publish(String(data='put the cube in the bin'))
    tester.publish_state(list(HOME_POSE_RAD))
    _wait_state(node)
    wait_until(lambda: node._serving, 10.0, 'serving')
    tester.request(1)
    status = tester.wait_status('no poses', lambda m: m.inference_errors == 1)
    assert 'no cube or bin pose' in status.fault
    assert tester.chunks.messages == []
    # The simulator's latched poses (base_link): cube at its reset place, yaw 0.3 rad.
    task = SimConfig().task
    cube, bin_pose = PoseStamped(), PoseStamped()
    cube.header.frame_id = bin_pose.header.frame_id = 'base_link'
    cube.pose.position.x, cube.pose.position.z = 0.2, 0.0125
    cube.pose.orientation.z, cube.pose.orientation.w = math.sin(0.15), math.cos(0.15)
    bin_pose.pose.position.x, bin_pose.pose.position.y = task.bin_center_xy
    bin_pose.pose.orientation.w = 1.0
    pubs = [
        tester.node.create_publisher(PoseStamped, t, topics.STATUS_QOS)
        for t in (topics.SIM_CUBE_POSE, topics.SIM_BIN_POSE)
    ]
    pubs[0].publish(cube)
    pubs[1].publish(bin_pose)
    wait_until(lambda: node._cube is not None and node._bin is not None, 10.0, 'the poses')
    assert node._cube[1] == pytest.approx(0.3, abs=1e-12)
    tester.publish_state(list(HOME_POSE_RAD))
    tester.request(2)
    chunk = tester.chunks.wait_for(1, timeout=30.0)[0]
    assert chunk.request_id == 2 and list(chunk.trajectory.joint_names) == list(ARM)
    q = np.array([p.positions for p in chunk.trajectory.points])
    assert q.shape == (5, 6)
    # The plan starts at the measured pose: 1/30 s later the arm cannot be far from it.
    assert np.max(np.abs(q[0] - HOME_POSE_RAD)) < 0.1


def test_policy_node_across_processes_sigint_exits_cleanly(make_node, spin, replay_file):
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(REPO), env.get('PYTHONPATH', '')])
    params = ('policy:=replay', f'replay_file:={replay_file}', 'max_state_age_s:=30.0')
    rename = ('-r', '__node:=policy_proc')
    with NodeProcess('smolvla_ros.nodes.policy_node', *params, ros_args=rename, env=env) as node:
        tester = GraphSide(make_node('tester'), '/policy_proc')
        spin(tester.node)
        tester.bring_up()
        client = tester.node.create_client(SetInstruction, topics.SET_INSTRUCTION)
        assert tester.call(client, SetInstruction.Request(instruction='go')).success
        tester.publish_state([0.0] * 6)
        # The state and the request travel on different topics: retry the request until the
        # node has the state (each try waits for an answer, no fixed sleep).
        for rid in range(1, 6):
            tester.publish_state([0.0] * 6)
            tester.request(rid)
            try:
                tester.chunks.wait_for(1, timeout=3.0)
                break
            except TimeoutError:
                continue
        chunk = tester.chunks.wait_for(1)[0]
        assert list(chunk.trajectory.joint_names) == list(ARM)
        assert chunk.dt_s == pytest.approx(0.1)
        node.stop()


# -- conversions added for the policy node ------------------------------------------------------
def _worker_status(**kw: Any) -> WorkerStatus:
    base = dict(
        mode='idle', instruction='pick', requests=5, requests_replaced=0,
        requests_refused={'missing': 1, 'stale': 0, 'future': 0, 'joint_names': 0},
        chunks_produced=3, chunks_submitted=3, chunks_rejected=0, inference_errors=1,
        invalid_outputs={'shape': 0, 'non_finite': 1}, last_latency_s=0.25,
        median_latency_s=0.2, image_age_s=0.03, state_age_s=0.01, last_request_id=4,
        last_error='old', fault='',
    )  # fmt: skip
    base.update(kw)
    return WorkerStatus(**base)


def test_policy_status_to_msg_counts_and_modes():
    msg = policy_status_to_msg(
        _worker_status(), stamp_s=2.5, checkpoint='ck', device='cpu', precision='fp32',
        refused_by_node=2,
    )  # fmt: skip
    assert msg.mode == PolicyStatus.MODE_IDLE and msg.fault == ''
    # 1 predict error + 1 NaN output + 1 missing frame + 2 refused by the node.
    assert msg.inference_errors == 5 and msg.chunks_produced == 3
    assert msg.header.stamp.sec == 2 and msg.header.stamp.nanosec == 500_000_000
    assert (msg.checkpoint, msg.device, msg.precision, msg.instruction) == (
        'ck',
        'cpu',
        'fp32',
        'pick',
    )
    assert msg.last_latency_s == 0.25 and msg.median_latency_s == 0.2
    faulted = policy_status_to_msg(_worker_status(mode='fault', fault='boom'), stamp_s=0.0)
    assert faulted.mode == PolicyStatus.MODE_FAULT and faulted.fault == 'boom'
    node_fault = policy_status_to_msg(_worker_status(), stamp_s=0.0, fault='refused')
    assert node_fault.mode == PolicyStatus.MODE_FAULT and node_fault.fault == 'refused'
    unconfigured = policy_status_to_msg(None, stamp_s=0.0, fault='configure failed: x')
    assert unconfigured.mode == PolicyStatus.MODE_UNCONFIGURED
    assert unconfigured.fault == 'configure failed: x' and math.isnan(unconfigured.last_latency_s)
    with pytest.raises(ValueError, match='refused_by_node'):
        policy_status_to_msg(_worker_status(), stamp_s=0.0, refused_by_node=-1)


def test_position_yaw_from_pose_msg():
    msg = PoseStamped()
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = 0.2, -0.1, 0.0125
    # A rotation of -2 rad about z: (0, 0, sin(-1), cos(-1)).
    msg.pose.orientation.z, msg.pose.orientation.w = math.sin(-1.0), math.cos(-1.0)
    pos, yaw = position_yaw_from_pose_msg(msg)
    np.testing.assert_array_equal(pos, [0.2, -0.1, 0.0125])
    assert yaw == pytest.approx(-2.0, abs=1e-12)
    # 180 degrees about x leaves the x axis where it was: yaw 0.
    msg.pose.orientation.x, msg.pose.orientation.z, msg.pose.orientation.w = 1.0, 0.0, 0.0
    assert position_yaw_from_pose_msg(msg)[1] == pytest.approx(0.0, abs=1e-12)
    msg.pose.orientation.x = 0.0  # all zeros: unset
    with pytest.raises(ValueError, match='unit quaternion'):
        position_yaw_from_pose_msg(msg)
    msg.pose.orientation.w, msg.pose.position.x = 1.0, math.nan
    with pytest.raises(ValueError, match='NaN'):
        position_yaw_from_pose_msg(msg)
