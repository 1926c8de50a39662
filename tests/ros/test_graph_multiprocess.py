"""The node graph across processes: sim_node, policy_node and executor_node each in its own
process (``python -m smolvla_ros.nodes.<node>``), talking over DDS on loopback.

The test process drives the lifecycle of policy and executor through their real lifecycle
services, sends a RunTask goal and waits for the scripted pick-and-place to succeed (the
simulator's task_success). Policy and executor run on the simulator's /clock, which runs in
lockstep with the executor's commands. Every process must then end on SIGINT with exit code 0
and no traceback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
from graph_harness import ARM, assert_within_limits
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.action import ActionClient
from ros_harness import MessageCollector, wait_for_action_server, wait_until
from sensor_msgs.msg import JointState

from smolvla_interfaces.action import RunTask
from smolvla_interfaces.msg import ActionChunk
from smolvla_ros.nodes import topics
from smolvla_ros.nodes.conversions import joint_positions_from_msg

REPO = Path(__file__).resolve().parents[2]
_AFTER = {
    Transition.TRANSITION_CONFIGURE: State.PRIMARY_STATE_INACTIVE,
    Transition.TRANSITION_ACTIVATE: State.PRIMARY_STATE_ACTIVE,
}


def _start(module: str, *params: str) -> subprocess.Popen:
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(REPO), env.get('PYTHONPATH', '')])
    cmd = [sys.executable, '-m', f'smolvla_ros.nodes.{module}', '--ros-args']
    for p in params:
        cmd += ['-p', p]
    return subprocess.Popen(
        cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _call(client, request, timeout: float):
    future = client.call_async(request)
    wait_until(future.done, timeout, f'an answer from {client.srv_name}')
    return future.result()


def _transition(node, name: str, tid: int) -> None:
    """Drive one lifecycle transition of /`name` through its services; a lost request (fresh
    endpoints still matching) is judged by the state reached, never sent twice blindly."""
    change = node.create_client(ChangeState, f'{name}/change_state')
    get = node.create_client(GetState, f'{name}/get_state')
    wait_until(change.service_is_ready, 60.0, f'{name}/change_state')
    wait_until(get.service_is_ready, 30.0, f'{name}/get_state')
    for _ in range(3):
        try:
            answer = _call(change, ChangeState.Request(transition=Transition(id=tid)), 10.0)
            assert answer.success, f'{name}: transition {tid} failed'
            break
        except TimeoutError:
            if _call(get, GetState.Request(), 10.0).current_state.id == _AFTER[tid]:
                break
    state = _call(get, GetState.Request(), 10.0).current_state.id
    assert state == _AFTER[tid], f'{name} is in state {state}'


def _stop(procs: dict[str, subprocess.Popen]) -> dict[str, tuple[int, str]]:
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    out = {}
    for name, proc in procs.items():
        try:
            text, _ = proc.communicate(timeout=30.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            text, _ = proc.communicate()
        out[name] = (proc.returncode, text)
    return out


def test_scripted_pick_and_place_across_processes(make_node, spin):
    procs = {
        # lockstep: simulated time waits for the executor's commands (a loaded host slows the
        # world instead of making the executor lag the open-loop plan); 10 s wall timeout.
        'sim_node': _start(
            'sim_node',
            'image_width:=64',
            'image_height:=48',
            'camera_rate_hz:=1.0',
            'lockstep:=true',
            'lockstep_timeout_s:=10.0',
        ),
        'policy_node': _start('policy_node', 'policy:=scripted', 'use_sim_time:=true'),
        'executor_node': _start('executor_node', 'use_sim_time:=true'),
    }
    try:
        tester = make_node('graph_mp_tester')
        states, chunks = MessageCollector(), MessageCollector()
        tester.create_subscription(JointState, topics.JOINT_STATES, states, topics.STATE_QOS)
        tester.create_subscription(ActionChunk, topics.ACTION_CHUNK, chunks, topics.CHUNK_QOS)
        run_task = ActionClient(tester, RunTask, topics.RUN_TASK)
        spin(tester)
        for name in ('policy_node', 'executor_node'):
            for tid in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
                _transition(tester, name, tid)
        states.wait_for(5, timeout=60.0)
        # The executor's requests reach the policy, its hold service is matched: the loop is up.
        wait_until(
            lambda: (
                tester.count_subscribers(topics.CHUNK_REQUEST) >= 1
                and tester.count_publishers(topics.CHUNK_REQUEST) >= 1
                and tester.count_subscribers(topics.ACTION_CHUNK) >= 2
            ),
            30.0,
            'the chunk request and chunk topics matched',
        )
        wait_for_action_server(run_task, timeout=30.0)
        goal = run_task.send_goal_async(
            RunTask.Goal(instruction='put the cube in the bin', time_limit_s=40.0)
        )
        wait_until(goal.done, 20.0, 'the goal answer')
        handle = goal.result()
        assert handle.accepted
        result_future = handle.get_result_async()
        wait_until(result_future.done, 120.0, 'the RunTask result')
        result = result_future.result().result
        assert result.reason_code == RunTask.Result.REASON_SUCCEEDED and result.success, result
        assert result.chunks_executed >= 5 and len(chunks.messages) >= 5
        q = np.array([joint_positions_from_msg(m, ARM) for m in states.messages])
        assert_within_limits(q)
        assert np.ptp(q[:, 0]) > 0.3  # shoulder_pan swung from the cube to the bin
    finally:
        ended = _stop(procs)
    for name, (code, text) in ended.items():
        assert code == 0, f'{name} exited {code}:\n{text[-3000:]}'
        assert 'Traceback' not in text, f'{name}:\n{text[-3000:]}'
