"""Turn a :class:`~smolvla_ros.launch_tables.LaunchPlan` into ``launch``/``launch_ros`` actions.

Every launch file of the package is ``generate_launch_description()`` returning
:func:`launch_description` of its profile: the arguments come from
``smolvla_ros.launch_tables.ARGUMENTS``, the nodes from ``plan_launch`` (evaluated at launch time
in an ``OpaqueFunction``, so a bad argument stops the launch with the plan's message).

``autostart:=true`` drives the lifecycle nodes configure -> activate, one after the other in
``AUTOSTART_ORDER`` (driver, executor, policy), through launch_ros' lifecycle events; a failed
transition (configure back to unconfigured, activate back to inactive, or error processing) is
logged with the node's name and shuts the whole launch down, so a half-started system never
runs. Needs ``launch`` and ``launch_ros`` (a ROS 2 install); the rest of
the suite does not import this module.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    ExecuteProcess,
    IncludeLaunchDescription,
    LogInfo,
    OpaqueFunction,
    RegisterEventHandler,
)
from launch.events import Shutdown
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import Command
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.parameter_descriptions import ParameterValue
from lifecycle_msgs.msg import Transition

from launch import LaunchContext, LaunchDescription
from smolvla_ros.launch_tables import (
    ARGUMENT_BY_NAME,
    AUTOSTART_ORDER,
    GAZEBO_LAUNCH,
    PACKAGE,
    PROFILE_ARGUMENTS,
    LaunchPlan,
    NodeSpec,
    plan_launch,
)

# (start state, goal state) of a failed transition, and what failed.
_FAILURES = (
    ('configuring', 'unconfigured', 'configure'),
    ('activating', 'inactive', 'activate'),
    ('errorprocessing', 'unconfigured', 'transition (error processing)'),
    ('errorprocessing', 'finalized', 'transition (error processing)'),
)


def launch_description(profile: str) -> LaunchDescription:
    """The launch description of one profile ('bringup', 'policy_server', 'robot', 'sim')."""
    declared = [
        DeclareLaunchArgument(
            name,
            default_value=ARGUMENT_BY_NAME[name].default,
            description=ARGUMENT_BY_NAME[name].description,
            **(
                {'choices': list(ARGUMENT_BY_NAME[name].choices)}
                if ARGUMENT_BY_NAME[name].choices
                else {}
            ),
        )
        for name in PROFILE_ARGUMENTS[profile]
    ]
    return LaunchDescription([*declared, OpaqueFunction(function=_setup, args=[profile])])


def _setup(context: LaunchContext, profile: str) -> list[Any]:
    values = {n: context.launch_configurations[n] for n in PROFILE_ARGUMENTS[profile]}
    return build_actions(plan_launch(profile, values))


def build_actions(plan: LaunchPlan) -> list[Any]:
    """The launch actions that start ``plan`` (nodes, gazebo include, autostart handlers)."""
    share = get_package_share_directory(PACKAGE)
    actions: list[Any] = []
    lifecycle: dict[str, LifecycleNode] = {}
    if plan.include_gazebo:
        actions.append(
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(os.path.join(share, GAZEBO_LAUNCH))
            )
        )
    for spec in plan.nodes:
        action = _node(spec, plan.namespace, share)
        actions.append(action)
        if spec.lifecycle:
            lifecycle[spec.name] = action
    for name, node in lifecycle.items():
        actions.extend(_lifecycle_handlers(plan, name, node))
    if plan.autostart and lifecycle:
        # One node at a time, in AUTOSTART_ORDER: the next is configured once the previous is
        # active. The arm's port fails fast before a checkpoint is loaded, and a failure never
        # finds another node in the middle of a transition while the launch shuts down.
        ordered = sorted(lifecycle, key=AUTOSTART_ORDER.index)
        for previous, following in itertools.pairwise(ordered):
            actions.append(
                RegisterEventHandler(
                    OnStateTransition(
                        target_lifecycle_node=lifecycle[previous],
                        goal_state='active',
                        entities=[
                            _change_state(lifecycle[following], Transition.TRANSITION_CONFIGURE)
                        ],
                    )
                )
            )
        actions.append(_change_state(lifecycle[ordered[0]], Transition.TRANSITION_CONFIGURE))
    return actions


def _node(spec: NodeSpec, namespace: str, share: str) -> Any:
    parameters: list[Any] = [os.path.join(share, f) for f in spec.config_files]
    overrides: dict[str, Any] = dict(spec.parameters)
    if spec.xacro_description:
        path = os.path.join(share, spec.xacro_description)
        overrides['robot_description'] = ParameterValue(Command(['xacro ', path]), value_type=str)
    if overrides:
        parameters.append(overrides)
    arguments = [os.path.join(share, a) if a.startswith('rviz/') else a for a in spec.arguments]
    kwargs: dict[str, Any] = {
        'package': spec.package,
        'executable': spec.executable,
        'name': spec.name,
        'namespace': namespace,
        'parameters': parameters,
        'remappings': list(spec.remappings),
        'arguments': arguments,
        'output': 'screen',
    }
    return LifecycleNode(**kwargs) if spec.lifecycle else Node(**kwargs)


def _change_state(node: LifecycleNode, transition: int) -> EmitEvent:
    def matches(action: Any) -> bool:
        return action is node

    return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches, transition_id=transition))


def _lifecycle_handlers(plan: LaunchPlan, name: str, node: LifecycleNode) -> list[Any]:
    handlers: list[Any] = []
    if plan.autostart:
        handlers.append(
            RegisterEventHandler(
                OnStateTransition(
                    target_lifecycle_node=node,
                    start_state='configuring',
                    goal_state='inactive',
                    entities=[_change_state(node, Transition.TRANSITION_ACTIVATE)],
                )
            )
        )
    for start, goal, what in _FAILURES if plan.autostart else ():
        reason = (
            f'{name} failed to {what} ({start} -> {goal}); see its log above. '
            'Shutting the launch down.'
        )
        handlers.append(
            RegisterEventHandler(
                OnStateTransition(
                    target_lifecycle_node=node,
                    start_state=start,
                    goal_state=goal,
                    entities=[
                        LogInfo(msg='ERROR: ' + reason),
                        EmitEvent(event=Shutdown(reason=reason)),
                    ],
                )
            )
        )
    started = [p for p in plan.processes if p.after_active == name]
    if started:
        handlers.append(
            RegisterEventHandler(
                OnStateTransition(
                    target_lifecycle_node=node,
                    goal_state='active',
                    entities=[ExecuteProcess(cmd=list(p.cmd), output='screen') for p in started],
                )
            )
        )
    return handlers
