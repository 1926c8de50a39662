"""The ROS benchmark scripts apply the network rule themselves (discovery on this machine only),
whatever the shell that starts them exported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from smolvla_ros.bench.ros_network import localhost_only

ROOT = Path(__file__).resolve().parents[1]
KEYS = ('ROS_AUTOMATIC_DISCOVERY_RANGE', 'ROS_LOCALHOST_ONLY', 'ROS_DOMAIN_ID')


@pytest.mark.parametrize(
    ('script', 'domain'), [('bench_ros.py', '72'), ('bench_ros_graph.py', '61')]
)
def test_script_sets_localhost_discovery_before_rclpy(script: str, domain: str) -> None:
    """Loaded with none of the variables set (and a hostile SUBNET range), the script's module
    code leaves LOCALHOST / 1 / its own domain in the environment its children inherit."""
    env = {k: v for k, v in os.environ.items() if k not in KEYS}
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'SUBNET'
    code = (
        'import importlib.util, json, os, sys\n'
        f'spec = importlib.util.spec_from_file_location("b", {str(ROOT / "scripts" / script)!r})\n'
        'm = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n'
        f'print(json.dumps({{k: os.environ.get(k) for k in {KEYS!r}}}))\n'
        'print("rclpy" in sys.modules)\n'
    )
    out = subprocess.run(
        [sys.executable, '-c', code],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    values, rclpy_loaded = out.stdout.strip().splitlines()[-2:]
    assert json.loads(values) == dict(zip(KEYS, ('LOCALHOST', '1', domain), strict=True))
    assert rclpy_loaded == 'False'  # set before any import of rclpy


def test_a_domain_already_set_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('ROS_DOMAIN_ID', '33')
    monkeypatch.delenv('ROS_LOCALHOST_ONLY', raising=False)
    assert localhost_only(61) == {
        'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
        'ROS_LOCALHOST_ONLY': '1',
        'ROS_DOMAIN_ID': '33',
    }


def test_a_domain_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match=r'0\.\.101'):
        localhost_only(200)
