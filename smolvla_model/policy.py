"""The user-facing SmolVLA policy: raw observation in, action chunk in real units out.

``SmolVLAPolicy`` ties the three saved parts of a LeRobot checkpoint together: the network
(``loading.load_model``), the pre-processor and the post-processor (``processing``)::

    policy = SmolVLAPolicy.from_pretrained('lerobot/smolvla_base', precision='fp32')
    chunk = policy.predict_chunk({
        'images': {'top': rgb_uint8_hwc, 'wrist': rgb_uint8_hwc},
        'state': joints,                 # the checkpoint's units, e.g. degrees
        'instruction': 'pick up the cube',
    })                                   # numpy [B, chunk_size, action_dim], checkpoint units
    policy.save_pretrained('out/')       # LeRobot's layout, written all or nothing

It holds no robot or ROS state: the runtime decides when to call it and what to do with the
chunk. The observation format is the Preprocessor's (see ``processing.pipeline``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smolvla_model.checkpoint import save_checkpoint
from smolvla_model.config import SmolVLAConfig, check_num_steps
from smolvla_model.errors import ConfigError
from smolvla_model.loading import load_model
from smolvla_model.modeling import SmolVLAModel
from smolvla_model.processing import Postprocessor, Preprocessor, load_processors


def _check_num_steps(num_steps: int | None) -> None:
    if num_steps is not None:
        check_num_steps(num_steps)


class SmolVLAPolicy:
    """A loaded SmolVLA checkpoint with its pre/post-processing, ready to predict chunks."""

    def __init__(
        self,
        model: SmolVLAModel,
        preprocessor: Preprocessor,
        postprocessor: Postprocessor,
        num_steps: int | None = None,
    ) -> None:
        """Assemble a policy from parts already loaded (``from_pretrained`` is the usual way).

        Args:
            num_steps: Euler steps per chunk; None uses the checkpoint's ``num_steps``.
        Raises:
            ConfigError: ``num_steps`` not an integer in 1..1000, or the processors'
                dimensions disagree with the model's config (they must come from the same
                checkpoint).
        """
        _check_num_steps(num_steps)
        cfg = model.config
        pcfg = preprocessor.config
        if (pcfg.max_state_dim, pcfg.max_action_dim) != (cfg.max_state_dim, cfg.max_action_dim):
            raise ConfigError(
                f'processors pad to state/action dims {pcfg.max_state_dim}/{pcfg.max_action_dim} '
                f'but the model expects {cfg.max_state_dim}/{cfg.max_action_dim}; load both from '
                'the same checkpoint'
            )
        self.model = model
        self.preprocessor = preprocessor
        self.postprocessor = postprocessor
        self.num_steps = None if num_steps is None else check_num_steps(num_steps)

    # -- loading and saving -------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        path_or_repo_id: str | os.PathLike[str],
        vlm_dir: str | os.PathLike[str] | None = None,
        precision: str = 'fp32',
        device: torch.device | str = 'cpu',
        *,
        camera_map: Mapping[str, str] | None = None,
        vision_position_mode: str = 'exact',
        num_steps: int | None = None,
        stats: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> SmolVLAPolicy:
        """Load a LeRobot SmolVLA checkpoint (local folder or hub repo id) with its processors.

        Args:
            vlm_dir: backbone folder (config + tokenizer); default: the checkpoint's
                ``vlm_model_name`` (see ``loading.resolve_vlm_dir``).
            precision: 'fp32', 'reference', 'bf16', 'fp16' (CUDA) or 'int8' (CPU).
            camera_map: slot (top/wrist/side) -> checkpoint image feature overrides.
            vision_position_mode: 'exact' or 'hf-4.55-fp32' (``smolvla_model.vision_positions``).
            num_steps: Euler steps per chunk (default: the checkpoint's, 10).
            stats: dataset statistics ``{feature: {stat: array}}`` (data units) to use instead
                of the checkpoint's processor files or old-layout normalization buffers.
        Raises:
            HubResolutionError: checkpoint or backbone not found (names the fetch command).
            ConfigError: invalid config, precision, device or num_steps.
            CheckpointError: bad weights (missing/unexpected keys, shapes).
            ProcessorFileError: bad or missing processor files / statistics.
            ValueError: a bad camera map.
        """
        _check_num_steps(num_steps)  # before the (slow) load
        loaded = load_model(
            path_or_repo_id,
            vlm_dir=vlm_dir,
            precision=precision,
            device=device,
            vision_position_mode=vision_position_mode,
        )
        # The tokenizer lives beside the backbone config load_model already resolved. Old-layout
        # normalization buffers (loaded.norm_buffers) need no hand-over: without processor files
        # load_processors reads the same buffers from the checkpoint's model.safetensors, so the
        # buffer -> stats conversion stays in one place (processing.lerobot_files).
        pre, post = load_processors(
            loaded.checkpoint_dir,
            tokenizer=loaded.vlm_dir,
            camera_map=camera_map,
            stats=stats,
        )
        return cls(loaded.model, pre, post, num_steps=num_steps)

    def save_pretrained(self, folder: str | os.PathLike[str], overwrite: bool = False) -> Path:
        """Write the checkpoint in LeRobot's layout: ``config.json``, ``model.safetensors``,
        ``policy_preprocessor.json`` / ``policy_postprocessor.json`` and their stats files.

        Everything is written into a temporary sibling folder that is renamed into place at the
        end, so a failure leaves neither a partial ``folder`` nor temporaries.

        Args:
            overwrite: replace an existing non-empty ``folder`` (its old content is removed only
                after the new one is complete).
        Returns:
            The folder written.
        Raises:
            FileExistsError: ``folder`` is a file, or a non-empty folder and not ``overwrite``.
            CheckpointError: the model cannot be saved (e.g. int8-quantized weights).
            OSError: the parent folder cannot be written.
        """
        target = Path(folder)
        if target.exists() and not target.is_dir():
            raise FileExistsError(f'{target} is a file; choose a folder path to save the policy')
        replacing = target.is_dir() and any(target.iterdir())
        if replacing and not overwrite:
            raise FileExistsError(
                f'{target} is not empty; pass overwrite=True to replace it or pick a new folder'
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f'.{target.name}.saving-', dir=target.parent))
        old = None
        try:
            save_checkpoint(self.model, self.model.config.to_dict(), tmp)
            self.preprocessor.save_pretrained(tmp)
            if target.is_dir():  # empty, or replaced with overwrite: move it aside first
                old = Path(tempfile.mkdtemp(prefix=f'.{target.name}.old-', dir=target.parent))
                os.replace(target, old / target.name)
            os.replace(tmp, target)
        except BaseException:
            if old is not None and not target.exists():  # put the previous content back
                os.replace(old / target.name, target)
            raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        return target

    # -- inference ----------------------------------------------------------------------------

    def predict_chunk(
        self,
        observation: Mapping[str, Any],
        noise: torch.Tensor | np.ndarray | None = None,
        generator: torch.Generator | None = None,
    ) -> np.ndarray:
        """Predict one action chunk: pre-process, sample (Euler flow matching), post-process.

        Args:
            observation: ``{'images': {slot or feature: frame}, 'state': [D] or [B, D],
                'instruction': str or [B strings]}`` (see ``processing.pipeline``).
            noise: starting noise [B, chunk_size, max_action_dim] (float); drawn from
                ``generator`` (or torch's global RNG) when None.
        Returns:
            float32 numpy [B, chunk_size, action_dim] in the checkpoint's action units.
        Raises:
            InputError: a bad observation (raised by the pre-processor before the model runs),
                noise of the wrong shape, or NaN/inf in the model output.
        """
        inputs = self.preprocessor(observation)
        if noise is not None:
            noise = torch.as_tensor(noise, dtype=torch.float32)
        with torch.inference_mode():
            actions = self.model.sample_actions(
                inputs, noise=noise, generator=generator, num_steps=self.num_steps
            )
        return self.postprocessor(actions)

    # -- what the runtime needs to know -------------------------------------------------------

    @property
    def config(self) -> SmolVLAConfig:
        """The checkpoint's policy config."""
        return self.model.config

    @property
    def chunk_size(self) -> int:
        """Actions per predicted chunk."""
        return self.model.config.chunk_size

    @property
    def action_dim(self) -> int:
        """Real (unpadded) action dimensions of the returned chunks."""
        return self.postprocessor.config.action_dim

    @property
    def state_dim(self) -> int:
        """Real (unpadded) state dimensions the observation must carry."""
        return self.preprocessor.config.state_dim

    @property
    def camera_slots(self) -> dict[str, str]:
        """Suite camera slot (top/wrist/side) -> the checkpoint image feature it feeds."""
        return dict(self.preprocessor.camera_map)

    @property
    def camera_features(self) -> list[str]:
        """The checkpoint's real image features, in the order the model sees them."""
        return list(self.preprocessor.config.real_camera_names)

    @property
    def fps(self) -> float | None:
        """Control rate the checkpoint was trained at (``fps`` in config.json), else None.

        LeRobot's SmolVLA config does not store it (it lives in the dataset's metadata), so for
        most checkpoints the runtime must be told the rate.
        """
        value = self.model.config.extra.get('fps')
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
        return None

    @property
    def dt(self) -> float | None:
        """Seconds between consecutive actions of a chunk (1 / fps), else None."""
        fps = self.fps
        return None if fps is None else 1.0 / fps

    @property
    def device(self) -> torch.device:
        """Where the network runs."""
        return self.model.device

    @property
    def precision(self) -> str:
        """The precision mode the network was built in."""
        return self.model.precision
