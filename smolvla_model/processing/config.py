"""What the pre/post-processing needs to know about a checkpoint, parsed and validated once.

Built from a LeRobot SmolVLA ``config.json`` dict (``ProcessorConfig.from_policy_config``); the
processor JSON files (``policy_preprocessor.json``), when present, refine the normalization map
and tokenizer settings (see ``lerobot_files``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from smolvla_model.errors import SmolVLAError


class ProcessorFileError(SmolVLAError, ValueError):
    """A checkpoint's processing metadata (config, processor JSON, stats files) is unusable.

    Part of the model core's one hierarchy (``SmolVLAError``); also a ``ValueError`` so callers
    that guard checkpoint loading with ``except ValueError`` keep working. The message names
    the file, the key and what to do.
    """


class NormMode(str, enum.Enum):
    """LeRobot's normalization modes (the strings stored in ``normalization_mapping``)."""

    IDENTITY = 'IDENTITY'
    MEAN_STD = 'MEAN_STD'
    MIN_MAX = 'MIN_MAX'
    QUANTILES = 'QUANTILES'
    QUANTILE10 = 'QUANTILE10'


class FeatureType(str, enum.Enum):
    """LeRobot's feature types (the ``type`` of each entry of ``input_features``)."""

    VISUAL = 'VISUAL'
    STATE = 'STATE'
    ACTION = 'ACTION'
    ENV = 'ENV'
    LANGUAGE = 'LANGUAGE'


# LeRobot's fixed feature names for state and action.
STATE_KEY = 'observation.state'
ACTION_KEY = 'action'
# LeRobot names the blank-camera features it adds for ``empty_cameras`` like this.
EMPTY_CAMERA_PREFIX = 'observation.images.empty_camera_'
PAD_LANGUAGE_CHOICES = ('max_length', 'longest')


@dataclass(frozen=True)
class FeatureSpec:
    """One input or output feature: its LeRobot type and shape (images: [C, H, W])."""

    type: FeatureType
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.shape or any(int(s) <= 0 for s in self.shape):
            raise ValueError(f'feature shape must be non-empty and positive, got {self.shape}')

    def to_json(self) -> dict[str, Any]:
        return {'type': self.type.value, 'shape': list(self.shape)}

    @classmethod
    def from_json(cls, name: str, d: Any) -> FeatureSpec:
        """Parse ``{"type": "STATE", "shape": [6]}``; raises ``ProcessorFileError``."""
        try:
            return cls(type=FeatureType(d['type']), shape=tuple(int(s) for s in d['shape']))
        except (KeyError, TypeError, ValueError) as e:
            raise ProcessorFileError(
                f'feature {name!r}: expected {{"type": one of '
                f'{[t.value for t in FeatureType]}, "shape": [ints]}}, got {d!r} ({e})'
            ) from e


def _default_norm_map() -> dict[FeatureType, NormMode]:
    # SmolVLA's defaults: images go through untouched (the model maps them to [-1, 1] itself).
    return {
        FeatureType.VISUAL: NormMode.IDENTITY,
        FeatureType.STATE: NormMode.MEAN_STD,
        FeatureType.ACTION: NormMode.MEAN_STD,
    }


