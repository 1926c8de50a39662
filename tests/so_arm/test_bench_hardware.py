"""The benchmark's arithmetic and a short run; hardware tests for someone with a real arm.

Hardware tests: ``pytest tests/so_arm --run-hardware`` with ``SO_ARM_PORT=/dev/ttyACM0`` and,
for the follower tests, ``SO_ARM_CALIBRATION`` pointing at the arm's LeRobot calibration file.
They move nothing but torque; the follower test commands the pose it reads.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from so_arm_driver import bench
from so_arm_driver.bus.feetech import FeetechBus
from so_arm_driver.follower import ArmConfig, SoFollower
from so_arm_driver.tables import Register


def test_wire_bound_from_packet_sizes():
    # 6 servos: request 14 B, replies 6 x 8 = 48 B, sync write 8 + 18 = 26 B -> 88 B = 880 us.
    b = bench.wire_bound(6)
    assert b['bytes'] == 88
    assert b['cycle_s'] == pytest.approx(880e-6)


def test_short_benchmark_run():
    r = bench.run(cycles=30, warmup=5)
    # Both ends of the line count the same packets: none lost, none invented.
    assert r['emulator_packets_per_cycle'] == pytest.approx(r['host_packets_per_cycle'])
    # One sync read and one sync write per cycle; a timed-out read retried under load adds one.
    assert 2.0 <= r['host_packets_per_cycle'] <= 2.2
    assert 0 < r['ours_ms'] < r['cycle_ms']


def _port() -> str:
    port = os.environ.get('SO_ARM_PORT')
    if not port:
        pytest.skip("set SO_ARM_PORT to the arm's serial port")
    return port


@pytest.mark.hardware
def test_hardware_scan_finds_six_sts3215():
    with FeetechBus(_port()) as bus:
        found = bus.scan(range(1, 7))
    assert [(i.servo_id, i.model_number) for i in found] == [(i, 777) for i in range(1, 7)]


@pytest.mark.hardware
def test_hardware_follower_holds_its_pose_and_releases():
    cal = os.environ.get('SO_ARM_CALIBRATION')
    if not cal:
        pytest.skip("set SO_ARM_CALIBRATION to the arm's LeRobot calibration JSON")
    config = ArmConfig(port=_port(), calibration_path=cal, max_relative_target_rad=0.05)
    with SoFollower(config) as arm:
        pose = arm.read_positions()
        result = arm.write_goals(pose)
        assert np.allclose(result.sent_rad, pose, atol=2 * np.pi / 4096)
        again = arm.read_positions()
        assert np.allclose(again, pose, atol=0.05)
        ids = list(arm.ids.values())
        assert set(arm.bus.read(Register.TORQUE_ENABLE, ids).values()) == {1}
    with FeetechBus(_port()) as bus:
        assert set(bus.read(Register.TORQUE_ENABLE, ids).values()) == {0}
