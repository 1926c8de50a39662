"""Feature normalization with dataset statistics, the way LeRobot's normalizer steps do it.

Modes (per feature type, from the checkpoint's ``normalization_mapping``):

* ``MEAN_STD``: ``(x - mean) / (std + eps)``; inverse ``x * std + mean`` (no eps, as LeRobot).
* ``MIN_MAX``: ``2 (x - min) / (max - min) - 1`` into [-1, 1]; inverse ``(x + 1) / 2 (max - min) +
  min``; a zero range is replaced by eps.
* ``QUANTILES`` / ``QUANTILE10``: as MIN_MAX with (q01, q99) / (q10, q90).
* ``IDENTITY``: unchanged.

Statistics are ``{feature_name: {stat_name: float32 tensor}}``, e.g.
``{'observation.state': {'mean': ..., 'std': ...}}``, in the units of the data the checkpoint was
trained on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from smolvla_model.processing.config import FeatureSpec, NormMode, ProcessorFileError

Stats = dict[str, dict[str, torch.Tensor]]

# Which statistics each mode needs: (low/centre stat, high/scale stat).
REQUIRED_STATS: dict[NormMode, tuple[str, str]] = {
    NormMode.MEAN_STD: ('mean', 'std'),
    NormMode.MIN_MAX: ('min', 'max'),
    NormMode.QUANTILES: ('q01', 'q99'),
    NormMode.QUANTILE10: ('q10', 'q90'),
}


def stats_from_mapping(raw: Mapping[str, Mapping[str, Any]]) -> Stats:
    """Convert nested numbers/arrays/tensors to float32 tensors (a copy).

    Raises:
        ValueError: a value is not numeric.
    """
    out: Stats = {}
    for feature, group in raw.items():
        out[feature] = {}
        for stat, value in group.items():
            try:
                if isinstance(value, torch.Tensor):
                    t = value.detach().cpu()
                else:
                    t = torch.as_tensor(np.asarray(value, dtype=np.float32))
            except (TypeError, ValueError) as e:
                raise ValueError(f'stats {feature}.{stat}: not numeric ({e})') from e
            out[feature][stat] = t.to(torch.float32).clone()
    return out


def flatten_stats(stats: Stats) -> dict[str, torch.Tensor]:
    """``{'observation.state': {'mean': t}}`` -> ``{'observation.state.mean': t}`` (LeRobot's
    normalizer state-file keys)."""
    return {f'{k}.{s}': t.contiguous() for k, group in stats.items() for s, t in group.items()}


def unflatten_stats(flat: Mapping[str, torch.Tensor]) -> Stats:
    """Inverse of ``flatten_stats``; splits each key at its *last* dot, as LeRobot does."""
    out: Stats = {}
    for key, t in flat.items():
        if '.' not in key:
            raise ProcessorFileError(f'stats key {key!r} is not of the form "<feature>.<stat>"')
        feature, stat = key.rsplit('.', 1)
        out.setdefault(feature, {})[stat] = t.to(torch.float32)
    return out


class FeatureNormalizer:
    """Normalizes and unnormalizes named features with fixed statistics.

    Construction checks, for every feature whose mode is not IDENTITY, that the needed stats
    exist, are finite, have the feature's width, that std is not negative (MEAN_STD) and that
    the low bound does not exceed the high one (MIN_MAX, QUANTILES, QUANTILE10); so a bad stats
    file fails at load time, not on the first action.
    """

    def __init__(
        self,
        features: Mapping[str, FeatureSpec],
        modes: Mapping[str, NormMode],
        stats: Stats,
        eps: float = 1e-8,
        source: str = 'stats',
    ) -> None:
        """Args:
        features: the features this normalizer handles (name -> spec).
        modes: the normalization mode of each of those features.
        stats: see the module docstring.
        eps: LeRobot's 1e-8.
        source: where the stats came from, for error messages (a file name).

        Raises:
            ProcessorFileError: missing, non-finite or wrongly shaped statistics, negative std,
                or min > max (names the feature and the dims).
        """
        self.features = dict(features)
        self.modes = dict(modes)
        self.eps = float(eps)
        # Everything given is kept for saving (LeRobot stores all dataset stats, used or not).
        self.all_stats: Stats = {k: {s: t.clone() for s, t in g.items()} for k, g in stats.items()}
        self.stats: Stats = {}
        for name, spec in self.features.items():
            mode = self.modes.get(name, NormMode.IDENTITY)
            if mode is NormMode.IDENTITY:
                continue
            lo_key, hi_key = REQUIRED_STATS[mode]
            group = stats.get(name, {})
            missing = [k for k in (lo_key, hi_key) if k not in group]
            if missing:
                raise ProcessorFileError(
                    f'{source}: feature {name!r} uses {mode.value} normalization but its '
                    f'statistics lack {missing} (have {sorted(group)}); provide the stats of the '
                    'dataset the checkpoint was trained on'
                )
            width = spec.shape[-1]
            kept = {}
            for key in (lo_key, hi_key):
                t = group[key].reshape(-1)
                if t.numel() != width:
                    raise ProcessorFileError(
                        f'{source}: {name}.{key} has {t.numel()} values, the feature has {width}'
                    )
                if not bool(torch.isfinite(t).all()):
                    raise ProcessorFileError(
                        f'{source}: {name}.{key} holds NaN or inf (LeRobot fills never-set stats '
                        'with inf); provide the dataset statistics'
                    )
                kept[key] = t.clone()
            if mode is NormMode.MEAN_STD and bool((kept['std'] < 0).any()):
                raise ProcessorFileError(f'{source}: {name}.std has negative entries')
            if mode is not NormMode.MEAN_STD:
                # low > high would flip the sign of the normalized values, and so of every
                # action the model outputs: a swapped or corrupted stats file, never intended.
                flipped = torch.nonzero(kept[lo_key] > kept[hi_key]).reshape(-1).tolist()
                if flipped:
                    raise ProcessorFileError(
                        f'{source}: {name}.{lo_key} > {name}.{hi_key} in dims {flipped} '
                        f'({mode.value} would negate them); check the stats are not swapped'
                    )
            self.stats[name] = kept

    def _scale(self, name: str) -> tuple[NormMode, torch.Tensor, torch.Tensor]:
        mode = self.modes.get(name, NormMode.IDENTITY)
        if mode is NormMode.IDENTITY:
            return mode, torch.zeros(()), torch.ones(())
        lo_key, hi_key = REQUIRED_STATS[mode]
        return mode, self.stats[name][lo_key], self.stats[name][hi_key]

    def normalize(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Map a feature's raw values [..., D] (float32) into the model's normalized space."""
        mode, lo, hi = self._scale(name)
        if mode is NormMode.IDENTITY:
            return x
        if mode is NormMode.MEAN_STD:
            return (x - lo) / (hi + self.eps)
        span = torch.where(hi - lo == 0, torch.full_like(hi, self.eps), hi - lo)
        return 2.0 * (x - lo) / span - 1.0

    def unnormalize(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Inverse of ``normalize`` (the model's output space -> the feature's raw units)."""
        mode, lo, hi = self._scale(name)
        if mode is NormMode.IDENTITY:
            return x
        if mode is NormMode.MEAN_STD:
            return x * hi + lo
        span = torch.where(hi - lo == 0, torch.full_like(hi, self.eps), hi - lo)
        return (x + 1.0) / 2.0 * span + lo
