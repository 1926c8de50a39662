"""The one place that imports the vendor SDKs, lazily, with an install hint when one is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from so_arm_driver.errors import SoArmSdkMissingError

_SDKS = {
    'feetech': ('scservo_sdk', 'feetech-servo-sdk'),
    'dynamixel': ('dynamixel_sdk', 'dynamixel-sdk'),
}


def load_sdk(vendor: str) -> ModuleType:
    """Import and return the SDK module of ``vendor`` ('feetech' or 'dynamixel').

    Raises:
        SoArmSdkMissingError: if the SDK is not installed (the message says what to pip install).
    """
    module, dist = _SDKS[vendor]
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise SoArmSdkMissingError(
            f'the {vendor} servo SDK ({module}) is not installed: run `pip install {dist}` '
            f"or `pip install 'smolvla_ros[hardware]'`"
        ) from e
