"""``python -m smolvla_model.parity FIXTURE_DIR``: compare this implementation with LeRobot's.

FIXTURE_DIR holds config.json, model.safetensors, io.npz and harness.json in the format of
``tests/fixtures/smolvla_parity`` (its README). The fixture's files are read and checked first;
then the checkpoint is loaded through the public loader, the recorded inputs and noise are fed
in, and the max abs error of every recorded output is printed next to its tolerance
(:func:`tolerances_for`). Exit status: 0 when every output is within tolerance, 1 when any is
beyond it, 2 on unusable input (a one-line ``error:`` naming the file, before any model work).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smolvla_model.batch import ModelInputs
from smolvla_model.config import SmolVLAConfig
from smolvla_model.errors import InputError, SmolVLAError

OUTPUTS = ('prefix_embs', 'v_t', 'x_t', 'actions_padded', 'actions')
INPUTS = ('state', 'noise', 'lang_tokens', 'lang_masks')

# fp32 mode: LeRobot reloading its own files agrees to 6e-7 and our fused attention kernel sums
# in another order (5e-7); 1e-4 leaves two orders of magnitude for other fp32 kernels. fp32
# results differ between instruction sets only by summation order, so this holds on any CPU.
FP32_ATOL = 1e-4
# bf16 keeps an 8-bit significand (7 stored + 1 implicit): round-to-nearest is exact to within
# half an ulp, i.e. a relative error of at most u = 2^-8 ~= 3.9e-3 per rounding.
BF16_UNIT_ROUNDOFF = 2.0**-8


def bf16_atol(max_abs_velocity: float, num_layers: int) -> float:
    """Max |diff| allowed between two correct bf16 computations of the velocity field.

    Derivation. In the bf16 ("hub") dtype mix the transformer layers of the VLM and the action
    expert run in bf16; every layer writes twice into its residual stream (attention, MLP), and
    each write is rounded to bf16, a relative error of at most u = 2^-8 of the stream's
    magnitude. The velocity is a linear read-out of the expert's last hidden state, so its error
    is of the order of the stream's relative error times the velocity's scale, max |v|. Along the
    path to v there are n = 2 * num_layers such roundings. Two correct kernels (AVX-512-BF16's
    dot-product instruction, AVX2's convert-and-FMA) accumulate the same products in a
    different order, so their fp32 sums differ in the last fp32 bits and some bf16 roundings land
    one ulp apart. Those disagreements have random signs, so they add like a random walk: one
    computation's relative error is about sqrt(n) * u, the difference of two independent ones
    sqrt(2) times that. Hence::

        atol = sqrt(2 * n) * u * max|v| = sqrt(4 * num_layers) * 2^-8 * max|v|

    It grows with depth (a full-size SmolVLA, 16 + 16 layers, gets 8 u) rather than being fixed
    to one fixture. The Euler sum x_{k+1} = x_k + dt * v_k is done in fp32 and sum |dt| = 1 (t
    runs from 1 to 0), so by the triangle inequality the positions and actions inherit the same
    bound.

    Args:
        max_abs_velocity: the reference's largest |v_t| (normalized action units per unit t).
        num_layers: bf16 transformer layers on the path to v (VLM layers + expert layers).
    Raises:
        InputError: ``max_abs_velocity`` is negative or not finite, or ``num_layers`` < 1.
    """
    if not (math.isfinite(max_abs_velocity) and max_abs_velocity >= 0):
        raise InputError(f'max_abs_velocity must be finite and >= 0, got {max_abs_velocity}')
    if num_layers < 1:
        raise InputError(f'num_layers must be >= 1, got {num_layers}')
    return math.sqrt(4 * num_layers) * BF16_UNIT_ROUNDOFF * max_abs_velocity


def tolerances_for(
    dtype_mode: str, config: SmolVLAConfig, io: Mapping[str, np.ndarray]
) -> dict[str, float]:
    """Default tolerance (max |diff|) per recorded output of a fixture; see :func:`bf16_atol`.

    ``dtype_mode`` is harness.json's: 'fp32' gives :data:`FP32_ATOL` everywhere; any other value
    (LeRobot's 'hub' bf16 mix) gives the bf16 bound on v_t, x_t and the actions, and keeps the
    fp32 tolerance on prefix_embs: the prefix is the fp32 vision tower, the fp32 state
    projection and exact bf16 table look-ups scaled elementwise (correctly rounded on every
    instruction set), with no bf16 reduction whose order could differ.
    """
    if dtype_mode == 'fp32':
        return dict.fromkeys(OUTPUTS, FP32_ATOL)
    layers = config.num_vlm_layers + config.expert_num_layers
    bound = bf16_atol(float(np.abs(io['v_t']).max()), layers)
    return {'prefix_embs': FP32_ATOL, **dict.fromkeys(OUTPUTS[1:], bound)}


@dataclass
class ParityFixture:
    """A parity fixture folder, read and checked (nothing of the model is built yet)."""

    path: Path
    harness: dict[str, Any]
    config: SmolVLAConfig
    io: dict[str, np.ndarray]

    @property
    def dtype_mode(self) -> str:
        return str(self.harness.get('dtype_mode', 'fp32'))

    @property
    def num_cameras(self) -> int:
        return sum(1 for k in self.io if k.startswith('image') and k.endswith('_pre'))

    def tolerances(self) -> dict[str, float]:
        """:func:`tolerances_for` this fixture."""
        return tolerances_for(self.dtype_mode, self.config, self.io)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError as e:
        raise InputError(f'{path}: missing (the fixture needs its io.npz)') from e
    # A non-zip file surfaces as ValueError (numpy refuses to unpickle it); a truncated or
    # damaged zip as BadZipFile (no central directory, bad CRC), EOFError or zlib.error.
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise InputError(f'{path}: not a readable .npz archive ({type(e).__name__}: {e})') from e


def load_fixture(fixture: str | Path) -> ParityFixture:
    """Read and check a fixture folder: harness.json, config.json and io.npz.

    Raises:
        InputError: a file is missing or unreadable, io.npz lacks an array, or an array's shape
            does not fit the config (e.g. a state wider than ``max_state_dim``).
        ConfigError: config.json is invalid.
    """
    path = Path(fixture)
    if not path.is_dir():
        raise InputError(f'{path}: not a folder (expected a parity fixture folder)')
    try:
        harness = json.loads((path / 'harness.json').read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f'{path / "harness.json"}: cannot read JSON ({e})') from e
    if not isinstance(harness, dict):
        raise InputError(f'{path / "harness.json"}: expected a JSON object')
    config = SmolVLAConfig.from_json(path)
    npz = path / 'io.npz'
    io = _read_npz(npz)
    missing = [k for k in (*INPUTS, *OUTPUTS) if k not in io]
    if missing:
        raise InputError(f'{npz}: missing arrays {missing}')
    n_cams = sum(1 for k in io if k.startswith('image') and k.endswith('_pre'))
    absent = [f'image{i}_mask' for i in range(n_cams) if f'image{i}_mask' not in io]
    absent += [f'image{i}_pre' for i in range(n_cams) if f'image{i}_pre' not in io]
    if n_cams == 0 or absent:
        raise InputError(f'{npz}: needs image{{i}}_pre and image{{i}}_mask for i = 0..N-1')
    state = io['state']
    if state.ndim != 2:
        raise InputError(f'{npz}: state must be [B, D], got shape {state.shape}')
    if state.shape[1] > config.max_state_dim:
        raise InputError(
            f'{npz}: state is {state.shape[1]} wide but the model takes at most '
            f'max_state_dim={config.max_state_dim} (config.json); it would be cut off'
        )
    # Shapes the model will produce or consume, so a mismatch is reported here by name rather
    # than as a broadcasting error after the model has run.
    b, chunk, width = state.shape[0], config.chunk_size, config.max_action_dim
    w, h = config.resize_imgs_with_padding
    want = {
        'noise': (b, chunk, width),
        'v_t': (config.num_steps, b, chunk, width),
        'x_t': (config.num_steps, b, chunk, width),
        'actions_padded': (b, chunk, width),
        'lang_masks': io['lang_tokens'].shape,
        **{f'image{i}_pre': (b, 3, h, w) for i in range(n_cams)},
        **{f'image{i}_mask': (b,) for i in range(n_cams)},
    }
    for key, shape in want.items():
        if io[key].shape != tuple(shape):
            raise InputError(f'{npz}: {key} must have shape {tuple(shape)}, got {io[key].shape}')
    if io['lang_tokens'].ndim != 2 or io['lang_tokens'].shape[0] != b:
        raise InputError(f'{npz}: lang_tokens must be [{b}, L], got {io["lang_tokens"].shape}')
    actions = io['actions'].shape
    if len(actions) != 3 or actions[:2] != (b, chunk) or not 1 <= actions[2] <= width:
        raise InputError(f'{npz}: actions must be [{b}, {chunk}, <= {width}], got {actions}')
    prefix = io['prefix_embs'].shape
    if len(prefix) != 3 or prefix[0] != b:
        raise InputError(f'{npz}: prefix_embs must be [{b}, P, D], got {prefix}')
    bad = [
        k for k in (*INPUTS, *OUTPUTS) if io[k].dtype.kind == 'f' and not np.isfinite(io[k]).all()
    ]
    if bad:
        raise InputError(f'{npz}: non-finite values in {bad}')
    return ParityFixture(path=path, harness=harness, config=config, io=io)


def _inputs(io: Mapping[str, np.ndarray], n_cams: int, max_state_dim: int) -> ModelInputs:
    t = torch.from_numpy
    state = t(io['state'])
    if state.shape[1] > max_state_dim:  # F.pad with a negative width would silently truncate
        raise InputError(f'state is {state.shape[1]} wide but max_state_dim is {max_state_dim}')
    return ModelInputs(
        images=[t(io[f'image{i}_pre']) for i in range(n_cams)],
        image_masks=[t(io[f'image{i}_mask']) for i in range(n_cams)],
        state=torch.nn.functional.pad(state, (0, max_state_dim - state.shape[1])),
        lang_tokens=t(io['lang_tokens']),
        lang_masks=t(io['lang_masks']),
    )


def run_parity(
    fixture: str | Path | ParityFixture,
    vlm_dir: Path | None = None,
    precision: str | None = None,
) -> dict[str, float]:
    """Max abs error per output (prefix_embs, v_t, x_t, actions_padded, actions).

    Raises:
        InputError: the fixture's files are unusable (see :func:`load_fixture`).
        SmolVLAError: the checkpoint cannot be loaded.
    """
    from smolvla_model.loading import load_model
    from smolvla_model.vision_positions import mode_for_reference

    fx = fixture if isinstance(fixture, ParityFixture) else load_fixture(fixture)
    if precision is None:
        precision = 'fp32' if fx.dtype_mode == 'fp32' else 'reference'
    model = load_model(fx.path, vlm_dir=vlm_dir, precision=precision).model
    # Reproduce the vision position ids of the transformers version that made the reference.
    vwe = model.model.vlm_with_expert
    vision_dtype = vwe.vlm.model.vision_model.embeddings.patch_embedding.weight.dtype
    made_with = fx.harness.get('versions', {}).get('transformers', '5.0')
    vwe.vision_position_mode = mode_for_reference(made_with, str(vision_dtype))
    io = fx.io
    inputs = _inputs(io, fx.num_cameras, model.config.max_state_dim)
    noise = torch.from_numpy(io['noise'])
    actions, extra = model.sample_actions(inputs, noise=noise, return_intermediates=True)
    real = io['actions'].shape[-1]
    ours = {
        'prefix_embs': extra['prefix_embs'],
        'v_t': extra['v_t'],
        'x_t': extra['x_t'],
        'actions_padded': actions,
        'actions': actions[..., :real],
    }
    return {k: float((v.float() - torch.from_numpy(io[k])).abs().max()) for k, v in ours.items()}


def _positive(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f'must be a finite number > 0, got {text}')
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m smolvla_model.parity', description=__doc__)
    parser.add_argument('fixture_dir', type=Path)
    parser.add_argument('--vlm-dir', type=Path, default=None, help='backbone folder override')
    parser.add_argument('--precision', default=None, help='default: from harness.json dtype_mode')
    parser.add_argument(
        '--atol',
        type=_positive,
        default=None,
        help=f'one tolerance for every output; default {FP32_ATOL:g} for fp32 fixtures, for bf16 '
        'ones sqrt(4 * layers) * 2^-8 * max|v_t| (prefix_embs keeps the fp32 one)',
    )
    args = parser.parse_args(argv)  # exits 2 itself on a malformed option
    try:
        if args.precision is not None:
            from smolvla_model.loading import check_precision

            check_precision(args.precision, 'cpu')
        if args.vlm_dir is not None and not args.vlm_dir.is_dir():
            raise InputError(f'{args.vlm_dir}: --vlm-dir is not a folder')
        fixture = load_fixture(args.fixture_dir)
        errors = run_parity(fixture, args.vlm_dir, args.precision)
    except (OSError, SmolVLAError) as e:
        # One line that names the input: most messages start with the file they are about.
        where = '' if str(args.fixture_dir) in str(e) else f'{args.fixture_dir}: '
        print(f'error: {where}{e}'.replace('\n', ' '), file=sys.stderr)
        return 2
    atol = fixture.tolerances() if args.atol is None else dict.fromkeys(errors, args.atol)
    for key, err in errors.items():
        print(f'{key:16s} max|diff| = {err:.3e}  (tolerance {atol[key]:.3e})')
    # Every recorded output is judged, the intermediates too: a gap in the velocities can hide
    # in the Euler sum and still be a real difference.
    beyond = {k: e for k, e in errors.items() if not e <= atol[k]}  # NaN counts as beyond
    if not beyond:
        print('PASS: every output within its tolerance')
        return 0
    worst = max(beyond, key=lambda k: (beyond[k] != beyond[k], beyond[k] / atol[k]))
    print(
        f'FAIL: {", ".join(beyond)} beyond tolerance '
        f'(worst {worst}: {beyond[worst]:.3e} > {atol[worst]:.3e})'
    )
    return 1


if __name__ == '__main__':
    sys.exit(main())
