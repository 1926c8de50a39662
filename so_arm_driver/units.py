"""Unit conversions: raw ticks <-> URDF radians <-> LeRobot dataset units, both ways.

Ticks are Present_Position/Goal_Position after the firmware's homing offset (0..4095).

- URDF radians: ``sign * (ticks - mid) * 2π / 4096`` with ``mid`` the middle of the calibrated
  range and ``sign`` ±1 per joint from configuration (4096 steps per revolution).
- LeRobot, by era (``UnitScheme``), per joint (the gripper is always 0..100):
  - ``degrees`` (LeRobot >= v0.4.4): ``(ticks - mid) * 360 / 4095``, no clamping. LeRobot divides
    by 4095 (its ``max_res``), not 4096; we keep that so values equal the datasets'.
  - ``range_m100_100`` (LeRobot v0.3 .. v0.4.3): ticks clamped to the range, then
    ``(ticks - min) / (max - min) * 200 - 100``, negated when drive_mode is 1.
  - gripper ``range_0_100``: clamped, ``(ticks - min) / (max - min) * 100`` (``100 - v`` when
    drive_mode is 1).
  - ``legacy`` (lerobot 0.1.x, before June 2025): per-motor ``LegacyMotorCalibration``; DEGREE
    joints give ``(±ticks + homing_offset) * 180 / 2048``, LINEAR ones
    ``(ticks - start_pos) / (end_pos - start_pos) * 100``. The legacy offsets were applied in
    software, so they refer to servos whose EEPROM Homing_Offset is 0.

Inverse conversions round to the nearest tick (LeRobot truncates with ``int()``; rounding keeps
the round trip within half a tick in both directions).
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from so_arm_driver.calibration import MotorCalibration
from so_arm_driver.errors import SoArmCalibrationError, SoArmConfigError
from so_arm_driver.tables import TICKS_PER_REV

RAD_PER_TICK = 2.0 * math.pi / TICKS_PER_REV
LEROBOT_MAX_RES = TICKS_PER_REV - 1  # LeRobot's max_res for the degree conversion
GRIPPER = 'gripper'


class UnitScheme(str, enum.Enum):
    """Which LeRobot era's dataset units a checkpoint uses for the body joints."""

    DEGREES = 'degrees'
    RANGE_M100_100 = 'range_m100_100'
    LEGACY = 'legacy'


def ticks_to_rad(ticks: float, cal: MotorCalibration, sign: int = 1) -> float:
    """Ticks -> radians, URDF convention (zero at the middle of the calibrated range)."""
    return sign * (ticks - cal.mid) * RAD_PER_TICK


def rad_to_ticks(rad: float, cal: MotorCalibration, sign: int = 1) -> int:
    """Radians (URDF convention) -> nearest tick. Not clamped: the caller enforces limits."""
    return round(cal.mid + sign * rad / RAD_PER_TICK)


def ticks_to_degrees(ticks: float, cal: MotorCalibration) -> float:
    """Ticks -> LeRobot degrees (v0.4.4+ body joints)."""
    return (ticks - cal.mid) * 360.0 / LEROBOT_MAX_RES


def degrees_to_ticks(deg: float, cal: MotorCalibration) -> int:
    """LeRobot degrees -> nearest tick."""
    return round(deg * LEROBOT_MAX_RES / 360.0 + cal.mid)


def ticks_to_range_m100_100(ticks: float, cal: MotorCalibration) -> float:
    """Ticks -> LeRobot -100..100 (v0.3-v0.4.3 body joints); clamps to the calibrated range."""
    t = min(max(ticks, cal.range_min), cal.range_max)
    value = (t - cal.range_min) / (cal.range_max - cal.range_min) * 200.0 - 100.0
    return -value if cal.drive_mode else value


def range_m100_100_to_ticks(value: float, cal: MotorCalibration) -> int:
    """LeRobot -100..100 -> nearest tick; the value is clamped to ±100 first."""
    v = min(max(value, -100.0), 100.0)
    v = -v if cal.drive_mode else v
    return round((v + 100.0) / 200.0 * (cal.range_max - cal.range_min) + cal.range_min)


def ticks_to_range_0_100(ticks: float, cal: MotorCalibration) -> float:
    """Ticks -> LeRobot 0..100 (the gripper in every modern era); clamps to the range."""
    t = min(max(ticks, cal.range_min), cal.range_max)
    value = (t - cal.range_min) / (cal.range_max - cal.range_min) * 100.0
    return 100.0 - value if cal.drive_mode else value


def range_0_100_to_ticks(value: float, cal: MotorCalibration) -> int:
    """LeRobot 0..100 -> nearest tick; the value is clamped to 0..100 first."""
    v = min(max(value, 0.0), 100.0)
    v = 100.0 - v if cal.drive_mode else v
    return round(v / 100.0 * (cal.range_max - cal.range_min) + cal.range_min)


