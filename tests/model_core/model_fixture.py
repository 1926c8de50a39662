"""Shared helpers for the smolvla_model tests: the LeRobot parity fixture, loaded as inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from smolvla_model.batch import ModelInputs

FIXTURES = Path(__file__).resolve().parents[1] / 'fixtures' / 'smolvla_parity'


def fixture_io(name: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / name / 'io.npz') as z:
        return {k: z[k] for k in z.files}


def fixture_inputs(io: dict[str, np.ndarray], max_state_dim: int = 32) -> ModelInputs:
    t = torch.from_numpy
    state = t(io['state'])
    return ModelInputs(
        images=[t(io[f'image{i}_pre']) for i in range(3)],
        image_masks=[t(io[f'image{i}_mask']) for i in range(3)],
        state=torch.nn.functional.pad(state, (0, max_state_dim - state.shape[1])),
        lang_tokens=t(io['lang_tokens']),
        lang_masks=t(io['lang_masks']),
    )
