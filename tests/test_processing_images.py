"""Image pre-processing: LeRobot's resize-with-pad reproduced, layouts, and bad frames refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from smolvla_model.processing.images import frame_to_float_chw, prepare_image, resize_with_pad

FIXTURE = Path(__file__).parent / 'fixtures' / 'smolvla_parity'


@pytest.mark.parametrize('variant', ['micro_fp32', 'micro_hubdtype'])
@pytest.mark.parametrize('index', [0, 1, 2])
def test_reproduces_lerobot_reference_images(variant: str, index: int) -> None:
    # image0 is 96x128 (letterboxed: 48x64 plus 16 rows of top padding), image1 80x80
    # (downscaled without antialias), image2 64x64 (unchanged size).
    io = np.load(FIXTURE / variant / 'io.npz')
    out = prepare_image(io[f'image{index}'], f'image{index}', (64, 64))
    np.testing.assert_allclose(out.numpy(), io[f'image{index}_pre'], rtol=0, atol=1e-6)


def test_letterbox_pads_top_rows_with_black() -> None:
    # A 2x4 white image into 4x4: scale 1 (width already fits), so 2 rows of padding on top.
    # White maps to +1, the zero padding to -1.
    img = torch.ones(1, 3, 2, 4)
    out = prepare_image(img, 'cam', (4, 4))
    assert out.shape == (1, 3, 4, 4)
    assert torch.equal(out[:, :, :2], torch.full((1, 3, 2, 4), -1.0))
    assert torch.equal(out[:, :, 2:], torch.ones(1, 3, 2, 4))


def test_tall_image_pads_left_columns() -> None:
    # 8x2 into 4x4: scale 2 -> 4x1, so 3 columns of padding on the left.
    out = resize_with_pad(torch.full((1, 3, 8, 2), 0.5), 4, 4)
    assert torch.equal(out[..., :3], torch.zeros(1, 3, 4, 3))
    assert torch.allclose(out[..., 3:], torch.full((1, 3, 4, 1), 0.5))


def test_bilinear_without_antialias_on_a_known_pattern() -> None:
    # Halving a width-4 ramp [0, 1, 2, 3] with align_corners=False samples at x = 0.5 and 2.5:
    # (0+1)/2 and (2+3)/2. With antialias the outputs would average wider windows instead.
    ramp = torch.arange(4.0).repeat(1, 3, 4, 1) / 3.0
    out = resize_with_pad(ramp, 2, 2)
    np.testing.assert_allclose(out[0, 0, 0].numpy(), [0.5 / 3.0, 2.5 / 3.0], atol=1e-7)


def test_uint8_hwc_equals_float_chw() -> None:
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, size=(2, 30, 40, 3), dtype=np.uint8)
    as_float = np.transpose(u8, (0, 3, 1, 2)).astype(np.float32) / 255.0
    a = prepare_image(u8, 'cam', (16, 16))
    b = prepare_image(as_float, 'cam', (16, 16))
    assert a.shape == (2, 3, 16, 16)
    assert torch.allclose(a, b, atol=1e-6)
    assert float(a.min()) >= -1.0 and float(a.max()) <= 1.0


def test_unbatched_frame_gets_a_batch_axis_and_no_resize_keeps_size() -> None:
    out = prepare_image(np.zeros((5, 7, 3), np.uint8), 'cam', None)
    assert out.shape == (1, 3, 5, 7)
    assert torch.equal(out, torch.full((1, 3, 5, 7), -1.0))


@pytest.mark.parametrize(
    ('frame', 'match'),
    [
        (np.zeros((8, 8, 3), np.int32), 'expected dtype uint8'),
        (np.zeros((8, 8, 3), np.bool_), 'expected dtype uint8'),
        (np.zeros((8, 8, 4), np.uint8), '3 channels'),
        (np.zeros((8, 8, 1), np.uint8), '3 channels'),
        (np.zeros((3, 8, 8), np.uint8), '3 channels'),  # uint8 must be HWC
        (np.zeros((8, 8, 3), np.float32), '3 channels'),  # float must be CHW
        (np.zeros((1, 8, 8), np.float32), '3 channels'),
        (np.zeros((8, 8), np.uint8), 'HWC'),
        (np.zeros((1, 1, 3, 8, 8), np.float32), 'CHW'),
        (np.full((3, 8, 8), 255.0, np.float32), r'in \[0, 1\]'),
        (np.full((3, 8, 8), np.nan, np.float32), 'NaN'),
        (np.zeros((0, 8, 8, 3), np.uint8), 'empty'),
        ([[0, 1, 2]], 'numpy array or torch tensor'),
    ],
)
def test_bad_frames_raise_value_error_naming_the_camera(frame: object, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        frame_to_float_chw(frame, 'wrist')
    assert "'wrist'" in str(info.value)
