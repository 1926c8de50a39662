"""Suite-wide pytest set-up: markers for tests that need what this machine may not have.

- ``hardware``: a real arm; runs with ``--run-hardware`` (port from SO_ARM_PORT).
- ``gpu``: a CUDA device; runs when torch sees one.
- ``slow``: minutes on a 2-core CPU; runs with ``--run-slow``.
- ``ros``: a real ROS 2 install (rclpy, launch_testing); runs when rclpy imports.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

# Render MuJoCo on the CPU unless the user chose a backend (EGL on a GPU machine, say).
os.environ.setdefault('MUJOCO_GL', 'osmesa')
os.environ.setdefault('PYOPENGL_PLATFORM', os.environ['MUJOCO_GL'])
# Tests never reach the hub: loading code must work from local folders and the cache alone.
os.environ.setdefault('HF_HUB_OFFLINE', '1')


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption('--run-slow', action='store_true', help='run tests marked slow')
    parser.addoption(
        '--run-hardware', action='store_true', help='run tests that need a real arm (SO_ARM_PORT)'
    )


def _cuda_available() -> bool:
    if importlib.util.find_spec('torch') is None:
        return False
    import torch

    return torch.cuda.is_available()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reasons = {}
    if not config.getoption('--run-slow'):
        reasons['slow'] = 'slow test: pass --run-slow to run it'
    if not config.getoption('--run-hardware'):
        reasons['hardware'] = 'needs a real arm: pass --run-hardware and set SO_ARM_PORT'
    if importlib.util.find_spec('rclpy') is None:
        reasons['ros'] = 'needs a real ROS 2 install (rclpy not importable)'
    gpu_items = [item for item in items if 'gpu' in item.keywords]
    if gpu_items and not _cuda_available():
        reasons['gpu'] = 'needs a CUDA GPU (torch.cuda.is_available() is false)'
    for item in items:
        for marker, reason in reasons.items():
            if marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))
                break
