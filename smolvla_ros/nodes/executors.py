"""The rclpy executor every node's ``main`` (and the tests' spin fixture) runs on.

rclpy's ``MultiThreadedExecutor`` sizes its pool by the CPU count. On a 2-core machine its two
workers were not enough for executor_node's 30 Hz tick beside the status and path timers and
the subscriptions: measured with executor_node, a test policy/arm node and ``spin()`` for 4 s,
the default pool ran 25-90 of the 120 ticks with 7-13 stalls of up to 0.8 s, while 4 threads (or
a single-threaded executor) ran all 120 with none. Four threads let a long callback (inference
hand-off, a service call) run beside the control timer without starving it.
"""

from __future__ import annotations

from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor

EXECUTOR_THREADS = 4


def make_executor(context: Context | None = None) -> MultiThreadedExecutor:
    """A multi-threaded executor with :data:`EXECUTOR_THREADS` workers."""
    return MultiThreadedExecutor(num_threads=EXECUTOR_THREADS, context=context)
