"""The contract between pre-processing and the model: what one forward pass consumes.

The pre-processor (``smolvla_model.processing``) turns raw observations (camera frames, joint
state in the checkpoint's units, an instruction) into a ``ModelInputs``; the model
(``smolvla_model.modeling``) consumes it and returns actions in the normalized, padded action
space; the post-processor turns those back into the checkpoint's action units.

Shapes use B = batch, N = cameras (1..3, in the checkpoint's image-feature order), H = W = the
configured resize size, L = tokenizer max length (48), S = ``max_state_dim`` (32).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ModelInputs:
    """One batch, ready for the model.

    Attributes:
        images: N tensors [B, 3, H, W], float32 in [-1, 1] (resized with pad, then x * 2 - 1).
        image_masks: N tensors [B], bool; False marks an empty camera slot (its image is ignored
            by attention, as LeRobot's ``empty_cameras`` does).
        state: [B, S] float32, normalized and zero-padded to ``max_state_dim``.
        lang_tokens: [B, L] int64 token ids, right-padded with the tokenizer's pad id.
        lang_masks: [B, L] bool, True on real tokens.
    """

    images: list[torch.Tensor]
    image_masks: list[torch.Tensor]
    state: torch.Tensor
    lang_tokens: torch.Tensor
    lang_masks: torch.Tensor

    @property
    def batch_size(self) -> int:
        return int(self.state.shape[0])

    def to(self, device: torch.device | str) -> ModelInputs:
        """Return a copy on ``device`` (dtypes unchanged; the model casts where it must)."""
        return ModelInputs(
            images=[im.to(device) for im in self.images],
            image_masks=[m.to(device) for m in self.image_masks],
            state=self.state.to(device),
            lang_tokens=self.lang_tokens.to(device),
            lang_masks=self.lang_masks.to(device),
        )
