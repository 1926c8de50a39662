"""Flow-matching training: the loss, LeRobot's optimizer preset, and one training step.

Convention (LeRobot's): t = 1 is noise, t = 0 is data; x_t = t*eps + (1 - t)*a; the network
predicts the velocity u = eps - a. Time is drawn as t = 0.001 + 0.999 * Beta(1.5, 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from smolvla_model.batch import ModelInputs
from smolvla_model.modeling import SmolVLAModel


def sample_time(
    batch_size: int, generator: torch.Generator | None = None, device: torch.device | str = 'cpu'
) -> torch.Tensor:
    """t = 0.001 + 0.999 * Beta(1.5, 1), shape [B], float32 (biased toward noise)."""
    # Beta(a, 1) by inversion: s = U^(1/a), so the generator controls it reproducibly.
    u = torch.rand(batch_size, generator=generator, dtype=torch.float64)
    s = u ** (1.0 / 1.5)
    return (0.001 + 0.999 * s).to(torch.float32).to(device)


def flow_matching_loss(
    model: SmolVLAModel,
    inputs: ModelInputs,
    actions: torch.Tensor,
    action_is_pad: torch.Tensor | None = None,
    *,
    noise: torch.Tensor | None = None,
    time: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mean squared velocity error over valid time steps and real action dims.

    Args:
        actions: [B, C, A_real] or [B, C, max_action_dim] normalized target actions; they are
            zero-padded to ``max_action_dim``; only the first A_real dims enter the loss.
        action_is_pad: [B, C] bool, True on steps past the episode end (excluded).
        noise: [B, C, max_action_dim]; time: [B] in (0, 1]. Drawn when None.
    Returns:
        Scalar loss (float32).
    Raises:
        ValueError: wrong action shape, or every step is padding.
    """
    cfg = model.config
    B = inputs.batch_size
    if actions.ndim != 3 or actions.shape[:2] != (B, cfg.chunk_size):
        raise ValueError(
            f'actions has shape {tuple(actions.shape)}; expected [{B}, {cfg.chunk_size}, A]'
        )
    real_dims = actions.shape[-1]
    if real_dims > cfg.max_action_dim:
        raise ValueError(f'actions have {real_dims} dims > max_action_dim {cfg.max_action_dim}')
    device = model.device
    target = F.pad(actions.to(device, torch.float32), (0, cfg.max_action_dim - real_dims))
    if noise is None:
        noise = model.sample_noise(B, generator)
    if time is None:
        time = sample_time(B, generator=None if generator is None else generator, device=device)
    t = time.to(device, torch.float32)[:, None, None]
    x_t = t * noise + (1 - t) * target
    u_t = noise - target
    v_t = model.forward_velocity(inputs.to(device), x_t, time.to(device, torch.float32))
    err = F.mse_loss(v_t, u_t, reduction='none')[..., :real_dims]  # [B, C, A_real]
    if action_is_pad is None:
        return err.mean()
    valid = ~action_is_pad.to(device, torch.bool)
    n = valid.sum() * real_dims
    if int(n) == 0:
        raise ValueError('action_is_pad marks every step as padding: nothing to learn from')
    return (err * valid[..., None]).sum() / n


def set_trainable(model: SmolVLAModel) -> list[torch.nn.Parameter]:
    """Apply the config's freezing policy and return the trainable parameters.

    Default (``train_expert_only``): the action expert, the action/time projections and (with
    ``train_state_proj``) the state projection train; the VLM is frozen.
    """
    cfg = model.config
    fm = model.model
    for p in model.parameters():
        p.requires_grad_(False)
    trainable = [
        fm.vlm_with_expert.lm_expert,
        fm.action_in_proj,
        fm.action_out_proj,
        fm.action_time_mlp_in,
        fm.action_time_mlp_out,
    ]
    if cfg.train_state_proj:
        trainable.append(fm.state_proj)
    if not cfg.train_expert_only:
        vlm = fm.vlm_with_expert.vlm.model
        trainable.append(vlm.text_model)
        if not cfg.freeze_vision_encoder:
            trainable += [vlm.vision_model, vlm.connector]
    for module in trainable:
        for p in module.parameters():
            p.requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


def make_optimizer(
    model: SmolVLAModel, total_steps: int | None = None
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW + linear-warmup cosine decay with LeRobot's SmolVLA preset values from the config.

    If ``total_steps`` is below ``scheduler_decay_steps``, warmup and decay are shrunk in
    proportion (as LeRobot does).
    """
    cfg = model.config
    params = set_trainable(model)
    opt = torch.optim.AdamW(
        params,
        lr=cfg.optimizer_lr,
        betas=cfg.optimizer_betas,
        eps=cfg.optimizer_eps,
        weight_decay=cfg.optimizer_weight_decay,
    )
    warmup, decay = cfg.scheduler_warmup_steps, cfg.scheduler_decay_steps
    if total_steps is not None and total_steps < decay:
        warmup = int(warmup * total_steps / decay)
        decay = total_steps
    floor = cfg.scheduler_decay_lr / cfg.optimizer_lr

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = min(1.0, (step - warmup) / max(1, decay - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


@dataclass
class TrainStepResult:
    loss: float
    grad_norm: float
    lr: float


def train_step(
    model: SmolVLAModel,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    inputs: ModelInputs,
    actions: torch.Tensor,
    *,
    action_is_pad: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> TrainStepResult:
    """One optimisation step: loss, backward, clip to ``optimizer_grad_clip_norm``, step."""
    model.train()
    model.model.vlm_with_expert.vlm.eval()  # frozen parts stay in eval mode (no dropout)
    optimizer.zero_grad(set_to_none=True)
    loss = flow_matching_loss(model, inputs, actions, action_is_pad, generator=generator)
    loss.backward()
    params = [p for g in optimizer.param_groups for p in g['params']]
    norm = torch.nn.utils.clip_grad_norm_(params, model.config.optimizer_grad_clip_norm)
    optimizer.step()
    lr = optimizer.param_groups[0]['lr']
    if scheduler is not None:
        scheduler.step()
    return TrainStepResult(loss=float(loss.detach()), grad_norm=float(norm), lr=lr)
