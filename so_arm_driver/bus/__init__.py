"""Servo buses: one narrow interface (``ServoBus``), a Feetech and a Dynamixel implementation."""

from so_arm_driver.bus.base import CommResult, ServoBus, ServoInfo

__all__ = ['CommResult', 'ServoBus', 'ServoInfo', 'make_bus']


def make_bus(vendor: str, port: str, **kwargs: object) -> ServoBus:
    """Build the bus of ``vendor`` ('feetech' or 'dynamixel') on serial ``port`` (not opened yet).

    Raises:
        SoArmConfigError: for an unknown vendor.
    """
    from so_arm_driver.errors import SoArmConfigError

    if vendor == 'feetech':
        from so_arm_driver.bus.feetech import FeetechBus

        return FeetechBus(port, **kwargs)  # type: ignore[arg-type]
    if vendor == 'dynamixel':
        from so_arm_driver.bus.dynamixel import DynamixelBus

        return DynamixelBus(port, **kwargs)  # type: ignore[arg-type]
    raise SoArmConfigError(f"unknown servo vendor {vendor!r}; choose 'feetech' or 'dynamixel'")
