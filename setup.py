"""Install smolvla_ros two ways from one tree.

- ROS 2 (colcon, ament_python): the Python packages, the ament index marker, package.xml and the
  data folders (launch/ config/ urdf/ rviz/) under share/smolvla_ros; console scripts land in
  lib/smolvla_ros (see setup.cfg) so `ros2 run smolvla_ros <executable>` finds them.
- Plain pip (`pip install -e .[all]`): the same packages and console scripts, no ROS needed.

torch is deliberately unpinned: users bring the build that matches their CUDA.
"""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = 'smolvla_ros'
HERE = Path(__file__).resolve().parent


def data_files_of(folder: str, patterns: tuple[str, ...]) -> list[tuple[str, list[str]]]:
    """Install every file of `folder` matching `patterns`, one entry per sub-folder.

    setuptools' data_files is not recursive, so each directory gets its own entry.
    """
    entries: dict[str, list[str]] = {}
    root = HERE / folder
    for pattern in patterns:
        for path in sorted(root.rglob(pattern)):
            if path.is_file():
                rel = path.relative_to(HERE)
                target = str(Path('share') / PACKAGE / rel.parent)
                entries.setdefault(target, []).append(str(rel))
    return sorted(entries.items())


EXTRAS = {
    # SmolVLA inference and training.
    'model': ['torch>=2.2', 'transformers>=5.0,<6', 'safetensors>=0.4', 'huggingface_hub>=0.30'],
    # MuJoCo simulator of the SO-101 (CPU rendering needs libosmesa6 and MUJOCO_GL=osmesa).
    'sim': ['mujoco>=3.2', 'imageio>=2.30', 'imageio-ffmpeg>=0.4', 'xacro>=2.0'],
    # Real arms and USB cameras.
    'hardware': ['feetech-servo-sdk>=1.0', 'dynamixel-sdk>=3.7', 'pyserial>=3.5'],
    'camera': ['opencv-python-headless>=4.8'],
    # The standalone runner (smolvla-run): live display, plots, video overlay text, the MCAP bag.
    'runner': ['rich>=13', 'matplotlib>=3.8', 'pillow>=10', 'rosbags>=0.10'],
    # LeRobot v3.0 datasets (smolvla-record, training): parquet tables and MP4 (AV1) videos.
    'dataset': ['pyarrow>=15', 'av>=12', 'tqdm>=4.60'],
    # Tests, lint, benchmarks' plots, and the ROS 2 message definitions used by the node tests.
    'dev': [
        'pytest>=8',
        'hypothesis>=6.100',
        'ruff>=0.6',
        'rosbags>=0.10',
        'colcon-core>=0.17',
        'colcon-ros>=0.5',
        'colcon-cmake>=0.2',
        'colcon-package-information>=0.4',
        'matplotlib>=3.8',
    ],
    # ROS 2 Kilted from PyPI (the ros-python-wheels builds): rclpy with Fast DDS, lifecycle and
    # actions, and the message packages the nodes use. Pinned (==) so CI and users get the build
    # the suite is tested with. Not part of 'all': pip users without ROS never need it. The build
    # tools for smolvla_interfaces are listed in scripts/build_interfaces.sh, not here: the wheels'
    # metadata omits build-time dependencies, and only a colcon build needs them.
    'ros': [
        'ros-rclpy[fastrtps]==9.1.2',
        'ros-rcl-lifecycle==10.1.3',
        'ros-rcl-action==10.1.3',
        'ros-builtin-interfaces==2.3.0',
        'ros-rcl-interfaces==2.3.0',
        'ros-rosgraph-msgs==2.3.0',
        'ros-action-msgs==2.3.0',
        'ros-lifecycle-msgs==2.3.0',
        'ros-std-msgs==5.5.1',
        'ros-std-srvs==5.5.1',
        'ros-sensor-msgs==5.5.1',
        'ros-trajectory-msgs==5.5.1',
        'ros-geometry-msgs==5.5.1',
        'ros-diagnostic-msgs==5.5.1',
        'ros-visualization-msgs==5.5.1',
    ],
}
EXTRAS['all'] = sorted(
    {d for n in ('model', 'sim', 'hardware', 'camera', 'runner', 'dataset') for d in EXTRAS[n]}
)

setup(
    name=PACKAGE,
    version='0.1.0',
    description='ROS 2 nodes and a ROS-free runtime for the SmolVLA policy on SO-100/SO-101 arms',
    long_description=(HERE / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=find_packages(include=['smolvla_ros*', 'smolvla_model*', 'so_arm_driver*']),
    include_package_data=True,
    install_requires=['numpy>=1.24', 'pyyaml>=6'],
    extras_require=EXTRAS,
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        *data_files_of('launch', ('*.py', '*.xml', '*.yaml')),
        *data_files_of('config', ('*.yaml', '*.json')),
        *data_files_of('urdf', ('*.urdf', '*.xacro', '*.xml', '*.yaml')),
        *data_files_of('rviz', ('*.rviz',)),
        # The shipped SmolVLA checkpoint (when present): smolvla_ros.policy.default_checkpoint
        # looks for it under share/smolvla_ros/checkpoints/ in an installed package.
        *data_files_of('checkpoints', ('*.json', '*.safetensors', '*.md')),
    ],
    zip_safe=False,
    entry_points={
        'console_scripts': [
            'so-arm = so_arm_driver.cli:main',
            'smolvla-sim = so_arm_driver.sim.cli:main',
            'smolvla-parity = smolvla_model.parity:main',
            'smolvla-bench = smolvla_ros.bench.__main__:main',
            'camera_node = smolvla_ros.nodes.camera_node:main',
            'sim_node = smolvla_ros.nodes.sim_node:main',
            'driver_node = smolvla_ros.nodes.driver_node:main',
            'policy_node = smolvla_ros.nodes.policy_node:main',
            'executor_node = smolvla_ros.nodes.executor_node:main',
            'smolvla-run = smolvla_ros.runner.cli:main',
            'smolvla-eval = smolvla_ros.runner.evaluate:main',
            'smolvla-record = smolvla_ros.record.cli:main',
            'smolvla-train = smolvla_model.train.cli:main',
        ],
    },
)
