"""Static check of the launch files, config files and RViz config (no `launch` needed: CI).

The launch files build everything from ``smolvla_ros.launch_tables.plan_launch``; this test runs
that plan over the argument matrix of every profile and compares each plan with independent
sources: the console scripts in ``setup.py``, the parameter tables of the node modules, the
topic names the node modules use (scanned from their source), ``config/*.yaml`` and
``rviz/smolvla.rviz``. Node modules import rclpy (CI has it); the parts that need them skip with
the reason where rclpy is missing.
"""

from __future__ import annotations

import ast
import importlib
import itertools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from smolvla_ros.launch_tables import (
    ARGUMENT_BY_NAME,
    ARGUMENTS,
    AUTOSTART_ORDER,
    CAMERA_SLOTS,
    EXTERNAL_EXECUTABLES,
    PACKAGE,
    PROFILE_ARGUMENTS,
    PROFILES,
    LaunchArgumentError,
    LaunchPlan,
    config_files,
    parse_cameras,
    plan_launch,
)

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ('camera_node', 'sim_node', 'policy_node', 'executor_node', 'driver_node')
# Parameters rclpy declares on every node.
BUILTIN_PARAMETERS = {'use_sim_time'}
# Topics of packages outside this one that the RViz config may show.
EXTERNAL_TOPICS = {'/robot_description', '/tf', '/tf_static'}


# -- independent sources --------------------------------------------------------------------------
def console_scripts() -> set[str]:
    """The console script names in setup.py's entry_points (read with ast, not imported)."""
    tree = ast.parse((ROOT / 'setup.py').read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == 'console_scripts':
                    items = [ast.literal_eval(e) for e in value.elts]  # type: ignore[attr-defined]
                    return {item.split('=')[0].strip() for item in items}
    raise AssertionError('setup.py has no console_scripts entry point')


def node_parameter_specs(module: str) -> dict[str, Any]:
    """{name: ParamSpec} of a node module (its module-level tuple of ParamSpec rows)."""
    pytest.importorskip('rclpy', reason='node parameter tables need rclpy (CI has it)')
    mod = importlib.import_module(f'smolvla_ros.nodes.{module}')
    from smolvla_ros.nodes.params import ParamSpec

    tables = [
        v
        for v in vars(mod).values()
        if isinstance(v, tuple) and v and all(isinstance(s, ParamSpec) for s in v)
    ]
    assert len(tables) == 1, f'{module} should have one module-level ParamSpec table'
    return {s.name: s for s in tables[0]}


def topic_constants() -> dict[str, str]:
    """{constant name: value} of the string constants in smolvla_ros/nodes/topics.py (ast)."""
    tree = ast.parse((ROOT / 'smolvla_ros' / 'nodes' / 'topics.py').read_text())
    out = {}
    for node in tree.body:
        value = getattr(node, 'value', None)
        is_str = isinstance(value, ast.Constant) and isinstance(value.value, str)
        if isinstance(node, ast.Assign) and is_str:
            out[node.targets[0].id] = value.value  # type: ignore[union-attr,attr-defined]
    return out


def suite_topics() -> set[str]:
    """Every topic name of the node suite (relative names; slots filled in)."""
    names = set()
    for value in topic_constants().values():
        if '{slot}' in value:
            names.update(value.format(slot=s) for s in CAMERA_SLOTS)
        else:
            names.add(value)
    return names


def topics_used_by(module: str) -> set[str]:
    """Topic names a node module uses: ``topics.X`` constants and ``topics.camera_*`` calls."""
    constants = topic_constants()
    tree = ast.parse((ROOT / 'smolvla_ros' / 'nodes' / f'{module}.py').read_text())
    used = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == 'topics'
        ):
            if node.attr in constants and '{slot}' not in constants[node.attr]:
                used.add(constants[node.attr])
            elif node.attr in ('camera_topic', 'camera_info_topic') or (
                node.attr in constants and '{slot}' in constants[node.attr]
            ):
                # per-slot topics: any slot (the node takes the slot from a parameter or list)
                templates = [v for v in constants.values() if '{slot}' in v]
                used.update(t.format(slot=s) for t in templates for s in CAMERA_SLOTS)
    return used


