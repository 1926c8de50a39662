"""The action space: the arm's joints in radians <-> a checkpoint's state/action columns and units.

SmolVLA predicts chunks in the units and column order of the data it was trained on; the suite's
executor works in radians (REP-103) in the arm's joint order (``so_arm_driver.robots``). This
module is the one place that converts between them, both ways, and refuses to run when the
conversion is unknown or looks wrong:

* **Columns.** Each checkpoint column is bound to an arm joint by name when the checkpoint names
  its columns (``names`` of ``observation.state`` / ``action`` in ``config.json`` or in the
  processor files' normalizer features; dataset spellings such as ``shoulder_pan.pos``,
  ``main_shoulder_pan`` or ``shoulder_pan_joint`` are accepted), else by a configured order
  (default: the arm's order). Counts that differ or names that do not match raise
  :class:`ColumnMappingError` listing both sides.
* **Units** (:class:`ModelUnits`): ``radians`` (a checkpoint trained on the simulator or on ROS
  data), or LeRobot's ``degrees`` (v0.4.4+) / ``range_m100_100`` (v0.3 .. v0.4.3), gripper
  0..100 in both. LeRobot units are defined on servo ticks, so they need the arm's calibration;
  the conversion is ``so_arm_driver.units.JointUnits`` (through the nearest tick, exactly what the
  driver would send). The simulator has no servos: :func:`virtual_calibration` gives it a fixed
  calibration derived from the URDF limits so a LeRobot-unit checkpoint can drive it.
* **Choosing the units**: the ``units`` argument, else the checkpoint's metadata (a top-level
  ``"units"`` key of ``config.json``, see :func:`read_checkpoint_metadata`), else
  :data:`DEFAULT_UNITS` with a warning in the log. LeRobot itself records no units.
* **Mismatch check** (:meth:`ActionSpace.check_state`): the arm's measured state, converted, is
  compared with the checkpoint's state statistics; a joint far outside them raises
  :class:`UnitsMismatchError` naming the joint, its value, the statistics and the likely cause.

Example::

    space = action_space_for_policy(policy, SO101.joint_names, units='degrees',
                                    calibration=load_calibration(path, SO101.joint_names))
    space.check_state(q_rad, state_stats(policy))      # raises on a units mix-up
    state = space.state_to_model(q_rad)                 # (state_dim,) float32, degrees
    q_chunk = space.actions_to_arm(chunk[0])            # (n, 6) float64, radians
"""

from __future__ import annotations

import enum
import json
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from so_arm_driver.calibration import HALF_TURN, MotorCalibration
from so_arm_driver.errors import SoArmError
from so_arm_driver.robots import SO101, RobotSpec
from so_arm_driver.tables import TICKS_PER_REV
from so_arm_driver.units import RAD_PER_TICK, JointUnits, UnitScheme

log = logging.getLogger(__name__)

STATE_FEATURE = 'observation.state'
ACTION_FEATURE = 'action'
# The config.json key this suite reads (and its training code writes) to record the units.
UNITS_KEY = 'units'


class ModelUnits(str, enum.Enum):
    """The units of a checkpoint's state and action columns."""

    RADIANS = 'radians'  # URDF radians, as the suite's ROS side (sim-trained checkpoints)
    DEGREES = 'degrees'  # LeRobot >= v0.4.4: degrees about the calibrated middle, gripper 0..100
    RANGE_M100_100 = 'range_m100_100'  # LeRobot v0.3 .. v0.4.3: -100..100, gripper 0..100


# What an unlabelled checkpoint is assumed to use (with a warning): LeRobot's current default
# (``use_degrees=True`` since v0.4.4).
DEFAULT_UNITS = ModelUnits.DEGREES


class ActionSpaceError(ValueError):
    """Base class: the arm and the checkpoint cannot be matched (names what and how to fix)."""


class ColumnMappingError(ActionSpaceError):
    """Columns cannot be bound to joints: counts differ, unknown or duplicate names."""


class UnitsMismatchError(ActionSpaceError):
    """The arm's state, in the configured units, lies far outside the checkpoint's statistics.

    Attributes:
        report: the :class:`StateCheck` that failed.
    """

    def __init__(self, message: str, report: StateCheck) -> None:
        super().__init__(message)
        self.report = report


