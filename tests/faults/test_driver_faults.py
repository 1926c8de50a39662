"""Fault matrix of so_arm_driver: one test per fault, on the real SDKs over the pty emulator.

Each test names its fault in one docstring line ("Fault: ... -> Expected: ...") and checks the
named error or the safe state AND that nothing else changed: the emulated servos' registers and
shafts (so no torque was enabled and no goal written), the files, and, for the CLIs, that nothing
reached the bus.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from so_arm_driver import cli as so_arm_cli
from so_arm_driver.bus.feetech import FeetechBus
from so_arm_driver.calibration import MotorCalibration, save_calibration
from so_arm_driver.emulator import FeetechEmulator, so_arm_emulator
from so_arm_driver.errors import (
    SoArmCalibrationError,
    SoArmCommError,
    SoArmModelMismatchError,
    SoArmPortError,
    SoArmTimeoutError,
    SoArmTorqueError,
)
from so_arm_driver.follower import ArmConfig, SoFollower
from so_arm_driver.robots import JOINT_NAMES
from so_arm_driver.sim import cli as sim_cli
from so_arm_driver.tables import Register, encode_sign_magnitude

IDS = list(range(1, 7))
# A hand-made calibration (ticks): ranges around mid 2000, small homing offsets.
RANGES = [(1000, 3000), (900, 3100), (1000, 3000), (1100, 2900), (0, 4095), (2000, 3000)]
OFFSETS = [-37, 120, 0, 33, -5, 14]


def calibration() -> dict[str, MotorCalibration]:
    return {
        name: MotorCalibration(k + 1, 0, OFFSETS[k], *RANGES[k])
        for k, name in enumerate(JOINT_NAMES)
    }


@pytest.fixture
def emu():
    with so_arm_emulator('so101') as e:
        yield e


@pytest.fixture
def calibrated(emu, tmp_path):
    """(emulator, calibration file): EEPROM and file agree, every joint at mid range."""
    cal = calibration()
    for c in cal.values():
        s = emu.servo(c.id)
        s.set(Register.HOMING_OFFSET, encode_sign_magnitude(c.homing_offset, 11))
        s.set(Register.MIN_POSITION_LIMIT, c.range_min)
        s.set(Register.MAX_POSITION_LIMIT, c.range_max)
        s.actual_ticks = ((c.range_min + c.range_max) // 2 + c.homing_offset) % 4096
    return emu, save_calibration(cal, tmp_path / 'follower.json')


def bus_state(emu: FeetechEmulator) -> dict[int, tuple[bytes, int, int]]:
    """Every servo's register memory (with the live position filled in), shaft and write count."""
    return {i: (bytes(s.snapshot()), s.actual_ticks, len(s.writes)) for i, s in emu.servos.items()}


def files(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob('*')) if p.is_file()}


def torque(emu: FeetechEmulator) -> list[int]:
    return [emu.servo(i).get(Register.TORQUE_ENABLE) for i in IDS]


def goals(emu: FeetechEmulator) -> list[int]:
    return [emu.servo(i).get(Register.GOAL_POSITION) for i in IDS]


def follower(emu: FeetechEmulator, path: Path) -> SoFollower:
    return SoFollower(ArmConfig(port=emu.port, calibration_path=path))


# ---- defects fixed here --------------------------------------------------------------------


def test_close_with_a_silent_servo(calibrated, tmp_path):
    """Fault: servo 4 silent at close() -> Expected: 1-3, 5, 6 released; one error names id 4."""
    emu, path = calibrated
    arm = follower(emu, path)
    arm.connect()
    held_goals, before_files = goals(emu), files(tmp_path)
    emu.servo(4).silent = True
    with pytest.raises(SoArmTorqueError) as info:
        arm.close()
    assert torque(emu) == [0, 0, 0, 1, 0, 0]  # 4 cannot be reached: the others are released
    assert 'wrist_flex (id 4)' in str(info.value)
    assert set(info.value.failures) == {4} and info.value.succeeded == [1, 2, 3, 5, 6]
    assert goals(emu) == held_goals  # no motion was commanded on the way out
    assert files(tmp_path) == before_files
    assert not arm.is_connected and not arm.bus.is_open