# -- the argument matrix --------------------------------------------------------------------------
def _matrix(profile: str) -> list[dict[str, str]]:
    """Argument sets covering every choice of every argument of the profile (and key pairs)."""
    names = PROFILE_ARGUMENTS[profile]
    samples = {
        'port': ('', '/dev/ttyUSB0'),
        'calibration': ('', '/tmp/so101.json'),
        'checkpoint': ('', 'lerobot/smolvla_base'),
        'device': ('', 'cuda:0'),
        'instruction': ('', 'pick up the cube'),
        'g': ('', '0.5'),
        'cameras': ('top=0,wrist=2', 'top=/dev/video0,wrist=1,side=/data/side.mp4'),
        'namespace': ('', 'arm1'),
    }
    values = {n: ARGUMENT_BY_NAME[n].choices or samples[n] for n in names}
    sets: list[dict[str, str]] = [{}]
    sets += [{n: v} for n in names for v in values[n]]
    # the arguments that change which nodes start, in every combination
    key = [
        n for n in ('backend', 'policy', 'output', 'rviz', 'robot_state_publisher') if n in names
    ]
    for combo in itertools.product(*(values[n] for n in key)):
        extra = {'checkpoint': 'c.npz'} if 'checkpoint' in names else {}
        sets.append({**dict(zip(key, combo, strict=True)), **extra})
    return sets


def _plans(profile: str) -> list[LaunchPlan]:
    plans = []
    for values in _matrix(profile):
        try:
            plans.append(plan_launch(profile, values))
        except LaunchArgumentError as exc:
            # Only the documented impossible combinations are refused.
            merged = {n: ARGUMENT_BY_NAME[n].default for n in PROFILE_ARGUMENTS[profile]}
            merged.update(values)
            refused = (
                (merged.get('policy') == 'scripted' and merged.get('backend') != 'mujoco')
                or (merged.get('backend') == 'gazebo' and merged.get('output') == 'driver'
                    and profile in ('bringup', 'robot'))
                or (merged.get('policy') == 'replay' and not merged.get('checkpoint'))
            )  # fmt: skip
            assert refused, f'{profile} {values} refused: {exc}'
    assert plans
    return plans


ALL_PLANS = {p: _plans(p) for p in PROFILES}


# -- launch files and arguments -------------------------------------------------------------------
def test_every_profile_has_a_launch_file_that_uses_it():
    found = {}
    for path in sorted((ROOT / 'launch').glob('*.launch.py')):
        tree = ast.parse(path.read_text())
        calls = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and getattr(n.func, 'id', '') == 'launch_description'
        ]
        if path.name == 'gazebo.launch.py':
            continue
        assert len(calls) == 1, f'{path.name} should return launch_description(<profile>)'
        found[path.name] = ast.literal_eval(calls[0].args[0])
    assert found == {f'{p}.launch.py': p for p in PROFILES}


def test_arguments_have_descriptions_and_valid_defaults():
    assert len({a.name for a in ARGUMENTS}) == len(ARGUMENTS)
    for a in ARGUMENTS:
        assert len(a.description) > 15, a.name
        assert not a.choices or a.default in a.choices, a.name
    for profile, names in PROFILE_ARGUMENTS.items():
        assert set(names) <= set(ARGUMENT_BY_NAME), profile
    # the issue's argument list, all on bringup
    issue = {
        'robot', 'backend', 'port', 'calibration', 'policy', 'checkpoint', 'device', 'precision',
        'instruction', 'mode', 'g', 'blending', 'output', 'cameras', 'rviz',
        'robot_state_publisher', 'use_sim_time', 'namespace', 'autostart',
    }  # fmt: skip
    assert set(issue) == set(PROFILE_ARGUMENTS['bringup'])


