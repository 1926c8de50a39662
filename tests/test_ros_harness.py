"""The test harness applies the network rule: loopback-only discovery and a domain of its own.

tests/conftest.py sets these before any test module imports rclpy; subprocesses spawned by tests
inherit them. These checks need no ROS install: they read the environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

NETWORK_VARS = ('ROS_AUTOMATIC_DISCOVERY_RANGE', 'ROS_LOCALHOST_ONLY', 'ROS_DOMAIN_ID')


def check_network_env(env: dict[str, str | None]) -> None:
    assert env['ROS_AUTOMATIC_DISCOVERY_RANGE'] == 'LOCALHOST'
    assert env['ROS_LOCALHOST_ONLY'] == '1'
    # 1..101: Fast DDS ports stay out of Linux's ephemeral range, and never the default domain 0.
    assert env['ROS_DOMAIN_ID'] is not None
    assert 1 <= int(env['ROS_DOMAIN_ID']) <= 101
    assert env.get('ROS_STATIC_PEERS') is None


def test_harness_sets_network_rule_in_process():
    check_network_env({k: os.environ.get(k) for k in (*NETWORK_VARS, 'ROS_STATIC_PEERS')})


def test_subprocess_inherits_network_rule():
    code = (
        'import json, os; print(json.dumps({k: os.environ.get(k) for k in '
        f'{(*NETWORK_VARS, "ROS_STATIC_PEERS")!r}}}))'
    )
    out = subprocess.run(
        [sys.executable, '-c', code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    env = json.loads(out.splitlines()[-1])
    check_network_env(env)
    assert env['ROS_DOMAIN_ID'] == os.environ['ROS_DOMAIN_ID']


def run_pytest_with_domain(override: str) -> subprocess.CompletedProcess[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    target = f'{__file__}::test_harness_sets_network_rule_in_process'
    return subprocess.run(
        [sys.executable, '-m', 'pytest', '-p', 'no:cacheprovider', target],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, 'SMOLVLA_TEST_DOMAIN_ID': override},
        cwd=os.path.dirname(here),
        timeout=300,
    )


def test_domain_override_is_used():
    """SMOLVLA_TEST_DOMAIN_ID=37 gives the run domain 37 (seen by a test of that run)."""
    result = run_pytest_with_domain('37')
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'ROS_DOMAIN_ID=37' in result.stdout  # the report header


def test_domain_override_outside_range_is_a_usage_error():
    """0 is every ROS user's default domain: refused, naming the variable and the range."""
    result = run_pytest_with_domain('0')
    assert result.returncode == 4, result.stdout + result.stderr  # pytest's usage-error code
    assert "SMOLVLA_TEST_DOMAIN_ID='0'" in result.stderr
    assert '1..101' in result.stderr