def test_exception_in_with_block_with_a_silent_servo(calibrated, caplog):
    """Fault: error in a with block, servo 4 silent -> Expected: original error, others off."""
    emu, path = calibrated
    with pytest.raises(ZeroDivisionError), follower(emu, path):
        emu.servo(4).silent = True
        _ = 1 / 0
    assert torque(emu) == [0, 0, 0, 1, 0, 0]
    assert 'wrist_flex (id 4)' in caplog.text  # the torque-off failure is logged, not lost


def test_torque_off_cli_with_a_silent_servo(calibrated, capsys):
    """Fault: `so-arm torque off`, servo 4 silent -> Expected: exit 1 naming id 4; rest off."""
    emu, _ = calibrated
    assert so_arm_cli.main(['torque', 'on', '--port', emu.port], out=io.StringIO()) == 0
    emu.servo(4).silent = True
    assert so_arm_cli.main(['torque', 'off', '--port', emu.port], out=io.StringIO()) == 1
    assert 'wrist_flex (id 4)' in capsys.readouterr().err
    assert torque(emu) == [0, 0, 0, 1, 0, 0]


def test_late_answer_is_not_taken_for_the_next_read(emu):
    """Fault: servo answers 0.2 s late -> Expected: timeout, then the fresh value, never stale."""
    servo = emu.servo(2)
    servo.actual_ticks, servo.delay_s = 2000, 0.2
    with FeetechBus(emu.port, retries=0, margin_ms=100) as bus:
        start = time.monotonic()
        with pytest.raises(SoArmTimeoutError):
            bus.read(Register.PRESENT_POSITION, [2])
        servo.delay_s, servo.actual_ticks = 0.0, 3000
        # The late answer (2000) lands at 0.2 s, while this read waits for its own answer.
        time.sleep(max(0.0, 0.15 - (time.monotonic() - start)))
        assert bus.read(Register.PRESENT_POSITION, [2]) == {2: 3000}
    assert all(s.writes == [] for s in emu.servos.values())


@pytest.mark.parametrize(
    ('argv', 'words'),
    [
        (['setup-motors', '--servo-model', 'xyz'], "--servo-model: unknown feetech model 'xyz'"),
        (['scan', '--first-id', '-5'], '--first-id: must be an integer in 0..252, got -5'),
    ],
)
def test_so_arm_cli_bad_argument(emu, capsys, argv, words):
    """Fault: impossible so-arm argument -> Expected: one line naming it, exit 2, bus untouched."""
    before = bus_state(emu)

    def no_prompt(prompt: str) -> str:
        raise AssertionError(prompt)

    code = so_arm_cli.main([*argv, '--port', emu.port], input_fn=no_prompt, out=io.StringIO())
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and words in err
    assert emu.packets == 0 and bus_state(emu) == before


@pytest.mark.parametrize(
    ('argv', 'words'),
    [
        (['pick-place', '--seed', '-1', '--json', '{tmp}/s.json'], '--seed'),
        (['pick-place', '--json', '{tmp}/missing/s.json'], 'missing does not exist'),
        (['pick-place', '--video', '{tmp}/missing/e.gif'], 'missing does not exist'),
        (['render', '--out', '{tmp}/a_file/out'], 'a_file is a file'),
        (['render', '--out', '/proc/smolvla-sim-out'], 'cannot write in /proc'),
    ],
)
def test_smolvla_sim_bad_argument_or_output(tmp_path, capsys, argv, words):
    """Fault: bad seed or unwritable output -> Expected: exit 2 before any episode, no file."""
    (tmp_path / 'a_file').write_text('x')
    before = files(tmp_path)
    code = sim_cli.main([a.replace('{tmp}', str(tmp_path)) for a in argv])
    captured = capsys.readouterr()
    assert code == 2 and len(captured.err.strip().splitlines()) == 1 and words in captured.err
    assert 'episode' not in captured.out
    assert files(tmp_path) == before


# ---- regressions: faults the suite already handled ---------------------------------------


def test_silent_servo_on_read(calibrated):
    """Fault: servo 3 silent on a read -> Expected: SoArmTimeoutError naming joint/id/register."""
    emu, path = calibrated
    with follower(emu, path) as arm:
        before = bus_state(emu)
        emu.servo(3).silent = True
        with pytest.raises(SoArmTimeoutError) as info:
            arm.read_positions()
        for part in ('elbow_flex (id 3)', 'Present_Position', '3 tries'):
            assert part in str(info.value)
        emu.servo(3).silent = False
        assert bus_state(emu) == before  # no torque change, no goal written


