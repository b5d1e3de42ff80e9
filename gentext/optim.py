"""Optimizers and the learning-rate schedule the loop uses unless a model asks otherwise."""

from __future__ import annotations

import math

import torch

from gentext.config import TrainConfig


def warmup_cosine(step: int, train: TrainConfig, total: int | None = None,
                  peak: float | None = None) -> float:
    """Linear warm-up to ``peak`` (default ``train.lr``), then cosine decay to
    ``peak * min_lr_ratio`` at step ``total`` (default ``train.steps``)."""
    peak = train.lr if peak is None else peak
    total = train.steps if total is None else total
    if step < train.warmup_steps:
        return peak * (step + 1) / train.warmup_steps
    progress = (step - train.warmup_steps) / max(1, total - train.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return peak * (train.min_lr_ratio + (1 - train.min_lr_ratio) * cosine)


def adamw(parameters, train: TrainConfig, fused: bool = False, lr: float | None = None,
          betas: tuple[float, float] | None = None) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not biases, norms' gains)."""
    parameters = [p for p in parameters if p.requires_grad]
    groups = [
        {"params": [p for p in parameters if p.dim() >= 2], "weight_decay": train.weight_decay},
        {"params": [p for p in parameters if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=train.lr if lr is None else lr,
                             betas=betas or (train.beta1, train.beta2), fused=fused)
