"""``so-arm``: find the port, scan, read, calibrate, set up motors, switch torque.

Every command takes ``input_fn`` and ``out`` through :func:`main`, so the interactive flows run in
tests against the emulator with scripted answers. Errors print one line naming what failed and what
to do: status 2 for a bad argument (found before the port is opened), 1 for a failure at work.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from so_arm_driver.bus import ServoBus, make_bus
from so_arm_driver.calibration import (
    MotorCalibration,
    default_calibration_path,
    home_to_mid,
    load_calibration,
    record_ranges,
    save_calibration,
    write_calibration_to_eeprom,
)
from so_arm_driver.cli_args import (
    OneLineParser,
    UsageError,
    check_output_dir,
    int_in_range,
)
from so_arm_driver.errors import SoArmError, SoArmModelMismatchError
from so_arm_driver.robots import robot_spec
from so_arm_driver.tables import TICKS_PER_REV, Register
from so_arm_driver.units import JointUnits, UnitScheme

InputFn = Callable[[str], str]


def _ports() -> list[str]:
    from serial.tools import list_ports

    return sorted(p.device for p in list_ports.comports())


def cmd_find_port(args: argparse.Namespace, input_fn: InputFn, out: TextIO) -> int:
    before = set(_ports())
    print(f'Ports now: {sorted(before) or "none"}', file=out)
    input_fn("Unplug the USB cable of the arm's bus adapter and press Enter. ")
    after = set(_ports())
    gone = sorted(before - after)
    if len(gone) == 1:
        print(f'The port of this arm is {gone[0]}; plug the cable back in.', file=out)
        return 0
    print(f'Could not tell the port: ports that went away: {gone or "none"}.', file=out)
    return 1


def _bus(args: argparse.Namespace, labels: dict[int, str] | None = None) -> ServoBus:
    return make_bus(args.vendor, args.port, baudrate=args.baudrate, labels=labels)


def _labels(robot: str) -> dict[int, str]:
    return {j.servo_id: j.name for j in robot_spec(robot).joints}


def cmd_scan(args: argparse.Namespace, input_fn: InputFn, out: TextIO) -> int:
    with _bus(args) as bus:
        found = bus.scan(range(args.first_id, args.last_id + 1))
    if args.json:
        print(json.dumps([vars(i) for i in found]), file=out)
    else:
        for info in found:
            print(
                f'id {info.servo_id:3d}  model {info.model_number}  firmware {info.firmware}',
                file=out,
            )
        print(f'{len(found)} servo(s) on {args.port} at {args.baudrate} baud', file=out)
    return 0


def _calibration_path(args: argparse.Namespace) -> Path:
    if args.calibration:
        return Path(args.calibration)
    return default_calibration_path(args.robot_id, args.robot, args.leader)


def cmd_read(args: argparse.Namespace, input_fn: InputFn, out: TextIO) -> int:
    spec = robot_spec(args.robot)
    labels = _labels(args.robot)
    path = _calibration_path(args)
    units = None
    if path.is_file() or args.calibration:
        units = JointUnits(load_calibration(path, spec.joint_names), scheme=args.units)
    with _bus(args, labels) as bus:
        for j in spec.joints:
            bus.ping(j.servo_id)  # names the joint and id of a servo that does not answer
        values = bus.read(Register.PRESENT_POSITION, [j.servo_id for j in spec.joints])
    ticks = [values[j.servo_id] for j in spec.joints]
    rows = []
    rad = units.ticks_to_rad(ticks) if units else [None] * len(ticks)
    lerobot = units.ticks_to_lerobot(ticks) if units else [None] * len(ticks)
    for j, t, r, v in zip(spec.joints, ticks, rad, lerobot, strict=True):
        rows.append(
            {
                'joint': j.name,
                'id': j.servo_id,
                'ticks': int(t),
                'rad': None if r is None else float(r),
                'lerobot': None if v is None else float(v),
            }
        )
    if args.json:
        print(
            json.dumps(
                {'units': args.units, 'calibration': str(path) if units else None, 'joints': rows}
            ),
            file=out,
        )
        return 0
    if units is None:
        print(f'no calibration at {path}: showing raw ticks only', file=out)
    print(f'{"joint":<14} {"id":>3} {"ticks":>6} {"rad":>9} {args.units:>16}', file=out)
    for row in rows:
        rad_s = '-' if row['rad'] is None else f'{row["rad"]:+.4f}'
        ler_s = '-' if row['lerobot'] is None else f'{row["lerobot"]:+.2f}'
        print(
            f'{row["joint"]:<14} {row["id"]:>3} {row["ticks"]:>6} {rad_s:>9} {ler_s:>16}', file=out
        )
    return 0


def cmd_calibrate(args: argparse.Namespace, input_fn: InputFn, out: TextIO) -> int:
    spec = robot_spec(args.robot)
    ids = {j.name: j.servo_id for j in spec.joints}
    path = _calibration_path(args)
    with _bus(args, _labels(args.robot)) as bus:
        for i in ids.values():
            bus.ping(i)
        if args.write_file:
            cal = load_calibration(path, spec.joint_names)
            write_calibration_to_eeprom(bus, cal)
            print(f"wrote {path} to the servos' EEPROM", file=out)
            return 0
        bus.set_torque(False, list(ids.values()))
        input_fn('Move the arm to the middle of its range of motion and press Enter. ')
        offsets = home_to_mid(bus, ids)
        swept = {n: i for n, i in ids.items() if n != 'wrist_roll'}
        stop = threading.Event()
        prompt = 'Move every joint except wrist_roll through its whole range, then press Enter. '
        answer: list[BaseException] = []

        def wait_for_enter() -> None:
            try:
                input_fn(prompt)
            except BaseException as e:  # an aborted prompt must still stop the sweep
                answer.append(e)
            finally:
                stop.set()

        waiter = threading.Thread(target=wait_for_enter, daemon=True)
        waiter.start()
        ranges = record_ranges(bus, swept, stop)
        waiter.join()
        if answer:
            raise answer[0]
        ranges['wrist_roll'] = (0, TICKS_PER_REV - 1)
        still = [n for n, (lo, hi) in ranges.items() if hi - lo < 10]
        if still:
            print(
                f'error: {still} barely moved during the sweep; nothing was saved. Run '
                'calibrate again and move every joint end to end.',
                file=sys.stderr,
            )
            return 1
        cal = {n: MotorCalibration(ids[n], 0, offsets[n], *ranges[n]) for n in spec.joint_names}
        write_calibration_to_eeprom(bus, cal)
    save_calibration(cal, path)
    print(f'calibration saved to {path}', file=out)
    return 0


def cmd_setup_motors(args: argparse.Namespace, input_fn: InputFn, out: TextIO) -> int:
    spec = robot_spec(args.robot)
    target_baud = args.baudrate
    with _bus(args) as bus:
        expected = bus.model_numbers[args.servo_model]
        for joint in reversed(spec.joints):
            input_fn(f"Connect only the '{joint.name}' motor to the bus adapter and press Enter. ")
            found_at = None
            for baud in sorted(bus.baud_codes, reverse=True):
                try:
                    bus.set_baudrate(baud)
                except SoArmError:
                    continue
                ids = bus.broadcast_ping()
                if ids:
                    found_at = (baud, ids)
                    break
            if found_at is None:
                bus.set_baudrate(target_baud)
                raise SoArmError(
                    f'no motor answered on {args.port} at any baud rate while setting up '
                    f"'{joint.name}': check its cable and power"
                )
            baud, ids = found_at
            if len(ids) != 1:
                bus.set_baudrate(target_baud)
                raise SoArmError(
                    f'{len(ids)} motors answered (ids {ids}) while setting up {joint.name!r}: '
                    'connect exactly one motor'
                )
            info = bus.ping(ids[0])
            if info.model_number != expected:
                bus.set_baudrate(target_baud)
                raise SoArmModelMismatchError(
                    f'motor for {joint.name!r} (id {ids[0]}) reports model {info.model_number}, '
                    f'expected {expected} ({args.servo_model})'
                )
            bus.set_torque(False, [ids[0]])
            if ids[0] != joint.servo_id:
                bus.write_one(Register.ID, ids[0], joint.servo_id)
            if baud != target_baud:
                bus.write_one(Register.BAUD_RATE, joint.servo_id, bus.baud_codes[target_baud])
            bus.set_baudrate(target_baud)
            bus.ping(joint.servo_id)  # proves the new id and baud rate
            print(
                f"'{joint.name}' motor set to id {joint.servo_id} at {target_baud} baud", file=out
            )
    return 0


def cmd_torque(args: argparse.Namespace, input_fn: InputFn, out: TextIO) -> int:
    spec = robot_spec(args.robot)
    ids = [j.servo_id for j in spec.joints]
    with _bus(args, _labels(args.robot)) as bus:
        if args.state == 'on':
            present = bus.read(Register.PRESENT_POSITION, ids)
            bus.write(Register.GOAL_POSITION, present)  # hold where it is, no jump
        bus.set_torque(args.state == 'on', ids)
    print(f'torque {args.state} on {len(ids)} joints', file=out)
    return 0


MAX_SERVO_ID = 252  # 253 is reserved and 254 is the broadcast id on both vendors


def _bus_class(vendor: str) -> type[ServoBus]:
    if vendor == 'dynamixel':
        from so_arm_driver.bus.dynamixel import DynamixelBus

        return DynamixelBus
    from so_arm_driver.bus.feetech import FeetechBus

    return FeetechBus


def preflight(args: argparse.Namespace) -> None:
    """Check what argparse cannot (vendor-specific choices, output folders) before any work.

    Raises:
        UsageError: naming the argument, what was given and what is allowed.
    """
    vendor = getattr(args, 'vendor', None)
    if vendor is None:
        return
    bus = _bus_class(vendor)
    if args.baudrate not in bus.baud_codes:
        raise UsageError(
            f'argument --baudrate: {vendor} servos do not support {args.baudrate}; choose one of '
            f'{sorted(bus.baud_codes)}'
        )
    if args.command == 'scan' and args.first_id > args.last_id:
        raise UsageError(f'argument --first-id: {args.first_id} is above --last-id {args.last_id}')
    if args.command == 'setup-motors' and args.servo_model not in bus.model_numbers:
        raise UsageError(
            f'argument --servo-model: unknown {vendor} model {args.servo_model!r}; choose one of '
            f'{sorted(bus.model_numbers)}'
        )
    if args.command == 'calibrate' and not args.write_file:
        # The calibration is saved at the end of an interactive session: find out now.
        check_output_dir(_calibration_path(args).parent, '--calibration')


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog='so-arm', description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command', required=True, parser_class=OneLineParser)

    def bus_args(p: argparse.ArgumentParser, robot: bool = True) -> None:
        p.add_argument('--port', required=True, help='serial port, e.g. /dev/ttyACM0')
        p.add_argument(
            '--baudrate', type=int, default=1_000_000, help="bits per second (the vendor's rates)"
        )
        p.add_argument('--vendor', choices=('feetech', 'dynamixel'), default='feetech')
        if robot:
            p.add_argument('--robot', choices=('so101', 'so100'), default='so101')

    def cal_args(p: argparse.ArgumentParser) -> None:
        p.add_argument('--calibration', help="calibration JSON (default: LeRobot's location)")
        p.add_argument('--robot-id', default='follower', help='LeRobot arm id (file name)')
        p.add_argument('--leader', action='store_true', help='a leader arm (teleoperators/)')

    p = sub.add_parser('find-port', help="find the arm's port by unplugging it")
    p.set_defaults(func=cmd_find_port)
    p = sub.add_parser('scan', help='list the servos that answer')
    bus_args(p, robot=False)
    p.add_argument('--first-id', type=int_in_range(0, MAX_SERVO_ID), default=0)
    p.add_argument('--last-id', type=int_in_range(0, MAX_SERVO_ID), default=20)
    p.add_argument('--json', action='store_true')
    p.set_defaults(func=cmd_scan)
    p = sub.add_parser('read', help='read every joint: ticks, radians, LeRobot units')
    bus_args(p)
    cal_args(p)
    p.add_argument(
        '--units',
        choices=[s.value for s in UnitScheme if s is not UnitScheme.LEGACY],
        default=UnitScheme.DEGREES.value,
    )
    p.add_argument('--json', action='store_true')
    p.set_defaults(func=cmd_read)
    p = sub.add_parser('calibrate', help='interactive calibration (mid pose, range sweep)')
    bus_args(p)
    cal_args(p)
    p.add_argument(
        '--write-file',
        action='store_true',
        help='write an existing calibration file to the servos instead',
    )
    p.set_defaults(func=cmd_calibrate)
    p = sub.add_parser('setup-motors', help='assign ids and baud rate, one motor at a time')
    bus_args(p)
    p.add_argument('--servo-model', default='sts3215', help='e.g. sts3215 (feetech)')
    p.set_defaults(func=cmd_setup_motors)
    p = sub.add_parser('torque', help='switch torque on or off on every joint')
    p.add_argument('state', choices=('on', 'off'))
    bus_args(p)
    p.set_defaults(func=cmd_torque)
    return parser


def main(
    argv: Sequence[str] | None = None, input_fn: InputFn = input, out: TextIO | None = None
) -> int:
    """Run ``so-arm``; returns the exit status (0 success, 1 error, 2 usage).

    Usage errors (status 2) are found before any work: no port is opened, nothing is written.
    """
    out = out or sys.stdout
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse: usage error (2) or --help (0), already printed
        return int(e.code or 0)
    try:
        preflight(args)
    except UsageError as e:
        print(f'so-arm {args.command}: error: {e}', file=sys.stderr)
        return 2
    try:
        return int(args.func(args, input_fn, out))
    except (SoArmError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    except (KeyboardInterrupt, EOFError):
        print('aborted', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