def parse_units(units: ModelUnits | str) -> ModelUnits:
    """``'degrees'`` -> ``ModelUnits.DEGREES``; raises ActionSpaceError naming the choices."""
    try:
        return ModelUnits(units)
    except ValueError:
        hint = ''
        if str(units) == UnitScheme.LEGACY.value:
            hint = (
                ' (the pre-June-2025 legacy scheme is not supported by the policy path; '
                're-record or convert the dataset to degrees)'
            )
        raise ActionSpaceError(
            f'unknown units {units!r}; choose one of {[u.value for u in ModelUnits]}{hint}'
        ) from None


# -- the simulator's virtual calibration ---------------------------------------------------------


class VirtualCalibration(Mapping[str, MotorCalibration]):
    """A fixed per-joint calibration for an arm without servos (the simulator).

    Behaves as ``{joint: MotorCalibration}``; ``rad_at_mid`` holds the URDF angle (rad) at the
    middle of each calibrated range, which the suite's real-arm convention fixes at 0 but which
    differs for the simulated gripper (see :func:`virtual_calibration`).
    """

    def __init__(
        self, motors: Mapping[str, MotorCalibration], rad_at_mid: Mapping[str, float]
    ) -> None:
        self._motors = dict(motors)
        self.rad_at_mid = {j: float(rad_at_mid.get(j, 0.0)) for j in self._motors}

    def __getitem__(self, key: str) -> MotorCalibration:
        return self._motors[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._motors)

    def __len__(self) -> int:
        return len(self._motors)

    def __repr__(self) -> str:
        return f'VirtualCalibration({self._motors!r}, rad_at_mid={self.rad_at_mid!r})'


def virtual_calibration(spec: RobotSpec = SO101) -> VirtualCalibration:
    """The simulator's calibration: what a LeRobot calibration of a perfect arm would record.

    Every joint is a virtual STS3215 (4096 ticks per turn, drive_mode 0, homing_offset 0) whose
    URDF zero reads tick 2047, the value LeRobot's half-turn homing gives the middle pose:

    * body joints (pan, lift, elbow, wrist_flex): range = the URDF limits in ticks,
      ``2047 + round(limit / (2π/4096))``; the SO-101 limits are symmetric, so the range middle
      is tick 2047 = 0 rad (e.g. shoulder_pan 795..3299 = ±1.9205 rad).
    * wrist_roll: 0..4094, the full turn LeRobot's calibration forces for this joint (LeRobot
      writes 0..4095; one tick less keeps the middle on tick 2047 = 0 rad).
    * gripper: range = its URDF limits, 1933..3185 (-0.1749..1.7457 rad): LeRobot's 0 = closed
      = URDF lower limit, 100 = open = URDF upper limit. Its middle, tick 2559, is
      512 ticks = π/4 rad from the URDF zero (``rad_at_mid['gripper'] = π/4``).

    So degrees on the simulator are ``(rad - rad_at_mid) * 4096/(2π) * 360/4095`` (LeRobot's
    4095 divisor kept), and -100..100 spans each body joint's URDF limits.
    """
    motors: dict[str, MotorCalibration] = {}
    rad_at_mid: dict[str, float] = {}
    for joint in spec.joints:
        if joint.name == 'wrist_roll':
            # LeRobot forces 0..4095; one tick less puts the middle on a whole tick (2047), so
            # 0 rad reads exactly 0 degrees instead of half a tick off.
            lo, hi = 0, TICKS_PER_REV - 2
        else:
            lo = HALF_TURN + round(joint.lower_rad / RAD_PER_TICK)
            hi = HALF_TURN + round(joint.upper_rad / RAD_PER_TICK)
        motors[joint.name] = MotorCalibration(joint.servo_id, 0, 0, lo, hi)
        rad_at_mid[joint.name] = ((lo + hi) / 2.0 - HALF_TURN) * RAD_PER_TICK
    return VirtualCalibration(motors, rad_at_mid)


