"""What the launch files start, as plain data: one source of truth for launch files and checks.

The launch files in ``launch/`` are thin: they declare the arguments of their profile from
:data:`ARGUMENTS` and hand the argument values to :func:`plan_launch`, which returns the nodes and
processes to start (:class:`NodeSpec`, :class:`ProcessSpec`) with their parameter files (from
``config/``), parameter overrides, remaps and lifecycle flag. ``smolvla_ros.nodes.launch_actions``
turns a plan into ``launch_ros`` actions. The static check (``tests/test_launch_static.py``) runs
:func:`plan_launch` over the argument matrix without ``launch`` installed and compares every plan
with the node modules' parameter tables, the console scripts in ``setup.py`` and ``topics.py``.

This module is ROS-free (no rclpy, no launch): it only computes names, paths and values.

Profiles (one per launch file):

- ``bringup``: everything on one machine (``bringup.launch.py``).
- ``policy_server``: the policy node alone, for a GPU machine (``policy_server.launch.py``).
- ``robot``: cameras, driver or simulator, executor, robot_state_publisher and RViz on the
  robot's computer (``robot.launch.py``). ``policy_server`` + ``robot`` = ``bringup``.
- ``sim``: the MuJoCo simulator alone, with robot_state_publisher and RViz (``sim.launch.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

PACKAGE = 'smolvla_ros'
XACRO_FILE = 'urdf/so101.urdf.xacro'
RVIZ_FILE = 'rviz/smolvla.rviz'
GAZEBO_LAUNCH = 'launch/gazebo.launch.py'
CAMERA_SLOTS = ('top', 'wrist', 'side')
PROFILES = ('bringup', 'policy_server', 'robot', 'sim')
# Packages outside this one that a plan may start: they are not on PyPI and run on users'
# machines only (the launch arguments rviz/robot_state_publisher leave them out).
EXTERNAL_EXECUTABLES: dict[str, tuple[str, ...]] = {
    'robot_state_publisher': ('robot_state_publisher',),
    'rviz2': ('rviz2',),
    'ros2topic': ('ros2',),  # `ros2 topic pub` of the launch-time instruction
}
# Lifecycle transitions the launch drives with autostart:=true, in order, and the order of the
# lifecycle nodes (hardware first: a wrong port fails before a checkpoint is loaded).
AUTOSTART_TRANSITIONS = ('configure', 'activate')
AUTOSTART_ORDER = ('driver_node', 'executor_node', 'policy_node')


class LaunchArgumentError(ValueError):
    """A launch argument value (or combination) that the suite cannot launch."""


@dataclass(frozen=True)
class LaunchArgument:
    """One launch argument.

    Attributes:
        name: the argument (``name:=value`` on the command line).
        default: its default, a string like every launch argument value.
        description: what it selects; ``ros2 launch -s`` shows it.
        choices: the allowed values, empty for free text.
    """

    name: str
    default: str
    description: str
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.choices and self.default not in self.choices:
            raise ValueError(f'argument {self.name}: default {self.default!r} not in choices')


_FROM_CONFIG = " ('' = the value in config/)"

ARGUMENTS: tuple[LaunchArgument, ...] = (
    LaunchArgument(
        'robot', 'so101', 'arm model: robot profile config/<robot>.yaml', ('so101', 'so100')
    ),
    LaunchArgument(
        'backend', 'mujoco',
        'real: driver_node on the servo bus + camera_node per camera; mujoco: sim_node (arm and '
        'the three cameras); gazebo: gazebo.launch.py (ros2_control, needs output jtc or fjt)',
        ('real', 'mujoco', 'gazebo'),
    ),
    LaunchArgument('port', '', 'serial device of the arm (backend real)' + _FROM_CONFIG),
    LaunchArgument(
        'calibration', '',
        "LeRobot calibration JSON of the arm ('' = the driver's default file for the robot id; "
        "the policy gets 'virtual' under a simulator backend)",
    ),
    LaunchArgument(
        'policy', 'smolvla',
        'smolvla (checkpoint), scripted (simulator expert, backend mujoco) or replay '
        '(checkpoint = a recorded .npz)',
        ('smolvla', 'scripted', 'replay'),
    ),
    LaunchArgument(
        'checkpoint', '',
        'SmolVLA checkpoint folder or hub repo id (local cache); the .npz file for policy '
        "replay ('' in config/ too: the pretrained SmolVLA if cached, else the checkpoint "
        'shipped with the project)' + _FROM_CONFIG,
    ),
    LaunchArgument('device', '', "torch device of SmolVLA, e.g. cpu or cuda:0" + _FROM_CONFIG),
    LaunchArgument(
        'precision', '', 'SmolVLA precision' + _FROM_CONFIG, ('', 'fp32', 'bf16', 'fp16', 'int8')
    ),
    LaunchArgument(
        'instruction', '',
        'task instruction published once the policy is active (empty: send it later on '
        'smolvla/instruction or as a RunTask goal)',
    ),
    LaunchArgument(
        'mode', '', 'executor mode: async (request at g) or sync' + _FROM_CONFIG,
        ('', 'async', 'sync'),
    ),
    LaunchArgument(
        'g', '', 'request the next chunk when this fraction of the chunk remains, 0..1'
        + _FROM_CONFIG,
    ),
    LaunchArgument(
        'blending', '', 'merge of overlapping chunks' + _FROM_CONFIG,
        ('', 'crossfade', 'latest', 'weighted', 'average', 'conservative'),
    ),
    LaunchArgument(
        'output', 'driver',
        'where commands go: driver (smolvla/joint_command of driver_node/sim_node), jtc '
        '(a JointTrajectoryController topic) or fjt (FollowJointTrajectory action)',
        ('driver', 'jtc', 'fjt'),
    ),
    LaunchArgument(
        'cameras', 'top=0,wrist=2',
        "backend real: one camera_node per 'slot=source' (slots top, wrist, side; source a "
        'device index, /dev path, video file or image folder), comma separated',
    ),
    LaunchArgument('rviz', 'true', 'start RViz with rviz/smolvla.rviz', ('true', 'false')),
    LaunchArgument(
        'robot_state_publisher', 'true',
        'start robot_state_publisher with the URDF (xacro processed at launch); false for '
        'set-ups that already run one',
        ('true', 'false'),
    ),
    LaunchArgument(
        'use_sim_time', 'auto',
        'nodes use /clock (auto: true for the mujoco and gazebo backends)',
        ('auto', 'true', 'false'),
    ),
    LaunchArgument('namespace', '', 'ROS namespace of every node (empty: none)'),
    LaunchArgument(
        'autostart', 'true',
        'drive the lifecycle nodes to active; a failed transition is reported and shuts the '
        'launch down',
        ('true', 'false'),
    ),
)  # fmt: skip
ARGUMENT_BY_NAME: dict[str, LaunchArgument] = {a.name: a for a in ARGUMENTS}

_POLICY_ARGS = ('policy', 'checkpoint', 'device', 'precision', 'instruction')
_ROBOT_ARGS = ('port', 'mode', 'g', 'blending', 'output', 'cameras', 'rviz')
_COMMON = ('robot', 'backend', 'calibration', 'use_sim_time', 'namespace', 'autostart')
PROFILE_ARGUMENTS: dict[str, tuple[str, ...]] = {
    'bringup': tuple(a.name for a in ARGUMENTS),
    'policy_server': (*_COMMON, *_POLICY_ARGS),
    'robot': (*_COMMON, *_ROBOT_ARGS, 'robot_state_publisher'),
    'sim': ('rviz', 'robot_state_publisher', 'namespace'),
}

# Launch argument -> (node, parameter, type) it overrides when not empty. The node's config
# file holds the value otherwise.
ARGUMENT_PARAMETERS: dict[str, tuple[tuple[str, str, type], ...]] = {
    'robot': (('driver_node', 'robot', str), ('executor_node', 'robot', str)),
    'port': (('driver_node', 'port', str),),
    'calibration': (('driver_node', 'calibration', str), ('policy_node', 'calibration', str)),
    'policy': (('policy_node', 'policy', str),),
    'checkpoint': (('policy_node', 'checkpoint', str), ('policy_node', 'replay_file', str)),
    'device': (('policy_node', 'device', str),),
    'precision': (('policy_node', 'precision', str),),
    'mode': (('executor_node', 'mode', str),),
    'g': (('executor_node', 'g', float),),
    'blending': (('executor_node', 'blending', str),),
    'output': (('executor_node', 'output', str),),
}


@dataclass(frozen=True)
class NodeSpec:
    """One node to start.

    Attributes:
        package / executable: what ``ros2 run`` would start.
        name: the node name (namespace applies on top).
        config_files: parameter files relative to the package share, applied in order.
        parameters: overrides applied after the files (from launch arguments).
        remappings: (from, to) topic remaps.
        lifecycle: a lifecycle node (autostart drives it to active).
        arguments: extra command-line arguments.
        xacro_description: robot_state_publisher: ``robot_description`` = xacro of this file.
    """

    package: str
    executable: str
    name: str
    config_files: tuple[str, ...] = ()
    parameters: Mapping[str, object] = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()
    lifecycle: bool = False
    arguments: tuple[str, ...] = ()
    xacro_description: str = ''


@dataclass(frozen=True)
class ProcessSpec:
    """A helper process started once ``after_active`` (a lifecycle node name) is active."""

    package: str
    cmd: tuple[str, ...]
    after_active: str


@dataclass(frozen=True)
class LaunchPlan:
    """What one launch file starts for one set of argument values."""

    profile: str
    namespace: str
    nodes: tuple[NodeSpec, ...]
    processes: tuple[ProcessSpec, ...] = ()
    include_gazebo: bool = False
    autostart: bool = True
    used_arguments: frozenset[str] = frozenset()

    def node(self, name: str) -> NodeSpec:
        """The planned node called ``name``; raises KeyError naming the planned ones."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f'no node {name!r} in the plan; nodes: {[n.name for n in self.nodes]}')


