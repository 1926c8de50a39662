"""Run ``ros2 launch smolvla_ros ...`` as a subprocess and observe it (real-launch tests).

Skipped where ``launch_ros``/``ros2`` or the package's ament index entry is missing (CI: launch is
not on PyPI). The launch inherits ``os.environ`` (the test domain and the localhost-only
discovery of tests/conftest.py).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

# How long a launch may take to stop after SIGINT [s] (nodes join threads, the simulator closes).
STOP_TIMEOUT_S = 30.0


def launch_unavailable() -> str | None:
    """Why ``ros2 launch smolvla_ros`` cannot run here, or None."""
    if importlib.util.find_spec('launch_ros') is None:
        return 'launch_ros is not importable (not on PyPI; the static check covers CI)'
    if shutil.which('ros2') is None:
        return 'the ros2 command (ros2cli) is not on PATH'
    try:
        from ament_index_python.packages import get_package_share_directory

        share = Path(get_package_share_directory('smolvla_ros'))
    except Exception as e:
        return f'smolvla_ros is not in the ament index ({e}); colcon build the package first'
    if not (share / 'launch' / 'bringup.launch.py').exists():
        return f'{share} has no launch/bringup.launch.py; rebuild the package'
    return None


class Launch:
    """One ``ros2 launch smolvla_ros <file> <args>`` subprocess with its log in a file."""

    def __init__(self, file: str, args: dict[str, str], log: Path) -> None:
        self.log_path = log
        self._log = open(log, 'wb')  # noqa: SIM115 (closed in stop)
        cmd = ['ros2', 'launch', 'smolvla_ros', file, *(f'{k}:={v}' for k, v in args.items())]
        self.proc = subprocess.Popen(
            cmd,
            env=dict(os.environ),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our SIGINT reaches the launch only; it stops its nodes
        )
        self.returncode: int | None = None

    def text(self) -> str:
        return self.log_path.read_text(errors='replace')

    def wait_exit(self, timeout: float) -> int:
        """Wait for the launch to end by itself; returns its exit code."""
        self.returncode = self.proc.wait(timeout=timeout)
        self._log.close()
        return self.returncode

    def stop(self) -> int:
        """SIGINT the launch (as Ctrl-C does) and wait; kill the group if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                self._log.close()
                raise AssertionError(
                    f'launch did not stop within {STOP_TIMEOUT_S} s of SIGINT:\n'
                    + self.text()[-3000:]
                ) from None
        self.returncode = self.proc.returncode
        self._log.close()
        return self.returncode


def assert_clean_exit(launch: Launch, expected_processes: int) -> None:
    """Every process finished cleanly (none died by a signal or an error code), no traceback."""
    text = launch.text()
    died = re.findall(r'process has died.*', text)
    assert not died, f'processes died: {died}\n{text[-3000:]}'
    assert 'Traceback' not in text, text[-3000:]
    clean = re.findall(r'process has finished cleanly', text)
    assert len(clean) >= expected_processes, text[-3000:]


def lifecycle_state(node: Any, target: str, timeout: float = 5.0) -> str:
    """The current lifecycle state label of node ``target`` (e.g. '/policy_node')."""
    from lifecycle_msgs.srv import GetState

    client = node.create_client(GetState, f'{target}/get_state')
    try:
        if not client.wait_for_service(timeout_sec=timeout):
            return 'unavailable'
        future = client.call_async(GetState.Request())
        deadline = time.monotonic() + timeout
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.02)
        return future.result().current_state.label if future.done() else 'no answer'
    finally:
        node.destroy_client(client)


def graph(node: Any) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """{node: (published topics, subscribed topics)} of the suite's nodes as the graph shows them.

    Leaves out the observer itself, the launch's own node and ros2cli helpers, and the
    parameter-event and rosout topics every node has.
    """
    out = {}
    common = {'/parameter_events', '/rosout'}
    for name, ns in node.get_node_names_and_namespaces():
        if name.startswith(('_', 'launch_ros', node.get_name())):
            continue
        pubs = node.get_publisher_names_and_types_by_node(name, ns)
        subs = node.get_subscriber_names_and_types_by_node(name, ns)
        full = ns.rstrip('/') + '/' + name
        out[full] = (
            tuple(sorted(t for t, _ in pubs if t not in common)),
            tuple(sorted(t for t, _ in subs if t not in common)),
        )
    return out