# -- checkpoint metadata -----------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointMetadata:
    """What a checkpoint says about its columns and units (None where it says nothing).

    Attributes:
        state_names / action_names: the column names of ``observation.state`` / ``action``.
        units: the units recorded in ``config.json`` (``"units"``), as a string.
        sources: where each item was found, for log and error messages.
    """

    state_names: tuple[str, ...] | None = None
    action_names: tuple[str, ...] | None = None
    units: str | None = None
    sources: dict[str, str] = field(default_factory=dict)


def _names_of(spec: Any, where: str) -> tuple[str, ...] | None:
    """The ``names`` of one feature entry: a list, or LeRobot v2's ``{"motors": [...]}``."""
    if not isinstance(spec, Mapping) or spec.get('names') is None:
        return None
    names = spec['names']
    if isinstance(names, Mapping) and len(names) == 1:
        names = next(iter(names.values()))
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ColumnMappingError(
            f'{where}: "names" must be a list of column names (or {{"motors": [...]}}), got '
            f'{spec["names"]!r}'
        )
    return tuple(names)


def metadata_from_config(config: Mapping[str, Any], source: str = 'config.json') -> dict:
    """Names and units found in a ``config.json`` mapping (keys of :class:`CheckpointMetadata`).

    Raises:
        ColumnMappingError: malformed ``names``.
    """
    found: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, group, feature in (
        ('state_names', 'input_features', STATE_FEATURE),
        ('action_names', 'output_features', ACTION_FEATURE),
    ):
        spec = (config.get(group) or {}).get(feature)
        names = _names_of(spec, f'{source} {group}[{feature!r}]')
        if names is not None:
            found[key] = names
            sources[key] = f'{source} {group}[{feature!r}].names'
    if config.get(UNITS_KEY) is not None:
        found['units'] = str(config[UNITS_KEY])
        sources['units'] = f'{source} "{UNITS_KEY}"'
    found['sources'] = sources
    return found


def read_checkpoint_metadata(folder: str | Path) -> CheckpointMetadata:
    """Read column names and units from a checkpoint folder, without loading the model.

    Read, first found wins: ``config.json`` (``input_features['observation.state'].names``,
    ``output_features['action'].names``, top-level ``"units"``), then the ``features`` of the
    normalizer steps in ``policy_preprocessor.json`` / ``policy_postprocessor.json``. LeRobot's
    own files normally carry neither names nor units; absent items stay None.

    Raises:
        ActionSpaceError: ``config.json`` is missing or unreadable.
        ColumnMappingError: malformed ``names``.
    """
    folder = Path(folder)
    path = folder / 'config.json'
    try:
        config = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, json.JSONDecodeError) as e:
        raise ActionSpaceError(f'cannot read {path} for column names and units: {e}') from e
    found = metadata_from_config(config, str(path))
    sources = found.pop('sources')
    for name in ('policy_preprocessor.json', 'policy_postprocessor.json'):
        proc = folder / name
        if not proc.is_file():
            continue
        try:
            steps = json.loads(proc.read_text(encoding='utf-8')).get('steps') or []
        except (OSError, json.JSONDecodeError, AttributeError):
            continue  # the processor loader reports broken processor files with context
        for step in steps:
            feats = ((step or {}).get('config') or {}).get('features') or {}
            for key, feature in (('state_names', STATE_FEATURE), ('action_names', ACTION_FEATURE)):
                names = _names_of(feats.get(feature), f'{proc} features[{feature!r}]')
                if names is not None and key not in found:
                    found[key] = names
                    sources[key] = f'{proc} features[{feature!r}].names'
    return CheckpointMetadata(**found, sources=sources)


# -- column binding ----------------------------------------------------------------------------


def canonical_joint_name(name: str) -> str:
    """Reduce the spellings datasets and URDFs use to the bare joint name.

    ``shoulder_pan.pos`` (LeRobot >= June 2025), ``main_shoulder_pan`` (LeRobot's legacy
    follower), ``shoulder_pan_joint`` (ROS descriptions) -> ``shoulder_pan``.
    """
    n = name.strip().lower()
    for suffix in ('.pos', '.position', '_joint'):
        if n.endswith(suffix):
            n = n[: -len(suffix)]
    if n.startswith('main_'):
        n = n[len('main_') :]
    return n