def parse_cameras(text: str) -> tuple[tuple[str, str], ...]:
    """Parse ``'top=0,wrist=/dev/video2'`` into ``(('top', '0'), ('wrist', '/dev/video2'))``.

    Raises:
        LaunchArgumentError: empty text, an item without ``=``, an unknown or repeated slot, or
            an empty source, naming the item and the expected form.
    """
    items = [i.strip() for i in text.split(',') if i.strip()]
    if not items:
        raise LaunchArgumentError(
            "cameras:='' names no camera; give slot=source pairs, e.g. cameras:='top=0,wrist=2'"
        )
    out: list[tuple[str, str]] = []
    for item in items:
        slot, sep, source = (s.strip() for s in item.partition('='))
        if not sep or not source:
            raise LaunchArgumentError(
                f'cameras item {item!r} is not slot=source (e.g. top=0 or wrist=/dev/video2)'
            )
        if slot not in CAMERA_SLOTS:
            raise LaunchArgumentError(
                f'cameras item {item!r}: unknown slot {slot!r}; '
                f'slots are {", ".join(CAMERA_SLOTS)}'
            )
        if slot in (s for s, _ in out):
            raise LaunchArgumentError(f'cameras: slot {slot!r} given twice')
        out.append((slot, source))
    return tuple(out)