@pytest.mark.parametrize('profile', PROFILES)
def test_every_launch_argument_is_used(profile):
    used = set().union(*(p.used_arguments for p in ALL_PLANS[profile]))
    assert used == set(PROFILE_ARGUMENTS[profile]), set(PROFILE_ARGUMENTS[profile]) - used


def test_two_machine_profiles_together_declare_the_bringup_arguments():
    pair = set(PROFILE_ARGUMENTS['policy_server']) | set(PROFILE_ARGUMENTS['robot'])
    assert pair == set(PROFILE_ARGUMENTS['bringup'])


def test_two_machine_profiles_together_start_the_bringup_nodes():
    for values in ({}, {'backend': 'real'}, {'backend': 'gazebo', 'output': 'fjt'}):
        whole = plan_launch('bringup', values)
        policy = plan_launch('policy_server', {k: v for k, v in values.items() if k != 'output'})
        robot = plan_launch('robot', values)
        assert sorted(whole.nodes, key=lambda n: n.name) == sorted(
            policy.nodes + robot.nodes, key=lambda n: n.name
        )


# -- executables, parameters, remaps --------------------------------------------------------------
def test_every_lifecycle_node_has_an_autostart_place():
    lifecycle = {
        n.name for plans in ALL_PLANS.values() for p in plans for n in p.nodes if n.lifecycle
    }
    assert lifecycle == set(AUTOSTART_ORDER)


@pytest.mark.parametrize('profile', PROFILES)
def test_every_executable_is_a_console_script_or_a_named_external(profile):
    scripts = console_scripts()
    for plan in ALL_PLANS[profile]:
        for node in plan.nodes:
            if node.package == PACKAGE:
                assert node.executable in scripts, node
            else:
                assert node.executable in EXTERNAL_EXECUTABLES[node.package], node
        for process in plan.processes:
            assert process.cmd[0] in EXTERNAL_EXECUTABLES[process.package], process


@pytest.mark.parametrize('profile', PROFILES)
def test_every_parameter_set_by_launch_or_config_is_declared(profile):
    specs = {m: node_parameter_specs(m) for m in NODE_MODULES}
    for plan in ALL_PLANS[profile]:
        for node in plan.nodes:
            if node.package != PACKAGE:
                continue
            declared = set(specs[node.executable]) | BUILTIN_PARAMETERS
            assert set(node.parameters) <= declared, (node.name, set(node.parameters) - declared)
            for name, value in node.parameters.items():
                if name in specs[node.executable]:
                    _check_value(specs[node.executable][name], value, f'{node.name} (launch)')
            for rel in node.config_files:
                params = _yaml_parameters(rel, node.executable)
                assert set(params) <= declared, (rel, set(params) - declared)


@pytest.mark.parametrize('profile', PROFILES)
def test_every_remap_names_a_topic_the_node_uses(profile):
    remapped = 0
    for plan in ALL_PLANS[profile]:
        for node in plan.nodes:
            if node.package != PACKAGE:
                assert not node.remappings, node
                continue
            used = topics_used_by(node.executable)
            for old, new in node.remappings:
                assert old in used, f'{node.name} remaps {old}, which it does not use'
                assert new.lstrip('/') in suite_topics() or new == '/joint_states', new
                remapped += 1
    if profile in ('bringup', 'robot', 'policy_server'):
        assert remapped, 'the gazebo backend remaps joint states and images'


def test_topic_scanner_finds_known_uses():
    # independent of the plans: what the node docs say each node uses
    assert 'joint_states' in topics_used_by('executor_node')
    assert 'smolvla/cameras/wrist/image_raw' in topics_used_by('policy_node')
    assert 'smolvla/joint_command' in topics_used_by('sim_node')
    assert 'smolvla/action_chunk' not in topics_used_by('camera_node')


