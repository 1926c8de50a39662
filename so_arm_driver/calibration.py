"""LeRobot calibration files: read, write, locate, and compare with the servos' EEPROM.

File format (LeRobot >= June 2025): one JSON object per motor name with integer fields ``id``,
``drive_mode`` (0 on SO arms), ``homing_offset``, ``range_min`` and ``range_max``; ticks are the
servo's Present_Position after the firmware applied ``Homing_Offset``. Default location:
``$HF_LEROBOT_CALIBRATION/robots/<name>/<id>.json`` for followers and
``.../teleoperators/<name>/<id>.json`` for leaders, where the root defaults to
``$HF_LEROBOT_HOME/calibration`` = ``$HF_HOME/lerobot/calibration`` =
``~/.cache/huggingface/lerobot/calibration``. ``<name>`` is ``so_follower``/``so_leader`` since
LeRobot v0.4.3 and ``so101_follower``/``so100_follower`` (``..._leader``) before; lookups try both.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from so_arm_driver.errors import SoArmCalibrationError
from so_arm_driver.tables import TICKS_PER_REV, Register

_FIELDS = ('id', 'drive_mode', 'homing_offset', 'range_min', 'range_max')
# Homing_Offset is sign-magnitude with the sign at bit 11: |offset| <= 2047.
MAX_HOMING_OFFSET = 2047
# LeRobot homes the mid pose to half a turn: (4096 - 1) // 2 ticks.
HALF_TURN = 2047


@dataclass(frozen=True)
class MotorCalibration:
    """One motor's calibration, in ticks (0..4095), as LeRobot stores it.

    Raises (on construction):
        SoArmCalibrationError: a value is impossible (range empty or outside 0..4095, offset
            beyond ±2047, drive_mode other than 0/1, id outside 0..253).
    """

    id: int
    drive_mode: int
    homing_offset: int
    range_min: int
    range_max: int

    def __post_init__(self) -> None:
        for name in _FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise SoArmCalibrationError(
                    f'calibration field {name} must be an integer, got {value!r}'
                )
        if not 0 <= self.id <= 253:
            raise SoArmCalibrationError(f'motor id {self.id} is outside 0..253')
        if self.drive_mode not in (0, 1):
            raise SoArmCalibrationError(
                f'id {self.id}: drive_mode must be 0 or 1, got {self.drive_mode}'
            )
        if abs(self.homing_offset) > MAX_HOMING_OFFSET:
            raise SoArmCalibrationError(
                f'id {self.id}: homing_offset {self.homing_offset} is beyond ±{MAX_HOMING_OFFSET}'
            )
        if not 0 <= self.range_min < self.range_max <= TICKS_PER_REV - 1:
            raise SoArmCalibrationError(
                f'id {self.id}: range {self.range_min}..{self.range_max} must satisfy '
                f'0 <= range_min < range_max <= {TICKS_PER_REV - 1}'
            )

    @property
    def mid(self) -> float:
        """Middle of the calibrated range, ticks: the zero of both LeRobot degrees and URDF rad."""
        return (self.range_min + self.range_max) / 2.0


Calibration = dict[str, MotorCalibration]


def calibration_root() -> Path:
    """The folder LeRobot keeps calibration files in, from the same environment variables."""
    if os.environ.get('HF_LEROBOT_CALIBRATION'):
        return Path(os.environ['HF_LEROBOT_CALIBRATION']).expanduser()
    if os.environ.get('HF_LEROBOT_HOME'):
        return Path(os.environ['HF_LEROBOT_HOME']).expanduser() / 'calibration'
    hf_home = os.environ.get('HF_HOME') or os.path.join(
        os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'huggingface'
    )
    return Path(hf_home).expanduser() / 'lerobot' / 'calibration'


def lerobot_names(robot: str, leader: bool = False) -> tuple[str, ...]:
    """Folder names LeRobot used for ``robot`` ('so101'/'so100'), newest first."""
    role = 'leader' if leader else 'follower'
    return (f'so_{role}', f'{robot}_{role}')


def default_calibration_path(robot_id: str, robot: str = 'so101', leader: bool = False) -> Path:
    """Where LeRobot would keep the calibration of arm ``robot_id``.

    Returns the existing file among the current and the pre-v0.4.3 folder names, or the current
    name's path when neither exists (where a new calibration is saved).
    """
    kind = 'teleoperators' if leader else 'robots'
    candidates = [
        calibration_root() / kind / n / f'{robot_id}.json' for n in lerobot_names(robot, leader)
    ]
    for path in candidates:
        if path.is_file():
            return path
    return candidates[0]


def calibration_from_dict(data: object, joint_names: Iterable[str] | None = None) -> Calibration:
    """Validate a parsed calibration JSON object.

    Raises:
        SoArmCalibrationError: wrong shape, missing or extra fields, missing joints.
    """
    if not isinstance(data, dict):
        raise SoArmCalibrationError('a calibration must be a JSON object keyed by motor name')
    result: Calibration = {}
    for name, entry in data.items():
        if not isinstance(entry, dict) or set(entry) != set(_FIELDS):
            raise SoArmCalibrationError(
                f'motor {name!r}: expected exactly the fields {list(_FIELDS)}, got '
                f'{sorted(entry) if isinstance(entry, dict) else entry!r}'
            )
        try:
            result[name] = MotorCalibration(**entry)
        except SoArmCalibrationError as e:
            raise SoArmCalibrationError(f'motor {name!r}: {e}') from None
    if joint_names is not None:
        missing = [j for j in joint_names if j not in result]
        if missing:
            raise SoArmCalibrationError(f'calibration lacks the joints {missing}')
        result = {j: result[j] for j in joint_names}
    return result


def load_calibration(path: str | Path, joint_names: Iterable[str] | None = None) -> Calibration:
    """Read a LeRobot calibration JSON file, ordered by ``joint_names`` when given.

    Raises:
        SoArmCalibrationError: the file is missing, not JSON, or invalid (the message says what).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding='utf-8'))
    except FileNotFoundError:
        raise SoArmCalibrationError(
            f'no calibration file at {path}: run `so-arm calibrate` (or lerobot-calibrate) first'
        ) from None
    except (OSError, json.JSONDecodeError) as e:
        raise SoArmCalibrationError(f'cannot read calibration {path}: {e}') from e
    try:
        return calibration_from_dict(data, joint_names)
    except SoArmCalibrationError as e:
        raise SoArmCalibrationError(f'{path}: {e}') from None


