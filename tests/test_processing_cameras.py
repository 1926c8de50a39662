"""Camera slots <-> checkpoint image features, and what happens when a camera is missing."""

from __future__ import annotations

import pytest

from smolvla_model.processing import build_camera_map, default_slot
from smolvla_model.processing.cameras import route_frames


@pytest.mark.parametrize(
    ('feature', 'slot'),
    [
        ('observation.images.camera1', 'top'),
        ('observation.images.camera2', 'wrist'),
        ('observation.images.camera3', 'side'),
        ('observation.image', 'top'),
        ('observation.image2', 'wrist'),
        ('observation.image3', 'side'),
        ('observation.images.top', 'top'),
        ('observation.images.wrist', 'wrist'),
        ('observation.images.side', 'side'),
        ('observation.images.up', None),
        ('observation.images.front', None),
    ],
)
def test_default_slots(feature: str, slot: str | None) -> None:
    assert default_slot(feature) == slot


def test_hub_json_order_does_not_change_slots() -> None:
    # The original smolvla_base lists image2, image, image3: slots follow names, not order.
    mapping = build_camera_map(['observation.image2', 'observation.image', 'observation.image3'])
    assert mapping == {
        'wrist': 'observation.image2',
        'top': 'observation.image',
        'side': 'observation.image3',
    }


def test_override_by_short_name_replaces_the_default() -> None:
    features = ['observation.images.up', 'observation.images.side']
    mapping = build_camera_map(features, {'top': 'up'})
    assert mapping == {'top': 'observation.images.up', 'side': 'observation.images.side'}
    # Rebinding a feature that had a default slot moves it.
    mapping = build_camera_map(features, {'wrist': 'observation.images.side'})
    assert mapping == {'wrist': 'observation.images.side'}


@pytest.mark.parametrize(
    ('overrides', 'match'),
    [
        ({'front': 'observation.images.up'}, 'unknown slot'),
        ({'top': 'observation.images.nope'}, 'not one of the checkpoint image features'),
        ({'top': 'up', 'wrist': 'up'}, 'both map to'),
    ],
)
def test_bad_overrides(overrides: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_camera_map(['observation.images.up', 'observation.images.side'], overrides)


def test_route_accepts_slots_and_feature_names() -> None:
    features = ['observation.images.camera1', 'observation.images.camera2']
    mapping = build_camera_map(features)
    routed = route_frames({'top': 1, 'observation.images.camera2': 2}, mapping, features)
    assert routed == {'observation.images.camera1': 1, 'observation.images.camera2': 2}


@pytest.mark.parametrize(
    ('frames', 'match'),
    [
        ({'side': 0}, "slot 'side' is bound to no camera"),
        ({'kitchen': 0}, "unknown camera 'kitchen'"),
        ({'top': 0, 'observation.images.camera1': 0}, 'given twice'),
    ],
)
def test_route_errors(frames: dict, match: str) -> None:
    features = ['observation.images.camera1', 'observation.images.camera2']
    with pytest.raises(ValueError, match=match):
        route_frames(frames, build_camera_map(features), features)
