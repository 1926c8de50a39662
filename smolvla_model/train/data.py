"""Training batches from a LeRobot dataset, held in memory.

Every camera frame is decoded once (``LeRobotDataset.episode_frames``), fitted to the training
resolution with the project's own ``resize_with_pad`` (the same function inference uses) and kept
as uint8, so a step costs no video decoding. Per sampled frame i of an episode [from, to):

* the observation is the frames and state at i and the episode's task;
* the target is the action chunk at i .. i + chunk_size - 1; steps past the episode end repeat
  the last action and are flagged in ``action_is_pad`` (as LeRobot's ``delta_timestamps`` do), so
  the loss ignores them.

Augmentation (training only, ``augment_images``): a random shift of each camera image by up to
``shift_frac`` of its side (edge pixels replicated, as DrQ's random shift) and a random
brightness gain in [1 - b, 1 + b]. Shifts teach the small vision tower position tolerance (the
cameras of a real arm never sit exactly where the simulator's do); the gain covers lighting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from smolvla_model.processing.images import frame_to_float_chw, resize_with_pad

STATE_KEY = 'observation.state'
ACTION_KEY = 'action'
# Frames fitted per resize call: bounds the float copy (64 x 3 x 480 x 640 x 4 B = 236 MB).
_RESIZE_BATCH = 64


def fit_frames(frames: np.ndarray, size: int, name: str) -> np.ndarray:
    """uint8 [T, H, W, 3] -> uint8 [T, size, size, 3] through ``resize_with_pad`` (rounded).

    Raises:
        InputError: frames that are not uint8 RGB (named by ``name``).
    """
    if frames.shape[0] == 0:
        return np.zeros((0, size, size, 3), np.uint8)
    if frames.shape[1:3] == (size, size):
        return np.ascontiguousarray(frames, dtype=np.uint8)
    out = np.empty((frames.shape[0], size, size, 3), np.uint8)
    for start in range(0, frames.shape[0], _RESIZE_BATCH):
        x = frame_to_float_chw(frames[start : start + _RESIZE_BATCH], name)  # [b, 3, H, W] 0..1
        y = resize_with_pad(x, size, size)
        y = (y * 255.0).round_().clamp_(0, 255).to(torch.uint8)
        out[start : start + _RESIZE_BATCH] = y.permute(0, 2, 3, 1).numpy()
    return out


@dataclass
class Batch:
    """One sampled batch in the data's units (normalisation happens in the pre-processor).

    Attributes:
        images: camera key -> uint8 [B, S, S, 3] RGB.
        state: [B, D_state] float32.
        instructions: B task strings.
        actions: [B, chunk_size, D_action] float32.
        action_is_pad: [B, chunk_size] bool, True past the episode end.
        indices: [B] int64 global frame indices (for logs and tests).
    """

    images: dict[str, np.ndarray]
    state: np.ndarray
    instructions: list[str]
    actions: np.ndarray
    action_is_pad: np.ndarray
    indices: np.ndarray

    def observation(self) -> dict[str, Any]:
        """The pre-processor's observation dict (the same format inference uses)."""
        return {'images': self.images, 'state': self.state, 'instruction': self.instructions}