def save_calibration(calibration: Mapping[str, MotorCalibration], path: str | Path) -> Path:
    """Write ``calibration`` as LeRobot's JSON, atomically (temp file + rename).

    Raises:
        SoArmCalibrationError: an entry is not a MotorCalibration (nothing is written).
        OSError: the folder cannot be created or written.
    """
    for name, entry in calibration.items():
        if not isinstance(entry, MotorCalibration):
            raise SoArmCalibrationError(f'motor {name!r}: not a MotorCalibration: {entry!r}')
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({n: asdict(c) for n, c in calibration.items()}, indent=4)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(text + '\n')
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_eeprom_calibration(bus: object, ids: Mapping[str, int]) -> Calibration:
    """Read Homing_Offset and the position limits of every motor from the servos' EEPROM.

    Args:
        bus: an open ``ServoBus``.
        ids: motor name -> servo id.
    Raises:
        SoArmCommError (and subclasses) if a servo does not answer.
    """
    id_list = list(ids.values())
    offsets = bus.read(Register.HOMING_OFFSET, id_list)  # type: ignore[attr-defined]
    mins = bus.read(Register.MIN_POSITION_LIMIT, id_list)  # type: ignore[attr-defined]
    maxs = bus.read(Register.MAX_POSITION_LIMIT, id_list)  # type: ignore[attr-defined]
    return {name: MotorCalibration(i, 0, offsets[i], mins[i], maxs[i]) for name, i in ids.items()}


