"""The so-arm CLI against the emulator, interactive flows driven by scripted input."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import pytest
from conftest import make_calibration

from so_arm_driver import cli
from so_arm_driver.calibration import load_calibration
from so_arm_driver.emulator import EmulatedFeetechServo, FeetechEmulator
from so_arm_driver.robots import JOINT_NAMES
from so_arm_driver.tables import Register, decode_sign_magnitude


def run(argv, answers=None):
    out = io.StringIO()
    code = cli.main(argv, input_fn=answers or (lambda prompt: ''), out=out)
    return code, out.getvalue()


def test_scan_lists_every_servo(emu):
    code, text = run(['scan', '--port', emu.port, '--json'])
    assert code == 0
    assert [(s['servo_id'], s['model_number']) for s in json.loads(text)] == [
        (i, 777) for i in range(1, 7)
    ]


def test_read_json_with_calibration(calibrated):
    emu, _, path = calibrated
    code, text = run(['read', '--port', emu.port, '--calibration', str(path), '--json'])
    assert code == 0
    rows = {r['joint']: r for r in json.loads(text)['joints']}
    # gripper range 2000..3000, set at mid 2500: 0 rad, 50 in LeRobot's 0..100.
    assert rows['gripper']['ticks'] == 2500
    assert rows['gripper']['rad'] == pytest.approx(0.0)
    assert rows['gripper']['lerobot'] == pytest.approx(50.0)
    assert rows['shoulder_pan']['id'] == 1


def test_read_without_calibration_shows_ticks(emu, tmp_path, monkeypatch):
    monkeypatch.setenv('HF_LEROBOT_CALIBRATION', str(tmp_path))
    code, text = run(['read', '--port', emu.port])
    assert code == 0
    assert 'no calibration' in text and '2010' in text


def test_read_fails_naming_the_silent_joint(emu, capsys):
    emu.servo(4).silent = True
    code, _ = run(['read', '--port', emu.port])
    assert code == 1
    assert 'wrist_flex (id 4)' in capsys.readouterr().err


def test_torque_on_off(calibrated):
    emu, _, _ = calibrated
    assert run(['torque', 'on', '--port', emu.port])[0] == 0
    assert all(emu.servo(i).get(Register.TORQUE_ENABLE) == 1 for i in range(1, 7))
    assert run(['torque', 'off', '--port', emu.port])[0] == 0
    assert all(emu.servo(i).get(Register.TORQUE_ENABLE) == 0 for i in range(1, 7))


def test_calibrate_homes_mid_pose_and_records_the_sweep(emu, tmp_path):
    mid_actual = {1: 2300, 2: 1800, 3: 2047, 4: 2600, 5: 1500, 6: 2100}
    sweep = {1: (1200, 3300), 2: (900, 2900), 3: (1000, 3100), 4: (1700, 3500), 6: (2050, 3000)}

    def answers(prompt):
        if 'middle' in prompt:
            for i, t in mid_actual.items():
                emu.servo(i).actual_ticks = t
        else:  # the sweep: move each joint end to end, slowly enough to be sampled
            for pose in (0, 1):
                for i, ends in sweep.items():
                    emu.servo(i).actual_ticks = ends[pose]
                time.sleep(0.15)
            for i, t in mid_actual.items():
                emu.servo(i).actual_ticks = t
        return ''

    path = tmp_path / 'arm.json'
    code, text = run(['calibrate', '--port', emu.port, '--calibration', str(path)], answers)
    assert code == 0, text
    cal = load_calibration(path, JOINT_NAMES)
    for k, name in enumerate(JOINT_NAMES):
        i = k + 1
        offset = mid_actual[i] - 2047  # the mid pose must read 2047
        assert cal[name].homing_offset == offset
        hw = emu.servo(i)
        assert decode_sign_magnitude(hw.get(Register.HOMING_OFFSET), 11) == offset
        if name == 'wrist_roll':
            assert (cal[name].range_min, cal[name].range_max) == (0, 4095)
        else:
            lo, hi = sweep[i]
            assert (cal[name].range_min, cal[name].range_max) == (lo - offset, hi - offset)
        assert (hw.get(Register.MIN_POSITION_LIMIT), hw.get(Register.MAX_POSITION_LIMIT)) == (
            cal[name].range_min,
            cal[name].range_max,
        )


def test_calibrate_refuses_a_joint_that_did_not_move(emu, tmp_path, capsys):
    path = tmp_path / 'arm.json'
    code, _ = run(['calibrate', '--port', emu.port, '--calibration', str(path)])
    assert code == 1
    assert 'barely moved' in capsys.readouterr().err
    assert not path.exists()


def test_calibrate_write_file_resolves_an_eeprom_mismatch(emu, tmp_path):
    from so_arm_driver.calibration import save_calibration

    path = save_calibration(make_calibration(), tmp_path / 'c.json')
    assert (
        run(['calibrate', '--port', emu.port, '--calibration', str(path), '--write-file'])[0] == 0
    )
    assert emu.servo(2).get(Register.MIN_POSITION_LIMIT) == 900
    assert decode_sign_magnitude(emu.servo(1).get(Register.HOMING_OFFSET), 11) == -37


def test_setup_motors_assigns_ids_and_baud_one_at_a_time():
    # Factory-fresh motors all answer at id 1; one ships at 500 kbps (Baud_Rate code 1).
    fresh = {name: EmulatedFeetechServo(1) for name in JOINT_NAMES}
    fresh['elbow_flex'].set(Register.BAUD_RATE, 1)
    emu = FeetechEmulator().start()
    try:

        def answers(prompt):
            for s in list(emu.servos.values()):  # unplug the previous motor
                emu.remove(s.servo_id)
            name = prompt.split("'")[1]
            emu.add(fresh[name])
            return ''

        code, text = run(['setup-motors', '--port', emu.port], answers)
        assert code == 0, text
        assert "'elbow_flex' motor set to id 3 at 1000000 baud" in text
        for k, name in enumerate(JOINT_NAMES):
            s = fresh[name]
            assert (s.servo_id, s.get(Register.ID), s.get(Register.BAUD_RATE)) == (k + 1, k + 1, 0)
        for s in fresh.values():  # plug them all in: one bus, six distinct ids
            emu.add(s)
        code, text = run(['scan', '--port', emu.port, '--json'])
        assert [s['servo_id'] for s in json.loads(text)] == [1, 2, 3, 4, 5, 6]
    finally:
        emu.stop()


def test_setup_motors_refuses_two_motors_at_once(emu, capsys):
    code, _ = run(['setup-motors', '--port', emu.port])
    assert code == 1
    assert 'connect exactly one motor' in capsys.readouterr().err


def test_find_port_by_unplugging(monkeypatch):
    ports = [['/dev/ttyACM0', '/dev/ttyUSB0'], ['/dev/ttyUSB0']]
    monkeypatch.setattr(cli, '_ports', lambda: ports.pop(0))
    code, text = run(['find-port'])
    assert code == 0 and '/dev/ttyACM0' in text


def test_cli_as_a_module_and_bad_port(tmp_path):
    proc = subprocess.run(
        [sys.executable, '-m', 'so_arm_driver.cli', 'scan', '--port', str(tmp_path / 'none')],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert 'does not exist' in proc.stderr and 'so-arm find-port' in proc.stderr


def _no_prompt(prompt):
    raise AssertionError(f'prompted before the arguments were checked: {prompt}')


@pytest.mark.parametrize(
    ('argv', 'words'),
    [
        (['setup-motors', '--servo-model', 'xyz'], "--servo-model: unknown feetech model 'xyz'"),
        (
            ['scan', '--first-id', '-5'],
            '--first-id: must be an integer in 0..252, got -5',
        ),
        (
            ['scan', '--last-id', '300'],
            '--last-id: must be an integer in 0..252, got 300',
        ),
        (['scan', '--first-id', '9', '--last-id', '3'], '--first-id: 9 is above --last-id 3'),
        (['read', '--baudrate', '123'], '--baudrate: feetech servos do not support 123'),
        (['torque', 'off', '--vendor', 'dynamixel', '--baudrate', '500000'], 'support 500000'),
        (['calibrate', '--calibration', '{file}/arm.json'], 'is a file'),
    ],
)
def test_bad_arguments_exit_2_in_one_line_before_the_port_is_opened(
    emu, tmp_path, capsys, argv, words
):
    a_file = tmp_path / 'a_file'
    a_file.write_text('x')
    argv = [a.replace('{file}', str(a_file)) for a in argv]
    code, _ = run([*argv, '--port', emu.port], _no_prompt)
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and words in err, err
    assert emu.packets == 0  # nothing reached the bus
    assert all(s.writes == [] for s in emu.servos.values())
    assert sorted(tmp_path.iterdir()) == [a_file]


def test_torque_off_with_a_silent_servo_releases_the_others_and_names_it(calibrated, capsys):
    emu, _, _ = calibrated
    assert run(['torque', 'on', '--port', emu.port])[0] == 0
    emu.servo(4).silent = True
    code, _ = run(['torque', 'off', '--port', emu.port])
    assert code == 1
    assert 'wrist_flex (id 4)' in capsys.readouterr().err
    assert [emu.servo(i).get(Register.TORQUE_ENABLE) for i in range(1, 7)] == [0, 0, 0, 1, 0, 0]
