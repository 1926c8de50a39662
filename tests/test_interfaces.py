"""Parse every smolvla_interfaces definition with a real ROS 2 message parser and round-trip it.

rosbags reads the ROS 2 .msg text format and ships the standard ROS 2 Humble definitions
(std_msgs, trajectory_msgs, builtin_interfaces), so a typo in a field type, a reference to a
message that does not exist, or a malformed constant fails here instead of in a user's
``colcon build``. .srv and .action files are split into their parts the way rosidl does
(``---`` separators; Request/Response and Goal/Result/Feedback).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.base import Nodetype

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / 'smolvla_interfaces'
PARTS = {
    'msg': ('',),
    'srv': ('_Request', '_Response'),
    'action': ('_Goal', '_Result', '_Feedback'),
}

NUMPY_BASE = {
    'bool': np.bool_,
    'byte': np.uint8,
    'char': np.uint8,
    'int8': np.int8,
    'uint8': np.uint8,
    'int16': np.int16,
    'uint16': np.uint16,
    'int32': np.int32,
    'uint32': np.uint32,
    'int64': np.int64,
    'uint64': np.uint64,
    'float32': np.float32,
    'float64': np.float64,
}


def definition_files() -> list[Path]:
    return sorted(p for kind in PARTS for p in (PKG / kind).glob(f'*.{kind}'))


def split_parts(path: Path) -> dict[str, str]:
    """Split a definition into rosidl's parts: {'smolvla_interfaces/srv/X_Request': text, ...}."""
    kind = path.suffix[1:]
    chunks = re.split(r'^---[ \t]*$', path.read_text(), flags=re.MULTILINE)
    suffixes = PARTS[kind]
    assert len(chunks) == len(suffixes), (
        f'{path.name}: a .{kind} has {len(suffixes)} part(s) separated by ---, found {len(chunks)}'
    )
    parts = zip(suffixes, chunks, strict=True)
    return {f'smolvla_interfaces/{kind}/{path.stem}{s}': text for s, text in parts}


def parse_all() -> dict:
    types = {}
    for path in definition_files():
        for name, text in split_parts(path).items():
            types.update(get_types_from_msg(text, name))
    return types


@pytest.fixture(scope='module')
def typestore():
    store = get_typestore(Stores.ROS2_HUMBLE)
    store.register(parse_all())
    return store


def referenced_types(store, name: str) -> set[str]:
    """Every complex type a message refers to, directly or through arrays and sequences."""
    refs = set()
    for _field, (nodetype, detail) in store.fielddefs[name][1]:
        if nodetype == Nodetype.NAME:
            refs.add(detail)
        elif nodetype in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            (inner_type, inner), _size = detail
            if inner_type == Nodetype.NAME:
                refs.add(inner)
    return refs


def sample_value(store, nodetype, detail, depth: int = 0):
    """A non-default value for a field, so a round-trip that drops data shows."""
    if nodetype == Nodetype.BASE:
        base = detail[0]
        if base == 'string':
            return 'pick up the red cube'
        if base == 'bool':
            return True
        return NUMPY_BASE[base](3).item() if base not in ('float32', 'float64') else 0.25
    if nodetype == Nodetype.NAME:
        return sample_message(store, detail, depth + 1)
    (inner_type, inner), size = detail
    count = size if nodetype == Nodetype.ARRAY else 2
    if inner_type == Nodetype.BASE and inner[0] in NUMPY_BASE:
        return np.full(count, 1, dtype=NUMPY_BASE[inner[0]])
    return [sample_value(store, inner_type, inner, depth) for _ in range(count)]


def sample_message(store, name: str, depth: int = 0):
    assert depth < 8, f'{name}: message nesting too deep (a recursive definition?)'
    cls = store.types[name]
    fields = store.fielddefs[name][1]
    return cls(**{f: sample_value(store, t, d, depth) for f, (t, d) in fields})


