"""Fixtures for tests against the real rclpy (PyPI wheels) and the colcon-built interfaces.

Everything here needs ROS; the network rule is already applied by tests/conftest.py. When ROS is
not usable the whole folder is left out of collection with the reason printed, unless
SMOLVLA_REQUIRE_ROS=1 (scripts/test.sh, CI), where it is an error.

Fixtures: ``rclpy_context`` (a fresh, initialised Context per test), ``make_node`` (nodes in it,
destroyed at teardown) and ``spin`` (an executor spinning nodes in a background thread for the
test's duration). Waiting helpers live in ``ros_harness`` (import it from test modules).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from ros_harness import ros_import_error  # on sys.path through tests/conftest.py

if TYPE_CHECKING:
    from rclpy.context import Context
    from rclpy.executors import Executor
    from rclpy.node import Node

_ROS_ERROR = ros_import_error()
if _ROS_ERROR is not None:
    if os.environ.get('SMOLVLA_REQUIRE_ROS') == '1':
        raise pytest.UsageError(f'SMOLVLA_REQUIRE_ROS=1 but {_ROS_ERROR}')
    # The modules import rclpy and the generated messages at the top; collecting them would only
    # turn a missing optional install into import errors.
    # The reason is in the report header (tests/conftest.py).
    collect_ignore_glob = ['test_*.py']


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every test here needs ROS: mark them so `-m "not ros"` deselects the folder (tryfirst: the
    # marks must exist before pytest's own -m deselection runs).
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here + os.sep):
            item.add_marker(pytest.mark.ros)


@pytest.fixture
def rclpy_context() -> Iterator[Context]:
    """A fresh rclpy Context, initialised for this test and shut down afterwards.

    init/try/finally rather than ``with rclpy.init()``: Humble and Jazzy lack that form.
    """
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        if context.ok():
            rclpy.shutdown(context=context)


@pytest.fixture
def make_node(rclpy_context: Context) -> Iterator[Callable[..., Node]]:
    """Factory: ``make_node(name, **kwargs)`` -> an rclpy Node in this test's context.

    Every node made is destroyed at teardown, before the context shuts down.
    """
    from rclpy.node import Node

    nodes: list[Node] = []

    def factory(name: str, **kwargs: object) -> Node:
        node = Node(name, context=rclpy_context, **kwargs)
        nodes.append(node)
        return node

    try:
        yield factory
    finally:
        for node in reversed(nodes):
            node.destroy_node()


@pytest.fixture
def spin(
    rclpy_context: Context, make_node: Callable[..., Node]
) -> Iterator[Callable[..., Executor]]:
    """``spin(*nodes)``: spin the nodes on a background thread (``make_executor``'s executor).

    Depends on make_node so that the executor stops before the nodes are destroyed. Teardown
    shuts the executor down and fails the test if its thread does not end within 5 s.
    """
    from smolvla_ros.nodes.executors import make_executor

    started: list[tuple[Executor, threading.Thread]] = []

    def start(*nodes: Node) -> Executor:
        executor = make_executor(context=rclpy_context)
        for node in nodes:
            executor.add_node(node)
        thread = threading.Thread(target=executor.spin, name='test-executor', daemon=True)
        thread.start()
        started.append((executor, thread))
        return executor

    try:
        yield start
    finally:
        for executor, thread in started:
            executor.shutdown(timeout_sec=5.0)
            thread.join(timeout=5.0)
            assert not thread.is_alive(), 'the test executor thread did not stop within 5 s'