@dataclass(frozen=True)
class LegacyMotorCalibration:
    """One motor in a pre-June-2025 LeRobot calibration (software offsets).

    Attributes:
        mode: 'DEGREE' (body joints) or 'LINEAR' (gripper).
        drive_mode: 1 inverts the direction.
        homing_offset: ticks added after the direction, DEGREE mode.
        start_pos / end_pos: ticks mapped to 0 and 100, LINEAR mode.
    """

    mode: str
    drive_mode: int
    homing_offset: int
    start_pos: int
    end_pos: int

    def __post_init__(self) -> None:
        if self.mode not in ('DEGREE', 'LINEAR'):
            raise SoArmCalibrationError(
                f'legacy calib_mode must be DEGREE or LINEAR, got {self.mode!r}'
            )
        if self.drive_mode not in (0, 1):
            raise SoArmCalibrationError(f'legacy drive_mode must be 0 or 1, got {self.drive_mode}')
        if self.mode == 'LINEAR' and self.start_pos == self.end_pos:
            raise SoArmCalibrationError('legacy LINEAR calibration needs start_pos != end_pos')


def load_legacy_calibration(path: str | Path) -> dict[str, LegacyMotorCalibration]:
    """Read a legacy LeRobot calibration JSON (parallel lists keyed by ``motor_names``).

    Raises:
        SoArmCalibrationError: missing file, bad JSON or inconsistent lists.
    """
    try:
        data = json.loads(Path(path).read_text(encoding='utf-8'))
        names = data['motor_names']
        return {
            name: LegacyMotorCalibration(
                mode=str(data['calib_mode'][k]),
                drive_mode=int(data['drive_mode'][k]),
                homing_offset=int(data['homing_offset'][k]),
                start_pos=int(data['start_pos'][k]),
                end_pos=int(data['end_pos'][k]),
            )
            for k, name in enumerate(names)
        }
    except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
        raise SoArmCalibrationError(f'cannot read legacy calibration {path}: {e!r}') from e


