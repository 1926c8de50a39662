"""Camera frames -> the model's image tensors: validate, resize with padding, map to [-1, 1].

Accepted frames (numpy arrays or torch tensors):

* ``uint8`` in HWC layout, ``[H, W, 3]`` or ``[B, H, W, 3]`` (what OpenCV / cv_bridge give, RGB
  order), values 0..255;
* floating point in CHW layout, ``[3, H, W]`` or ``[B, 3, H, W]``, values in [0, 1] (LeRobot's
  dataset layout).

The two layouts are told apart by dtype, never guessed from the shape, so a 3x3 image is not
ambiguous. Everything else is refused with an ``InputError`` (a
``ValueError``) naming the camera.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from smolvla_model.errors import InputError

# Float frames may overshoot [0, 1] by rounding (e.g. after a colour conversion); more than this
# means the caller passed 0..255 floats.
_RANGE_TOLERANCE = 1e-4


def _as_tensor(frame: Any, name: str) -> torch.Tensor:
    if isinstance(frame, torch.Tensor):
        return frame.detach()
    if isinstance(frame, np.ndarray):
        if frame.dtype == object or not (
            np.issubdtype(frame.dtype, np.number) or frame.dtype == np.bool_
        ):
            raise InputError(f'image {name!r}: expected a numeric array, got dtype {frame.dtype}')
        frame = np.ascontiguousarray(frame)
        if not frame.flags.writeable:
            # Frames from the suite's sources are read-only views; torch warns on (and must not
            # be able to write through) such an array. Frames are only read here, and a copy of
            # one camera image is small next to the model's work.
            frame = frame.copy()
        return torch.from_numpy(frame)
    raise InputError(
        f'image {name!r}: expected a numpy array or torch tensor, got {type(frame).__name__}'
    )


def frame_to_float_chw(frame: Any, name: str) -> torch.Tensor:
    """Validate one camera's frame(s) and return float32 [B, 3, H, W] in [0, 1].

    Args:
        frame: uint8 [H, W, 3] / [B, H, W, 3], or float [3, H, W] / [B, 3, H, W] in [0, 1].
        name: the camera's name, for error messages.

    Raises:
        InputError: wrong type or dtype, wrong number of dimensions, channel count other than 3,
            empty image, NaN/inf, or float values outside [0, 1].
    """
    x = _as_tensor(frame, name)
    if x.dtype == torch.uint8:
        if x.ndim not in (3, 4):
            raise InputError(
                f'image {name!r}: uint8 frames must be HWC [H, W, 3] or [B, H, W, 3], '
                f'got shape {tuple(x.shape)}'
            )
        if x.shape[-1] != 3:
            raise InputError(
                f'image {name!r}: expected 3 channels (RGB) in the last axis of a uint8 HWC '
                f'frame, got shape {tuple(x.shape)} with {x.shape[-1]} channels'
            )
        if x.ndim == 3:
            x = x.unsqueeze(0)
        # Make the CHW copy while still uint8 (4x fewer bytes); interpolating a channels-last
        # float view is markedly slower on the CPU.
        x = x.permute(0, 3, 1, 2).contiguous().to(torch.float32) / 255.0
    elif x.is_floating_point():
        if x.ndim not in (3, 4):
            raise InputError(
                f'image {name!r}: float frames must be CHW [3, H, W] or [B, 3, H, W] in [0, 1], '
                f'got shape {tuple(x.shape)}'
            )
        if x.shape[-3] != 3:
            raise InputError(
                f'image {name!r}: expected 3 channels (RGB) in axis -3 of a float CHW frame, '
                f'got shape {tuple(x.shape)} with {x.shape[-3]} channels'
            )
        if x.ndim == 3:
            x = x.unsqueeze(0)
        x = x.to(torch.float32)
        if x.numel() and not bool(torch.isfinite(x).all()):
            raise InputError(f'image {name!r}: contains NaN or inf')
        if x.numel():
            lo, hi = float(x.min()), float(x.max())
            if lo < -_RANGE_TOLERANCE or hi > 1 + _RANGE_TOLERANCE:
                raise InputError(
                    f'image {name!r}: float frames must be in [0, 1], got values in '
                    f'[{lo:.4g}, {hi:.4g}]; pass uint8 HWC, or divide by 255'
                )
    else:
        raise InputError(
            f'image {name!r}: expected dtype uint8 (HWC, 0..255) or float (CHW, 0..1), '
            f'got {x.dtype}'
        )
    if x.shape[0] == 0 or x.shape[-1] == 0 or x.shape[-2] == 0:
        raise InputError(f'image {name!r}: empty image, shape {tuple(x.shape)} after batching')
    return x


def resize_with_pad(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Fit images into (height, width) keeping the aspect ratio; pad on the left and top with 0.

    Matches LeRobot's SmolVLA: one scale factor ``max(W / width, H / height)``, sizes truncated
    to int, bilinear interpolation with ``align_corners=False`` and *no* antialiasing (what the
    checkpoints were trained with), then zero padding before the image on both axes.

    Args:
        images: float [B, C, H, W].
        height, width: target size in pixels.

    Returns:
        float [B, C, height, width].
    """
    if images.ndim != 4:
        raise InputError(f'resize_with_pad expects [B, C, H, W], got {tuple(images.shape)}')
    cur_h, cur_w = images.shape[-2:]
    ratio = max(cur_w / width, cur_h / height)
    new_h, new_w = int(cur_h / ratio), int(cur_w / ratio)
    resized = F.interpolate(
        images, size=(new_h, new_w), mode='bilinear', align_corners=False, antialias=False
    )
    pad_h, pad_w = max(0, height - new_h), max(0, width - new_w)
    # F.pad's order is (left, right, top, bottom): all padding goes left and top.
    return F.pad(resized, (pad_w, 0, pad_h, 0), value=0.0)


def prepare_image(frame: Any, name: str, size_hw: tuple[int, int] | None) -> torch.Tensor:
    """One camera's frame(s) -> float32 [B, 3, H, W] in [-1, 1], as the model consumes it.

    Args:
        frame: see ``frame_to_float_chw``.
        name: the camera's name, for error messages.
        size_hw: target (height, width), or None to keep the frame's size.

    Raises:
        InputError: see ``frame_to_float_chw``.
    """
    x = frame_to_float_chw(frame, name)
    if size_hw is not None:
        x = resize_with_pad(x, *size_hw)
    return x * 2.0 - 1.0
