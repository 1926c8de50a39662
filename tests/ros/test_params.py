"""Parameter declaration from specs, against the real rclpy: descriptors, overrides, ranges,
choices, and run-time changes judged by the core config."""

from __future__ import annotations

import math

import pytest
from rcl_interfaces.msg import ParameterType
from rclpy.parameter import Parameter

from smolvla_ros.nodes.params import ParamSpec, declare_parameters, validate_changes
from smolvla_ros.runtime import RuntimeConfig

SPECS = (
    ParamSpec('tick_rate_hz', 30.0, 'command rate', 'Hz', min_value=1.0, max_value=1000.0),
    ParamSpec('g', 0.7, 'queue threshold', min_value=0.0, max_value=1.0, dynamic=True),
    ParamSpec('mode', 'async', 'sync or async', choices=('async', 'sync'), dynamic=True),
    ParamSpec('slots', ('top', 'wrist'), 'camera slots'),
    ParamSpec('max_retries', 3, 'retries', min_value=0, max_value=10),
)


def build(values):
    return RuntimeConfig(tick_rate_hz=values['tick_rate_hz'], g=values['g'], mode=values['mode'])


def test_descriptors_carry_type_unit_range_and_choices(make_node):
    node = make_node('params_describe')
    values = declare_parameters(node, SPECS)
    assert values == {
        'tick_rate_hz': 30.0,
        'g': 0.7,
        'mode': 'async',
        'slots': ('top', 'wrist'),
        'max_retries': 3,
    }
    d = node.describe_parameter('tick_rate_hz')
    assert d.type == ParameterType.PARAMETER_DOUBLE
    assert d.description == 'command rate [Hz]'
    assert (d.floating_point_range[0].from_value, d.floating_point_range[0].to_value) == (
        1.0,
        1000.0,
    )
    assert 'read at configure' in d.additional_constraints
    assert node.describe_parameter('mode').additional_constraints == 'one of: async, sync'
    assert node.describe_parameter('slots').type == ParameterType.PARAMETER_STRING_ARRAY
    assert node.describe_parameter('max_retries').integer_range[0].to_value == 10


def test_overrides_apply_and_out_of_range_or_unknown_choice_is_refused(make_node):
    node = make_node(
        'params_override',
        parameter_overrides=[Parameter('g', value=0.5), Parameter('slots', value=['side'])],
    )
    values = declare_parameters(node, SPECS)
    assert values['g'] == 0.5 and values['slots'] == ('side',)
    bad = make_node('params_bad_choice', parameter_overrides=[Parameter('mode', value='turbo')])
    with pytest.raises(ValueError, match=r"mode is 'turbo'; choose one of \('async', 'sync'\)"):
        declare_parameters(bad, SPECS)
    # rclpy enforces the descriptor's range itself
    node2 = make_node('params_range')
    declare_parameters(node2, SPECS)
    result = node2.set_parameters([Parameter('g', value=1.5)])[0]
    assert not result.successful
    assert node2.get_parameter('g').value == 0.7


def test_run_time_changes_are_judged_by_the_core_config(make_node):
    node = make_node('params_change')
    declare_parameters(node, SPECS)
    ok = validate_changes(node, SPECS, [Parameter('g', value=0.2)], build, configured=True)
    assert ok.successful
    choice = validate_changes(
        node, SPECS, [Parameter('mode', value='turbo')], build, configured=True
    )
    assert not choice.successful and 'turbo' in choice.reason
    static = validate_changes(
        node, SPECS, [Parameter('tick_rate_hz', value=50.0)], build, configured=True
    )
    assert not static.successful and 'read at configure' in static.reason
    # unconfigured: a static parameter may change, but the core still judges the combination
    assert validate_changes(
        node, SPECS, [Parameter('tick_rate_hz', value=50.0)], build, configured=False
    ).successful
    core = validate_changes(node, SPECS, [Parameter('g', value=math.nan)], build, configured=False)
    assert not core.successful and 'g (queue threshold)' in core.reason


def test_bad_specs_are_refused_when_written():
    with pytest.raises(ValueError, match='non-empty tuple'):
        ParamSpec('x', (), 'empty array')
    with pytest.raises(ValueError, match='not one of'):
        ParamSpec('m', 'fast', 'mode', choices=('slow',))
