"""The rclpy executor every node's ``main`` (and the tests' spin fixture) runs on.

rclpy's ``MultiThreadedExecutor`` sizes its pool by the CPU count. On a 2-core machine its two
workers were not enough for executor_node's 30 Hz tick beside the status and path timers and
the subscriptions: measured with executor_node, a test policy/arm node and ``spin()`` for 4 s,
the default pool ran 25-90 of the 120 ticks with 7-13 stalls of up to 0.8 s, while 4 threads (or
a single-threaded executor) ran all 120 with none. Four threads let a long callback (inference
hand-off, a service call) run beside the control timer without starving it.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.exceptions import ParameterException
from rclpy.executors import (
    Executor,
    ExternalShutdownException,
    MultiThreadedExecutor,
    SingleThreadedExecutor,
)
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

EXECUTOR_THREADS = 4


def make_executor(context: Context | None = None) -> MultiThreadedExecutor:
    """A multi-threaded executor with :data:`EXECUTOR_THREADS` workers."""
    return MultiThreadedExecutor(num_threads=EXECUTOR_THREADS, context=context)


# How often the spin loop of `run_node` wakes to let a pending SIGINT/SIGTERM through (s).
SIGNAL_POLL_S = 0.1


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run_node(
    name: str,
    build: Callable[[], Node],
    args: list[str] | None = None,
    *,
    multi_threaded: bool = True,
    stop: Callable[[Any], None] | None = None,
    config_errors: tuple[type[BaseException], ...] = (),
) -> int:
    """Run one node as a process: init, build, spin until SIGINT/SIGTERM, stop, clean up.

    The one ``main`` of every node. Signals stay Python's (rclpy is initialised with
    ``SignalHandlerOptions.NO``; SIGTERM raises ``KeyboardInterrupt`` like SIGINT): rclpy's own
    handler shuts the context down the moment the signal arrives, so a timer or subscription
    callback still running then failed to publish ("publisher's context is invalid") and the
    process exited 1 with a traceback (seen on a loaded host with sim_node, policy_node and the
    graph tests). Here the context stays valid until the node is destroyed: the spin loop wakes
    every :data:`SIGNAL_POLL_S` (a Python signal handler only runs when the main thread runs
    Python, never inside a blocked wait), ``stop(node)`` releases what the node holds (torque,
    inference) while it can still publish, the executor finishes the callbacks in flight, then
    the node is destroyed and the context shut down.

    Args:
        name: the executable's name, for messages.
        build: makes the node (after ``rclpy.init``).
        args: command-line arguments for ``rclpy.init`` (None: ``sys.argv``).
        multi_threaded: :func:`make_executor` (True) or a single-threaded executor.
        stop: called with the node once spinning ends (not when ``build`` failed).
        config_errors: exceptions from ``build`` that mean bad parameters or a missing extra:
            printed in one line (no traceback), exit status 2.

    Returns:
        The exit status: 0 after a signal or an external shutdown, 2 for a ``config_errors``
        exception.
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    previous_sigterm = signal.signal(signal.SIGTERM, _interrupt)
    # Python leaves SIGINT ignored when the process inherited it ignored, as every program
    # started in the background by a non-interactive shell does (`nohup node &`, a launch started
    # that way, a test runner in a script): the node would then sit out Ctrl-C and launch's
    # SIGINT. A node stops on SIGINT whatever its parent did (rclpy's own handler does the same).
    previous_sigint = signal.signal(signal.SIGINT, signal.default_int_handler)
    executor: Executor = make_executor() if multi_threaded else SingleThreadedExecutor()
    node: Node | None = None
    status = 0
    try:
        node = build()
        executor.add_node(node)
        while rclpy.ok():
            executor.spin_once(timeout_sec=SIGNAL_POLL_S)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except config_errors as e:
        what = 'bad parameters: ' if isinstance(e, (ValueError, ParameterException)) else ''
        print(f'{name}: {what}{e}', file=sys.stderr)
        status = 2
    finally:
        try:
            if node is not None and stop is not None:
                stop(node)
            executor.shutdown(timeout_sec=5.0)
            if node is not None:
                node.destroy_node()
        finally:
            rclpy.try_shutdown()
            signal.signal(signal.SIGTERM, previous_sigterm)
            signal.signal(signal.SIGINT, previous_sigint)
    return status