@dataclass
class ProcessorConfig:
    """Everything pre/post-processing needs, validated.

    Attributes:
        input_features: LeRobot input features in checkpoint order; the order of the VISUAL ones
            is the order of the camera tokens in the model's prefix.
        output_features: must hold ``action`` (the real action dims).
        normalization_mapping: feature type -> normalization mode.
        resize_imgs_with_padding: target (width, height) in pixels as LeRobot stores it, or None
            to feed images at their own size.
        tokenizer_max_length: token budget for the instruction (48 in SmolVLA).
        pad_language_to: 'max_length' (always L tokens) or 'longest' (longest in the batch).
        max_state_dim / max_action_dim: the model's padded widths (32).
        empty_cameras: how many blank camera slots the checkpoint was trained to accept.
        tokenizer_name: the backbone repo id or folder holding the tokenizer (``vlm_model_name``).
        eps: added to std before dividing (LeRobot's 1e-8).
    """

    input_features: dict[str, FeatureSpec]
    output_features: dict[str, FeatureSpec]
    normalization_mapping: dict[FeatureType, NormMode] = field(default_factory=_default_norm_map)
    resize_imgs_with_padding: tuple[int, int] | None = (512, 512)
    tokenizer_max_length: int = 48
    pad_language_to: str = 'max_length'
    max_state_dim: int = 32
    max_action_dim: int = 32
    empty_cameras: int = 0
    tokenizer_name: str = 'HuggingFaceTB/SmolVLM2-500M-Video-Instruct'
    eps: float = 1e-8

    def __post_init__(self) -> None:
        self.normalization_mapping = {
            FeatureType(k): NormMode(v) for k, v in self.normalization_mapping.items()
        }
        if STATE_KEY not in self.input_features:
            raise ValueError(
                f'input_features needs {STATE_KEY!r}; got {list(self.input_features)}'
            )
        if self.input_features[STATE_KEY].type is not FeatureType.STATE:
            raise ValueError(f'{STATE_KEY!r} must have type STATE')
        if ACTION_KEY not in self.output_features:
            raise ValueError(
                f'output_features needs {ACTION_KEY!r}; got {list(self.output_features)}'
            )
        if not self.real_camera_names and self.empty_cameras == 0:
            raise ValueError('input_features holds no VISUAL feature and empty_cameras is 0')
        for name in self.camera_names:
            shape = self.input_features[name].shape
            if len(shape) != 3 or shape[0] != 3:
                raise ValueError(f'image feature {name!r} must have shape [3, H, W], got {shape}')
        if self.state_dim > self.max_state_dim:
            raise ValueError(
                f'state has {self.state_dim} dims but max_state_dim is {self.max_state_dim}'
            )
        if self.action_dim > self.max_action_dim:
            raise ValueError(
                f'action has {self.action_dim} dims but max_action_dim is {self.max_action_dim}'
            )
        if self.resize_imgs_with_padding is not None:
            size = tuple(int(s) for s in self.resize_imgs_with_padding)
            if len(size) != 2 or min(size) <= 0:
                raise ValueError(
                    f'resize_imgs_with_padding must be (width, height) > 0, got '
                    f'{self.resize_imgs_with_padding}'
                )
            self.resize_imgs_with_padding = (size[0], size[1])
        if self.tokenizer_max_length <= 0:
            raise ValueError(f'tokenizer_max_length must be > 0, got {self.tokenizer_max_length}')
        if self.pad_language_to not in PAD_LANGUAGE_CHOICES:
            raise ValueError(
                f'pad_language_to must be one of {PAD_LANGUAGE_CHOICES}, '
                f'got {self.pad_language_to!r}'
            )
        if self.empty_cameras < 0:
            raise ValueError(f'empty_cameras must be >= 0, got {self.empty_cameras}')
        if not self.eps >= 0:
            raise ValueError(f'eps must be >= 0, got {self.eps}')

    # -- derived views ------------------------------------------------------------------------

    @property
    def camera_names(self) -> list[str]:
        """All VISUAL input features, in checkpoint order (blank-camera features included)."""
        return [k for k, f in self.input_features.items() if f.type is FeatureType.VISUAL]

    @property
    def real_camera_names(self) -> list[str]:
        """VISUAL features a real camera feeds (LeRobot's ``empty_camera_*`` ones excluded)."""
        return [k for k in self.camera_names if not k.startswith(EMPTY_CAMERA_PREFIX)]

    @property
    def state_dim(self) -> int:
        return int(self.input_features[STATE_KEY].shape[0])

    @property
    def action_dim(self) -> int:
        return int(self.output_features[ACTION_KEY].shape[0])

    @property
    def image_size_hw(self) -> tuple[int, int] | None:
        """The model's image (height, width), or None when images keep their own size."""
        if self.resize_imgs_with_padding is None:
            return None
        width, height = self.resize_imgs_with_padding
        return height, width

    def mode_for(self, feature_type: FeatureType) -> NormMode:
        """Normalization mode of a feature type (IDENTITY when unmapped, as in LeRobot)."""
        return self.normalization_mapping.get(feature_type, NormMode.IDENTITY)

    @property
    def all_features(self) -> dict[str, FeatureSpec]:
        return {**self.input_features, **self.output_features}

    # -- parsing ------------------------------------------------------------------------------

    @classmethod
    def from_policy_config(cls, d: Mapping[str, Any]) -> ProcessorConfig:
        """Build from a LeRobot SmolVLA ``config.json`` dict.

        Raises:
            ProcessorFileError: a field is missing or malformed (the message names it).
        """
        try:
            inputs = {k: FeatureSpec.from_json(k, v) for k, v in d['input_features'].items()}
            outputs = {k: FeatureSpec.from_json(k, v) for k, v in d['output_features'].items()}
        except (KeyError, AttributeError) as e:
            raise ProcessorFileError(
                f'config.json: needs "input_features" and "output_features" mappings ({e!r})'
            ) from e
        kwargs: dict[str, Any] = {}
        if 'normalization_mapping' in d:
            kwargs['normalization_mapping'] = d['normalization_mapping']
        if 'resize_imgs_with_padding' in d:
            size = d['resize_imgs_with_padding']
            kwargs['resize_imgs_with_padding'] = None if size is None else tuple(size)
        simple = {
            'tokenizer_max_length': 'tokenizer_max_length',
            'pad_language_to': 'pad_language_to',
            'max_state_dim': 'max_state_dim',
            'max_action_dim': 'max_action_dim',
            'empty_cameras': 'empty_cameras',
            'vlm_model_name': 'tokenizer_name',
        }
        for src, dst in simple.items():
            if src in d:
                kwargs[dst] = d[src]
        try:
            return cls(input_features=inputs, output_features=outputs, **kwargs)
        except (ValueError, TypeError) as e:
            raise ProcessorFileError(f'config.json: {e}') from e
