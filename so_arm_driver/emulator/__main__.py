"""Run an emulated SO-101 follower on a pty for dry runs: prints the port, serves until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import time

from so_arm_driver.emulator.feetech import so_arm_emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--robot', choices=('so101', 'so100'), default='so101')
    args = parser.parse_args(argv)
    with so_arm_emulator(args.robot) as emu:
        print(emu.port, flush=True)
        try:
            while True:
                time.sleep(1.0)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