def legacy_ticks_to_value(ticks: float, cal: LegacyMotorCalibration) -> float:
    """Ticks -> legacy LeRobot units (DEGREE: degrees, LINEAR: percent)."""
    if cal.mode == 'DEGREE':
        t = -ticks if cal.drive_mode else ticks
        return (t + cal.homing_offset) * 180.0 / (TICKS_PER_REV // 2)
    return (ticks - cal.start_pos) / (cal.end_pos - cal.start_pos) * 100.0


def legacy_value_to_ticks(value: float, cal: LegacyMotorCalibration) -> int:
    """Legacy LeRobot units -> nearest tick."""
    if cal.mode == 'DEGREE':
        t = value * (TICKS_PER_REV // 2) / 180.0 - cal.homing_offset
        return round(-t if cal.drive_mode else t)
    return round(value / 100.0 * (cal.end_pos - cal.start_pos) + cal.start_pos)


class JointUnits:
    """Converts whole joint vectors between ticks, URDF radians and a checkpoint's LeRobot units.

    Args:
        calibration: name -> MotorCalibration, in joint order (defines the order of vectors).
        signs: name -> ±1, the URDF direction of each joint relative to ticks (default +1).
        scheme: the LeRobot era of the checkpoint's body-joint units.
        legacy: the legacy calibration, required when ``scheme`` is LEGACY.
    Raises:
        SoArmConfigError: a sign other than ±1, an unknown joint, or a missing legacy calibration.
    """

    def __init__(
        self,
        calibration: Mapping[str, MotorCalibration],
        signs: Mapping[str, int] | None = None,
        scheme: UnitScheme | str = UnitScheme.DEGREES,
        legacy: Mapping[str, LegacyMotorCalibration] | None = None,
    ) -> None:
        self.calibration = dict(calibration)
        self.joint_names = tuple(self.calibration)
        signs = dict(signs or {})
        unknown = set(signs) - set(self.joint_names)
        if unknown:
            raise SoArmConfigError(f'signs given for unknown joints {sorted(unknown)}')
        if any(s not in (1, -1) for s in signs.values()):
            raise SoArmConfigError(f'joint signs must be +1 or -1, got {signs}')
        self.signs = {j: signs.get(j, 1) for j in self.joint_names}
        try:
            self.scheme = UnitScheme(scheme)
        except ValueError:
            raise SoArmConfigError(
                f'unknown unit scheme {scheme!r}; choose one of {[s.value for s in UnitScheme]}'
            ) from None
        if self.scheme is UnitScheme.LEGACY and (
            legacy is None or set(self.joint_names) - set(legacy)
        ):
            raise SoArmConfigError(
                'the legacy unit scheme needs a legacy calibration for every joint '
                f'{list(self.joint_names)}'
            )
        self.legacy = dict(legacy or {})

    def _vec(self, values: Sequence[float] | np.ndarray) -> np.ndarray:
        arr = np.asarray(values, dtype=float)
        if arr.shape != (len(self.joint_names),):
            raise SoArmConfigError(
                f'expected {len(self.joint_names)} values for {list(self.joint_names)}, '
                f'got shape {arr.shape}'
            )
        return arr

    def ticks_to_rad(self, ticks: Sequence[float] | np.ndarray) -> np.ndarray:
        t = self._vec(ticks)
        return np.array(
            [
                ticks_to_rad(v, self.calibration[j], self.signs[j])
                for j, v in zip(self.joint_names, t, strict=True)
            ]
        )

    def rad_to_ticks(self, rad: Sequence[float] | np.ndarray) -> np.ndarray:
        r = self._vec(rad)
        return np.array(
            [
                rad_to_ticks(v, self.calibration[j], self.signs[j])
                for j, v in zip(self.joint_names, r, strict=True)
            ],
            dtype=np.int64,
        )

    def ticks_to_lerobot(self, ticks: Sequence[float] | np.ndarray) -> np.ndarray:
        t = self._vec(ticks)
        return np.array([self._to_lerobot(j, v) for j, v in zip(self.joint_names, t, strict=True)])

    def lerobot_to_ticks(self, values: Sequence[float] | np.ndarray) -> np.ndarray:
        v = self._vec(values)
        return np.array(
            [self._from_lerobot(j, x) for j, x in zip(self.joint_names, v, strict=True)],
            dtype=np.int64,
        )

    def rad_to_lerobot(self, rad: Sequence[float] | np.ndarray) -> np.ndarray:
        """Radians -> LeRobot units through the nearest tick (what the arm can actually do)."""
        return self.ticks_to_lerobot(self.rad_to_ticks(rad))

    def lerobot_to_rad(self, values: Sequence[float] | np.ndarray) -> np.ndarray:
        return self.ticks_to_rad(self.lerobot_to_ticks(values))

    def _to_lerobot(self, joint: str, ticks: float) -> float:
        if self.scheme is UnitScheme.LEGACY:
            return legacy_ticks_to_value(ticks, self.legacy[joint])
        cal = self.calibration[joint]
        if joint == GRIPPER:
            return ticks_to_range_0_100(ticks, cal)
        if self.scheme is UnitScheme.DEGREES:
            return ticks_to_degrees(ticks, cal)
        return ticks_to_range_m100_100(ticks, cal)

    def _from_lerobot(self, joint: str, value: float) -> int:
        if self.scheme is UnitScheme.LEGACY:
            return legacy_value_to_ticks(value, self.legacy[joint])
        cal = self.calibration[joint]
        if joint == GRIPPER:
            return range_0_100_to_ticks(value, cal)
        if self.scheme is UnitScheme.DEGREES:
            return degrees_to_ticks(value, cal)
        return range_m100_100_to_ticks(value, cal)


def tick_bounds_within(
    cal: MotorCalibration, sign: int, lower_rad: float, upper_rad: float
) -> tuple[int, int]:
    """The lowest and highest tick whose radians lie inside [lower_rad, upper_rad], radians, and
    that lie inside the calibrated range ``cal.range_min..cal.range_max`` (inclusive).

    "Inside" is judged on :func:`ticks_to_rad` itself, so a goal sent at either bound, converted
    back, never lies outside the limits, even where a limit falls between two ticks.

    Raises:
        SoArmConfigError: no tick satisfies both (a limit range narrower than one tick, or one
            that does not overlap the calibrated range).
    """

    def inside(t: int) -> bool:
        return lower_rad <= ticks_to_rad(t, cal, sign) <= upper_rad

    ends = sorted(
        (cal.mid + sign * lower_rad / RAD_PER_TICK, cal.mid + sign * upper_rad / RAD_PER_TICK)
    )
    # Start one tick outside the real-valued interval: float rounding may put the true bound on
    # either side of an integer; the loops then walk inward to the first tick that is inside.
    lo = max(math.ceil(ends[0]) - 1, cal.range_min)
    hi = min(math.floor(ends[1]) + 1, cal.range_max)
    while lo <= hi and not inside(lo):
        lo += 1
    while hi >= lo and not inside(hi):
        hi -= 1
    if lo > hi:
        raise SoArmConfigError(
            f'id {cal.id}: no tick of the calibrated range {cal.range_min}..{cal.range_max} lies '
            f'inside [{lower_rad}, {upper_rad}] rad; recalibrate the joint'
        )
    return lo, hi


def rad_to_ticks_within(
    rad: float, cal: MotorCalibration, sign: int, lower_rad: float, upper_rad: float
) -> int:
    """Radians (URDF convention) -> the nearest tick inside the limits and the calibrated range.

    Plain rounding (:func:`rad_to_ticks`) of a goal at a limit can land half a tick outside it;
    this rounds toward the inside instead (see :func:`tick_bounds_within`).

    Raises:
        SoArmConfigError: as :func:`tick_bounds_within`.
    """
    lo, hi = tick_bounds_within(cal, sign, lower_rad, upper_rad)
    return min(max(rad_to_ticks(rad, cal, sign), lo), hi)
