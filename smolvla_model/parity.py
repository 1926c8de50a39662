"""``python -m smolvla_model.parity FIXTURE_DIR``: compare this implementation with LeRobot's.

FIXTURE_DIR holds config.json, model.safetensors, io.npz and harness.json in the format of
``tests/fixtures/smolvla_parity`` (its README). The checkpoint is loaded through the public
loader, the recorded inputs and noise are fed in, and the max abs error of every recorded output
is printed. Exit status: 0 when every output is within tolerance, 1 when any is beyond it, 2
on unusable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from smolvla_model.batch import ModelInputs
from smolvla_model.errors import SmolVLAError


def _inputs(io: dict[str, np.ndarray], n_cams: int, max_state_dim: int) -> ModelInputs:
    t = torch.from_numpy
    state = t(io['state'])
    return ModelInputs(
        images=[t(io[f'image{i}_pre']) for i in range(n_cams)],
        image_masks=[t(io[f'image{i}_mask']) for i in range(n_cams)],
        state=torch.nn.functional.pad(state, (0, max_state_dim - state.shape[1])),
        lang_tokens=t(io['lang_tokens']),
        lang_masks=t(io['lang_masks']),
    )


def run_parity(
    fixture: Path, vlm_dir: Path | None = None, precision: str | None = None
) -> dict[str, float]:
    """Max abs error per output (prefix_embs, v_t, x_t, actions_padded, actions).

    Raises:
        SmolVLAError: the checkpoint cannot be loaded.
        KeyError: io.npz lacks a recorded array.
    """
    from smolvla_model.loading import load_model
    from smolvla_model.vision_positions import mode_for_reference

    harness = json.loads((fixture / 'harness.json').read_text())
    if precision is None:
        precision = 'fp32' if harness.get('dtype_mode', 'fp32') == 'fp32' else 'reference'
    model = load_model(fixture, vlm_dir=vlm_dir, precision=precision).model
    # Reproduce the vision position ids of the transformers version that made the reference.
    vwe = model.model.vlm_with_expert
    vision_dtype = vwe.vlm.model.vision_model.embeddings.patch_embedding.weight.dtype
    made_with = harness.get('versions', {}).get('transformers', '5.0')
    vwe.vision_position_mode = mode_for_reference(made_with, str(vision_dtype))
    with np.load(fixture / 'io.npz') as z:
        io = {k: z[k] for k in z.files}
    n_cams = sum(1 for k in io if k.startswith('image') and k.endswith('_pre'))
    inputs = _inputs(io, n_cams, model.config.max_state_dim)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m smolvla_model.parity', description=__doc__)
    parser.add_argument('fixture_dir', type=Path)
    parser.add_argument('--vlm-dir', type=Path, default=None, help='backbone folder override')
    parser.add_argument('--precision', default=None, help='default: from harness.json dtype_mode')
    parser.add_argument('--atol', type=float, default=None, help='default 1e-4 (fp32), 1e-3')
    args = parser.parse_args(argv)
    try:
        harness = json.loads((args.fixture_dir / 'harness.json').read_text())
        errors = run_parity(args.fixture_dir, args.vlm_dir, args.precision)
    except (OSError, json.JSONDecodeError, KeyError, SmolVLAError) as e:
        print(f'error: {args.fixture_dir}: {e}', file=sys.stderr)
        return 2
    atol = args.atol
    if atol is None:
        atol = 1e-4 if harness.get('dtype_mode', 'fp32') == 'fp32' else 1e-3
    for key, err in errors.items():
        print(f'{key:16s} max|diff| = {err:.3e}')
    # Every recorded output is judged, the intermediates too: a gap in the velocities can hide
    # in the Euler sum and still be a real difference.
    beyond = {k: e for k, e in errors.items() if not e <= atol}  # NaN counts as beyond
    ok = not beyond
    if ok:
        print(f'PASS: every output within {atol:g}')
    else:
        worst = max(beyond, key=lambda k: (beyond[k] != beyond[k], beyond[k]))
        print(f'FAIL: {", ".join(beyond)} beyond {atol:g} (worst {worst}: {beyond[worst]:.3e})')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
