"""Goals are rounded to ticks toward the inside of the limits: the tick sent, converted back, never
lies outside the URDF limits nor the calibrated range.

Regression: the driver used to round to the nearest tick and then clamp only to the calibrated
range, so a wrist_roll goal beyond its URDF upper limit (2.84121 rad) went out as 2.841699 rad,
half a tick past it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import CAL_RANGES
from hypothesis import given, settings
from hypothesis import strategies as st

from so_arm_driver.calibration import MotorCalibration
from so_arm_driver.emulator import so_arm_emulator
from so_arm_driver.errors import SoArmConfigError
from so_arm_driver.follower import ArmConfig, SoFollower
from so_arm_driver.robots import JOINT_NAMES
from so_arm_driver.tables import Register, decode_sign_magnitude
from so_arm_driver.units import rad_to_ticks_within

TICK = 2 * math.pi / 4096
# so101_new_calib URDF limits, radians, as written in the URDF.
URDF = {
    'shoulder_pan': (-1.91986, 1.91986),
    'shoulder_lift': (-1.74533, 1.74533),
    'elbow_flex': (-1.69, 1.69),
    'wrist_flex': (-1.65806, 1.65806),
    'wrist_roll': (-2.74385, 2.84121),
    'gripper': (-0.174533, 1.74533),
}


def goal_ticks(emu, servo_id: int) -> int:
    return decode_sign_magnitude(emu.servo(servo_id).get(Register.GOAL_POSITION), 15)


def to_rad(ticks: int, lo: int, hi: int, sign: int = 1) -> float:
    """The URDF convention, by hand: zero at the middle of the calibrated range, 4096 per turn."""
    return sign * (ticks - (lo + hi) / 2) * TICK


def test_wrist_roll_beyond_its_urdf_limit_is_sent_inside_it(calibrated):
    emu, _cal, path = calibrated
    assert CAL_RANGES['wrist_roll'] == (0, 4095)  # mid 2047.5: the URDF limit decides
    with SoFollower(ArmConfig(port=emu.port, calibration_path=path)) as arm:
        result = arm.write_goals(np.array([0.0, 0.0, 0.0, 0.0, 3.0, 0.0]))
        arm.read_positions()  # the sync write has no answer; a read proves it was applied
        # 2.84121 rad = 1852.18 ticks above mid 2047.5 -> 3899.68. The nearest tick, 3900, is
        # 1852.5 ticks = 2.841699 rad (outside); 3899 is 1851.5 ticks = 2.840165 rad (inside).
        assert goal_ticks(emu, 5) == 3899
        assert result.sent_rad[4] == pytest.approx(1851.5 * TICK, abs=1e-12)
        assert result.sent_rad[4] <= 2.84121
        assert result.clamped == ('wrist_roll',)
        # and the lower limit the same way: -2.74385 rad = -1788.7 ticks -> 258.8; 259 inside.
        result = arm.write_goals(np.array([0.0, 0.0, 0.0, 0.0, -3.0, 0.0]))
        arm.read_positions()
        assert goal_ticks(emu, 5) == 259
        assert result.sent_rad[4] >= -2.74385


def _limits(rng: tuple[int, int], sign: int, urdf: tuple[float, float]) -> tuple[float, float]:
    """The calibrated range in radians intersected with the URDF limits, by hand."""
    a, b = sorted((to_rad(rng[0], *rng, sign), to_rad(rng[1], *rng, sign)))
    return max(a, urdf[0]), min(b, urdf[1])


def _width(rng: tuple[int, int], sign: int, urdf: tuple[float, float]) -> float:
    lo, hi = _limits(rng, sign, urdf)
    return hi - lo


@settings(max_examples=400, deadline=None)
@given(
    joint=st.sampled_from(JOINT_NAMES),
    rng=st.tuples(st.integers(0, 4095), st.integers(0, 4095)).filter(lambda p: p[0] < p[1]),
    sign=st.sampled_from([1, -1]),
    goal=st.floats(-10.0, 10.0),
)
def test_rounded_tick_lies_inside_the_limits_for_every_joint(joint, rng, sign, goal):
    lo, hi = _limits(rng, sign, URDF[joint])
    if lo > hi:
        return  # a calibration that misses the URDF range is refused at connect
    cal = MotorCalibration(1, 0, 0, *rng)
    target = min(max(goal, lo), hi)
    try:
        tick = rad_to_ticks_within(target, cal, sign, lo, hi)
    except SoArmConfigError:
        # Refused only when no tick lies inside: the limit range is narrower than a tick.
        assert not any(lo <= to_rad(t, *rng, sign) <= hi for t in range(rng[0], rng[1] + 1))
        return
    assert rng[0] <= tick <= rng[1]
    assert lo <= to_rad(tick, *rng, sign) <= hi
    assert abs(to_rad(tick, *rng, sign) - target) <= TICK  # the nearest inside tick


def test_every_joint_through_the_follower_over_goals_and_calibrations():
    joint_ranges = st.tuples(
        *[
            st.tuples(st.integers(0, 4095), st.integers(0, 4095))
            .filter(lambda p: p[0] < p[1])
            # wide enough for both signs to leave at least one tick inside
            .filter(lambda p, j=j: min(_width(p, s, URDF[j]) for s in (1, -1)) > TICK)
            for j in JOINT_NAMES
        ]
    )
    goals = st.lists(st.floats(-4.0, 4.0), min_size=6, max_size=6)
    signs = st.lists(st.sampled_from([1, -1]), min_size=6, max_size=6)

    with so_arm_emulator('so101') as emu:

        @settings(max_examples=40, deadline=None)
        @given(ranges=joint_ranges, goal=goals, sign=signs)
        def check(ranges, goal, sign):
            cal = {j: MotorCalibration(k + 1, 0, 0, *ranges[k]) for k, j in enumerate(JOINT_NAMES)}
            config = ArmConfig(
                port=emu.port,
                check_eeprom=False,  # the calibrations are drawn, not flashed
                configure_servos=False,
                joint_signs=dict(zip(JOINT_NAMES, sign, strict=True)),
            )
            arm = SoFollower(config)
            arm.connect(calibration=cal)
            try:
                result = arm.write_goals(np.array(goal))
                arm.read_positions()  # the sync write is applied once a read comes back
                for k, j in enumerate(JOINT_NAMES):
                    lo, hi = _limits(ranges[k], sign[k], URDF[j])
                    tick = goal_ticks(emu, k + 1)
                    sent = to_rad(tick, *ranges[k], sign[k])
                    assert ranges[k][0] <= tick <= ranges[k][1], j
                    assert lo <= sent <= hi, (j, tick, lo, hi)
                    assert result.sent_rad[k] == pytest.approx(sent, abs=1e-12)
            finally:
                arm.close()

        check()