class _Args:
    """Argument values with validation and a record of which ones the plan read."""

    def __init__(self, profile: str, values: Mapping[str, str]) -> None:
        allowed = PROFILE_ARGUMENTS[profile]
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise LaunchArgumentError(
                f'{profile}.launch.py has no argument(s) {unknown}; its arguments: {list(allowed)}'
            )
        self._values = {n: str(values.get(n, ARGUMENT_BY_NAME[n].default)) for n in allowed}
        for name, value in self._values.items():
            choices = ARGUMENT_BY_NAME[name].choices
            if choices and value not in choices:
                shown = ', '.join(c or "''" for c in choices)
                raise LaunchArgumentError(f'{name}:={value!r} is not one of: {shown}')
        self.used: set[str] = set()

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def get(self, name: str, default: str) -> str:
        if name not in self._values:
            return default
        return self[name]

    def __getitem__(self, name: str) -> str:
        self.used.add(name)
        return self._values[name]


def _override(args: _Args, node: str) -> dict[str, object]:
    """The parameters of ``node`` set by non-empty launch arguments."""
    out: dict[str, object] = {}
    for arg, targets in ARGUMENT_PARAMETERS.items():
        if arg not in args:
            continue
        value = args[arg]
        if value == '':
            continue
        for target, param, kind in targets:
            if target != node:
                continue
            if param == 'replay_file' and args['policy'] != 'replay':
                continue
            if param == 'checkpoint' and args['policy'] == 'replay':
                continue
            try:
                out[param] = kind(value)
            except ValueError:
                raise LaunchArgumentError(
                    f'{arg}:={value!r} is not a {kind.__name__} (it sets {node}.{param})'
                ) from None
    return out


