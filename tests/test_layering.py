"""The layer rule: cores never import ROS, and inner layers never import outer ones.

ROS-facing code lives only in ``smolvla_ros/nodes/`` (and a ``node``/``nodes`` module of
``so_arm_driver``, should it ever get one). Everything else must import and run on a machine
with no ROS 2 at all. Two checks: a static scan of every import statement, and a real import of
every core module in a fresh interpreter where any ROS module is made unimportable.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE_PACKAGES = ('smolvla_model', 'so_arm_driver', 'smolvla_ros')
ROS_MODULE_PREFIXES = (
    'rclpy',
    'rcl_interfaces',
    'launch',
    'launch_ros',
    'launch_testing',
    'cv_bridge',
    'ament_index_python',
    'rosidl_runtime_py',
    'message_filters',
    'tf2_ros',
    'smolvla_interfaces',
)
# Which first-party packages each package may import (the arrows of architecture.md).
ALLOWED_FIRST_PARTY = {
    'smolvla_model': {'smolvla_model'},
    'so_arm_driver': {'so_arm_driver'},
    'smolvla_ros': {'smolvla_ros', 'smolvla_model', 'so_arm_driver'},
}


def is_ros_module(name: str) -> bool:
    top = name.split('.', maxsplit=1)[0]
    return top in ROS_MODULE_PREFIXES or top.endswith(('_msgs', '_srvs'))


def is_ros_facing(path: Path) -> bool:
    rel = path.relative_to(ROOT).parts
    if rel[:2] == ('smolvla_ros', 'nodes'):
        return True
    return rel[0] == 'so_arm_driver' and rel[1] in ('node.py', 'nodes')


def core_files() -> list[Path]:
    files = [p for pkg in CORE_PACKAGES for p in (ROOT / pkg).rglob('*.py')]
    return sorted(p for p in files if not is_ros_facing(p))


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_scan_finds_core_files():
    assert len(core_files()) >= 3


@pytest.mark.parametrize('path', core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_imports_no_ros(path):
    bad = [m for m in imported_modules(path) if is_ros_module(m)]
    assert not bad, f'{path.relative_to(ROOT)} imports ROS modules {bad}; move that code to nodes/'


@pytest.mark.parametrize('path', core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_inner_layers_do_not_import_outer_ones(path):
    package = path.relative_to(ROOT).parts[0]
    first_party = [m for m in imported_modules(path) if m.split('.')[0] in CORE_PACKAGES]
    bad = [m for m in first_party if m.split('.')[0] not in ALLOWED_FIRST_PARTY[package]]
    assert not bad, f'{path.relative_to(ROOT)} ({package}) must not import {bad}'


def node_files() -> list[Path]:
    return sorted(p for p in (ROOT / 'smolvla_ros' / 'nodes').rglob('*.py'))


def test_nodes_are_ros_facing_and_scanned_separately():
    nodes = node_files()
    assert ROOT / 'smolvla_ros' / 'nodes' / 'conversions.py' in nodes
    assert all(is_ros_facing(p) for p in nodes)
    assert not set(nodes) & set(core_files())


@pytest.mark.parametrize('path', core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_cores_do_not_import_nodes(path):
    bad = [m for m in imported_modules(path) if m.startswith('smolvla_ros.nodes')]
    assert not bad, f'{path.relative_to(ROOT)} imports {bad}; nodes are the outer layer'


@pytest.mark.parametrize('path', node_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_nodes_import_only_the_cores_as_first_party(path):
    first_party = [m for m in imported_modules(path) if m.split('.')[0] in CORE_PACKAGES]
    bad = [m for m in first_party if m.split('.')[0] not in ALLOWED_FIRST_PARTY['smolvla_ros']]
    assert not bad, f'{path.relative_to(ROOT)} must not import {bad}'


def test_scanner_flags_ros_imports(tmp_path):
    sample = tmp_path / 'm.py'
    sample.write_text('import rclpy\nfrom sensor_msgs.msg import Image\nimport numpy\n')
    flagged = [m for m in imported_modules(sample) if is_ros_module(m)]
    assert flagged == ['rclpy', 'sensor_msgs.msg']


IMPORT_ALL_CORE_MODULES = r"""
import importlib, importlib.abc, json, pkgutil, sys

class RosBlocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split('.')[0]
        if top in ROS or top.endswith(('_msgs', '_srvs')):
            raise ImportError(f'ROS module {name!r} imported by a core module')
        return None

ROS = set(json.loads(sys.argv[1]))
sys.meta_path.insert(0, RosBlocker())
failed = {}
for package in ('smolvla_model', 'so_arm_driver', 'smolvla_ros'):
    pkg = importlib.import_module(package)
    for info in pkgutil.walk_packages(pkg.__path__, package + '.'):
        name = info.name
        if name.startswith('smolvla_ros.nodes') or name.endswith('__main__'):
            continue
        if name.split('.')[:2] in (['so_arm_driver', 'node'], ['so_arm_driver', 'nodes']):
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed[name] = f'{type(exc).__name__}: {exc}'
print(json.dumps(failed))
"""


def test_every_core_module_imports_without_ros():
    result = subprocess.run(
        [sys.executable, '-c', IMPORT_ALL_CORE_MODULES, json.dumps(ROS_MODULE_PREFIXES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    failed = json.loads(result.stdout.strip().splitlines()[-1])
    assert failed == {}, failed
