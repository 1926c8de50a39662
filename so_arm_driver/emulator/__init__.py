"""Servo-bus emulators on a pseudo-terminal, for tests, benchmarks and dry runs without an arm.

They speak the real wire protocols (Feetech protocol 0, Dynamixel protocol 2.0) on the master side
of a pty; the real SDKs open the slave path through pyserial, unmodified. Each servo has its own
register memory, and faults can be injected per servo (silence, corrupt checksums, delays, error
bits, a wrong model number).

Run one for a dry run: ``python -m so_arm_driver.emulator`` prints the port to give ``so-arm``.
"""

from so_arm_driver.emulator.dynamixel import DynamixelEmulator, EmulatedDynamixel
from so_arm_driver.emulator.feetech import EmulatedFeetechServo, FeetechEmulator, so_arm_emulator
from so_arm_driver.emulator.pty_bus import PtyBusEmulator

__all__ = [
    'DynamixelEmulator',
    'EmulatedDynamixel',
    'EmulatedFeetechServo',
    'FeetechEmulator',
    'PtyBusEmulator',
    'so_arm_emulator',
]