def plan_launch(profile: str, values: Mapping[str, str]) -> LaunchPlan:
    """The nodes a launch profile starts for these argument values (missing ones: defaults).

    Raises:
        LaunchArgumentError: an unknown profile or argument, a value outside its choices, a value
            of the wrong type, or a combination that cannot work (each message says what to
            change).
    """
    if profile not in PROFILES:
        raise LaunchArgumentError(f'unknown launch profile {profile!r}; profiles: {PROFILES}')
    args = _Args(profile, values)
    robot = args.get('robot', 'so101')
    namespace = args['namespace'].strip('/')
    backend = args.get('backend', 'mujoco')
    if 'use_sim_time' in args:
        sim_time_arg = args['use_sim_time']
        sim_time = backend != 'real' if sim_time_arg == 'auto' else sim_time_arg == 'true'
    else:
        sim_time = False  # sim profile: the simulator itself runs on wall time
    common = (f'config/{robot}.yaml',)  # after each node's file: the profile wins
    nodes: list[NodeSpec] = []
    processes: list[ProcessSpec] = []
    with_robot = profile in ('bringup', 'robot', 'sim')
    with_policy = profile in ('bringup', 'policy_server')

    if with_policy:
        policy = args['policy']
        if policy == 'scripted' and backend != 'mujoco':
            raise LaunchArgumentError(
                'policy:=scripted reads the MuJoCo simulator state: use backend:=mujoco, or '
                'policy:=smolvla with a checkpoint'
            )
        if policy == 'replay' and not args['checkpoint']:
            raise LaunchArgumentError('policy:=replay needs checkpoint:=<recorded chunks .npz>')
        params = _override(args, 'policy_node')
        if backend != 'real' and not args['calibration']:
            params['calibration'] = 'virtual'  # the simulators' joint convention
        params['use_sim_time'] = sim_time
        nodes.append(
            NodeSpec(
                PACKAGE, 'policy_node', 'policy_node',
                ('config/policy_node.yaml', *common), params,
                remappings=_gazebo_remaps(backend, policy=True), lifecycle=True,
            )
        )  # fmt: skip
        instruction = args['instruction'].strip()
        if instruction:
            topic = '/' + '/'.join(p for p in (namespace, 'smolvla/instruction') if p)
            processes.append(
                ProcessSpec(
                    'ros2topic',
                    (
                        'ros2', 'topic', 'pub', '--once', '-w', '1', '--qos-reliability',
                        'reliable', topic, 'std_msgs/msg/String',
                        # JSON is YAML: quotes and colons in the instruction stay data
                        '{data: ' + json.dumps(instruction) + '}',
                    ),
                    after_active='policy_node',
                )
            )  # fmt: skip

    include_gazebo = False
    if profile in ('bringup', 'robot'):
        output = args['output']
        if backend == 'gazebo' and output == 'driver':
            raise LaunchArgumentError(
                'backend:=gazebo runs ros2_control, which has no smolvla/joint_command: use '
                'output:=jtc or output:=fjt'
            )
        if backend == 'real':
            calibration_params = _override(args, 'driver_node')
            nodes.append(
                NodeSpec(
                    PACKAGE, 'driver_node', 'driver_node',
                    ('config/driver_node.yaml', *common),
                    {**calibration_params, 'use_sim_time': sim_time}, lifecycle=True,
                )
            )  # fmt: skip
            for slot, source in parse_cameras(args['cameras']):
                nodes.append(
                    NodeSpec(
                        PACKAGE, 'camera_node', f'camera_{slot}', ('config/camera_node.yaml',),
                        {'slot': slot, 'source': source, 'use_sim_time': sim_time},
                    )
                )  # fmt: skip
        elif backend == 'mujoco':
            nodes.append(_sim_node())
        else:
            include_gazebo = True
        executor_params = {**_override(args, 'executor_node'), 'use_sim_time': sim_time}
        if include_gazebo:
            # gazebo.launch.py runs ros2_control outside the namespace.
            executor_params['controller_topic'] = '/arm_controller/joint_trajectory'
            executor_params['controller_action'] = '/arm_controller/follow_joint_trajectory'
        nodes.append(
            NodeSpec(
                PACKAGE, 'executor_node', 'executor_node',
                ('config/executor_node.yaml', *common), executor_params,
                remappings=_gazebo_remaps(backend, policy=False), lifecycle=True,
            )
        )  # fmt: skip
    elif profile == 'sim':
        nodes.append(_sim_node())

    if with_robot:
        # gazebo.launch.py runs its own robot_state_publisher (it spawns from its description).
        if args['robot_state_publisher'] == 'true' and not include_gazebo:
            nodes.append(
                NodeSpec(
                    'robot_state_publisher', 'robot_state_publisher', 'robot_state_publisher',
                    parameters={'use_sim_time': sim_time}, xacro_description=XACRO_FILE,
                )
            )  # fmt: skip
        if args['rviz'] == 'true':
            nodes.append(
                NodeSpec(
                    'rviz2', 'rviz2', 'rviz2', parameters={'use_sim_time': sim_time},
                    arguments=('-d', RVIZ_FILE),
                )
            )  # fmt: skip

    autostart = args['autostart'] == 'true' if 'autostart' in args else True
    return LaunchPlan(
        profile=profile,
        namespace=namespace,
        nodes=tuple(nodes),
        processes=tuple(processes),
        include_gazebo=include_gazebo,
        autostart=autostart,
        used_arguments=frozenset(args.used),
    )


