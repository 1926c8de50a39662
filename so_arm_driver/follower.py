"""SO-100/SO-101 arms on a servo bus: the follower (implements ``Arm``) and the read-only leader.

Safety, in the order a goal meets it:
1. a goal with the wrong shape or a NaN/inf is rejected before anything is sent;
2. each joint is clamped to the intersection of its calibrated range and its URDF limits, and
   rounded to a tick toward the inside of that range (the tick sent, converted back, never lies
   outside it);
3. with ``max_relative_target_rad`` set, each joint moves at most that far from its measured
   position per command (the present position is read first; if that read fails, nothing moves);
4. every clamp is counted per joint and named in the returned ``CommandResult``.
Steps 1, 2 (the clamp) and 4 are ``so_arm_driver.arm.Arm.write_goals``, shared with every backend.
Torque goes off on ``close()`` and when a ``with`` block ends with an exception (both by default),
on every servo even when one does not answer (the failures are reported together afterwards);
before torque goes on, the goal register is set to the present position so the arm does not jump
to a stale goal. Reads never invent a position: a failed read raises.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from so_arm_driver.arm import Arm
from so_arm_driver.bus import ServoBus, make_bus
from so_arm_driver.calibration import (
    Calibration,
    compare_with_eeprom,
    default_calibration_path,
    load_calibration,
    read_eeprom_calibration,
)
from so_arm_driver.errors import (
    SoArmCalibrationError,
    SoArmConfigError,
    SoArmError,
    SoArmModelMismatchError,
    SoArmNotConnectedError,
    SoArmTorqueError,
)
from so_arm_driver.robots import RobotSpec, robot_spec
from so_arm_driver.tables import Register
from so_arm_driver.units import JointUnits, UnitScheme, rad_to_ticks_within

_log = logging.getLogger(__name__)


@dataclass
class ArmConfig:
    """How to reach and drive one SO arm.

    Attributes:
        port: serial device of the bus adapter.
        robot: 'so101' or 'so100'.
        robot_id: LeRobot's arm id; names the default calibration file.
        calibration_path: a LeRobot calibration JSON; None -> LeRobot's default location.
        vendor: 'feetech' (SO arms) or 'dynamixel'.
        baudrate: bits per second (1 Mbps on SO arms).
        servo_model: model every joint must report (LeRobot's spelling).
        joint_signs: joint -> ±1, URDF direction relative to ticks (default +1 for all).
        unit_scheme: LeRobot units of the checkpoint in use ('degrees', 'range_m100_100').
        max_relative_target_rad: largest move per command and joint, rad; None = no cap.
        read_retries: extra tries after a failed bus transaction.
        check_eeprom: refuse to connect when the file disagrees with the servos' EEPROM.
        configure_servos: write LeRobot's servo configuration on connect (followers only).
        torque_on_connect: hold position after connect (followers only).
        torque_off_on_close / torque_off_on_error: release the arm on close / on an exception
            leaving a ``with`` block.
        p/i/d_coefficient: position-loop gains LeRobot writes (16/0/32 reduces jitter).
        gripper_max_torque / gripper_protection_current / gripper_overload_torque: LeRobot's
            gripper limits, so a closed gripper does not burn out its servo.
    """

    port: str
    robot: str = 'so101'
    robot_id: str = 'follower'
    calibration_path: str | Path | None = None
    vendor: str = 'feetech'
    baudrate: int = 1_000_000
    servo_model: str = 'sts3215'
    joint_signs: dict[str, int] = field(default_factory=dict)
    unit_scheme: str = UnitScheme.DEGREES.value
    max_relative_target_rad: float | None = None
    read_retries: int = 2
    check_eeprom: bool = True
    configure_servos: bool = True
    torque_on_connect: bool = True
    torque_off_on_close: bool = True
    torque_off_on_error: bool = True
    p_coefficient: int = 16
    i_coefficient: int = 0
    d_coefficient: int = 32
    gripper_max_torque: int = 500
    gripper_protection_current: int = 250
    gripper_overload_torque: int = 25

    def __post_init__(self) -> None:
        robot_spec(self.robot)  # raises ValueError naming the choices
        if self.vendor not in ('feetech', 'dynamixel'):
            raise SoArmConfigError(f"vendor must be 'feetech' or 'dynamixel', got {self.vendor!r}")
        if self.max_relative_target_rad is not None and not (
            math.isfinite(self.max_relative_target_rad) and self.max_relative_target_rad > 0
        ):
            raise SoArmConfigError(
                f'max_relative_target_rad must be a positive number of radians or None, got '
                f'{self.max_relative_target_rad}'
            )
        if self.read_retries < 0:
            raise SoArmConfigError(f'read_retries must be >= 0, got {self.read_retries}')
        for name, value in (
            ('p', self.p_coefficient),
            ('i', self.i_coefficient),
            ('d', self.d_coefficient),
        ):
            if not 0 <= value <= 254:
                raise SoArmConfigError(f'{name}_coefficient must be in 0..254, got {value}')
        try:
            UnitScheme(self.unit_scheme)
        except ValueError:
            raise SoArmConfigError(
                f'unit_scheme {self.unit_scheme!r} unknown; choose one of '
                f'{[s.value for s in UnitScheme if s is not UnitScheme.LEGACY]}'
            ) from None

    def resolved_calibration_path(self, leader: bool = False) -> Path:
        if self.calibration_path is not None:
            return Path(self.calibration_path)
        return default_calibration_path(self.robot_id, self.robot, leader)


class _SoArm:
    """What the follower and the leader share: connect, identity checks, calibration, reads."""

    leader = False

    def __init__(self, config: ArmConfig, bus: ServoBus | None = None) -> None:
        self.config = config
        self.spec: RobotSpec = robot_spec(config.robot)
        self.ids = {j.name: j.servo_id for j in self.spec.joints}
        labels = {i: n for n, i in self.ids.items()}
        self.bus = bus or make_bus(
            config.vendor,
            config.port,
            baudrate=config.baudrate,
            retries=config.read_retries,
            labels=labels,
        )
        self.bus.labels.update(labels)
        self._connected = False
        self._closed = False
        self.calibration: Calibration = {}
        self.units: JointUnits | None = None
        self._limits = np.zeros((len(self.spec.joints), 2))
        self._clamps = dict.fromkeys(self.spec.joint_names, 0)

    # ---- Arm protocol: identity ----------------------------------------------------------

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.spec.joint_names

    @property
    def limits_rad(self) -> np.ndarray:
        """[lower, upper] per joint, rad: the calibrated range intersected with the URDF limits."""
        return self._limits.copy()

    @property
    def clamp_counts(self) -> dict[str, int]:
        return dict(self._clamps)

    @property
    def is_connected(self) -> bool:
        return self._connected

    # ---- lifecycle -----------------------------------------------------------------------

    def connect(self, calibration: Calibration | None = None) -> None:
        """Open the bus, check every servo's model, load and check the calibration, configure.

        Args:
            calibration: use this instead of reading ``config.calibration_path``.
        Raises:
            SoArmPortError, SoArmTimeoutError (a joint does not answer), SoArmModelMismatchError,
            SoArmCalibrationError (missing file or EEPROM mismatch). The port is closed again.
        """
        if self._connected:
            return
        self.bus.open()
        try:
            self._check_models()
            path = self.config.resolved_calibration_path(self.leader)
            cal = (
                dict(calibration)
                if calibration is not None
                else load_calibration(path, self.spec.joint_names)
            )
            self._set_calibration(cal)
            if self.config.check_eeprom and self.config.vendor == 'feetech':
                eeprom = read_eeprom_calibration(self.bus, self.ids)
                problems = compare_with_eeprom(self.calibration, eeprom)
                if problems:
                    raise SoArmCalibrationError(
                        f'calibration {path} disagrees with the servos on {self.config.port}: '
                        + '; '.join(problems)
                        + '. Run `so-arm calibrate` to recalibrate, or write the file to the '
                        'servos with `so-arm calibrate --write-file`.'
                    )
            self._after_connect()
        except BaseException:
            self.bus.close()
            raise
        self._connected = True
        self._closed = False

    def _set_calibration(self, cal: Calibration) -> None:
        missing = [j for j in self.spec.joint_names if j not in cal]
        if missing:
            raise SoArmCalibrationError(f'calibration lacks the joints {missing}')
        self.calibration = {j: cal[j] for j in self.spec.joint_names}
        self.units = JointUnits(self.calibration, self.config.joint_signs, self.config.unit_scheme)
        lo = self.units.ticks_to_rad([c.range_min for c in self.calibration.values()])
        hi = self.units.ticks_to_rad([c.range_max for c in self.calibration.values()])
        cal_lo, cal_hi = np.minimum(lo, hi), np.maximum(lo, hi)
        urdf = np.array([[j.lower_rad, j.upper_rad] for j in self.spec.joints])
        limits = np.stack([np.maximum(cal_lo, urdf[:, 0]), np.minimum(cal_hi, urdf[:, 1])], 1)
        empty = [j for j, (a, b) in zip(self.spec.joint_names, limits, strict=True) if a > b]
        if empty:
            raise SoArmCalibrationError(
                f'the calibrated range of {empty} does not overlap the URDF limits; recalibrate'
            )
        self._limits = limits

    def _check_models(self) -> None:
        expected = self.bus.model_numbers.get(self.config.servo_model)
        if expected is None:
            raise SoArmConfigError(
                f'unknown {self.config.vendor} servo model {self.config.servo_model!r}; '
                f'known: {sorted(self.bus.model_numbers)}'
            )
        for name, servo_id in self.ids.items():
            info = self.bus.ping(servo_id)
            if info.model_number != expected:
                raise SoArmModelMismatchError(
                    f'port {self.config.port}, {name} (id {servo_id}): model number '
                    f'{info.model_number}, expected {expected} ({self.config.servo_model}); check '
                    'the servo at that id, or `so-arm setup-motors` to re-assign ids'
                )

    def _after_connect(self) -> None:
        self.bus.set_torque(False, list(self.ids.values()))

    def _require_connected(self) -> None:
        if not self._connected:
            raise SoArmNotConnectedError(
                f'{self.spec.name} on {self.config.port} is not connected: call connect() first'
            )

    def close(self) -> None:
        """Torque off on every joint (unless configured otherwise) and close the port. Idempotent.

        Every servo is tried even when one does not answer, and the port is closed either way.

        Raises:
            SoArmTorqueError: some servos did not confirm torque off (each named by joint and
                id); the others are released and the port is closed.
        """
        if not self._connected:
            self.bus.close()
            return
        self._connected = False
        try:
            if self.config.torque_off_on_close:
                self.bus.set_torque(False, list(self.ids.values()))
        finally:
            self.bus.close()
            self._closed = True

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is not None and self.config.torque_off_on_error and self._connected:
            # The original exception matters more: a torque-off failure is logged and noted on
            # it, never raised in its place. The port is closed either way.
            try:
                self.bus.set_torque(False, list(self.ids.values()))
            except Exception as e:
                _log.error('while handling %r: %s', exc, e)
                if exc is not None and hasattr(exc, 'add_note'):  # Python >= 3.11
                    exc.add_note(f'and turning torque off failed: {e}')
            finally:
                self._connected = False
                self.bus.close()
                self._closed = True
            return
        self.close()

    # ---- reads ---------------------------------------------------------------------------

    def read_ticks(self) -> np.ndarray:
        """Present_Position of every joint, ticks, joint order. Raises rather than guessing."""
        self._require_connected()
        values = self.bus.read(Register.PRESENT_POSITION, list(self.ids.values()))
        return np.array([values[self.ids[j]] for j in self.joint_names], dtype=np.int64)

    def read_positions(self) -> np.ndarray:
        """Measured positions, rad (URDF convention), joint order. Raises rather than guessing."""
        return self.units.ticks_to_rad(self.read_ticks())  # type: ignore[union-attr]

    def read_lerobot(self) -> np.ndarray:
        """Measured positions in the configured LeRobot dataset units, joint order."""
        return self.units.ticks_to_lerobot(self.read_ticks())  # type: ignore[union-attr]

    def read_registers(self, registers: list[Register]) -> dict[Register, dict[str, int]]:
        """Read extra registers (velocity, load, voltage, temperature, status) per joint."""
        self._require_connected()
        out = {}
        for reg in registers:
            values = self.bus.read(reg, list(self.ids.values()))
            out[reg] = {j: values[i] for j, i in self.ids.items()}
        return out


class SoFollower(_SoArm, Arm):
    """An SO-100/SO-101 follower arm on a servo bus, behind ``so_arm_driver.arm.Arm``.

    Goals go through ``Arm.write_goals`` (validate, clamp, count); this class adds the step
    limit (``_restrict``) and the tick conversion and bus write (``_send``). Bad goals raise
    ``SoArmGoalError`` (a ``SoArmConfigError``); before ``connect()`` ``SoArmNotConnectedError``.
    """

    def __init__(self, config: ArmConfig, bus: ServoBus | None = None) -> None:
        _SoArm.__init__(self, config, bus)
        # The limits are placeholders until connect() reads the calibration (_set_calibration).
        Arm.__init__(self, self.spec.joint_names, self._limits)

    def _after_connect(self) -> None:
        ids = list(self.ids.values())
        self.bus.set_torque(False, ids)
        if self.config.configure_servos and self.config.vendor == 'feetech':
            self._configure_feetech()
        if self.config.torque_on_connect:
            self.set_torque_unchecked(True)

    def _configure_feetech(self) -> None:
        """LeRobot's servo configuration, written with torque off (EEPROM unlocked)."""
        b = self.bus
        for name, i in self.ids.items():
            b.write_one(Register.RETURN_DELAY_TIME, i, 0)  # factory 250 = 500 µs per answer
            b.write_one(Register.MAXIMUM_ACCELERATION, i, 254)
            b.write_one(Register.ACCELERATION, i, 254)
            b.write_one(Register.OPERATING_MODE, i, 0)  # position mode
            b.write_one(Register.P_COEFFICIENT, i, self.config.p_coefficient)
            b.write_one(Register.I_COEFFICIENT, i, self.config.i_coefficient)
            b.write_one(Register.D_COEFFICIENT, i, self.config.d_coefficient)
            if name == 'gripper':
                b.write_one(Register.MAX_TORQUE_LIMIT, i, self.config.gripper_max_torque)
                b.write_one(Register.PROTECTION_CURRENT, i, self.config.gripper_protection_current)
                b.write_one(Register.OVERLOAD_TORQUE, i, self.config.gripper_overload_torque)

    def set_torque(self, enabled: bool) -> None:
        """Enable (holding the present position) or disable torque on every joint."""
        self._require_connected()
        self.set_torque_unchecked(enabled)

    def set_torque_unchecked(self, enabled: bool) -> None:
        """``set_torque`` without the connected check (used while connecting).

        Raises:
            SoArmTorqueError: some servos did not confirm; after a failed enable, torque is
                turned off again on every servo that answers (a half-torqued arm is the worse
                state), and the enable error is raised.
            SoArmCommError: the present-position read before enabling failed (nothing enabled).
        """
        ids = list(self.ids.values())
        if enabled:
            # A stale Goal_Position would make the arm jump when torque comes on.
            present = self.bus.read(Register.PRESENT_POSITION, ids)
            self.bus.write(Register.GOAL_POSITION, present)
        try:
            self.bus.set_torque(enabled, ids)
        except SoArmTorqueError as e:
            if enabled:
                try:
                    self.bus.set_torque(False, ids)
                except SoArmError as off_error:
                    _log.error('after a failed torque on, torque off failed too: %s', off_error)
            raise e

    def _require_open(self) -> None:
        self._require_connected()

    def _restrict(self, target_rad: np.ndarray) -> np.ndarray:
        """``max_relative_target_rad``: at most that far from the measured position per command.

        Raises:
            SoArmCommError (and subclasses): the present-position read failed; nothing is sent.
        """
        step = self.config.max_relative_target_rad
        if step is None:
            return target_rad
        present = self.read_positions()
        # Clipped to the limits again: an arm moved outside them by hand must not pull the goal
        # out with it; the limits win over the step.
        limited = np.clip(target_rad, present - step, present + step)
        return np.clip(limited, self._limits[:, 0], self._limits[:, 1])

    def _send(self, goals_rad: np.ndarray) -> np.ndarray:
        """One SYNC_WRITE of Goal_Position; returns the radians of the ticks actually sent.

        Each goal is rounded to the nearest tick that, converted back, lies inside both the
        URDF limits and the calibrated range (plain rounding could land half a tick outside).
        """
        units = self.units
        assert units is not None  # connected implies calibrated
        ticks = np.array(
            [
                rad_to_ticks_within(g, self.calibration[j], units.signs[j], lo, hi)
                for j, g, (lo, hi) in zip(self.joint_names, goals_rad, self._limits, strict=True)
            ],
            dtype=np.int64,
        )
        self.bus.write(
            Register.GOAL_POSITION,
            {self.ids[j]: int(t) for j, t in zip(self.joint_names, ticks, strict=True)},
        )
        return units.ticks_to_rad(ticks)


class SoLeader(_SoArm):
    """An SO-100/SO-101 leader arm: read-only, torque stays off (you move it by hand)."""

    leader = True