# -- config files ---------------------------------------------------------------------------------
def _yaml_parameters(rel: str, node_name: str) -> dict[str, Any]:
    """The parameters ``rel`` gives node ``node_name`` (keys '/**' or '/**/<node>')."""
    data = yaml.safe_load((ROOT / rel).read_text())
    out: dict[str, Any] = {}
    for key, body in data.items():
        assert key in ('/**', f'/**/{node_name}') or key.startswith('/**/'), (rel, key)
        if key in ('/**', f'/**/{node_name}'):
            assert set(body) == {'ros__parameters'}, (rel, key)
            out.update(_flatten(body['ros__parameters']))
    return out


def _flatten(d: dict[str, Any], prefix: str = '') -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f'{prefix}{k}.'))
        else:
            out[f'{prefix}{k}'] = v
    return out


def _check_value(spec: Any, value: Any, where: str) -> None:
    default = spec.default
    if isinstance(default, tuple):
        assert isinstance(value, (list, tuple)) and value, (where, spec.name, value)
        assert all(type(v) is type(default[0]) for v in value), (where, spec.name, value)
        return
    if isinstance(default, float):
        assert type(value) in (float, int) and not isinstance(value, bool), (where, spec.name)
    else:
        assert type(value) is type(default), (where, spec.name, value)
    if spec.choices:
        assert value in spec.choices, (where, spec.name, value)
    if spec.min_value is not None:
        assert value >= spec.min_value, (where, spec.name, value)
    if spec.max_value is not None:
        assert value <= spec.max_value, (where, spec.name, value)


@pytest.mark.parametrize('module', NODE_MODULES)
def test_node_config_lists_exactly_the_declared_parameters_with_valid_values(module):
    specs = node_parameter_specs(module)
    params = _yaml_parameters(f'config/{module}.yaml', module)
    assert set(params) == set(specs), set(params) ^ set(specs)
    for name, value in params.items():
        _check_value(specs[name], value, f'config/{module}.yaml')


@pytest.mark.parametrize('robot', ('so100', 'so101'))
def test_robot_profiles_set_only_declared_parameters(robot):
    data = yaml.safe_load((ROOT / 'config' / f'{robot}.yaml').read_text())
    assert data, robot
    for key, body in data.items():
        node = key.removeprefix('/**/')
        assert node in NODE_MODULES, key
        specs = node_parameter_specs(node)
        for name, value in _flatten(body['ros__parameters']).items():
            assert name in specs, (robot, node, name)
            _check_value(specs[name], value, f'config/{robot}.yaml')
        if 'robot' in body['ros__parameters']:
            assert body['ros__parameters']['robot'] == robot


def test_every_config_file_named_by_a_plan_exists_and_is_installed():
    named = {
        f for plans in ALL_PLANS.values() for p in plans for n in p.nodes for f in n.config_files
    }
    assert named <= set(config_files())
    for rel in config_files():
        assert (ROOT / rel).is_file(), rel
    assert 'config/so100.yaml' in named and 'config/so101.yaml' in named


# -- RViz -----------------------------------------------------------------------------------------
def _rviz_topics(tree: Any) -> list[str]:
    found = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key in ('Topic', 'Description Topic') and isinstance(value, dict):
                found.append(value['Value'])
            else:
                found.extend(_rviz_topics(value))
    elif isinstance(tree, list):
        for item in tree:
            found.extend(_rviz_topics(item))
    return found


def test_rviz_config_topics_exist_in_the_node_suite():
    config = yaml.safe_load((ROOT / 'rviz' / 'smolvla.rviz').read_text())
    topics = _rviz_topics(config)
    suite = {'/' + t for t in suite_topics()}
    for topic in topics:
        assert topic in suite | EXTERNAL_TOPICS, topic
    # what the issue asks RViz to show
    assert '/robot_description' in topics
    assert '/smolvla/planned_path' in topics
    for slot in CAMERA_SLOTS:
        assert f'/smolvla/cameras/{slot}/image_raw' in topics
    classes = re.findall(
        r'Class: (rviz_default_plugins/\w+)', (ROOT / 'rviz' / 'smolvla.rviz').read_text()
    )
    assert {'rviz_default_plugins/RobotModel', 'rviz_default_plugins/TF'} <= set(classes)