def test_corrupt_checksum(calibrated):
    """Fault: servo 1 answers corrupt -> Expected: SoArmCommError 'corrupt', not a timeout."""
    emu, path = calibrated
    with follower(emu, path) as arm:
        before = bus_state(emu)
        emu.servo(1).corrupt_replies = 100
        with pytest.raises(SoArmCommError, match='corrupt') as info:
            arm.read_positions()
        assert not isinstance(info.value, SoArmTimeoutError)
        assert 'shoulder_pan (id 1)' in str(info.value)
        emu.servo(1).corrupt_replies = 0
        assert bus_state(emu) == before


def test_wrong_model_number_at_connect(calibrated):
    """Fault: servo 5 is another model -> Expected: SoArmModelMismatchError; nothing written."""
    emu, path = calibrated
    emu.servo(5).set(Register.MODEL_NUMBER, 2825)  # an STS3250 where an STS3215 belongs
    before = bus_state(emu)
    arm = follower(emu, path)
    with pytest.raises(SoArmModelMismatchError, match=r'wrist_roll \(id 5\).*2825'):
        arm.connect()
    assert bus_state(emu) == before and torque(emu) == [0] * 6
    assert not arm.is_connected and not arm.bus.is_open


def test_port_that_does_not_exist(tmp_path):
    """Fault: no such serial port -> Expected: SoArmPortError 'does not exist'; no file made."""
    with pytest.raises(SoArmPortError, match='does not exist'):
        FeetechBus(str(tmp_path / 'ttyNOPE')).open()
    assert files(tmp_path) == {}


def test_port_that_is_busy(emu):
    """Fault: port held by another program -> Expected: SoArmPortError 'busy'; bus untouched."""
    with FeetechBus(emu.port):
        before = (bus_state(emu), emu.packets)
        with pytest.raises(SoArmPortError, match='busy'):
            FeetechBus(emu.port).open()
        assert (bus_state(emu), emu.packets) == before


def _bad_calibrations(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = {n: vars(c) for n, c in calibration().items()}
    wrong_joints = {('pan' if n == 'shoulder_pan' else n): c for n, c in good.items()}
    empty_range = {**good, 'gripper': {**good['gripper'], 'range_min': 3000, 'range_max': 3000}}
    cases = {
        'missing': (None, 'no calibration file'),
        'malformed': ('{"shoulder_pan": {', 'cannot read calibration'),
        'wrong_joints': (json.dumps(wrong_joints), "lacks the joints ['shoulder_pan']"),
        'empty_range': (json.dumps(empty_range), "'gripper'"),
    }
    out = {}
    for name, (text, words) in cases.items():
        path = tmp_path / f'{name}.json'
        if text is not None:
            path.write_text(text)
        out[name] = (path, words)
    return out


@pytest.mark.parametrize('case', ['missing', 'malformed', 'wrong_joints', 'empty_range'])
def test_calibration_file_errors(calibrated, tmp_path, case):
    """Fault: calibration file missing/malformed/wrong joints/min>=max -> Expected: refused."""
    emu, _ = calibrated
    path, words = _bad_calibrations(tmp_path)[case]
    before_bus, before_files = bus_state(emu), files(tmp_path)
    arm = follower(emu, path)
    with pytest.raises(SoArmCalibrationError) as info:
        arm.connect()
    assert words in str(info.value)
    assert bus_state(emu) == before_bus and torque(emu) == [0] * 6
    assert files(tmp_path) == before_files
    assert not arm.is_connected and not arm.bus.is_open


def test_eeprom_calibration_mismatch(calibrated, tmp_path):
    """Fault: EEPROM offset differs from the file -> Expected: SoArmCalibrationError, no torque."""
    emu, path = calibrated
    emu.servo(3).set(Register.HOMING_OFFSET, encode_sign_magnitude(50, 11))
    before_bus, before_files = bus_state(emu), files(tmp_path)
    arm = follower(emu, path)
    with pytest.raises(SoArmCalibrationError, match=r'elbow_flex \(id 3\).*homing_offset=0'):
        arm.connect()
    assert bus_state(emu) == before_bus and torque(emu) == [0] * 6
    assert files(tmp_path) == before_files
