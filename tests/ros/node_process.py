"""A node of the suite as its own process, the way a user or launch runs it, for ROS tests.

    with NodeProcess('smolvla_ros.nodes.sim_node', 'image_width:=64') as node:
        node.wait_ready(lambda: sub.get_publisher_count() > 0, 'joint states')
        ...
        out = node.stop()  # SIGINT; asserts exit 0 and no traceback; returns the output

Leaving the block kills a node that is still running, so a failing test leaves no process on
the test's ROS domain.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from ros_harness import wait_until

# A cold start on a loaded 2-core machine (imports, rclpy, discovery) [s].
START_TIMEOUT_S = 60.0


class NodeProcess:
    """``python -m <module> --ros-args -p <param> ...`` with stdout and stderr captured.

    Args:
        module: the node's module, e.g. ``smolvla_ros.nodes.executor_node``.
        params: ``name:=value`` parameters.
        ros_args: more ``--ros-args`` items (e.g. ``['-r', '__node:=other']``).
        prefix: run the command through this (e.g. a shell that ignores SIGINT first).
        env: the environment (default: this process's).
    """

    def __init__(
        self,
        module: str,
        *params: str,
        ros_args: Sequence[str] = (),
        prefix: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        cmd = [sys.executable, '-m', module, '--ros-args', *ros_args]
        for p in params:
            cmd += ['-p', p]
        self.proc = subprocess.Popen(
            [*prefix, *cmd],
            env=dict(os.environ) if env is None else env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def __enter__(self) -> NodeProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()

    def wait_ready(self, ready: Callable[[], bool], what: str) -> None:
        """Wait until ``ready()``; fail with the node's output if the process ends first."""
        wait_until(lambda: ready() or self.proc.poll() is not None, START_TIMEOUT_S, what)
        if self.proc.poll() is not None:
            pytest.fail(f'the node process ended early: {self.proc.communicate()[0]}')

    def fail(self, why: str) -> None:
        """Stop the node (SIGINT) and fail the test with ``why`` and the node's output."""
        self.proc.send_signal(signal.SIGINT)
        pytest.fail(f'{why}; node output: {self.proc.communicate(timeout=20.0)[0]}')

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> tuple[str, float]:
        """Send ``sig``, wait for the exit; assert exit status 0 and no traceback.

        Returns:
            The node's output and the seconds from the signal to the exit.
        """
        sent = time.monotonic()
        self.proc.send_signal(sig)
        out, _ = self.proc.communicate(timeout=timeout)
        took = time.monotonic() - sent
        assert self.proc.returncode == 0, out
        assert 'Traceback' not in out, out
        return out, took