def compare_with_eeprom(
    file_cal: Mapping[str, MotorCalibration], eeprom: Calibration
) -> list[str]:
    """Describe every disagreement between a calibration file and the EEPROM; empty if none."""
    problems = []
    for name, want in file_cal.items():
        have = eeprom.get(name)
        if have is None:
            problems.append(f'{name}: not read from the servos')
            continue
        if want.id != have.id:
            problems.append(f'{name}: file id {want.id}, bus id {have.id}')
        for fld, reg in (
            ('homing_offset', 'Homing_Offset'),
            ('range_min', 'Min_Position_Limit'),
            ('range_max', 'Max_Position_Limit'),
        ):
            a, b = getattr(want, fld), getattr(have, fld)
            if a != b:
                problems.append(f'{name} (id {want.id}): file {fld}={a}, servo {reg}={b}')
    return problems


def write_calibration_to_eeprom(bus: object, calibration: Mapping[str, MotorCalibration]) -> None:
    """Write offsets and limits into the servos' EEPROM, with torque off (it stays off).

    Raises:
        SoArmCommError (and subclasses) if a servo does not acknowledge.
    """
    ids = [c.id for c in calibration.values()]
    bus.set_torque(False, ids)  # type: ignore[attr-defined]
    for c in calibration.values():
        bus.write_one(Register.HOMING_OFFSET, c.id, c.homing_offset)  # type: ignore[attr-defined]
        bus.write_one(Register.MIN_POSITION_LIMIT, c.id, c.range_min)  # type: ignore[attr-defined]
        bus.write_one(Register.MAX_POSITION_LIMIT, c.id, c.range_max)  # type: ignore[attr-defined]


def home_to_mid(bus: object, ids: Mapping[str, int]) -> dict[str, int]:
    """Make the present pose read as mid-range (2047 ticks) on every motor; return the offsets.

    The arm must be held in the middle of its range with torque off. Clears each offset and the
    position limits, reads the bare position, and writes ``Homing_Offset = raw - 2047`` so that the
    firmware's ``Present = actual - Homing_Offset`` reads 2047 in this pose.

    Raises:
        SoArmCommError (and subclasses): a servo did not answer.
        SoArmCalibrationError: the needed offset is beyond ±2047 (cannot happen for 0..4095).
    """
    id_list = list(ids.values())
    bus.set_torque(False, id_list)  # type: ignore[attr-defined]
    for i in id_list:
        bus.write_one(Register.HOMING_OFFSET, i, 0)  # type: ignore[attr-defined]
        bus.write_one(Register.MIN_POSITION_LIMIT, i, 0)  # type: ignore[attr-defined]
        bus.write_one(Register.MAX_POSITION_LIMIT, i, TICKS_PER_REV - 1)  # type: ignore[attr-defined]
    raw = bus.read(Register.PRESENT_POSITION, id_list)  # type: ignore[attr-defined]
    offsets = {}
    for name, i in ids.items():
        offset = raw[i] - HALF_TURN
        if abs(offset) > MAX_HOMING_OFFSET:
            raise SoArmCalibrationError(f'{name} (id {i}): offset {offset} out of range')
        bus.write_one(Register.HOMING_OFFSET, i, offset)  # type: ignore[attr-defined]
        offsets[name] = offset
    return offsets


def record_ranges(
    bus: object, ids: Mapping[str, int], stop: threading.Event, period_s: float = 0.005
) -> dict[str, tuple[int, int]]:
    """Read positions until ``stop`` is set; return each motor's (min, max) ticks seen.

    Reads at least once, and once more after ``stop`` is set, so the final pose counts.

    Raises:
        SoArmCommError (and subclasses): a servo did not answer.
    """
    id_list = list(ids.values())
    lo: dict[int, int] = {}
    hi: dict[int, int] = {}
    while True:
        done = stop.is_set()
        for i, v in bus.read(Register.PRESENT_POSITION, id_list).items():  # type: ignore[attr-defined]
            lo[i] = min(lo.get(i, v), v)
            hi[i] = max(hi.get(i, v), v)
        if done:
            break
        stop.wait(period_s)
    return {name: (lo[i], hi[i]) for name, i in ids.items()}
