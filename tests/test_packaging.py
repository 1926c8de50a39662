"""The tree is both an ament_python package and a plain pip package."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The run dependencies the suite's nodes and launch files use (issue #2 lists them).
REQUIRED_EXEC_DEPENDS = {
    'rclpy',
    'sensor_msgs',
    'trajectory_msgs',
    'control_msgs',
    'std_msgs',
    'std_srvs',
    'diagnostic_msgs',
    'cv_bridge',
    'launch_ros',
    'robot_state_publisher',
    'rviz2',
    'smolvla_interfaces',
    'python3-opencv',
}


def test_root_package_xml_is_ament_python():
    root = ET.parse(ROOT / 'package.xml').getroot()
    assert root.get('format') == '3'
    assert root.findtext('name') == 'smolvla_ros'
    assert root.find('export/build_type').text == 'ament_python'
    exec_depends = {e.text for e in root.findall('exec_depend')} | {
        e.text for e in root.findall('depend')
    }
    assert exec_depends >= REQUIRED_EXEC_DEPENDS, REQUIRED_EXEC_DEPENDS - exec_depends


def test_interfaces_package_xml_is_an_interface_package():
    root = ET.parse(ROOT / 'smolvla_interfaces' / 'package.xml').getroot()
    assert root.get('format') == '3'
    assert root.findtext('name') == 'smolvla_interfaces'
    assert root.find('export/build_type').text == 'ament_cmake'
    assert root.findtext('member_of_group') == 'rosidl_interface_packages'


def test_ament_marker_and_script_dir():
    assert (ROOT / 'resource' / 'smolvla_ros').is_file()
    cfg = (ROOT / 'setup.cfg').read_text()
    assert 'install_scripts=$base/lib/smolvla_ros' in cfg


def test_wheel_holds_packages_data_and_marker(tmp_path):
    """Build the wheel pip would install and check what ROS and pip users need is inside."""
    subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q',
         '-w', str(tmp_path), str(ROOT)],
        check=True,
        timeout=300,
        capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob('smolvla_ros-*.whl')
    names = zipfile.ZipFile(wheel).namelist()
    for package in ('smolvla_ros', 'smolvla_model', 'so_arm_driver'):
        assert f'{package}/__init__.py' in names
    data = [n for n in names if '.data/data/' in n]
    assert any(n.endswith('share/ament_index/resource_index/packages/smolvla_ros') for n in data)
    assert any(n.endswith('share/smolvla_ros/package.xml') for n in data)
    for folder in ('launch', 'config', 'urdf', 'rviz'):
        on_disk = [p for p in (ROOT / folder).rglob('*') if p.is_file()]
        for path in on_disk:
            rel = path.relative_to(ROOT).as_posix()
            installed = any(n.endswith(f'share/smolvla_ros/{rel}') for n in data)
            assert installed, f'{rel} is not installed to share/smolvla_ros'
    assert not any(n.startswith('tests/') for n in names)
