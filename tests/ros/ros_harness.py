"""Helpers for ROS tests: wait for discovery and messages by condition, never by fixed sleeps.

Cross-process discovery on loopback takes 1-2 s with Fast DDS; every wait here polls a condition
with a deadline and fails with a message naming what did not happen. Import from test modules in
tests/ros (``from ros_harness import wait_for_subscribers``): pytest puts this folder on sys.path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

# How long a wait for discovery or for messages may take before the test fails [s]. Only a
# failing test waits this long. 10 s was not enough once: an in-process service took longer to
# be discovered with both cores busy (training beside the suite, load average 3-4).
DEFAULT_TIMEOUT_S = 30.0
# Polling period while waiting for a graph change [s]: short against discovery's 1-2 s.
_POLL_S = 0.01


def ros_import_error() -> str | None:
    """Why ROS tests cannot run here, or None when rclpy and smolvla_interfaces import."""
    try:
        import rclpy  # noqa: F401

        # Named classes, not just the packages: the source folder smolvla_interfaces/ on sys.path
        # (the repository root) imports as an empty namespace package when the build is missing.
        from smolvla_interfaces.action import RunTask  # noqa: F401
        from smolvla_interfaces.msg import ActionChunk  # noqa: F401
        from smolvla_interfaces.srv import SetInstruction  # noqa: F401
    except Exception as e:  # ImportError, or OSError from a missing typesupport library
        return (
            f'ROS 2 is not usable here ({type(e).__name__}: {e}): run `bash scripts/setup_env.sh` '
            'and `source scripts/ros_env.sh` before pytest'
        )
    return None


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` until it is true.

    Args:
        condition: called repeatedly from this thread; must be cheap and thread-safe.
        timeout: deadline [s].
        what: the awaited event, for the failure message.

    Raises:
        TimeoutError: the condition stayed false for `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise TimeoutError(f'timed out after {timeout:.1f} s waiting for {what}')
        time.sleep(_POLL_S)


def wait_for_subscribers(publisher: Any, n: int = 1, timeout: float = DEFAULT_TIMEOUT_S) -> None:
    """Wait until `publisher` (rclpy Publisher) is matched with at least `n` subscriptions.

    Raises:
        TimeoutError: fewer than `n` after `timeout` seconds.
    """
    wait_until(
        lambda: publisher.get_subscription_count() >= n,
        timeout,
        f'{n} subscriber(s) on {publisher.topic_name}',
    )


def wait_for_publishers(subscription: Any, n: int = 1, timeout: float = DEFAULT_TIMEOUT_S) -> None:
    """Wait until `subscription` (rclpy Subscription) is matched with at least `n` publishers.

    Raises:
        TimeoutError: fewer than `n` after `timeout` seconds.
    """
    wait_until(
        lambda: subscription.get_publisher_count() >= n,
        timeout,
        f'{n} publisher(s) on {subscription.topic_name}',
    )


def wait_for_service(client: Any, timeout: float = DEFAULT_TIMEOUT_S) -> None:
    """Wait until the service of `client` (rclpy Client) is available.

    Raises:
        TimeoutError: not available after `timeout` seconds.
    """
    if not client.wait_for_service(timeout_sec=timeout):
        raise TimeoutError(
            f'timed out after {timeout:.1f} s waiting for service {client.srv_name}'
        )


def wait_for_action_server(client: Any, timeout: float = DEFAULT_TIMEOUT_S) -> None:
    """Wait until the server of `client` (rclpy.action.ActionClient) is available.

    Raises:
        TimeoutError: not available after `timeout` seconds.
    """
    if not client.wait_for_server(timeout_sec=timeout):
        raise TimeoutError(f'timed out after {timeout:.1f} s waiting for an action server')


class MessageCollector:
    """A subscription callback that keeps every message and lets the test wait for them.

    Use: ``c = MessageCollector(); node.create_subscription(T, topic, c, qos)``; the executor's
    thread appends, the test thread calls ``c.wait_for(n)``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[Any] = []

    def __call__(self, message: Any) -> None:
        with self._lock:
            self._messages.append(message)

    @property
    def messages(self) -> list[Any]:
        """A copy of the messages received so far, oldest first."""
        with self._lock:
            return list(self._messages)

    def wait_for(self, n: int = 1, timeout: float = DEFAULT_TIMEOUT_S) -> list[Any]:
        """Wait until at least `n` messages arrived and return them (oldest first).

        Raises:
            TimeoutError: fewer than `n` after `timeout` seconds.
        """
        wait_until(lambda: len(self.messages) >= n, timeout, f'{n} message(s)')
        return self.messages
