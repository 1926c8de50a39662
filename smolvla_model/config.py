"""``SmolVLAConfig``: LeRobot's SmolVLA ``config.json``, parsed, typed and validated.

The dataclass mirrors the fields LeRobot writes (so a config we save loads in LeRobot) and keeps
every field it does not know in ``extra`` so a load/save round trip loses nothing. The backbone
(SmolVLM2) configuration is separate: it comes from the folder named by ``vlm_model_name`` or,
for the full-size architecture without any download, from :func:`smolvlm2_500m_backbone_config`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smolvla_model.errors import ConfigError

CONFIG_NAME = 'config.json'
NORMALIZATION_MODES = ('IDENTITY', 'MEAN_STD', 'MIN_MAX', 'QUANTILES', 'QUANTILE10')
FEATURE_TYPES = ('VISUAL', 'STATE', 'ACTION', 'ENV', 'LANGUAGE', 'REWARD')

# Integer fields: (smallest, largest) accepted. The upper bounds stop a typo from hanging or
# exhausting the machine at load time rather than letting it fail late or run forever; each is
# one to two orders of magnitude above what SmolVLA checkpoints use (LeRobot's defaults in
# brackets), so every real checkpoint loads.
INT_LIMITS: dict[str, tuple[int, int]] = {
    'n_obs_steps': (1, 16),  # [1] SmolVLA conditions on one observation
    # [50] actions per chunk; 1000 is 33 s at 30 Hz. Noise and velocities are
    # chunk_size x max_action_dim floats per step: 1e7 would be gigabytes.
    'chunk_size': (1, 1000),
    'n_action_steps': (1, 1000),  # [50] <= chunk_size, checked below
    'max_state_dim': (1, 1024),  # [32] padded widths of the state/action projections
    'max_action_dim': (1, 1024),  # [32]
    'tokenizer_max_length': (1, 4096),  # [48] half of SmolVLM2's 8192 positions
    # [10] Euler steps: each is a full expert pass (~150 ms at full size on a CPU), so 1000
    # steps is minutes a chunk; 1e9 would never return.
    'num_steps': (1, 1000),
    'num_vlm_layers': (1, 256),  # [16] of SmolVLM2's 32; the loader checks the backbone
    'num_expert_layers': (-1, 256),  # [-1] <= 0 means as many as num_vlm_layers
    'self_attn_every_n_layers': (1, 256),  # [2]
    'empty_cameras': (0, 16),  # [0]
    'prefix_length': (-1, 1_000_000),  # [-1] unused at inference
    'scheduler_warmup_steps': (0, 10**9),  # [1000]
    'scheduler_decay_steps': (0, 10**9),  # [30000]
}
# Float fields that must be finite and >= 0 (ranges between them are checked below).
NONNEGATIVE_FLOATS = (
    'optimizer_lr',
    'optimizer_eps',
    'optimizer_weight_decay',
    'optimizer_grad_clip_norm',
    'scheduler_decay_lr',
    'expert_width_multiplier',
    'min_period',
    'max_period',
)
BOOL_FIELDS = (
    'use_cache',
    'freeze_vision_encoder',
    'train_expert_only',
    'train_state_proj',
    'adapt_to_pi_aloha',
    'use_delta_joint_actions_aloha',
    'load_vlm_weights',
    'add_image_special_tokens',
)
STR_FIELDS = ('vlm_model_name', 'attention_mode', 'pad_language_to', 'type')


def _as_int(value: Any, what: str, low: int, high: int) -> int:
    """``value`` as an int in [low, high], or ConfigError naming ``what``.

    JSON integers pass; so does a float with no fractional part (50.0, as some writers emit
    integers), since its meaning is unambiguous. Strings ("50"), fractions (50.5), booleans and
    null are refused rather than coerced: they mean the file was not written by a SmolVLA tool.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(
            f'{what} must be an integer in [{low}, {high}], got {value!r} ({type(value).__name__})'
        )
    integral = isinstance(value, numbers.Integral)
    if not (integral or (math.isfinite(value) and float(value).is_integer())):
        raise ConfigError(f'{what} must be an integer in [{low}, {high}], got {value!r}')
    number = int(value)
    if not low <= number <= high:
        raise ConfigError(f'{what} must be in [{low}, {high}], got {number}')
    return number