def our_type_names() -> list[str]:
    return sorted(parse_all())


def test_every_definition_is_built_by_cmake():
    cmake = (PKG / 'CMakeLists.txt').read_text()
    listed = set(re.findall(r'"((?:msg|srv|action)/\w+\.(?:msg|srv|action))"', cmake))
    on_disk = {str(p.relative_to(PKG)) for p in definition_files()}
    assert on_disk, 'no interface definitions found'
    assert listed == on_disk, f'CMakeLists.txt and the files disagree: {listed ^ on_disk}'


def test_required_interfaces_exist():
    # rosbags files service parts under 'srv/msg/'; compare package and type name only.
    names = {(n.split('/')[0], n.split('/')[-1]) for n in our_type_names()}
    for required in (
        'RunTask_Goal',
        'RunTask_Result',
        'RunTask_Feedback',
        'PolicyStatus',
        'ExecutorStatus',
        'ActionChunk',
        'SetInstruction_Request',
        'SetInstruction_Response',
    ):
        assert ('smolvla_interfaces', required) in names, f'{required} is missing'


@pytest.mark.parametrize('name', our_type_names())
def test_all_referenced_types_resolve(typestore, name):
    missing = sorted(r for r in referenced_types(typestore, name) if r not in typestore.fielddefs)
    assert not missing, f'{name} refers to unknown message types: {missing}'


@pytest.mark.parametrize('name', our_type_names())
def test_cdr_round_trip(typestore, name):
    msg = sample_message(typestore, name)
    raw = typestore.serialize_cdr(msg, name)
    back = typestore.deserialize_cdr(raw, name)
    assert typestore.serialize_cdr(back, name) == raw
    for field, (nodetype, _detail) in typestore.fielddefs[name][1]:
        if nodetype == Nodetype.BASE:
            assert getattr(back, field) == getattr(msg, field), f'{name}.{field} changed'


def test_goal_fields_match_the_issue(typestore):
    goal = {f for f, _ in typestore.fielddefs['smolvla_interfaces/action/RunTask_Goal'][1]}
    assert {'instruction', 'time_limit_s'} <= goal
    feedback = {f for f, _ in typestore.fielddefs['smolvla_interfaces/action/RunTask_Feedback'][1]}
    assert {'elapsed_s', 'chunks_executed', 'queue_fill', 'last_inference_latency_s'} <= feedback


FIELD_RE = re.compile(r'^\s*[A-Za-z][\w/]*(\[[^\]]*\])?\s+[a-z]\w*(\s+\S.*)?$')
CONSTANT_RE = re.compile(r'^\s*[A-Za-z][\w/]*\s+[A-Z][A-Z0-9_]*\s*=')


def undocumented_fields(text: str) -> list[str]:
    """Fields with no comment: neither inline nor in the comment block above their group.

    Consecutive fields may share one comment block; a blank line ends a group.
    """
    missing = []
    documented = False
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            documented = False
        elif stripped.startswith('#'):
            documented = True
        elif CONSTANT_RE.match(line):
            continue
        elif FIELD_RE.match(line) and '#' not in line and not documented:
            missing.append(stripped)
    return missing


@pytest.mark.parametrize('path', definition_files(), ids=lambda p: p.name)
def test_every_field_is_documented(path):
    assert undocumented_fields(path.read_text()) == []


def test_undocumented_field_detector_catches_a_bare_field():
    assert undocumented_fields('# a unit [s]\nfloat64 a\n\nfloat64 b\n') == ['float64 b']


def test_parser_rejects_a_typo():
    """A mistyped primitive parses as an unknown message name; resolution must then fail."""
    store = get_typestore(Stores.ROS2_HUMBLE)
    store.register(get_types_from_msg('float65 latency_s\n', 'smolvla_interfaces/msg/Broken'))
    assert referenced_types(store, 'smolvla_interfaces/msg/Broken') - set(store.fielddefs)
