"""Declare a node's ROS parameters once, from a table of specs, and validate changes.

Every node lists its parameters as :class:`ParamSpec` rows (name, default, unit, range or
choices, description). :func:`declare_parameters` declares them with full descriptors (so
``ros2 param describe`` shows the unit and the range, and rclpy itself refuses out-of-range
values) and returns the values; the node then builds its core config dataclass from that dict, in
one function, so an impossible combination is refused by the core's own ``__post_init__``.
:func:`validate_changes` is the body of an ``add_on_set_parameters_callback``: it checks choices
and builds the config with the proposed values, so a run-time change the core would reject is
refused with the core's message and nothing changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from rclpy.node import Node
from rclpy.parameter import Parameter

ParamValue = bool | int | float | str | tuple


@dataclass(frozen=True)
class ParamSpec:
    """One ROS parameter.

    Attributes:
        name: the parameter name (dots for groups, e.g. ``safety.watchdog_timeout_s``).
        default: its default; the type of the default is the parameter's type. Arrays are
            non-empty tuples of one type (rclpy cannot infer the type of an empty list).
        description: what it does, for ``ros2 param describe``.
        unit: the unit ('s', 'rad', 'Hz', ...) or '' for dimensionless values.
        min_value / max_value: the inclusive range of a number (rclpy enforces it).
        choices: the allowed strings of a string parameter.
        read_only: cannot change after declaration (e.g. a device path of a running node).
        dynamic: may change at run time; other parameters are read at configure only.
    """

    name: str
    default: ParamValue
    description: str
    unit: str = ''
    min_value: float | None = None
    max_value: float | None = None
    choices: tuple[str, ...] = ()
    read_only: bool = False
    dynamic: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.default, list):
            object.__setattr__(self, 'default', tuple(self.default))
        if isinstance(self.default, tuple) and (
            not self.default or len({type(v) for v in self.default}) != 1
        ):
            raise ValueError(
                f'parameter {self.name}: an array default must be a non-empty tuple of one '
                f'type, got {self.default!r}'
            )
        if self.choices and self.default not in self.choices:
            raise ValueError(
                f'parameter {self.name}: default {self.default!r} is not one of {self.choices}'
            )

    def descriptor(self) -> ParameterDescriptor:
        """The ROS descriptor: type, description with the unit, range, read-only flag."""
        text = self.description + (f' [{self.unit}]' if self.unit else '')
        d = ParameterDescriptor(
            name=self.name,
            type=_ros_type(self.default),
            description=text,
            read_only=self.read_only,
        )
        if self.choices:
            d.additional_constraints = 'one of: ' + ', '.join(self.choices)
        if not self.dynamic:
            d.additional_constraints = (
                d.additional_constraints + '; ' if d.additional_constraints else ''
            ) + 'read at configure'
        if self.min_value is not None or self.max_value is not None:
            lo = -math.inf if self.min_value is None else self.min_value
            hi = math.inf if self.max_value is None else self.max_value
            if isinstance(self.default, bool) or not isinstance(self.default, (int, float)):
                raise ValueError(f'parameter {self.name}: a range needs a number default')
            if isinstance(self.default, int):
                d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=0)]
            else:
                d.floating_point_range = [
                    FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)
                ]
        return d


def _ros_type(value: ParamValue) -> int:
    scalar = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER}
    scalar |= {float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING}
    array = {
        bool: ParameterType.PARAMETER_BOOL_ARRAY,
        int: ParameterType.PARAMETER_INTEGER_ARRAY,
        float: ParameterType.PARAMETER_DOUBLE_ARRAY,
        str: ParameterType.PARAMETER_STRING_ARRAY,
    }
    if isinstance(value, tuple):
        return array[type(value[0])]
    return scalar[type(value)]


def declare_parameters(node: Node, specs: Iterable[ParamSpec]) -> dict[str, Any]:
    """Declare every spec on ``node`` and return ``{name: value}`` (overrides applied).

    Arrays come back as tuples. A string outside its ``choices`` (from a YAML file or the
    command line) raises ``ValueError`` naming the parameter and the choices.
    """
    values: dict[str, Any] = {}
    for spec in specs:
        default = list(spec.default) if isinstance(spec.default, tuple) else spec.default
        node.declare_parameter(spec.name, default, spec.descriptor())
        value = node.get_parameter(spec.name).value
        values[spec.name] = tuple(value) if isinstance(value, (list, tuple)) else value
        _check_choice(spec, values[spec.name])
    return values


def current_values(node: Node, specs: Iterable[ParamSpec]) -> dict[str, Any]:
    """``{name: value}`` of already declared specs, arrays as tuples."""
    out: dict[str, Any] = {}
    for spec in specs:
        value = node.get_parameter(spec.name).value
        out[spec.name] = tuple(value) if isinstance(value, (list, tuple)) else value
    return out


def _check_choice(spec: ParamSpec, value: Any) -> None:
    if spec.choices and value not in spec.choices:
        raise ValueError(f'parameter {spec.name} is {value!r}; choose one of {spec.choices}')


def validate_changes(
    node: Node,
    specs: Sequence[ParamSpec],
    changes: Sequence[Parameter],
    build: Callable[[Mapping[str, Any]], object],
    *,
    configured: bool,
) -> SetParametersResult:
    """Judge a set of parameter changes (use inside ``add_on_set_parameters_callback``).

    A change is refused, with a reason naming the parameter, when it names a choice that does
    not exist, changes a non-dynamic parameter while the node is configured (it would silently
    not apply until the next configure), or makes ``build(values)`` raise ``ValueError`` (the
    core config rejects the combination). Parameters not in ``specs`` are left to rclpy.
    """
    by_name = {s.name: s for s in specs}
    proposed = current_values(node, specs)
    for p in changes:
        spec = by_name.get(p.name)
        if spec is None:
            continue
        value = tuple(p.value) if isinstance(p.value, (list, tuple)) else p.value
        try:
            _check_choice(spec, value)
        except ValueError as e:
            return SetParametersResult(successful=False, reason=str(e))
        if configured and not spec.dynamic and value != proposed[p.name]:
            return SetParametersResult(
                successful=False,
                reason=f'parameter {p.name} is read at configure; deactivate and clean up the '
                'node, set it, then configure again',
            )
        proposed[p.name] = value
    try:
        build(proposed)
    except ValueError as e:
        return SetParametersResult(successful=False, reason=str(e))
    return SetParametersResult(successful=True)
