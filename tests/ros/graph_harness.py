"""The node graph of the graph-level tests: sim_node + policy_node + executor_node in one process.

``Graph`` builds the three real nodes in one rclpy Context (policy and executor on the
simulator's /clock through ``use_sim_time``), plus a test node that listens to what the graph
publishes (joint states, chunks, statuses, diagnostics) and holds a RunTask action client.

The simulator runs in lockstep with the executor (sim_node's ``lockstep``): simulated time
never runs more than ``lockstep_lead_s`` (0.05 s) past the executor's newest command, so on a
loaded host (the GIL shared by three nodes, other jobs on the two cores) the whole world slows
down instead of the executor missing ticks of it. What the tests check is stated in simulated
time and does not depend on how fast the host is; ``executor_stalls`` shows the lockstep held.
The caller spins them all on one MultiThreadedExecutor (the ``spin`` fixture) and brings the
lifecycle nodes up. Nothing here replaces a part of ROS or of the nodes.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.action import ActionClient
from rclpy.parameter import Parameter
from ros_harness import MessageCollector, wait_for_action_server, wait_until
from sensor_msgs.msg import JointState

from smolvla_interfaces.action import RunTask
from smolvla_interfaces.msg import ActionChunk, ExecutorStatus, PolicyStatus
from smolvla_ros.nodes import topics
from smolvla_ros.nodes.conversions import (
    ConversionError,
    joint_positions_from_msg,
    time_from_msg,
)
from smolvla_ros.nodes.executor_node import ExecutorNode
from smolvla_ros.nodes.policy_node import PolicyNode
from smolvla_ros.nodes.sim_node import SimNode
from so_arm_driver.robots import SO101

ARM = SO101.joint_names
LOWER = np.array([j.lower_rad for j in SO101.joints])
UPPER = np.array([j.upper_rad for j in SO101.joints])
_IDS = itertools.count()


class Graph:
    """The three nodes and a listening test node, all in ``context``.

    Args:
        context: the test's rclpy Context.
        make_node: the ``make_node`` fixture (the test node is destroyed by it).
        policy: policy_node parameters (``policy``, ``checkpoint``, ...).
        sim: sim_node parameters (defaults: 64x48 images at 10 Hz, real time, lockstep with
            a 10 s wall timeout: far beyond any stall of a loaded host, and the executor
            commands on every tick while it is active, holding included).
        executor: executor_node parameters.
        sim_time: policy and executor run on sim_node's /clock.
    """

    def __init__(
        self,
        context: Any,
        make_node: Callable[..., Any],
        *,
        policy: dict[str, Any],
        sim: dict[str, Any] | None = None,
        executor: dict[str, Any] | None = None,
        sim_time: bool = True,
    ) -> None:
        n = next(_IDS)
        sim_params = {
            'image_width': 64,
            'image_height': 48,
            'lockstep': True,
            'lockstep_timeout_s': 10.0,
            **(sim or {}),
        }
        timed = [Parameter('use_sim_time', value=sim_time)]
        self.sim = SimNode(
            node_name=f'sim_node_{n}',
            context=context,
            parameter_overrides=[Parameter(k, value=v) for k, v in sim_params.items()],
        )
        self.policy = PolicyNode(
            f'policy_node_{n}',
            context=context,
            parameter_overrides=timed + [Parameter(k, value=v) for k, v in policy.items()],
        )
        self.executor = ExecutorNode(
            f'executor_node_{n}',
            context=context,
            parameter_overrides=timed
            + [Parameter(k, value=v) for k, v in (executor or {}).items()],
        )
        self.tester = make_node(f'graph_tester_{n}')
        self.states = MessageCollector()
        self.chunks = MessageCollector()
        self.commands = MessageCollector()
        self.executor_statuses = MessageCollector()
        self.policy_statuses = MessageCollector()
        self.diagnostics = MessageCollector()
        t = self.tester
        t.create_subscription(JointState, topics.JOINT_STATES, self.states, topics.STATE_QOS)
        t.create_subscription(ActionChunk, topics.ACTION_CHUNK, self.chunks, topics.CHUNK_QOS)
        t.create_subscription(JointState, topics.JOINT_COMMAND, self.commands, topics.STATE_QOS)
        t.create_subscription(
            ExecutorStatus, topics.EXECUTOR_STATUS, self.executor_statuses, topics.STATUS_QOS
        )
        t.create_subscription(
            PolicyStatus, topics.POLICY_STATUS, self.policy_statuses, topics.STATUS_QOS
        )
        t.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self.diagnostics, 10)
        self.run_task = ActionClient(t, RunTask, topics.RUN_TASK)
        self._stalls0 = 0

    @property
    def nodes(self) -> tuple[Any, ...]:
        return (self.sim, self.policy, self.executor, self.tester)

    def up(self, *nodes: Any) -> None:
        """Configure and activate `nodes` (default: policy and executor), in-process."""
        from rclpy.lifecycle import TransitionCallbackReturn

        nodes = nodes or (self.policy, self.executor)
        for node in nodes:
            assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
            assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        wait_until(self.policy._hold_client.service_is_ready, 20.0, 'the executor hold service')
        if self.executor in nodes:
            self.wait_lockstep()

    def wait_lockstep(self) -> None:
        """Wait until the executor's commands pace the simulator and note its stall count then.

        Until the first command arrives the simulator runs free, so the executor's first ticks
        may come late in simulated time; from then on they cannot (``executor_stalls``).
        """
        lockstep = self.sim._lockstep
        assert lockstep is not None, 'the graph runs sim_node in lockstep'
        wait_until(lockstep.pacing, 30.0, 'the simulator paced by the executor')
        n = len(self.commands.messages)
        wait_until(lambda: len(self.commands.messages) > n, 30.0, 'a command in lockstep')
        self._stalls0 = self._stalls()

    def close(self) -> None:
        """Destroy the graph's nodes (after the executor stopped); the tester is the fixture's."""
        self.run_task.destroy()
        self.policy.close()
        for node in (self.policy, self.executor, self.sim):
            node.destroy_node()

    # -- observations --------------------------------------------------------------------------
    def positions(self, since_s: float = -np.inf) -> tuple[np.ndarray, np.ndarray]:
        """Stamps [s, sim time] and positions [rad] (n, 6) of the joint states since `since_s`."""
        rows = []
        for m in self.states.messages:
            try:
                row = (time_from_msg(m.header.stamp), joint_positions_from_msg(m, ARM))
            except ConversionError:
                continue  # a malformed state a fault test injected, not the simulator's
            if row[0] >= since_s and np.all(np.isfinite(row[1])):
                rows.append(row)
        if not rows:
            return np.zeros(0), np.zeros((0, len(ARM)))
        return np.array([r[0] for r in rows]), np.array([r[1] for r in rows])

    def sim_now(self) -> float:
        """The newest joint-state stamp [s, sim time] (the simulator's clock as seen here)."""
        stamps, _ = self.positions()
        return float(stamps[-1]) if len(stamps) else 0.0

    def wait_sim_time(self, t_s: float, timeout: float = 30.0) -> None:
        """Wait until a joint state stamped at or after `t_s` [s, sim time] arrived."""
        wait_until(lambda: self.sim_now() >= t_s, timeout, f'sim time {t_s:.2f} s')

    def send_goal(self, instruction: str, limit_s: float = 0.0) -> tuple[Any, list[Any]]:
        """Send a RunTask goal; returns (goal handle, the list its feedback is appended to)."""
        wait_for_action_server(self.run_task, timeout=20.0)
        feedback: list[Any] = []
        future = self.run_task.send_goal_async(
            RunTask.Goal(instruction=instruction, time_limit_s=limit_s),
            feedback_callback=feedback.append,
        )
        wait_until(future.done, 20.0, 'the RunTask goal answer')
        handle = future.result()
        assert handle.accepted, 'the RunTask goal was rejected'
        return handle, feedback

    @staticmethod
    def result(handle: Any, timeout: float = 60.0) -> Any:
        future = handle.get_result_async()
        wait_until(future.done, timeout, 'the RunTask result')
        return future.result().result

    def _stalls(self) -> int:
        core = self.executor._core
        assert core is not None, 'the executor is not active'
        return int(core.metrics.summary()['stalls'])

    def executor_stalls(self) -> int:
        """Executor ticks since ``wait_lockstep`` that came more than two tick periods of sim
        time after the previous one (``smolvla_ros.runtime`` counts them as stalls). 0 in
        lockstep: the simulator never runs more than ``lockstep_lead_s`` (< 2 periods) past the
        newest command."""
        return self._stalls() - self._stalls0

    def diagnostics_of(self, node: Any) -> list[Any]:
        """Every DiagnosticStatus published under `node`'s name so far."""
        name = node.get_name()
        return [
            s
            for array in self.diagnostics.messages
            for s in array.status
            if s.name.startswith(f'{name}:') or s.name == name
        ]


def assert_within_limits(q: np.ndarray, tol: float = 1e-3) -> None:
    """Every row of `q` (n, 6) [rad] lies within the SO-101 limits (+ `tol` rad)."""
    low = np.min(q - LOWER, axis=0)
    high = np.max(q - UPPER, axis=0)
    bad = [
        f'{j}: {lo + LOWER[i]:.4f}..{hi + UPPER[i]:.4f} outside [{LOWER[i]}, {UPPER[i]}]'
        for i, (j, lo, hi) in enumerate(zip(ARM, low, high, strict=True))
        if lo < -tol or hi > tol
    ]
    assert not bad, '; '.join(bad)


def wall_sleep_until(cond: Callable[[], bool], timeout: float) -> bool:
    """Poll `cond` for at most `timeout` s; True when it held (for optional conditions)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


@pytest.fixture
def graph_registry(make_node: Callable[..., Any]) -> Iterator[list[Graph]]:
    """The graphs a test made; destroyed at teardown, after ``spin`` stopped its executor."""
    made: list[Graph] = []
    try:
        yield made
    finally:
        for g in made:
            g.close()


@pytest.fixture
def graph(
    rclpy_context: Any,
    make_node: Callable[..., Any],
    graph_registry: list[Graph],
    spin: Callable[..., Any],
) -> Iterator[Callable[..., Graph]]:
    """Factory: ``graph(policy=..., sim=..., executor=...)`` -> a Graph in this test's context.

    Teardown order: this fixture first ends running goals (closes the policies: a goal left
    running by a failed test would keep the executor from stopping), then ``spin`` stops the
    executor, then ``graph_registry`` destroys the nodes.
    """

    def factory(**kw: Any) -> Graph:
        g = Graph(rclpy_context, make_node, **kw)
        graph_registry.append(g)
        return g

    try:
        yield factory
    finally:
        for g in graph_registry:
            g.policy.close()