def check_num_steps(value: Any) -> int:
    """Euler steps per chunk as an int within ``INT_LIMITS['num_steps']`` (1..1000).

    Raises:
        ConfigError: not an integer, or out of range (a huge count would never return).
    """
    low, high = INT_LIMITS['num_steps']
    return _as_int(value, 'num_steps', low, high)


def _as_float(value: Any, what: str) -> float:
    """``value`` as a finite float >= 0, or ConfigError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f'{what} must be a number, got {value!r} ({type(value).__name__})')
    number = float(value)
    if not (math.isfinite(number) and number >= 0):
        raise ConfigError(f'{what} must be finite and >= 0, got {value!r}')
    return number


@dataclass
class FeatureSpec:
    """One input/output feature of the policy: its LeRobot type and shape (C, H, W for images)."""

    type: str
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.type not in FEATURE_TYPES:
            raise ConfigError(f'feature type {self.type!r} is not one of {FEATURE_TYPES}')
        if isinstance(self.shape, (str, bytes)) or not hasattr(self.shape, '__iter__'):
            raise ConfigError(f'feature shape must be a list of sizes, got {self.shape!r}')
        self.shape = tuple(_as_int(s, 'feature shape entry', 1, 1 << 20) for s in self.shape)
        if not self.shape:
            raise ConfigError('feature shape is empty; give one size per axis, e.g. [6]')


def _features(raw: dict[str, Any] | None, what: str) -> dict[str, FeatureSpec]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f'{what} must be a mapping of name -> {{type, shape}}, got {raw!r}')
    out = {}
    for name, spec in raw.items():
        if isinstance(spec, FeatureSpec):
            out[name] = spec
            continue
        try:
            out[name] = FeatureSpec(type=spec['type'], shape=tuple(spec['shape']))
        except (KeyError, TypeError) as e:
            raise ConfigError(f'{what}[{name!r}] needs "type" and "shape", got {spec!r}') from e
    return out


@dataclass
class SmolVLAConfig:
    """SmolVLA policy configuration (the fields of LeRobot's ``config.json``).

    Sizes are counts; periods are in the flow-matching time unit (t in [0, 1]).
    """

    input_features: dict[str, FeatureSpec] = field(default_factory=dict)
    output_features: dict[str, FeatureSpec] = field(default_factory=dict)
    n_obs_steps: int = 1
    chunk_size: int = 50  # actions per inference call
    n_action_steps: int = 50  # actions executed from each chunk; <= chunk_size
    normalization_mapping: dict[str, str] = field(
        default_factory=lambda: {'VISUAL': 'IDENTITY', 'STATE': 'MEAN_STD', 'ACTION': 'MEAN_STD'}
    )
    max_state_dim: int = 32  # the state is zero-padded to this width
    max_action_dim: int = 32  # the model predicts this many action dims (real ones first)
    resize_imgs_with_padding: tuple[int, int] = (512, 512)  # (width, height), pixels
    empty_cameras: int = 0  # extra blank camera slots the model was trained with
    adapt_to_pi_aloha: bool = False
    use_delta_joint_actions_aloha: bool = False
    tokenizer_max_length: int = 48
    num_steps: int = 10  # Euler steps from t=1 (noise) to t=0
    use_cache: bool = True
    freeze_vision_encoder: bool = True
    train_expert_only: bool = True
    train_state_proj: bool = True
    optimizer_lr: float = 1e-4
    optimizer_betas: tuple[float, float] = (0.9, 0.95)
    optimizer_eps: float = 1e-8
    optimizer_weight_decay: float = 1e-10
    optimizer_grad_clip_norm: float = 10.0
    scheduler_warmup_steps: int = 1000
    scheduler_decay_steps: int = 30000
    scheduler_decay_lr: float = 2.5e-6
    vlm_model_name: str = 'HuggingFaceTB/SmolVLM2-500M-Video-Instruct'
    load_vlm_weights: bool = False
    add_image_special_tokens: bool = False
    attention_mode: str = 'cross_attn'
    prefix_length: int = -1
    pad_language_to: str = 'longest'
    num_expert_layers: int = -1  # <= 0: as many as num_vlm_layers
    num_vlm_layers: int = 16  # the first N text layers of the backbone are kept
    self_attn_every_n_layers: int = 2  # layers i % n == 0 are joint self-attention
    expert_width_multiplier: float = 0.75
    min_period: float = 4e-3
    max_period: float = 4.0
    type: str = 'smolvla'
    extra: dict[str, Any] = field(default_factory=dict)  # fields we do not interpret, kept as-is

    def __post_init__(self) -> None:
        self._check_types()
        self.input_features = _features(self.input_features, 'input_features')
        self.output_features = _features(self.output_features, 'output_features')
        if self.type != 'smolvla':
            raise ConfigError(f'config type is {self.type!r}; this loader reads "smolvla" only')
        if self.n_action_steps > self.chunk_size:
            raise ConfigError(
                f'n_action_steps ({self.n_action_steps}) cannot exceed chunk_size '
                f'({self.chunk_size}): a chunk holds only chunk_size actions'
            )
        if self.attention_mode != 'cross_attn':
            raise ConfigError(
                f'attention_mode {self.attention_mode!r} is not supported; use "cross_attn" '
                '(the only mode SmolVLA checkpoints use)'
            )
        if self.use_delta_joint_actions_aloha:
            raise ConfigError(
                'use_delta_joint_actions_aloha=True is not implemented (nor in LeRobot)'
            )
        if not 0 < self.expert_width_multiplier <= 4:
            raise ConfigError(
                f'expert_width_multiplier must be in (0, 4], got {self.expert_width_multiplier}'
            )
        if not (0 < self.min_period < self.max_period) or not math.isfinite(self.max_period):
            raise ConfigError(
                f'need 0 < min_period < max_period, got {self.min_period}, {self.max_period}'
            )
        if self.pad_language_to not in ('longest', 'max_length'):
            raise ConfigError(
                f'pad_language_to must be "longest" or "max_length", got {self.pad_language_to!r}'
            )
        for kind, mode in self.normalization_mapping.items():
            if mode not in NORMALIZATION_MODES:
                raise ConfigError(
                    f'normalization_mapping[{kind!r}] = {mode!r}; expected one of '
                    f'{NORMALIZATION_MODES}'
                )
        state = self.state_dim
        if state is not None and state > self.max_state_dim:
            raise ConfigError(
                f'observation.state has {state} dims but max_state_dim is {self.max_state_dim}'
            )
        action = self.action_dim
        if action is not None and action > self.max_action_dim:
            raise ConfigError(
                f'action has {action} dims but max_action_dim is {self.max_action_dim}'
            )

    def _check_types(self) -> None:
        """Type and range of every scalar field, converted in place; ConfigError names it."""
        for name, (low, high) in INT_LIMITS.items():
            setattr(self, name, _as_int(getattr(self, name), name, low, high))
        for name in NONNEGATIVE_FLOATS:
            setattr(self, name, _as_float(getattr(self, name), name))
        for name in BOOL_FIELDS:
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f'{name} must be true or false, got {getattr(self, name)!r}')
        for name in STR_FIELDS:
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f'{name} must be a string, got {getattr(self, name)!r}')
        size = self.resize_imgs_with_padding
        if size is None or isinstance(size, (str, bytes)) or len(size) != 2:
            # LeRobot allows null (feed images at their own size), but SmolVLM's pixel shuffle
            # needs the fixed square patch grid the checkpoint was trained on.
            raise ConfigError(
                f'resize_imgs_with_padding must be [width, height] (e.g. [512, 512]), got '
                f'{size!r}; null (no resize) is not supported: the vision tower needs a fixed size'
            )
        self.resize_imgs_with_padding = (
            _as_int(size[0], 'resize_imgs_with_padding width', 1, 8192),
            _as_int(size[1], 'resize_imgs_with_padding height', 1, 8192),
        )
        betas = self.optimizer_betas
        if isinstance(betas, (str, bytes)) or not hasattr(betas, '__len__') or len(betas) != 2:
            raise ConfigError(f'optimizer_betas must be [beta1, beta2], got {betas!r}')
        self.optimizer_betas = tuple(_as_float(b, 'optimizer_betas entry') for b in betas)
        if not isinstance(self.normalization_mapping, dict):
            raise ConfigError(
                f'normalization_mapping must map feature types to modes, got '
                f'{self.normalization_mapping!r}'
            )

    # --- derived values -------------------------------------------------------------------
    @property
    def image_keys(self) -> list[str]:
        """VISUAL input feature names in config order: the order camera tokens take."""
        return [k for k, f in self.input_features.items() if f.type == 'VISUAL']

    @property
    def state_dim(self) -> int | None:
        """Real state width (before padding), or None when the config names no state."""
        for f in self.input_features.values():
            if f.type == 'STATE':
                return f.shape[-1]
        return None

    @property
    def action_dim(self) -> int | None:
        """Real action width (before padding), or None when the config names no action."""
        for f in self.output_features.values():
            if f.type == 'ACTION':
                return f.shape[-1]
        return None

    @property
    def expert_num_layers(self) -> int:
        return self.num_expert_layers if self.num_expert_layers > 0 else self.num_vlm_layers

    # --- (de)serialisation ----------------------------------------------------------------
    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SmolVLAConfig:
        """Build from a ``config.json`` mapping; unknown keys go to ``extra``.

        Raises:
            ConfigError: a value is impossible or of the wrong kind.
        """
        if not isinstance(raw, dict):
            raise ConfigError(f'a SmolVLA config must be a JSON object, got {type(raw).__name__}')
        known = {f.name for f in dataclasses.fields(cls)} - {'extra'}
        kwargs = {k: v for k, v in raw.items() if k in known}
        extra = {k: v for k, v in raw.items() if k not in known}
        try:
            return cls(**kwargs, extra=extra)
        except TypeError as e:
            raise ConfigError(f'bad SmolVLA config value: {e}') from e

    @classmethod
    def from_json(cls, path: str | Path) -> SmolVLAConfig:
        """Read ``config.json`` (or the ``config.json`` inside a folder).

        Raises:
            ConfigError: the file is missing, is not JSON, or holds impossible values.
        """
        path = Path(path)
        if path.is_dir():
            path = path / CONFIG_NAME
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError as e:
            raise ConfigError(f'no SmolVLA config at {path}') from e
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f'{path} is not valid JSON: {e}') from e
        try:
            return cls.from_dict(raw)
        except ConfigError as e:
            raise ConfigError(f'{path}: {e}') from e

    def to_dict(self) -> dict[str, Any]:
        """The ``config.json`` mapping LeRobot reads (unknown loaded fields included)."""
        out: dict[str, Any] = dict(self.extra)
        for f in dataclasses.fields(self):
            if f.name == 'extra':
                continue
            value = getattr(self, f.name)
            if f.name in ('input_features', 'output_features'):
                value = {k: {'type': s.type, 'shape': list(s.shape)} for k, s in value.items()}
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


def expert_intermediate_size(hidden: int, multiplier: int = 4, multiple_of: int = 256) -> int:
    """MLP width of the action expert: 2/3 * 4 * hidden, rounded up to a multiple of 256.

    This is the LLaMA sizing rule SmolVLA uses (720 -> 2048).
    """
    width = int(multiplier * int(2 * hidden / 3))
    return multiple_of * ((width + multiple_of - 1) // multiple_of)


def smolvlm2_500m_backbone_dict() -> dict[str, Any]:
    """The SmolVLM2-500M-Video-Instruct backbone config, written out so the full-size
    architecture builds with no download (numbers from the published config.json; vision depth
    and MLP width are the class defaults, confirmed by the checkpoint byte count)."""
    return {
        'model_type': 'smolvlm',
        'image_token_id': 49190,
        'scale_factor': 4,
        'tie_word_embeddings': False,
        'vocab_size': 49280,
        'pad_token_id': 128002,
        'torch_dtype': 'bfloat16',
        'text_config': {
            'model_type': 'llama',
            'vocab_size': 49280,
            'hidden_size': 960,
            'intermediate_size': 2560,
            'num_hidden_layers': 32,
            'num_attention_heads': 15,
            'num_key_value_heads': 5,
            'head_dim': 64,
            'hidden_act': 'silu',
            'max_position_embeddings': 8192,
            'rms_norm_eps': 1e-5,
            'rope_theta': 100000,
            'attention_bias': False,
            'mlp_bias': False,
            'pad_token_id': 2,
            'tie_word_embeddings': False,
            'torch_dtype': 'bfloat16',
        },
        'vision_config': {
            'model_type': 'smolvlm_vision',
            'hidden_size': 768,
            'intermediate_size': 3072,
            'num_hidden_layers': 12,
            'num_attention_heads': 12,
            'num_channels': 3,
            'image_size': 512,
            'patch_size': 16,
            'hidden_act': 'gelu_pytorch_tanh',
            'layer_norm_eps': 1e-6,
        },
    }
