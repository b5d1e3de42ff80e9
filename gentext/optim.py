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


class Combined(torch.optim.Optimizer):
    """Optimizers over disjoint parameters, stepped as one: one name in a model's
    ``make_optimizers``, one learning-rate schedule (each group's ``lr`` is set alike), and a
    state dict in torch's format (the parts' parameters numbered one after another), so the
    checkpoint and resume of any optimizer serve it unchanged."""

    def __init__(self, *parts: torch.optim.Optimizer):
        super().__init__([p for part in parts for g in part.param_groups for p in g["params"]], {})
        self.parts = parts
        self.param_groups = [group for part in parts for group in part.param_groups]

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for part in self.parts:
            part.step()
        return loss

    def state_dict(self) -> dict:
        state, groups, offset = {}, [], 0
        for part in self.parts:
            own = part.state_dict()
            state.update({offset + index: value for index, value in own["state"].items()})
            groups += [{**group, "params": [offset + i for i in group["params"]]}
                       for group in own["param_groups"]]
            offset += sum(len(group["params"]) for group in own["param_groups"])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        offset, first = 0, 0
        for part in self.parts:
            groups = state_dict["param_groups"][first : first + len(part.param_groups)]
            count = sum(len(group["params"]) for group in groups)
            part.load_state_dict({
                "state": {index - offset: value for index, value in state_dict["state"].items()
                          if offset <= index < offset + count},
                "param_groups": [{**group, "params": [i - offset for i in group["params"]]}
                                 for group in groups]})
            offset, first = offset + count, first + len(part.param_groups)
        self.param_groups = [group for part in self.parts for group in part.param_groups]


def muon_with_adamw(parameters, hidden, train: TrainConfig, fused: bool = False) -> Combined:
    """Muon (Jordan et al. 2024, ``torch.optim.Muon``) for the ``hidden`` matrices, AdamW
    (``adamw``) for every other parameter. Muon's update is scaled to AdamW's RMS
    (``match_rms_adamw``, Liu et al. 2025, "Muon is Scalable for LLM Training"), so both take
    ``train.lr`` and ``train.weight_decay`` and one schedule drives them."""
    parameters = [p for p in parameters if p.requires_grad]
    chosen = {id(p) for p in hidden}
    muon = torch.optim.Muon([p for p in parameters if id(p) in chosen], lr=train.lr,
                            weight_decay=train.weight_decay, adjust_lr_fn="match_rms_adamw")
    rest = [p for p in parameters if id(p) not in chosen]
    return Combined(muon, adamw(rest, train, fused))
