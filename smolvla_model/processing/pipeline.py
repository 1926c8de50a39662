"""The saved pre/post-processing pipeline of a SmolVLA checkpoint.

``Preprocessor``: raw observation -> ``ModelInputs``; ``Postprocessor``: the model's normalized,
padded action chunk -> actions in the checkpoint's units. ``load_processors`` builds both from a
checkpoint folder; ``save_processors`` writes LeRobot's processor files so LeRobot (>= 0.4) can
load what we save.

Observation format (one dict per call)::

    {
        'images': {'top': frame, 'wrist': frame, ...},  # slot or checkpoint feature name
        'state': array [D] or [B, D],                    # the checkpoint's units (e.g. degrees)
        'instruction': 'pick up the cube' or [B strings],
    }

Frames: uint8 HWC [H, W, 3] / [B, H, W, 3] (RGB) or float CHW [3, H, W] / [B, 3, H, W] in
[0, 1]. Every input error raises ``InputError`` (a ``ValueError``) naming the input and what
was expected, before anything is computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smolvla_model.batch import ModelInputs
from smolvla_model.errors import InputError
from smolvla_model.processing.cameras import build_camera_map, route_frames
from smolvla_model.processing.config import (
    ACTION_KEY,
    STATE_KEY,
    FeatureType,
    ProcessorConfig,
    ProcessorFileError,
)
from smolvla_model.processing.images import prepare_image
from smolvla_model.processing.lerobot_files import (
    read_legacy_stats,
    read_processor_files,
    write_processor_files,
)
from smolvla_model.processing.normalization import FeatureNormalizer, Stats, stats_from_mapping
from smolvla_model.processing.tokenization import InstructionTokenizer, load_tokenizer

OBSERVATION_KEYS = ('images', 'state', 'instruction')


def _modes(config: ProcessorConfig) -> dict:
    return {name: config.mode_for(spec.type) for name, spec in config.all_features.items()}


def _validate_state(state: Any, expected_dim: int) -> torch.Tensor:
    """State [D] or [B, D] (any real dtype) -> float32 [B, D]; raises InputError."""
    if isinstance(state, torch.Tensor):
        x = state.detach().cpu()
        if x.dtype == torch.bool or x.is_complex():
            raise InputError(f'state: expected a real-valued array, got dtype {x.dtype}')
    else:
        arr = np.asarray(state)
        if arr.dtype.kind not in 'fiu':
            raise InputError(f'state: expected a real-valued array, got dtype {arr.dtype}')
        x = torch.from_numpy(np.ascontiguousarray(arr))
    if x.ndim == 1:
        x = x.unsqueeze(0)
    if x.ndim != 2:
        raise InputError(
            f'state: expected shape [{expected_dim}] or [B, {expected_dim}], got {tuple(x.shape)}'
        )
    if x.shape[1] != expected_dim:
        raise InputError(
            f"state: expected {expected_dim} values per row (the checkpoint's "
            f'{STATE_KEY} dim), got {x.shape[1]}'
        )
    if x.shape[0] == 0:
        raise InputError('state: empty batch')
    x = x.to(torch.float32)
    if not bool(torch.isfinite(x).all()):
        bad = (~torch.isfinite(x)).nonzero()[:, 1].unique().tolist()
        raise InputError(f'state: contains NaN or inf (in dims {bad}); refusing to run the model')
    return x


class Preprocessor:
    """Raw observation -> ``ModelInputs`` (see the module docstring for the input format).

    Camera order and count follow the checkpoint: the present real cameras in the checkpoint's
    feature order, then as many blank slots (all -1, mask False) as the checkpoint's
    ``empty_cameras`` allows for the missing ones (LeRobot appends blanks at the end too).
    """

    def __init__(
        self,
        config: ProcessorConfig,
        tokenizer: InstructionTokenizer,
        stats: Stats,
        *,
        camera_map: Mapping[str, str] | None = None,
        rename_map: Mapping[str, str] | None = None,
        stats_source: str = 'stats',
    ) -> None:
        """Args:
        config: the checkpoint's processing config.
        tokenizer: the instruction tokenizer.
        stats: dataset statistics (see ``normalization``), in the checkpoint's units.
        camera_map: slot -> image feature (or its last name part), overriding the defaults
            of ``cameras.build_camera_map``.
        rename_map: LeRobot's ``rename_map`` (caller key -> checkpoint feature), also honoured.
        stats_source: where the stats came from, for error messages.

        Raises:
            ValueError / ProcessorFileError: bad camera map, missing or bad statistics.
        """
        self.config = config
        self.tokenizer = tokenizer
        self.camera_map = build_camera_map(config.real_camera_names, camera_map)
        self.rename_map = dict(rename_map or {})
        self.normalizer = FeatureNormalizer(
            config.all_features, _modes(config), stats, config.eps, source=stats_source
        )

    # -- loading and saving -------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        checkpoint_dir: str | Path,
        tokenizer_dir: str | Path | None = None,
        camera_map: Mapping[str, str] | None = None,
        stats: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Preprocessor:
        """Load from a LeRobot checkpoint folder; see ``load_processors``."""
        return load_processors(checkpoint_dir, tokenizer_dir, camera_map, stats)[0]

    def save_pretrained(self, folder: str | Path) -> list[Path]:
        """Write LeRobot's processor files (both pipelines, same stats) into ``folder``.

        Returns the paths written; raises OSError when the folder cannot be written (nothing is
        left half-written).
        """
        return write_processor_files(
            Path(folder), self.config, self.normalizer.all_stats, self.rename_map
        )

    # -- the transform ------------------------------------------------------------------------

    def __call__(self, observation: Mapping[str, Any]) -> ModelInputs:
        """Validate and transform one observation (batch of B) into ``ModelInputs``.

        Raises:
            InputError: a missing key; images not a dict, unknown or missing camera (without
                ``empty_cameras``), wrong dtype / shape / channel count / range, batch-size
                mismatch; state with wrong dims or NaN/inf; empty instruction.
        """
        if not isinstance(observation, Mapping):
            raise InputError(
                f'observation: expected a dict with keys {OBSERVATION_KEYS}, '
                f'got {type(observation).__name__}'
            )
        missing = [k for k in OBSERVATION_KEYS if k not in observation]
        if missing:
            raise InputError(f'observation: missing {missing}; expected keys {OBSERVATION_KEYS}')
        cfg = self.config
        state = _validate_state(observation['state'], cfg.state_dim)
        batch = state.shape[0]
        images, masks = self._images(observation['images'], batch)
        tokens, lang_masks = self.tokenizer(observation['instruction'], batch)

        normalized = self.normalizer.normalize(STATE_KEY, state)
        padded = torch.zeros(batch, cfg.max_state_dim, dtype=torch.float32)
        padded[:, : cfg.state_dim] = normalized
        return ModelInputs(
            images=images,
            image_masks=masks,
            state=padded,
            lang_tokens=tokens,
            lang_masks=lang_masks,
        )

    def _images(self, frames: Any, batch: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        cfg = self.config
        if not isinstance(frames, Mapping):
            raise InputError(
                f'images: expected a dict camera name -> frame, got {type(frames).__name__}'
            )
        frames = {self.rename_map.get(k, k): v for k, v in frames.items()}
        routed = route_frames(frames, self.camera_map, cfg.camera_names)
        present = [f for f in cfg.real_camera_names if f in routed]
        absent_real = [f for f in cfg.real_camera_names if f not in routed]
        if absent_real and len(absent_real) > cfg.empty_cameras:
            slots = {f: s for s, f in self.camera_map.items()}
            named = [f'{f} (slot {slots[f]})' if f in slots else f for f in absent_real]
            raise InputError(
                f'images: missing camera(s) {named}; this checkpoint accepts at most '
                f'{cfg.empty_cameras} missing camera(s) (empty_cameras). Provide them (keys: a '
                f'slot bound in {self.camera_map} or a feature name)'
            )
        if not present:
            raise InputError(
                f'images: no camera given; the checkpoint needs at least one of '
                f'{cfg.real_camera_names}'
            )
        images, masks = [], []
        for name in present:
            img = prepare_image(routed[name], name, cfg.image_size_hw)
            if img.shape[0] != batch:
                raise InputError(
                    f'image {name!r}: batch of {img.shape[0]} frames, but the state has {batch} '
                    'rows'
                )
            images.append(img)
            masks.append(torch.ones(batch, dtype=torch.bool))
        # LeRobot: each missing VISUAL feature (blank-camera features included) becomes a blank
        # slot, up to empty_cameras of them, appended after the real cameras.
        n_missing = len([f for f in cfg.camera_names if f not in routed])
        for _ in range(min(n_missing, cfg.empty_cameras)):
            images.append(torch.full_like(images[0], -1.0))
            masks.append(torch.zeros(batch, dtype=torch.bool))
        return images, masks


class Postprocessor:
    """The model's action chunk (normalized, padded) -> actions in the checkpoint's units."""

    def __init__(self, config: ProcessorConfig, stats: Stats, stats_source: str = 'stats') -> None:
        """Raises ProcessorFileError on missing or bad action statistics."""
        self.config = config
        actions = dict(config.output_features)
        self.normalizer = FeatureNormalizer(
            actions,
            {k: config.mode_for(FeatureType.ACTION) for k in actions},
            stats,
            config.eps,
            source=stats_source,
        )

    @classmethod
    def from_pretrained(
        cls,
        checkpoint_dir: str | Path,
        stats: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Postprocessor:
        """Load from a LeRobot checkpoint folder (no tokenizer needed); see ``load_processors``."""
        folder = Path(checkpoint_dir)
        config = _read_config(folder)
        files = read_processor_files(folder)
        if files is not None and files.norm_map is not None:
            config.normalization_mapping.update(files.norm_map)
        if files is not None and files.eps is not None:
            config.eps = files.eps
        post_stats, source = _resolve_stats(folder, config, files, stats, post=True)
        return cls(config, post_stats, source)

    def __call__(self, actions: Any) -> np.ndarray:
        """Cut the padding off and unnormalize.

        Args:
            actions: float [B, T, max_action_dim] (or already cut to [B, T, action_dim]), torch
                or numpy, any device.

        Returns:
            float32 numpy [B, T, action_dim] in the checkpoint's action units.

        Raises:
            InputError: wrong shape or dtype, or NaN/inf (never hand those to a robot).
        """
        x = (
            actions.detach().cpu()
            if isinstance(actions, torch.Tensor)
            else torch.as_tensor(np.asarray(actions))
        )
        cfg = self.config
        if not x.is_floating_point():
            raise InputError(f'actions: expected a float tensor, got dtype {x.dtype}')
        if x.ndim != 3 or x.shape[-1] not in (cfg.max_action_dim, cfg.action_dim):
            raise InputError(
                f'actions: expected shape [B, T, {cfg.max_action_dim}] (or [B, T, '
                f'{cfg.action_dim}]), got {tuple(x.shape)}'
            )
        x = x[..., : cfg.action_dim].to(torch.float32)
        if not bool(torch.isfinite(x).all()):
            raise InputError('actions: the model output contains NaN or inf')
        return self.normalizer.unnormalize(ACTION_KEY, x).numpy()


# -- loading ----------------------------------------------------------------------------------


def _read_config(folder: Path) -> ProcessorConfig:
    import json

    path = folder / 'config.json'
    if not path.is_file():
        raise ProcessorFileError(
            f'{folder}: no config.json; is this a LeRobot SmolVLA checkpoint?'
        )
    try:
        data = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, json.JSONDecodeError) as e:
        raise ProcessorFileError(f'{path}: cannot read JSON ({e})') from e
    return ProcessorConfig.from_policy_config(data)


def _resolve_stats(
    folder: Path,
    config: ProcessorConfig,
    files: Any,
    override: Mapping[str, Mapping[str, Any]] | None,
    post: bool,
) -> tuple[Stats, str]:
    """Pick the statistics: explicit override, else processor files, else legacy buffers."""
    if override is not None:
        return stats_from_mapping(override), 'stats argument'
    if files is not None:
        first, second = (
            (files.post_stats, files.pre_stats) if post else (files.pre_stats, files.post_stats)
        )
        merged = {**second, **first}
        if merged:
            return merged, files.source
    legacy = read_legacy_stats(folder / 'model.safetensors', list(config.all_features))
    if legacy:
        return legacy, str(folder / 'model.safetensors')
    return {}, (
        f'{folder} (no {"policy_postprocessor" if post else "policy_preprocessor"}.json stats '
        'and no normalization buffers in model.safetensors; pass stats=... from your dataset)'
    )


def _tokenizer_source(name: str, folder: Path) -> str | Path:
    # vlm_model_name may be a hub id or a folder: absolute, or relative to the checkpoint or its
    # parent (the parity fixture stores it relative to the fixture root).
    for candidate in (Path(name), folder / name, folder.parent / name):
        if candidate.is_dir():
            return candidate
    return name


def load_processors(
    checkpoint_dir: str | Path,
    tokenizer: str | Path | Any | None = None,
    camera_map: Mapping[str, str] | None = None,
    stats: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[Preprocessor, Postprocessor]:
    """Build both pipelines from a LeRobot SmolVLA checkpoint folder.

    Args:
        checkpoint_dir: folder with ``config.json`` and either the processor files (LeRobot >=
            0.4) or a ``model.safetensors`` with normalization buffers (LeRobot 0.3).
        tokenizer: a folder with the backbone tokenizer, a loaded transformers tokenizer, or None
            to use the checkpoint's ``tokenizer_name`` / ``vlm_model_name`` (a folder, or a hub id
            found in the Hugging Face cache).
        camera_map: slot -> image feature overrides (see ``cameras``).
        stats: statistics to use instead of the checkpoint's (e.g. your dataset's), as
            ``{feature: {stat: array}}`` in the data's units.

    Raises:
        ProcessorFileError: unreadable config/processor/stats files, missing statistics, or a
            tokenizer that cannot be found (the message says how to fetch it).
        ValueError: a bad camera map.
    """
    folder = Path(checkpoint_dir)
    config = _read_config(folder)
    files = read_processor_files(folder)
    tok_settings: dict[str, Any] = {}
    rename_map: dict[str, str] = {}
    if files is not None:
        if files.norm_map is not None:
            config.normalization_mapping.update(files.norm_map)
        if files.eps is not None:
            config.eps = files.eps
        tok_settings = files.tokenizer
        rename_map = files.rename_map
    if isinstance(tokenizer, (str, Path)) or tokenizer is None:
        name = tok_settings.get('tokenizer_name') or config.tokenizer_name
        source = tokenizer if tokenizer is not None else _tokenizer_source(name, folder)
        tokenizer = load_tokenizer(source)
    max_length = int(tok_settings.get('max_length', config.tokenizer_max_length))
    padding = str(tok_settings.get('padding', config.pad_language_to))
    instr = InstructionTokenizer(tokenizer, max_length=max_length, padding=padding)
    pre_stats, pre_source = _resolve_stats(folder, config, files, stats, post=False)
    post_stats, post_source = _resolve_stats(folder, config, files, stats, post=True)
    pre = Preprocessor(
        config,
        instr,
        pre_stats,
        camera_map=camera_map,
        rename_map=rename_map,
        stats_source=pre_source,
    )
    post = Postprocessor(config, post_stats, post_source)
    return pre, post


def save_processors(folder: str | Path, pre: Preprocessor) -> list[Path]:
    """Write LeRobot's processor files for ``pre`` (and its action stats for the post-processor).

    Same as ``pre.save_pretrained(folder)``.
    """
    return pre.save_pretrained(folder)
