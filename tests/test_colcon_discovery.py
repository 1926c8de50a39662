"""colcon finds both ROS packages with the base paths the README documents.

colcon stops descending into a folder once it has identified it as a package, so the repository
root (ament_python ``smolvla_ros``) hides ``smolvla_interfaces`` unless its path is named too. This
runs the real ``colcon list`` (colcon-core + colcon-ros from PyPI).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def colcon_list(tmp_path: Path, *base_paths: Path) -> dict[str, str]:
    exe = shutil.which('colcon') or str(Path(sys.executable).with_name('colcon'))
    if not Path(exe).exists():
        pytest.fail('colcon is not installed: pip install -e .[dev] (colcon-core, colcon-ros)')
    out = subprocess.run(
        [exe, '--log-base', str(tmp_path / 'log'), 'list', '--base-paths', *map(str, base_paths)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    found = {}
    for line in out.splitlines():
        name, _path, kind = line.split('\t')
        found[name] = kind.strip('()')
    return found


def test_documented_base_paths_find_both_packages(tmp_path):
    found = colcon_list(tmp_path, ROOT, ROOT / 'smolvla_interfaces')
    assert found == {'smolvla_ros': 'ros.ament_python', 'smolvla_interfaces': 'ros.ament_cmake'}


def test_root_alone_hides_the_interfaces_package(tmp_path):
    """Why the README names two paths: colcon does not look inside a package."""
    assert colcon_list(tmp_path, ROOT) == {'smolvla_ros': 'ros.ament_python'}


def test_readme_documents_the_command():
    readme = (ROOT / 'README.md').read_text()
    assert 'colcon build --base-paths src/smolvla-ros src/smolvla-ros/smolvla_interfaces' in readme
