"""Chunk prediction replayed from a CUDA graph: one launch instead of thousands.

A SmolVLA chunk is about 4 000 small kernels (vision, 16 prefix layers, 10 x 16 expert layers).
On a large GPU each finishes in microseconds, so eager PyTorch spends most of a chunk launching
them. :class:`CudaGraphSampler` records the whole of ``sample_actions`` once for a fixed input
layout (batch size, camera count and image size, token length, steps) and then replays it: new
inputs are copied into the recorded buffers and the graph runs as one unit.

The recorded function is the model's own ``sample_actions`` (no second implementation), which is
written so that nothing in it copies host memory to the device or reads device values on the
host during the forward pass. One difference: empty camera slots are run through the vision
tower instead of skipped (a skip needs a host-side look at the masks); they stay masked, so the
actions are the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from smolvla_model.batch import ModelInputs
from smolvla_model.modeling import SmolVLAModel


@dataclass(frozen=True)
class GraphLayout:
    """The input shapes a captured graph accepts (everything else is data)."""

    batch_size: int
    image_shapes: tuple[tuple[int, ...], ...]
    token_length: int
    state_dim: int
    num_steps: int

    @classmethod
    def of(cls, inputs: ModelInputs, num_steps: int) -> GraphLayout:
        return cls(
            batch_size=inputs.batch_size,
            image_shapes=tuple(tuple(im.shape) for im in inputs.images),
            token_length=int(inputs.lang_tokens.shape[1]),
            state_dim=int(inputs.state.shape[1]),
            num_steps=num_steps,
        )


class CudaGraphSampler:
    """Replays a captured ``model.sample_actions`` for one input layout.

    Args:
        model: a SmolVLA model on a CUDA device (any precision that runs there).
        example: a batch with the layout to capture (its values are only used to warm up).
        num_steps: Euler steps (default ``model.config.num_steps``).
        warmup: eager runs before capture (cuBLAS/cuDNN pick their kernels there).
    Raises:
        ValueError: the model is not on a CUDA device, or the example is not a valid batch.
    """

    def __init__(
        self,
        model: SmolVLAModel,
        example: ModelInputs,
        num_steps: int | None = None,
        warmup: int = 3,
    ) -> None:
        if model.device.type != 'cuda':
            raise ValueError(
                f'CudaGraphSampler needs the model on a CUDA device; it is on {model.device}. '
                'On CPU call model.sample_actions directly.'
            )
        model.check_inputs(example)
        self.model = model
        steps = model.config.num_steps if num_steps is None else int(num_steps)
        self.layout = GraphLayout.of(example, steps)
        dev = model.device
        self._inputs = ModelInputs(
            images=[im.detach().to(dev, copy=True) for im in example.images],
            image_masks=[m.detach().to(dev, copy=True) for m in example.image_masks],
            state=example.state.detach().to(dev, copy=True),
            lang_tokens=example.lang_tokens.detach().to(dev, copy=True),
            lang_masks=example.lang_masks.detach().to(dev, copy=True),
        )
        shape = (example.batch_size, model.config.chunk_size, model.config.max_action_dim)
        self._noise = torch.randn(shape, device=dev)
        self._graph = torch.cuda.CUDAGraph()
        fm = model.model
        previous = fm.skip_empty_cameras
        fm.skip_empty_cameras = False
        try:
            side = torch.cuda.Stream(device=dev)
            side.wait_stream(torch.cuda.current_stream(dev))
            with torch.cuda.stream(side):
                for _ in range(max(1, warmup)):
                    model.sample_actions(self._inputs, noise=self._noise, num_steps=steps)
            torch.cuda.current_stream(dev).wait_stream(side)
            with torch.cuda.graph(self._graph):
                self._out = model.sample_actions(self._inputs, noise=self._noise, num_steps=steps)
        finally:
            fm.skip_empty_cameras = previous
        torch.cuda.synchronize(dev)

    def _check_layout(self, inputs: ModelInputs) -> None:
        got = GraphLayout.of(inputs, self.layout.num_steps)
        if got != self.layout:
            diffs = [
                f'{name}: captured {getattr(self.layout, name)}, got {getattr(got, name)}'
                for name in ('batch_size', 'image_shapes', 'token_length', 'state_dim')
                if getattr(got, name) != getattr(self.layout, name)
            ]
            raise ValueError(
                'inputs do not match the captured CUDA graph ('
                + '; '.join(diffs)
                + '); build a CudaGraphSampler for this layout or use model.sample_actions'
            )

    @torch.no_grad()
    def __call__(
        self,
        inputs: ModelInputs,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """One chunk [B, C, A] float32 (normalized action space), like ``sample_actions``.

        Args:
            noise: [B, C, A] starting noise; drawn from ``generator`` (or the default CUDA
                generator) into the graph's buffer when None.
        Raises:
            ValueError: the inputs or the noise do not have the captured layout.
        """
        self._check_layout(inputs)
        if noise is not None and tuple(noise.shape) != tuple(self._noise.shape):
            raise ValueError(
                f'noise has shape {tuple(noise.shape)}; expected {list(self._noise.shape)}'
            )
        for dst, src in zip(self._inputs.images, inputs.images, strict=True):
            dst.copy_(src, non_blocking=True)
        for dst, src in zip(self._inputs.image_masks, inputs.image_masks, strict=True):
            dst.copy_(src, non_blocking=True)
        self._inputs.state.copy_(inputs.state, non_blocking=True)
        self._inputs.lang_tokens.copy_(inputs.lang_tokens, non_blocking=True)
        self._inputs.lang_masks.copy_(inputs.lang_masks, non_blocking=True)
        if noise is not None:
            self._noise.copy_(noise, non_blocking=True)
        else:
            self._noise.normal_(generator=generator)
        self._graph.replay()
        return self._out.clone()
