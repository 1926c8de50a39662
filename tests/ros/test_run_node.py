"""``smolvla_ros.nodes.executors.run_node``, the one ``main`` of every node, in real processes.

An idle lifecycle node (executor_node, unconfigured: no timer, nothing to wake its wait) must
still leave on SIGINT and on SIGTERM within about a second, with exit status 0 and no traceback:
signals stay Python's (rclpy's own handler, which shut the context down under running callbacks,
is off), so the spin loop has to wake on its own to let them through.
"""

from __future__ import annotations

import signal

import pytest
from node_process import NodeProcess

from tests.ros.ros_harness import wait_for_service

pytestmark = pytest.mark.ros


@pytest.mark.parametrize(
    ('sig', 'inherit_ignored'),
    [(signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGINT, True)],
    ids=['SIGINT', 'SIGTERM', 'SIGINT-inherited-as-ignored'],
)
def test_an_idle_node_exits_cleanly_and_promptly_on_a_signal(
    make_node, spin, sig, inherit_ignored
):
    """Fault: SIGINT/SIGTERM to a node whose executor has nothing to wake it; also SIGINT to a
    node that inherited SIGINT as ignored (anything started with `&` by a non-interactive shell:
    Python then keeps it ignored) -> Expected: exit 0 within 3 s, no traceback (not a hang until
    launch escalates to SIGKILL)."""
    from lifecycle_msgs.srv import GetState

    tester = make_node('tester')
    get = tester.create_client(GetState, 'executor_node/get_state')
    spin(tester)
    # What `node &` in a script does: the shell execs it with SIGINT ignored.
    prefix = ['sh', '-c', 'trap "" INT; exec "$0" "$@"'] if inherit_ignored else []
    with NodeProcess('smolvla_ros.nodes.executor_node', prefix=prefix) as node:
        node.wait_ready(get.service_is_ready, 'the node process to offer its lifecycle services')
        wait_for_service(get, timeout=30.0)
        _, took = node.stop(sig)
    assert took < 3.0, f'{sig.name}: the node took {took:.1f} s to exit'
