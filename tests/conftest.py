"""Suite-wide pytest set-up: markers for tests that need what this machine may not have.

- ``hardware``: a real arm; runs with ``--run-hardware`` (port from SO_ARM_PORT).
- ``gpu``: a CUDA device; runs when torch sees one.
- ``slow``: minutes on a 2-core CPU; runs with ``--run-slow``.
- ``ros``: a real ROS 2 install (rclpy from the PyPI wheels and the colcon-built
  smolvla_interfaces); runs when both import. With ``SMOLVLA_REQUIRE_ROS=1`` (scripts/test.sh, CI)
  a missing or broken ROS set-up is an error instead of a skip.

The network rule (docs: ros2_from_pypi.md) is applied here, at import, before any test module can
import rclpy: DDS discovery limited to localhost and a ROS domain of this run's own. Subprocesses
inherit it through the environment.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

# tests/ros holds the ROS helpers (ros_harness) used here and by the ROS test modules.
sys.path.insert(0, str(Path(__file__).resolve().parent / 'ros'))
from ros_harness import ros_import_error

# Never let a test process talk DDS beyond loopback, whatever the developer's shell says: forced,
# not setdefault. ROS_LOCALHOST_ONLY covers Humble-era code paths that predate the range variable.
# Static peers would reach other hosts despite LOCALHOST, so they are dropped.
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ['ROS_LOCALHOST_ONLY'] = '1'
os.environ.pop('ROS_STATIC_PEERS', None)

# Fast DDS derives its UDP ports from the domain id; 1..101 stays clear of Linux's ephemeral port
# range, and 0 (every ROS user's default) is avoided so a test run never joins a live robot graph.
TEST_DOMAIN_MIN, TEST_DOMAIN_MAX = 1, 101


def run_domain_id() -> int:
    """ROS_DOMAIN_ID for this test run: SMOLVLA_TEST_DOMAIN_ID if set, else derived from the pid.

    Raises:
        pytest.UsageError: SMOLVLA_TEST_DOMAIN_ID is not an integer in 1..101.
    """
    override = os.environ.get('SMOLVLA_TEST_DOMAIN_ID')
    if override is None:
        return TEST_DOMAIN_MIN + os.getpid() % (TEST_DOMAIN_MAX - TEST_DOMAIN_MIN + 1)
    try:
        value = int(override)
    except ValueError:
        value = -1
    if not TEST_DOMAIN_MIN <= value <= TEST_DOMAIN_MAX:
        raise pytest.UsageError(
            f'SMOLVLA_TEST_DOMAIN_ID={override!r}: set it to an integer in '
            f'{TEST_DOMAIN_MIN}..{TEST_DOMAIN_MAX} (or unset it for a per-run default)'
        )
    return value


os.environ['ROS_DOMAIN_ID'] = str(run_domain_id())

# Render MuJoCo on the CPU unless the user chose a backend (EGL on a GPU machine, say).
os.environ.setdefault('MUJOCO_GL', 'osmesa')
os.environ.setdefault('PYOPENGL_PLATFORM', os.environ['MUJOCO_GL'])
# Tests never reach the hub: loading code must work from local folders and the cache alone.
os.environ.setdefault('HF_HUB_OFFLINE', '1')


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption('--run-slow', action='store_true', help='run tests marked slow')
    parser.addoption(
        '--run-realtime',
        action='store_true',
        help='run tests that need the host to keep wall-clock deadlines (marked realtime)',
    )
    parser.addoption(
        '--run-hardware', action='store_true', help='run tests that need a real arm (SO_ARM_PORT)'
    )


def _cuda_available() -> bool:
    if importlib.util.find_spec('torch') is None:
        return False
    import torch

    return torch.cuda.is_available()


def pytest_report_header(config: pytest.Config) -> list[str]:
    net = ', '.join(
        f'{k}={os.environ[k]}'
        for k in ('ROS_AUTOMATIC_DISCOVERY_RANGE', 'ROS_LOCALHOST_ONLY', 'ROS_DOMAIN_ID')
    )
    error = ros_import_error()
    return [f'ros network: {net}', f'ros: {error or "rclpy and smolvla_interfaces import"}']


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reasons = {}
    if not config.getoption('--run-slow'):
        reasons['slow'] = 'slow test: pass --run-slow to run it'
    if not config.getoption('--run-realtime'):
        reasons['realtime'] = (
            'needs a host that keeps wall-clock deadlines: pass --run-realtime on a quiet machine'
        )
    if not config.getoption('--run-hardware'):
        reasons['hardware'] = 'needs a real arm: pass --run-hardware and set SO_ARM_PORT'
    if any(item.get_closest_marker('ros') for item in items):
        ros_error = ros_import_error()
        if ros_error is not None:
            if os.environ.get('SMOLVLA_REQUIRE_ROS') == '1':
                # CI: the ROS set-up is part of the product; a broken one must fail the run.
                raise pytest.UsageError(f'SMOLVLA_REQUIRE_ROS=1 but {ros_error}')
            reasons['ros'] = ros_error
    gpu_items = [item for item in items if 'gpu' in item.keywords]
    if gpu_items and not _cuda_available():
        reasons['gpu'] = 'needs a CUDA GPU (torch.cuda.is_available() is false)'
    for item in items:
        for marker, reason in reasons.items():
            if item.get_closest_marker(marker) is not None:
                item.add_marker(pytest.mark.skip(reason=reason))
                break
