"""Shared set-up for the tests that run one contract over every ``Arm`` backend.

``open_backend(name, tmp_path)`` yields a ``Backend``: the arm plus probes that read what the arm
has commanded from outside its own bookkeeping (the emulated servos' Goal_Position registers, the
simulator's actuator goals, the kinematic model's goal), so a test can prove that nothing was sent.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from so_arm_driver.arm import Arm
from so_arm_driver.calibration import MotorCalibration, save_calibration
from so_arm_driver.emulator import FeetechEmulator, so_arm_emulator
from so_arm_driver.robots import JOINT_NAMES
from so_arm_driver.tables import Register, decode_sign_magnitude, encode_sign_magnitude

BACKENDS = ('follower', 'sim', 'kinematic', 'clock_synced')
TICK_RAD = 2 * math.pi / 4096

# A calibration of our own (ticks): wrist_roll spans the full turn, wider than its URDF limits
# (-2.74385, 2.84121) rad, so the URDF decides there; shoulder_lift's range is narrower than
# the URDF, so the calibration decides there.
CAL_RANGES = {
    'shoulder_pan': (1000, 3000),
    'shoulder_lift': (1000, 3000),
    'elbow_flex': (950, 3050),
    'wrist_flex': (1100, 2900),
    'wrist_roll': (0, 4095),
    'gripper': (2000, 3000),
}


class ManualTime:
    """A time source (seconds) that only moves when the test advances it."""

    def __init__(self, start_s: float = 0.0) -> None:
        self.t = float(start_s)

    def __call__(self) -> float:
        return self.t

    def advance(self, dt_s: float) -> None:
        self.t += dt_s


def make_calibration(ranges: dict[str, tuple[int, int]] | None = None) -> dict:
    """Joint -> MotorCalibration with zero homing offsets (EEPROM and file then agree)."""
    ranges = ranges or CAL_RANGES
    return {n: MotorCalibration(k + 1, 0, 0, *ranges[n]) for k, n in enumerate(JOINT_NAMES)}


def flash(emu: FeetechEmulator, cal: dict) -> None:
    """Write a calibration into the emulated EEPROMs, as `so-arm calibrate` would have."""
    for c in cal.values():
        s = emu.servo(c.id)
        s.set(Register.HOMING_OFFSET, encode_sign_magnitude(c.homing_offset, 11))
        s.set(Register.MIN_POSITION_LIMIT, c.range_min)
        s.set(Register.MAX_POSITION_LIMIT, c.range_max)
        s.actual_ticks = (c.range_min + c.range_max) // 2


def goal_ticks(emu: FeetechEmulator) -> list[int]:
    """Goal_Position of servos 1..6 as the emulated firmware holds it, ticks."""
    return [
        decode_sign_magnitude(emu.servo(i).get(Register.GOAL_POSITION), 15) for i in range(1, 7)
    ]


@dataclass
class Backend:
    """An arm under test and what the test can observe from outside it."""

    name: str
    arm: Arm
    commanded_rad: Callable[[], np.ndarray]  # the goals the actuators hold now, rad
    state: Callable[[], dict]  # everything a bad command could change, for before/after checks


def _settle(arm: object) -> None:
    """A SYNC_WRITE has no answer: a read behind it proves the emulator has applied it."""
    if arm.is_connected:  # type: ignore[attr-defined]
        arm.read_ticks()  # type: ignore[attr-defined]


def _follower_state(arm: object, emu: FeetechEmulator) -> dict:
    _settle(arm)
    return {
        'goal_ticks': goal_ticks(emu),
        'torque': [emu.servo(i).get(Register.TORQUE_ENABLE) for i in range(1, 7)],
        'writes': [len(emu.servo(i).writes) for i in range(1, 7)],
        'present': [emu.servo(i).present_ticks for i in range(1, 7)],
    }


@contextlib.contextmanager
def open_backend(name: str, tmp_path: Path) -> Iterator[Backend]:
    """One of ``BACKENDS``, connected and holding torque; closed (again) on exit."""
    if name == 'follower':
        from so_arm_driver.follower import ArmConfig, SoFollower

        with so_arm_emulator('so101') as emu:
            cal = make_calibration()
            flash(emu, cal)
            path = save_calibration(cal, tmp_path / 'follower.json')
            follower = SoFollower(ArmConfig(port=emu.port, calibration_path=path))
            follower.connect()
            try:
                yield Backend(
                    name,
                    follower,
                    commanded_rad=lambda: (
                        _settle(follower) or follower.units.ticks_to_rad(goal_ticks(emu))
                    ),
                    state=lambda: _follower_state(follower, emu),
                )
            finally:
                follower.close()
        return
    if name == 'kinematic':
        from so_arm_driver.kinematic_arm import KinematicArm

        kin = KinematicArm(ManualTime(), initial_rad=np.zeros(6))
        with kin:
            yield Backend(
                name,
                kin,
                commanded_rad=lambda: kin.goal_rad,
                state=lambda: {
                    'goal': kin.goal_rad.tolist(),
                    'torque': kin.torque_enabled,
                    'q': None if kin.closed else kin.read_positions().tolist(),
                },
            )
        return
    from so_arm_driver.sim import SimArm, SimConfig

    arm: Arm
    if name == 'sim':
        sim_arm = SimArm(config=SimConfig(image_width=32, image_height=32))
        arm = sim_arm
    elif name == 'clock_synced':
        from so_arm_driver.sim.clock_synced import ClockSyncedSimArm

        arm = ClockSyncedSimArm(ManualTime(), initial_rad=np.zeros(6))
        sim_arm = arm.sim_arm
    else:
        raise ValueError(f'unknown backend {name!r}; choose one of {BACKENDS}')
    sim = sim_arm.sim
    with arm:
        yield Backend(
            name,
            arm,
            commanded_rad=sim.goals,
            state=lambda: {
                'goal': sim.goals().tolist(),
                'torque': sim.torque_enabled,
                'time': sim.time_s,
                'q': sim.joint_positions().tolist(),
            },
        )