def bind_columns(
    arm_joint_names: Sequence[str], column_names: Sequence[str], what: str
) -> tuple[str, ...]:
    """Arm joint of each checkpoint column, matched by canonical name.

    Raises:
        ColumnMappingError: counts differ, a column matches no joint, or a joint is missing or
            bound twice; the message lists both sides.
    """
    arm = tuple(arm_joint_names)
    by_canon = {canonical_joint_name(j): j for j in arm}
    both = f'checkpoint {what} columns {list(column_names)}; arm joints {list(arm)}'
    if len(column_names) != len(arm):
        raise ColumnMappingError(
            f'{what}: the checkpoint has {len(column_names)} columns, the arm {len(arm)} joints '
            f'({both}); use a checkpoint trained on this arm'
        )
    bound = []
    unknown = []
    for col in column_names:
        joint = by_canon.get(canonical_joint_name(col))
        if joint is None:
            unknown.append(col)
        bound.append(joint)
    if unknown:
        raise ColumnMappingError(
            f'{what}: columns {unknown} match no arm joint ({both}); names are compared without '
            '".pos", "main_" and "_joint"'
        )
    dupes = sorted({j for j in bound if bound.count(j) > 1})
    if dupes:
        raise ColumnMappingError(f'{what}: joints {dupes} are bound to several columns ({both})')
    return tuple(j for j in bound if j is not None)


# -- the mismatch check ------------------------------------------------------------------------


@dataclass(frozen=True)
class JointCheck:
    """One column of a state check: the value (model units), its statistics and the verdict."""

    joint: str
    value: float
    stats: dict[str, float]
    score: float  # |z| (MEAN_STD) or the distance outside [lo, hi] in range widths (MIN_MAX)
    ok: bool


@dataclass(frozen=True)
class StateCheck:
    """Result of :meth:`ActionSpace.check_state`.

    Attributes:
        mode: 'MEAN_STD' or 'MIN_MAX' (QUANTILES use their quantile band like MIN_MAX).
        units: the units the state was converted to (``ModelUnits`` value).
        joints: one entry per state column, checkpoint order.
        cause: the likely cause when some joint failed, else ''.
    """

    mode: str
    units: str
    joints: tuple[JointCheck, ...]
    cause: str = ''

    @property
    def ok(self) -> bool:
        return all(j.ok for j in self.joints)

    @property
    def failed(self) -> tuple[JointCheck, ...]:
        return tuple(j for j in self.joints if not j.ok)


_BANDS = (('mean', 'std'), ('min', 'max'), ('q01', 'q99'), ('q10', 'q90'))
# Alternative readings of the state tried to name the likely cause: (factor, description).
_CAUSES = (
    (180.0 / math.pi, 'looks like radians fed to a degrees checkpoint: set units="degrees"'),
    (math.pi / 180.0, 'looks like degrees fed to a radians checkpoint: set units="radians"'),
)


def _band(stats: Mapping[str, Any], width: int) -> tuple[str, np.ndarray, np.ndarray]:
    for lo_key, hi_key in _BANDS:
        if lo_key in stats and hi_key in stats:
            lo = np.asarray(stats[lo_key], dtype=np.float64).reshape(-1)
            hi = np.asarray(stats[hi_key], dtype=np.float64).reshape(-1)
            if lo.shape != (width,) or hi.shape != (width,):
                raise ActionSpaceError(
                    f'state statistics {lo_key}/{hi_key} have {lo.size}/{hi.size} values; the '
                    f'checkpoint state has {width} columns'
                )
            if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
                raise ActionSpaceError(f'state statistics {lo_key}/{hi_key} hold NaN or inf')
            mode = 'MEAN_STD' if lo_key == 'mean' else 'MIN_MAX'
            return mode, lo, hi
    raise ActionSpaceError(
        f'state statistics need mean/std or min/max (or q01/q99), got keys {sorted(stats)}'
    )