# -- plan behaviour (hand-checked cases) ----------------------------------------------------------
def test_arguments_override_config_only_when_given():
    plan = plan_launch('bringup', {'g': '0.5', 'mode': 'sync'})
    executor = plan.node('executor_node')
    assert executor.parameters['g'] == 0.5 and executor.parameters['mode'] == 'sync'
    assert 'blending' not in executor.parameters  # '' = config/executor_node.yaml's value
    # the robot profile comes after the node's file, so it wins over the node file's default
    assert executor.config_files == ('config/executor_node.yaml', 'config/so101.yaml')


def test_backends_and_sim_time():
    mujoco = plan_launch('bringup', {})
    assert {n.name for n in mujoco.nodes} == {
        'policy_node', 'sim_node', 'executor_node', 'robot_state_publisher', 'rviz2'
    }  # fmt: skip
    assert mujoco.node('executor_node').parameters['use_sim_time'] is True
    assert mujoco.node('policy_node').parameters['calibration'] == 'virtual'
    real = plan_launch('bringup', {'backend': 'real', 'cameras': 'top=0,side=/dev/video4'})
    assert {n.name for n in real.nodes} >= {'driver_node', 'camera_top', 'camera_side'}
    assert real.node('camera_side').parameters['source'] == '/dev/video4'
    assert real.node('driver_node').parameters['use_sim_time'] is False
    assert 'calibration' not in real.node('policy_node').parameters
    gz = plan_launch('bringup', {'backend': 'gazebo', 'output': 'jtc', 'namespace': '/arm1/'})
    assert gz.include_gazebo and gz.namespace == 'arm1'
    assert 'robot_state_publisher' not in {n.name for n in gz.nodes}  # gazebo.launch.py has one


def test_replay_uses_the_checkpoint_argument_as_the_recording():
    plan = plan_launch('policy_server', {'policy': 'replay', 'checkpoint': '/data/c.npz'})
    params = plan.node('policy_node').parameters
    assert params['replay_file'] == '/data/c.npz' and 'checkpoint' not in params


def test_instruction_is_published_once_the_policy_is_active():
    text = 'put the cube\'s "lid" on: now'
    plan = plan_launch('bringup', {'instruction': text, 'namespace': 'a'})
    (process,) = plan.processes
    assert process.after_active == 'policy_node'
    assert '/a/smolvla/instruction' in process.cmd
    assert yaml.safe_load(process.cmd[-1]) == {'data': text}  # what ros2 topic pub parses


@pytest.mark.parametrize(
    ('profile', 'values', 'needle'),
    [
        ('bringup', {'backend': 'ros'}, 'backend'),
        ('bringup', {'g': 'half'}, 'g'),
        ('bringup', {'policy': 'scripted', 'backend': 'real'}, 'backend:=mujoco'),
        ('bringup', {'backend': 'gazebo'}, 'output:=jtc'),
        ('bringup', {'policy': 'replay'}, 'checkpoint'),
        ('sim', {'port': '/dev/ttyACM0'}, 'port'),
        ('bringup', {'backend': 'real', 'cameras': 'front=0'}, 'front'),
        ('gpu', {}, 'profile'),
    ],
)
def test_bad_arguments_are_refused_with_a_message_naming_them(profile, values, needle):
    with pytest.raises(LaunchArgumentError, match=re.escape(needle)):
        plan_launch(profile, values)


@pytest.mark.parametrize(
    ('text', 'needle'),
    [('', 'names no camera'), ('top', 'slot=source'), ('top=', 'slot=source'),
     ('top=0,top=1', 'twice'), ('head=0', 'unknown slot')],
)  # fmt: skip
def test_parse_cameras_refuses_bad_lists(text, needle):
    with pytest.raises(LaunchArgumentError, match=needle):
        parse_cameras(text)


def test_parse_cameras_keeps_order_and_sources():
    assert parse_cameras(' wrist=/dev/video2 , top=0') == (('wrist', '/dev/video2'), ('top', '0'))