class TrainingData:
    """A dataset's frames, states, action chunks and tasks, decoded once into memory."""

    def __init__(
        self,
        dataset: Any,
        image_size: int,
        chunk_size: int,
        camera_keys: Sequence[str] | None = None,
        progress: bool = False,
    ) -> None:
        """Args:
        dataset: a ``smolvla_model.datasets.LeRobotDataset``.
        image_size: training resolution (square side, pixels).
        chunk_size: actions per target chunk.
        camera_keys: cameras to load, in the model's order (default: all of the dataset's).
        progress: show a tqdm bar while decoding.

        Raises:
            DatasetError: the dataset lacks the state/action columns or frames, or a video's
                frame count disagrees with its episode's length.
        """
        from smolvla_model.datasets import DatasetError

        self.dataset = dataset
        self.image_size = int(image_size)
        self.chunk_size = int(chunk_size)
        self.camera_keys = tuple(camera_keys if camera_keys is not None else dataset.camera_keys)
        table = dataset.table()
        for key in (STATE_KEY, ACTION_KEY, 'episode_index', 'task_index'):
            if key not in table:
                raise DatasetError(
                    f'{dataset.root}: the dataset has no {key!r} column; SmolVLA training needs '
                    f"'{STATE_KEY}', '{ACTION_KEY}' and the episode/task indices"
                )
        self.state = np.ascontiguousarray(table[STATE_KEY], dtype=np.float32)
        self.actions = np.ascontiguousarray(table[ACTION_KEY], dtype=np.float32)
        self.episode_index = np.asarray(table['episode_index'], dtype=np.int64)
        task_index = np.asarray(table['task_index'], dtype=np.int64)
        tasks = list(dataset.tasks)
        if task_index.size and (task_index.min() < 0 or task_index.max() >= len(tasks)):
            raise DatasetError(
                f'{dataset.root}: task_index values reach {int(task_index.max())} but '
                f'meta/tasks lists {len(tasks)} tasks; rewrite the dataset'
            )
        self.tasks = tasks
        self.task_index = task_index
        n = self.state.shape[0]
        if n == 0:
            raise DatasetError(f'{dataset.root}: the dataset holds no frames; record episodes')
        bounds = np.asarray(dataset.episode_bounds, dtype=np.int64).reshape(-1, 2)
        # Per frame: the end (exclusive) of its episode, for the chunk padding.
        self.episode_end = np.zeros(n, np.int64)
        for start, end in bounds:
            self.episode_end[start:end] = end
        if (self.episode_end <= np.arange(n)).any():
            raise DatasetError(
                f'{dataset.root}: episode bounds do not cover every frame; rewrite the dataset'
            )
        self.frames: dict[str, np.ndarray] = {}
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(bounds) * len(self.camera_keys), desc='decoding', unit='video')
        try:
            for key in self.camera_keys:
                store = np.empty((n, self.image_size, self.image_size, 3), np.uint8)
                for e, (start, end) in enumerate(bounds):
                    raw = dataset.episode_frames(key, e)
                    if raw.shape[0] != end - start:
                        raise DatasetError(
                            f'{dataset.root}: camera {key!r} episode {e} has {raw.shape[0]} '
                            f'decoded frames but the episode has {end - start}; re-encode it'
                        )
                    store[start:end] = fit_frames(raw, self.image_size, key)
                    if bar is not None:
                        bar.update(1)
                self.frames[key] = store
        finally:
            if bar is not None:
                bar.close()

    def __len__(self) -> int:
        return int(self.state.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held for frames (what the preload costs in memory)."""
        return sum(f.nbytes for f in self.frames.values())

    def chunk_indices(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frame indices of the action chunks starting at ``indices`` and their padding mask.

        Returns:
            ([B, chunk_size] int64 clipped to each episode's last frame, [B, chunk_size] bool).
        """
        idx = np.asarray(indices, np.int64)[:, None] + np.arange(self.chunk_size)[None, :]
        end = self.episode_end[np.asarray(indices, np.int64)][:, None]
        pad = idx >= end
        return np.where(pad, end - 1, idx), pad

    def batch(self, indices: np.ndarray) -> Batch:
        """The batch of frames ``indices`` (global frame indices)."""
        indices = np.asarray(indices, np.int64)
        chunk, pad = self.chunk_indices(indices)
        return Batch(
            images={k: self.frames[k][indices] for k in self.camera_keys},
            state=self.state[indices],
            instructions=[self.tasks[t] for t in self.task_index[indices]],
            actions=self.actions[chunk],
            action_is_pad=pad,
            indices=indices,
        )

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """A random batch (frames drawn without replacement within the batch)."""
        n = len(self)
        indices = rng.choice(n, size=min(batch_size, n), replace=False)
        return self.batch(np.sort(indices))


def augment_images(
    images: list[torch.Tensor],
    rng: np.random.Generator,
    shift_frac: float = 0.04,
    brightness: float = 0.1,
) -> list[torch.Tensor]:
    """Random shift and brightness gain on the model's image tensors (training only).

    Args:
        images: per camera float [B, 3, S, S] in [-1, 1] (``ModelInputs.images``).
        shift_frac: largest shift as a fraction of the side (0.04 x 128 px = 5 px).
        brightness: gains are drawn from [1 - brightness, 1 + brightness].
    Returns:
        New tensors, same shapes, still in [-1, 1].
    """
    out = []
    for x in images:
        b, _, h, w = x.shape
        pad = round(shift_frac * max(h, w))
        x01 = (x + 1.0) * 0.5
        gain = torch.from_numpy(rng.uniform(1 - brightness, 1 + brightness, b).astype(np.float32))
        x01 = (x01 * gain[:, None, None, None]).clamp_(0.0, 1.0)
        if pad > 0:
            padded = F.pad(x01, (pad, pad, pad, pad), mode='replicate')
            dy = rng.integers(0, 2 * pad + 1, b)
            dx = rng.integers(0, 2 * pad + 1, b)
            x01 = torch.stack(
                [padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(b)]
            )
        out.append(x01 * 2.0 - 1.0)
    return out


__all__ = ['ACTION_KEY', 'STATE_KEY', 'Batch', 'TrainingData', 'augment_images', 'fit_frames']
