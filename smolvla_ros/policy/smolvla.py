"""SmolVLA as a suite :class:`~smolvla_ros.policy.protocol.Policy`: frames + joint state in,
a chunk of joint targets in radians out.

``SmolVLAChunkPolicy`` wraps a loaded ``smolvla_model.SmolVLAPolicy`` and an
:class:`~smolvla_ros.action_space.ActionSpace`::

    policy = SmolVLAChunkPolicy.from_pretrained(
        'path/to/checkpoint', SO101.joint_names, units='degrees',
        calibration=load_calibration(path, SO101.joint_names), dt_s=1 / 30, seed=0)
    targets = policy.predict(PolicyInput(snapshot, frames, 'pick up the cube'))  # (50, 6) rad

On the first request the arm's state is checked against the checkpoint's state statistics
(``ActionSpace.check_state``); a units mix-up raises ``UnitsMismatchError`` before the model runs,
on every request until a check passes (or ``allow_units_mismatch=True``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from smolvla_model.errors import ConfigError
from smolvla_model.hub import resolve_folder
from smolvla_model.policy import SmolVLAPolicy
from smolvla_ros.action_space import (
    ActionSpace,
    ModelUnits,
    StateCheck,
    build_action_space,
    read_checkpoint_metadata,
    state_stats,
)
from smolvla_ros.policy.protocol import PolicyInput
from so_arm_driver.calibration import MotorCalibration

log = logging.getLogger(__name__)

# dt agreement between the checkpoint's fps and a configured dt_s, seconds.
_DT_TOLERANCE_S = 1e-6


class MissingFrameError(ValueError):
    """A request lacks a frame for a camera slot the checkpoint needs; nothing was run."""


class SmolVLAChunkPolicy:
    """A SmolVLA checkpoint behind the suite's Policy protocol (see the module docstring).

    Attributes:
        policy: the wrapped ``SmolVLAPolicy``.
        action_space: the arm <-> checkpoint conversion.
        last_check: the result of the units check, once one ran.
    """

    def __init__(
        self,
        policy: SmolVLAPolicy,
        action_space: ActionSpace,
        *,
        dt_s: float | None = None,
        seed: int | None = None,
        optional_slots: Sequence[str] = (),
        allow_units_mismatch: bool = False,
        check_units: bool = True,
    ) -> None:
        """Args:
        policy: a loaded ``SmolVLAPolicy``.
        action_space: built for this policy (``action_space_for_policy``).
        dt_s: seconds between actions, used when the checkpoint records no fps; must agree
            with the checkpoint's fps when it does.
        seed: seeds a fresh ``torch.Generator`` on every request, so an identical request
            gives an identical chunk; None draws from torch's global RNG.
        optional_slots: bound camera slots the request may lack; the checkpoint fills them
            with blank cameras, so at most its ``empty_cameras`` of them.
        allow_units_mismatch: run even when the units check fails (logged as a warning).
        check_units: compare the first request's state with the checkpoint's statistics.

        Raises:
            ConfigError: no dt (neither fps nor dt_s), dt disagreement, an image feature bound to
                no slot, bad optional slots, or an action space of other widths.
        """
        self.policy = policy
        self.action_space = action_space
        if (policy.state_dim, policy.action_dim) != (action_space.joint_count,) * 2:
            raise ConfigError(
                f'the action space maps {action_space.joint_count} joints but the checkpoint '
                f'has state/action dims {policy.state_dim}/{policy.action_dim}; build it with '
                'action_space_for_policy(policy, ...)'
            )
        self._dt_s = _resolve_dt(policy.dt, dt_s)
        slots = policy.camera_slots  # slot -> checkpoint feature
        unbound = [f for f in policy.camera_features if f not in slots.values()]
        if unbound:
            raise ConfigError(
                f'checkpoint image features {unbound} are bound to no camera slot; bind them '
                "with camera_map={'top': '<feature>'} (slots: top, wrist, side)"
            )
        optional = tuple(optional_slots)
        bad = [s for s in optional if s not in slots]
        if bad:
            raise ConfigError(f'optional_slots {bad} are not camera slots of this checkpoint')
        empty = int(policy.preprocessor.config.empty_cameras)
        if len(optional) > empty:
            raise ConfigError(
                f'optional_slots {list(optional)}: the checkpoint accepts at most {empty} '
                'missing camera(s) (empty_cameras)'
            )
        self._slots = dict(slots)
        # In the checkpoint's camera order (the order of the image tokens), for stable output.
        by_feature = {f: s for s, f in slots.items()}
        ordered = [by_feature[f] for f in policy.camera_features]
        self._required = tuple(s for s in ordered if s not in optional)
        self.seed = None if seed is None else int(seed)
        self.allow_units_mismatch = bool(allow_units_mismatch)
        self._check_pending = bool(check_units)
        self.last_check: StateCheck | None = None

    # -- Policy protocol ----------------------------------------------------------------------

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.action_space.arm_joint_names

    @property
    def dt_s(self) -> float:
        return self._dt_s

    @property
    def required_slots(self) -> tuple[str, ...]:
        return self._required

    def predict(self, request: PolicyInput) -> np.ndarray:
        """Joint targets for ``request``: shape (chunk_size, J), radians, arm order.

        Raises:
            ValueError: joint names other than the arm's, bad positions.
            MissingFrameError: a required slot has no frame.
            UnitsMismatchError: the first-request units check failed (nothing was run).
            ValueError: the model's output has the wrong shape or is not finite.
        """
        snap = request.snapshot
        if tuple(snap.joint_names) != self.joint_names:
            raise ValueError(
                f'snapshot joints {list(snap.joint_names)} differ from the policy joints '
                f'{list(self.joint_names)}'
            )
        missing = [s for s in self._required if s not in request.frames]
        if missing:
            raise MissingFrameError(
                f'no frame for camera slot(s) {missing} (checkpoint features '
                f'{[self._slots[s] for s in missing]}); got slots {sorted(request.frames)}. '
                'Connect those cameras or bind others with camera_map'
            )
        state = self.action_space.state_to_model(snap.positions_rad)
        if self._check_pending:
            self._check(snap.positions_rad)
        images = {s: f.rgb for s, f in request.frames.items() if s in self._slots}
        generator = None
        if self.seed is not None:
            generator = torch.Generator(device=self.policy.device).manual_seed(self.seed)
        chunk = self.policy.predict_chunk(
            {'images': images, 'state': state, 'instruction': request.instruction},
            generator=generator,
        )
        expected = (1, self.policy.chunk_size, self.action_space.joint_count)
        if chunk.shape != expected:
            raise ValueError(f'the model returned shape {chunk.shape}, expected {expected}')
        targets = self.action_space.actions_to_arm(chunk[0])
        if not np.isfinite(targets).all():
            raise ValueError('the converted chunk holds NaN or inf; nothing is returned')
        return targets

    def _check(self, positions_rad: np.ndarray) -> None:
        stats = state_stats(self.policy)
        if stats is None:
            log.warning(
                'the checkpoint does not normalize its state: no statistics to check the '
                '%r units against',
                self.action_space.units,
            )
            self._check_pending = False
            return
        # Raises UnitsMismatchError (a ValueError) and stays pending until a check passes.
        self.last_check = self.action_space.check_state(
            positions_rad, stats, allow_mismatch=self.allow_units_mismatch
        )
        self._check_pending = False

    # -- loading ------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(  # noqa: PLR0917 (the agreed API: positional like SmolVLAPolicy's)
        cls,
        path: str | os.PathLike[str],
        arm_joint_names: Sequence[str],
        units: ModelUnits | str | None = None,
        calibration: Mapping[str, MotorCalibration] | None = None,
        precision: str = 'fp32',
        device: torch.device | str = 'cpu',
        *,
        column_order: Sequence[str] | None = None,
        signs: Mapping[str, int] | None = None,
        dt_s: float | None = None,
        seed: int | None = None,
        optional_slots: Sequence[str] = (),
        allow_units_mismatch: bool = False,
        check_units: bool = True,
        **policy_kwargs: Any,
    ) -> SmolVLAChunkPolicy:
        """Load a checkpoint and bind it to an arm.

        The column names and units are read (``read_checkpoint_metadata``) and the action space
        is built before the weights load, so a mismatch fails in milliseconds.

        Args:
            path: checkpoint folder or hub repo id (from the local cache).
            arm_joint_names: the arm's joints (e.g. ``SO101.joint_names``).
            units / calibration / column_order / signs: see ``build_action_space``.
            precision / device: see ``SmolVLAPolicy.from_pretrained``.
            policy_kwargs: passed to ``SmolVLAPolicy.from_pretrained`` (``vlm_dir``,
                ``camera_map``, ``vision_position_mode``, ``num_steps``, ``stats``).
            Other arguments: see ``__init__``.
        Raises:
            ColumnMappingError, ActionSpaceError: the checkpoint does not fit the arm.
            ConfigError, CheckpointError, HubResolutionError, ProcessorFileError: as
                ``SmolVLAPolicy.from_pretrained`` and ``__init__``.
        """
        folder = resolve_folder(path)
        metadata = read_checkpoint_metadata(folder)
        state_dim, action_dim = _dims(folder)
        space = build_action_space(
            arm_joint_names,
            state_dim,
            action_dim,
            metadata=metadata,
            units=units,
            calibration=calibration,
            column_order=column_order,
            signs=signs,
        )
        policy = SmolVLAPolicy.from_pretrained(
            folder, precision=precision, device=device, **policy_kwargs
        )
        return cls(
            policy,
            space,
            dt_s=dt_s,
            seed=seed,
            optional_slots=optional_slots,
            allow_units_mismatch=allow_units_mismatch,
            check_units=check_units,
        )


def _dims(folder: Any) -> tuple[int, int]:
    from smolvla_model.config import SmolVLAConfig

    cfg = SmolVLAConfig.from_json(folder)
    if cfg.state_dim is None or cfg.action_dim is None:
        raise ConfigError(
            f'{folder}/config.json names no observation.state or action feature; it is not a '
            'SmolVLA checkpoint for an arm'
        )
    return cfg.state_dim, cfg.action_dim


def _resolve_dt(checkpoint_dt: float | None, dt_s: float | None) -> float:
    if dt_s is not None:
        dt = float(dt_s)
        if not (np.isfinite(dt) and dt > 0):
            raise ConfigError(f'dt_s must be a positive number of seconds, got {dt_s!r}')
        if checkpoint_dt is not None and abs(dt - checkpoint_dt) > _DT_TOLERANCE_S:
            raise ConfigError(
                f'dt_s={dt} s disagrees with the checkpoint fps ({1 / checkpoint_dt:g} -> '
                f'{checkpoint_dt} s); drop dt_s or fix it'
            )
        return dt
    if checkpoint_dt is None:
        raise ConfigError(
            'the checkpoint records no fps (LeRobot keeps it in the dataset metadata); pass '
            'dt_s=1/<dataset fps>, e.g. dt_s=1/30 for the SO-100/101 datasets recorded at 30 fps'
        )
    return float(checkpoint_dt)


__all__ = ['MissingFrameError', 'SmolVLAChunkPolicy']
