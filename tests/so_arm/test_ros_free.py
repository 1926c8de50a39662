"""so_arm_driver is a ROS-free core: no module imports rclpy, *_msgs, launch or cv_bridge."""

from __future__ import annotations

import ast
from pathlib import Path

import so_arm_driver

FORBIDDEN = ('rclpy', 'launch', 'launch_ros', 'cv_bridge')


def test_no_ros_imports_in_the_driver():
    root = Path(so_arm_driver.__file__).parent
    offenders = []
    for path in root.rglob('*.py'):
        for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split('.')[0]
                if top in FORBIDDEN or top.endswith('_msgs'):
                    offenders.append(f'{path.relative_to(root)}: {name}')
    assert offenders == []
