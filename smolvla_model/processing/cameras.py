"""Camera naming: the suite's slots (top, wrist, side) <-> a checkpoint's image feature names.

The suite names cameras by role. SmolVLA's pretraining put the top view first, the wrist view
second and a side view third (OBS_IMAGE_1/2/3), and checkpoints spell those three features in
several ways. Default binding of a checkpoint feature to a slot:

* ``observation.images.camera1`` / ``camera2`` / ``camera3`` -> top / wrist / side
  (``lerobot/smolvla_base`` from Oct 2025 on);
* ``observation.image`` / ``observation.image2`` / ``observation.image3`` -> top / wrist / side
  (the original June 2025 ``smolvla_base`` and LeRobot 0.3 fine-tunes);
* a feature whose last name part is a slot name, e.g. ``observation.images.top`` or
  ``observation.images.wrist`` (fine-tunes on datasets named that way) -> that slot.

Anything else (``observation.images.up``, say) has no default slot: bind it with an explicit
``camera_map`` (slot -> feature name, or the feature's last name part), or pass the frame under
the feature's own name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from smolvla_model.errors import InputError

SLOTS: tuple[str, ...] = ('top', 'wrist', 'side')

_POSITIONAL_NAMES: dict[str, str] = {
    'observation.images.camera1': 'top',
    'observation.images.camera2': 'wrist',
    'observation.images.camera3': 'side',
    'observation.image': 'top',
    'observation.image2': 'wrist',
    'observation.image3': 'side',
}


def default_slot(feature: str) -> str | None:
    """The slot a checkpoint image feature binds to by default, or None (see module docstring)."""
    if feature in _POSITIONAL_NAMES:
        return _POSITIONAL_NAMES[feature]
    last = feature.rsplit('.', 1)[-1]
    return last if last in SLOTS else None


def _resolve_feature(name: str, features: Sequence[str]) -> str:
    if name in features:
        return name
    matches = [f for f in features if f.rsplit('.', 1)[-1] == name]
    if len(matches) == 1:
        return matches[0]
    raise ValueError(
        f'camera_map: {name!r} is not one of the checkpoint image features {list(features)} '
        '(nor the last part of exactly one of them)'
    )


def build_camera_map(
    features: Sequence[str], overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Bind slots to checkpoint image features.

    Args:
        features: the checkpoint's image feature names (real cameras only), in checkpoint order.
        overrides: slot -> feature name (or its last name part); replaces the default binding of
            that slot and of that feature.

    Returns:
        slot -> feature, for every slot that binds to a feature.

    Raises:
        ValueError: an unknown slot, an unknown feature, or two slots bound to one feature.
    """
    mapping: dict[str, str] = {}
    for feature in features:
        slot = default_slot(feature)
        if slot is not None and slot not in mapping:
            mapping[slot] = feature
    for slot, name in (overrides or {}).items():
        if slot not in SLOTS:
            raise ValueError(f'camera_map: unknown slot {slot!r}; slots are {list(SLOTS)}')
        feature = _resolve_feature(name, features)
        # An explicit binding wins over a default one to the same feature.
        for other in [s for s, f in mapping.items() if f == feature and s != slot]:
            if other in (overrides or {}):
                raise ValueError(
                    f'camera_map: slots {other!r} and {slot!r} both map to {feature!r}'
                )
            del mapping[other]
        mapping[slot] = feature
    return mapping


def route_frames(
    frames: Mapping[str, object], camera_map: Mapping[str, str], features: Sequence[str]
) -> dict[str, object]:
    """Key the caller's frames by checkpoint feature name.

    Args:
        frames: slot name or feature name -> frame.
        camera_map: slot -> feature (``build_camera_map``).
        features: the checkpoint's image feature names.

    Raises:
        InputError: a key that is neither a bound slot nor a feature, or two keys for one camera.
    """
    routed: dict[str, object] = {}
    for key, frame in frames.items():
        if key in features:
            feature = key
        elif key in camera_map:
            feature = camera_map[key]
        elif key in SLOTS:
            raise InputError(
                f'images: slot {key!r} is bound to no camera of this checkpoint (bound: '
                f'{dict(camera_map)}; image features: {list(features)}); drop it or bind it '
                'with camera_map'
            )
        else:
            raise InputError(
                f'images: unknown camera {key!r}; use a slot {list(SLOTS)} or one of the '
                f'checkpoint image features {list(features)}'
            )
        if feature in routed:
            raise InputError(f'images: camera {feature!r} was given twice (as a slot and a name)')
        routed[feature] = frame
    return routed
