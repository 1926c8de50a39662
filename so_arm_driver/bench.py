"""Benchmark: read+write cycles of a 6-servo SO follower through the pty emulator at 1 Mbps.

Run: ``python -m so_arm_driver.bench [--cycles 2000] [--json]``.

One cycle is what a control loop does: ``read_positions()`` (one SYNC_READ of Present_Position,
six status packets) then ``write_goals()`` (clamping, unit conversion, one SYNC_WRITE).

A pty has no baud-rate timing: bytes move as fast as the kernel copies them, so the measured rate
is not the wire's. The report therefore separates three numbers:
- ``ours``: wall time per cycle minus the time spent inside the vendor SDK's calls (our Python:
  validation, clamping, conversions, retries bookkeeping, input flush);
- ``sdk+line+emulator``: time inside the SDK calls, which includes the pty round trip and the
  emulator's answer (the emulator runs in a thread of this process, so it competes for the GIL);
- the wire's theoretical bound at the configured baud rate, from the packet sizes (10 bits a byte,
  return delay 0), which is what a real bus would cost instead of the pty.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def wire_bound(n_servos: int, baudrate: int = 1_000_000) -> dict[str, float]:
    """Bytes and seconds one read+write cycle needs on the wire (protocol 0, 2-byte registers).

    SYNC_READ request: FF FF FE len inst addr size ids... chk = 7 + n + 1 bytes;
    each status packet: FF FF id len err d0 d1 chk = 8 bytes;
    SYNC_WRITE: FF FF FE len inst addr size (id d0 d1)*n chk = 8 + 3n bytes.
    """
    read_req = 8 + n_servos
    replies = 8 * n_servos
    write = 8 + 3 * n_servos
    total = read_req + replies + write
    seconds = total * 10 / baudrate
    return {'bytes': total, 'cycle_s': seconds, 'max_hz': 1.0 / seconds}


def run(cycles: int = 2000, warmup: int = 100) -> dict[str, float]:
    """Run the benchmark and return its figures (times in milliseconds per cycle)."""
    from so_arm_driver.calibration import MotorCalibration, save_calibration
    from so_arm_driver.emulator import so_arm_emulator
    from so_arm_driver.follower import ArmConfig, SoFollower
    from so_arm_driver.robots import robot_spec
    from so_arm_driver.tables import Register, encode_sign_magnitude

    spec = robot_spec('so101')
    with so_arm_emulator('so101') as emu, tempfile.TemporaryDirectory() as tmp:
        cal = {j.name: MotorCalibration(j.servo_id, 0, 0, 1024, 3072) for j in spec.joints}
        cal['wrist_roll'] = MotorCalibration(5, 0, 0, 0, 4095)
        for c in cal.values():
            s = emu.servo(c.id)
            s.set(Register.HOMING_OFFSET, encode_sign_magnitude(c.homing_offset, 11))
            s.set(Register.MIN_POSITION_LIMIT, c.range_min)
            s.set(Register.MAX_POSITION_LIMIT, c.range_max)
        path = save_calibration(cal, Path(tmp) / 'bench.json')
        arm = SoFollower(ArmConfig(port=emu.port, calibration_path=path))
        sdk_time = [0.0]
        sent = [0]  # raw transactions, i.e. packets we put on the line (retries included)

        def timed(fn):
            @functools.wraps(fn)
            def wrapper(*args, **kwargs):
                sent[0] += 1
                t0 = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    sdk_time[0] += time.perf_counter() - t0

            return wrapper

        with arm:
            bus = arm.bus
            bus._raw_sync_read = timed(bus._raw_sync_read)  # type: ignore[method-assign]
            bus._raw_sync_write = timed(bus._raw_sync_write)  # type: ignore[method-assign]
            # After a timed-out try the bus re-synchronises with a marker read: a packet too.
            bus._raw_resync = timed(bus._raw_resync)  # type: ignore[method-assign]
            t = np.linspace(0, 2 * np.pi, cycles + warmup)
            goals = 0.3 * np.sin(t)[:, None] * np.ones(len(spec.joints))[None, :]
            for k in range(warmup):
                arm.read_positions()
                arm.write_goals(goals[k])
            # A ping's answers only leave the emulator after every earlier packet (and the ping's
            # own) was counted, so it is a barrier: the counters below are exact. Its own packet
            # count (ping plus firmware reads) is measured, not assumed.
            barrier = functools.partial(bus.ping, spec.joints[0].servo_id)
            barrier()
            before = emu.packets
            barrier()
            barrier_packets = emu.packets - before
            sdk_time[0] = 0.0
            sent[0] = 0
            busy0, packets0 = emu.busy_s, emu.packets
            start = time.perf_counter()
            for k in range(warmup, warmup + cycles):
                arm.read_positions()
                arm.write_goals(goals[k])
            wall = time.perf_counter() - start
            barrier()
            emulator_s = emu.busy_s - busy0
            packets = emu.packets - packets0 - barrier_packets
            host_sent = sent[0]  # before close(), whose torque-off broadcast is no cycle's
    bound = wire_bound(len(spec.joints))
    return {
        'cycles': cycles,
        'cycle_ms': 1e3 * wall / cycles,
        'rate_hz': cycles / wall,
        'ours_ms': 1e3 * (wall - sdk_time[0]) / cycles,
        'sdk_line_emulator_ms': 1e3 * sdk_time[0] / cycles,
        'emulator_busy_ms': 1e3 * emulator_s / cycles,
        'emulator_packets_per_cycle': packets / cycles,
        'host_packets_per_cycle': host_sent / cycles,
        'wire_bytes_per_cycle': bound['bytes'],
        'wire_bound_ms': 1e3 * bound['cycle_s'],
        'wire_bound_hz': bound['max_hz'],
        'estimated_real_bus_hz': 1.0 / (bound['cycle_s'] + (wall - sdk_time[0]) / cycles),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--cycles', type=int, default=2000)
    parser.add_argument('--warmup', type=int, default=100)
    parser.add_argument('--json', action='store_true')
    args = parser.parse_args(argv)
    r = run(args.cycles, args.warmup)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f'6 STS3215 on the pty emulator, {r["cycles"]} read+write cycles')
    print(f'  measured cycle            {r["cycle_ms"]:.3f} ms  ({r["rate_hz"]:.0f} Hz)')
    print(f'  our Python per cycle      {r["ours_ms"]:.3f} ms  (target <= 2 ms)')
    print(
        f'  SDK + pty + emulator      {r["sdk_line_emulator_ms"]:.3f} ms '
        f'(emulator itself {r["emulator_busy_ms"]:.3f} ms)'
    )
    print(
        f'  wire bound at 1 Mbps      {r["wire_bound_ms"]:.3f} ms  ({r["wire_bound_hz"]:.0f} Hz, '
        f'{r["wire_bytes_per_cycle"]} bytes)'
    )
    print(
        f'  est. real bus (wire+ours) {r["estimated_real_bus_hz"]:.0f} Hz, excluding USB latency'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
