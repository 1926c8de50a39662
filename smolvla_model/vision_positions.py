"""Position ids of the SmolVLM vision tower's patches, computed here rather than by transformers.

Why this module exists: between transformers 4.55 and 4.57 (huggingface/transformers#41190, fixed
for 5.x by #41374), Idefics3/SmolVLM computed each patch's fractional coordinate as
``i / n * (1 - 1e-6)`` in the pixel dtype before bucketizing it. In float32 that lands every
coordinate just below its bucket boundary, so rows and columns 1..n-1 take the id of the previous
patch (per axis 0, 0, 1, 2, ... instead of 0, 1, 2, 3, ...). In bfloat16 the factor rounds to 1.0
and the ids come out right. LeRobot 0.4.x on transformers 4.55-4.57 therefore runs an fp32 vision
tower with shifted position ids (its parity fixture shows it), while checkpoints trained with a
bf16 VLM, or before 4.55, used the exact ids.

Computing the ids here keeps this package's numerics independent of the installed transformers,
and lets the caller choose:

- ``exact``: ids 0..N-1 in row-major order, what SmolVLM was trained with (the default);
- ``hf-4.55-fp32``: the regression, to reproduce outputs of LeRobot running on transformers
  4.55-4.57 with an fp32 vision tower (the parity fixtures were made that way).
"""

from __future__ import annotations

import torch

VISION_POSITION_MODES = ('exact', 'hf-4.55-fp32')


def vision_position_ids(
    rows: int, cols: int, patches_per_side: int, mode: str = 'exact'
) -> torch.Tensor:
    """Position-embedding ids for a full (unmasked) grid of ``rows`` x ``cols`` patches.

    Args:
        rows, cols: patches along the image height and width.
        patches_per_side: the tower's ``image_size // patch_size`` (its position-table side).
        mode: one of ``VISION_POSITION_MODES``.

    Returns:
        int64 tensor [rows * cols], row-major.

    Raises:
        ValueError: unknown mode.
    """
    if mode not in VISION_POSITION_MODES:
        raise ValueError(
            f'vision position mode {mode!r} is unknown; choose one of {VISION_POSITION_MODES}'
        )
    boundaries = torch.arange(1 / patches_per_side, 1.0, 1 / patches_per_side)

    def buckets(n: int) -> torch.Tensor:
        if mode == 'exact':
            coords = torch.arange(0, 1 - 1e-6, 1 / n)
        else:
            coords = torch.arange(n, dtype=torch.float32) / n * (1 - 1e-6)
        return torch.bucketize(coords, boundaries, right=True)

    return (buckets(rows)[:, None] * patches_per_side + buckets(cols)[None, :]).flatten()


def mode_for_reference(transformers_version: str, vision_dtype: str) -> str:
    """The mode that reproduces a reference made with ``transformers_version``.

    Only an fp32 (or fp16) vision tower on transformers 4.55-4.x is affected; bf16 rounds the
    factor away.
    """
    parts = transformers_version.split('.')
    major, minor = int(parts[0]), int(parts[1])
    affected = major == 4 and minor >= 55
    return 'hf-4.55-fp32' if affected and 'bfloat16' not in vision_dtype else 'exact'