def _gazebo_remaps(backend: str, policy: bool) -> tuple[tuple[str, str], ...]:
    """Under gazebo, joint states and camera images come from outside the namespace.

    gazebo.launch.py runs the joint_state_broadcaster and the image bridge without a namespace
    (absolute /joint_states, /smolvla/cameras/...); the suite's names are relative, so under
    ``namespace:=...`` they are remapped to the absolute ones. Without a namespace the remap is
    the identity.
    """
    if backend != 'gazebo':
        return ()
    remaps = [('joint_states', '/joint_states')]
    if policy:
        for slot in CAMERA_SLOTS:
            topic = f'smolvla/cameras/{slot}/image_raw'
            remaps.append((topic, '/' + topic))
    return tuple(remaps)


def _sim_node() -> NodeSpec:
    # The simulator is the clock: it runs on wall time and publishes /clock.
    return NodeSpec(PACKAGE, 'sim_node', 'sim_node', ('config/sim_node.yaml',))


def config_files() -> tuple[str, ...]:
    """Every parameter file a plan may name, relative to the package share."""
    nodes = ('camera_node', 'sim_node', 'policy_node', 'executor_node', 'driver_node')
    return (*(f'config/{n}.yaml' for n in nodes), 'config/so100.yaml', 'config/so101.yaml')