def _scores(mode: str, x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    if mode == 'MEAN_STD':
        # A constant column (std 0) tolerates what a tick of rounding does, no more.
        return np.abs(x - lo) / np.maximum(hi, 1e-6)
    span = np.maximum(hi - lo, 1e-6)
    return np.maximum(np.maximum(lo - x, x - hi), 0.0) / span


# -- the action space --------------------------------------------------------------------------


class ActionSpace:
    """Converts between the arm (radians, arm order) and a checkpoint (its units and order).

    Attributes:
        arm_joint_names: the arm's joints, the order of every radian vector.
        units: a :class:`ModelUnits` value.
        state_columns / action_columns: the arm joint of each checkpoint column.
    """

    def __init__(
        self,
        arm_joint_names: Sequence[str],
        units: ModelUnits | str,
        *,
        state_columns: Sequence[str] | None = None,
        action_columns: Sequence[str] | None = None,
        calibration: Mapping[str, MotorCalibration] | None = None,
        signs: Mapping[str, int] | None = None,
    ) -> None:
        """Args:
        arm_joint_names: the arm's joint order (e.g. ``SO101.joint_names``).
        units: the checkpoint's units.
        state_columns / action_columns: arm joint of each checkpoint column (default: the arm
            order); each must name every arm joint once.
        calibration: joint -> MotorCalibration, needed for LeRobot units (a real arm's file,
            or :func:`virtual_calibration` for the simulator); ignored for radians.
        signs: joint -> ±1, URDF direction relative to ticks (as the driver's ``joint_signs``).

        Raises:
            ActionSpaceError: unknown units, missing or incomplete calibration.
            ColumnMappingError: columns that are not a permutation of the arm's joints.
        """
        self.arm_joint_names = tuple(arm_joint_names)
        if len(set(self.arm_joint_names)) != len(self.arm_joint_names) or not self.arm_joint_names:
            raise ColumnMappingError(
                f'arm joint names must be unique and non-empty, got {list(arm_joint_names)}'
            )
        self._units = parse_units(units)
        self.units = self._units.value
        self.state_columns = tuple(state_columns or self.arm_joint_names)
        self.action_columns = tuple(action_columns or self.arm_joint_names)
        index = {j: i for i, j in enumerate(self.arm_joint_names)}
        for what, cols in (('state', self.state_columns), ('action', self.action_columns)):
            if sorted(cols) != sorted(self.arm_joint_names):
                raise ColumnMappingError(
                    f'{what} columns {list(cols)} must name each arm joint '
                    f'{list(self.arm_joint_names)} exactly once'
                )
        # model[k] = arm[perm[k]]
        self._state_perm = np.array([index[j] for j in self.state_columns])
        self._action_perm = np.array([index[j] for j in self.action_columns])
        self._joint_units: JointUnits | None = None
        self._rad_at_mid = np.zeros(len(self.arm_joint_names))
        if self._units is not ModelUnits.RADIANS:
            if calibration is None:
                raise ActionSpaceError(
                    f'units {self.units!r} are LeRobot servo units and need the arm calibration: '
                    'pass calibration=so_arm_driver.calibration.load_calibration(<file>) for a '
                    'real arm, or calibration=virtual_calibration() for the simulator'
                )
            missing = [j for j in self.arm_joint_names if j not in calibration]
            if missing:
                raise ActionSpaceError(
                    f'the calibration lacks joints {missing} (has {sorted(calibration)})'
                )
            ordered = {j: calibration[j] for j in self.arm_joint_names}
            try:
                self._joint_units = JointUnits(ordered, signs, UnitScheme(self.units))
            except SoArmError as e:
                raise ActionSpaceError(f'cannot build the unit conversion: {e}') from e
            offsets = getattr(calibration, 'rad_at_mid', {})
            self._rad_at_mid = np.array([float(offsets.get(j, 0.0)) for j in ordered])
        elif signs:
            raise ActionSpaceError(
                'signs apply to servo ticks; with units="radians" flip joints in the driver'
            )

    @property
    def joint_count(self) -> int:
        return len(self.arm_joint_names)

    def __repr__(self) -> str:
        return (
            f'ActionSpace(units={self.units!r}, arm={list(self.arm_joint_names)}, '
            f'state_columns={list(self.state_columns)}, '
            f'action_columns={list(self.action_columns)})'
        )

    def _rad_vector(self, positions_rad: Any) -> np.ndarray:
        q = np.asarray(positions_rad, dtype=np.float64)
        if q.shape != (self.joint_count,):
            raise ValueError(
                f'positions_rad: expected shape ({self.joint_count},) for joints '
                f'{list(self.arm_joint_names)}, got {q.shape}'
            )
        if not np.isfinite(q).all():
            bad = [self.arm_joint_names[i] for i in np.flatnonzero(~np.isfinite(q))]
            raise ValueError(f'positions_rad: NaN or inf for joints {bad}')
        return q

    def state_to_model(self, positions_rad: np.ndarray) -> np.ndarray:
        """Measured joint positions -> the checkpoint's state vector.

        Args:
            positions_rad: shape (J,), radians, ``arm_joint_names`` order.
        Returns:
            float32, shape (state_dim,), the checkpoint's units and column order.
        Raises:
            ValueError: wrong shape, NaN or inf.
        """
        q = self._rad_vector(positions_rad)
        if self._joint_units is not None:
            q = self._joint_units.rad_to_lerobot(q - self._rad_at_mid)
        return q[self._state_perm].astype(np.float32)

    def actions_to_arm(self, actions: np.ndarray) -> np.ndarray:
        """A checkpoint's action rows -> joint targets.

        Args:
            actions: shape (n, action_dim), the checkpoint's units and column order.
        Returns:
            float64, shape (n, J), radians, ``arm_joint_names`` order. LeRobot units go through
            the nearest servo tick (what the driver would send); -100..100 and 0..100 values are
            clamped to their ranges as LeRobot does.
        Raises:
            ValueError: wrong shape, NaN or inf (names the rows and columns).
        """
        a = np.asarray(actions, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != self.joint_count:
            raise ValueError(
                f'actions: expected shape (n, {self.joint_count}) with columns '
                f'{list(self.action_columns)}, got {a.shape}'
            )
        if not np.isfinite(a).all():
            rows, cols = np.nonzero(~np.isfinite(a))
            raise ValueError(
                f'actions: NaN or inf in rows {sorted(set(rows.tolist()))[:10]} for joints '
                f'{sorted({self.action_columns[c] for c in cols})}; nothing converted'
            )
        out = np.empty_like(a)
        out[:, self._action_perm] = a  # back to arm order
        if self._joint_units is not None and len(out):
            ju = self._joint_units
            out = np.stack([ju.lerobot_to_rad(row) for row in out]) + self._rad_at_mid
        return out

    def check_state(
        self,
        positions_rad: np.ndarray,
        stats: Mapping[str, Any],
        *,
        max_abs_z: float = 5.0,
        margin: float = 0.25,
        allow_mismatch: bool = False,
    ) -> StateCheck:
        """Compare the arm's state, in model units, with the checkpoint's state statistics.

        Run once at start-up: a units or column mix-up usually puts some joint far outside the
        data the checkpoint saw, while a correct set-up at a normal pose does not.

        Args:
            positions_rad: shape (J,), radians, arm order.
            stats: the checkpoint's ``observation.state`` statistics (checkpoint units and
                order): ``mean``/``std`` (MEAN_STD) or ``min``/``max`` (MIN_MAX; ``q01``/``q99``
                are used the same way).
            max_abs_z: MEAN_STD: a joint fails when |value - mean| > max_abs_z * std.
            margin: MIN_MAX: a joint fails when outside [min - margin*(max-min), max + ...].
            allow_mismatch: log the failure as a warning and return instead of raising.
        Returns:
            The check (also when it passed).
        Raises:
            UnitsMismatchError: some joint failed (names each, its value, the stats, the likely
                cause) and ``allow_mismatch`` is False.
            ActionSpaceError: unusable statistics.
            ValueError: bad positions.
        """
        x = self.state_to_model(positions_rad).astype(np.float64)
        mode, lo, hi = _band(stats, len(x))
        limit = max_abs_z if mode == 'MEAN_STD' else margin
        scores = _scores(mode, x, lo, hi)
        keys = ('mean', 'std') if mode == 'MEAN_STD' else ('lo', 'hi')
        joints = tuple(
            JointCheck(
                joint=self.state_columns[k],
                value=float(x[k]),
                stats={keys[0]: float(lo[k]), keys[1]: float(hi[k])},
                score=float(scores[k]),
                ok=bool(scores[k] <= limit),
            )
            for k in range(len(x))
        )
        report = StateCheck(mode=mode, units=self.units, joints=joints)
        if report.ok:
            return report
        cause = self._likely_cause(mode, x, lo, hi, limit)
        report = StateCheck(mode=mode, units=self.units, joints=joints, cause=cause)
        what = 'z' if mode == 'MEAN_STD' else 'outside by (range widths)'
        lines = [
            f'{j.joint}={j.value:.4g} ({", ".join(f"{k} {v:.4g}" for k, v in j.stats.items())}; '
            f'{what} {j.score:.3g})'
            for j in report.failed
        ]
        bound = f'|z| <= {max_abs_z}' if mode == 'MEAN_STD' else f'margin {margin} of the range'
        message = (
            f'the arm state in {self.units!r} is far from the checkpoint state statistics '
            f'({mode}, {bound}) for joints: {"; ".join(lines)}. Likely cause: {cause}. '
            'Nothing was run; fix the units/calibration/column order, or pass '
            'allow_units_mismatch=True (allow_mismatch) to run anyway.'
        )
        if allow_mismatch:
            log.warning('units check overridden: %s', message)
            return report
        raise UnitsMismatchError(message, report)

    def _likely_cause(
        self, mode: str, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, limit: float
    ) -> str:
        for factor, text in _CAUSES:
            if bool((_scores(mode, x * factor, lo, hi) <= limit).all()):
                return text
        if self._units is not ModelUnits.RADIANS:
            return (
                'a calibration other than the one the dataset was recorded with, the other '
                'LeRobot unit era (degrees vs range_m100_100), a wrong column order, or a pose '
                'the dataset never saw (move the arm to its rest pose)'
            )
        return (
            'a checkpoint in LeRobot units (set units="degrees" or "range_m100_100" with the '
            'calibration), a wrong column order, or a pose the dataset never saw'
        )


def resolve_units(units: ModelUnits | str | None, metadata: CheckpointMetadata) -> ModelUnits:
    """The units to use: the argument, else the checkpoint's metadata, else DEFAULT_UNITS.

    Every choice is logged; a default is a warning, a disagreement with the metadata too.

    Raises:
        ActionSpaceError: unknown units in the argument or the metadata.
    """
    if units is not None:
        chosen = parse_units(units)
        try:
            recorded = None if metadata.units is None else parse_units(metadata.units)
        except ActionSpaceError as e:  # the configured units win; an unusable record is noted
            log.warning('ignoring the checkpoint units record: %s', e)
            recorded = None
        if recorded is not None and recorded is not chosen:
            log.warning(
                'units %r given, but the checkpoint records %r (%s); using %r as configured',
                chosen.value,
                recorded.value,
                metadata.sources.get('units'),
                chosen.value,
            )
        else:
            log.info('checkpoint units: %r (configured)', chosen.value)
        return chosen
    recorded = None if metadata.units is None else parse_units(metadata.units)
    if recorded is not None:
        log.info('checkpoint units: %r (from %s)', recorded.value, metadata.sources.get('units'))
        return recorded
    log.warning(
        'the checkpoint records no units and none were configured: assuming %r (LeRobot '
        '>= v0.4.4 datasets). Set units explicitly (radians / degrees / range_m100_100)',
        DEFAULT_UNITS.value,
    )
    return DEFAULT_UNITS


def build_action_space(
    arm_joint_names: Sequence[str],
    state_dim: int,
    action_dim: int,
    *,
    metadata: CheckpointMetadata | None = None,
    units: ModelUnits | str | None = None,
    calibration: Mapping[str, MotorCalibration] | None = None,
    column_order: Sequence[str] | None = None,
    signs: Mapping[str, int] | None = None,
) -> ActionSpace:
    """Bind a checkpoint's columns (named, or in ``column_order``) and units to an arm.

    Args:
        arm_joint_names: the arm's joints.
        state_dim / action_dim: the checkpoint's real state / action widths.
        metadata: what the checkpoint says (:func:`read_checkpoint_metadata`); None: nothing.
        units: see :func:`resolve_units`.
        calibration / signs: see :class:`ActionSpace`.
        column_order: the arm joint of each column, used when the checkpoint names none
            (default: the arm's order). When the checkpoint names its columns and this
            disagrees, the conflict is an error rather than a silent choice.
    Raises:
        ColumnMappingError: counts or names that do not match (lists both sides).
        ActionSpaceError: units or calibration problems.
    """
    metadata = metadata or CheckpointMetadata()
    arm = tuple(arm_joint_names)
    if column_order is not None:
        column_order = bind_columns(arm, list(column_order), 'column_order')
    columns: dict[str, tuple[str, ...]] = {}
    for what, names, dim in (
        ('state', metadata.state_names, state_dim),
        ('action', metadata.action_names, action_dim),
    ):
        if names is not None:
            if len(names) != dim:
                raise ColumnMappingError(
                    f'{what}: the checkpoint names {len(names)} columns {list(names)} but its '
                    f'{what} has {dim} dims; the checkpoint is inconsistent'
                )
            bound = bind_columns(arm, names, what)
            if column_order is not None and tuple(column_order) != bound:
                raise ColumnMappingError(
                    f'{what}: column_order {list(column_order)} disagrees with the names the '
                    f'checkpoint gives ({list(names)}, from '
                    f'{metadata.sources.get(what + "_names")}); drop column_order or fix it'
                )
            columns[what] = bound
        else:
            order = tuple(column_order) if column_order is not None else arm
            if dim != len(order):
                raise ColumnMappingError(
                    f'{what}: the checkpoint has {dim} unnamed columns, the arm {len(arm)} '
                    f'joints {list(arm)}; the checkpoint does not fit this arm'
                )
            columns[what] = order
            if column_order is None:
                log.info('%s columns are unnamed: using the arm order %s', what, list(arm))
    return ActionSpace(
        arm,
        resolve_units(units, metadata),
        state_columns=columns['state'],
        action_columns=columns['action'],
        calibration=calibration,
        signs=signs,
    )


def action_space_for_policy(
    policy: Any,
    arm_joint_names: Sequence[str],
    units: ModelUnits | str | None = None,
    calibration: Mapping[str, MotorCalibration] | None = None,
    column_order: Sequence[str] | None = None,
    *,
    metadata: CheckpointMetadata | None = None,
    signs: Mapping[str, int] | None = None,
) -> ActionSpace:
    """The action space of a loaded ``smolvla_model.SmolVLAPolicy`` on an arm.

    Args:
        policy: the loaded policy (its state/action widths and config are read).
        metadata: column names/units read from the checkpoint folder
            (:func:`read_checkpoint_metadata`); default: what the loaded config kept (its
            ``"units"``; the loaded config does not keep feature ``names``).
        Other arguments: see :func:`build_action_space`.
    Raises:
        ColumnMappingError, ActionSpaceError: see :func:`build_action_space`.
    """
    if metadata is None:
        found = metadata_from_config(policy.config.extra, 'config.json')
        metadata = CheckpointMetadata(**found)
    return build_action_space(
        arm_joint_names,
        int(policy.state_dim),
        int(policy.action_dim),
        metadata=metadata,
        units=units,
        calibration=calibration,
        column_order=column_order,
        signs=signs,
    )


def state_stats(policy: Any) -> Mapping[str, np.ndarray] | None:
    """The checkpoint's ``observation.state`` statistics used for normalization, or None when
    the state is not normalized (IDENTITY) and there is nothing to check against."""
    stats = policy.preprocessor.normalizer.stats.get(STATE_FEATURE)
    if not stats:
        return None
    return {k: v.detach().cpu().numpy().astype(np.float64) for k, v in stats.items()}
