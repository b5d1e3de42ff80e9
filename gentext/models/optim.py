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


class Muon(torch.optim.Optimizer):
    """Muon (Jordan et al. 2024, "Muon: An optimizer for hidden layers"): SGD with Nesterov
    momentum whose update is orthogonalised by Newton-Schulz iterations; torch.optim.Muon's
    maths, defaults and state, plus ``blocks``: {parameter: n} cuts a parameter's rows into n
    matrices orthogonalised apart, as modded-nanogpt treats a fused query-key-value weight.
    A sharded (DTensor) parameter keeps its momentum sharded; the update is orthogonalised on
    the gathered whole, once a step rather than one all-gather per iteration, and this
    process's shard of it applied."""

    def __init__(self, params, lr: float = 1e-3, weight_decay: float = 0.1,
                 momentum: float = 0.95, nesterov: bool = True,
                 ns_coefficients: tuple[float, float, float] = (3.4445, -4.7750, 2.0315),
                 eps: float = 1e-7, ns_steps: int = 5, adjust_lr_fn: str | None = None,
                 blocks: dict | None = None):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum,
                                      nesterov=nesterov, ns_coefficients=ns_coefficients,
                                      eps=eps, ns_steps=ns_steps, adjust_lr_fn=adjust_lr_fn))
        # kept out of the param groups, so checkpoints of torch.optim.Muon load unchanged
        self.blocks = {id(p): n for p, n in (blocks or {}).items()}
        if adjust_lr_fn not in (None, "original", "match_rms_adamw"):
            raise ValueError(f"adjust_lr_fn must be None, 'original' or 'match_rms_adamw', "
                             f"not {adjust_lr_fn!r}")
        for p in (p for group in self.param_groups for p in group["params"]):
            if p.dim() != 2 or p.shape[0] % self.blocks.get(id(p), 1):
                raise ValueError(f"Muon needs matrices whose rows split into equal blocks, "
                                 f"not {tuple(p.shape)} in {self.blocks.get(id(p), 1)}")

    @torch.no_grad()
    def step(self, closure=None):
        # imported here: slow to import, and only sharded runs need it
        from torch.distributed.tensor import DTensor, distribute_tensor

        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, momentum = group["lr"], group["momentum"]
            for param in (p for p in group["params"] if p.grad is not None):
                state = self.state[param]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(param.grad)
                buffer = state["momentum_buffer"]
                buffer.lerp_(param.grad, 1 - momentum)
                update = param.grad.lerp(buffer, momentum) if group["nesterov"] else buffer
                sharded = isinstance(update, DTensor)
                whole = update.full_tensor() if sharded else update
                blocks = self.blocks.get(id(param), 1)
                rows, cols = whole.shape[0] // blocks, whole.shape[1]
                update = torch.cat([_newton_schulz(matrix, group["ns_coefficients"],
                                                   group["ns_steps"], group["eps"])
                                    for matrix in whole.chunk(blocks)])
                if sharded:  # this process's rows, cut locally: no communication
                    update = distribute_tensor(update, param.device_mesh, param.placements,
                                               src_data_rank=None)
                scale = math.sqrt(max(1, rows / cols))  # each block's lr: Jordan et al.'s
                if group["adjust_lr_fn"] == "match_rms_adamw":  # or AdamW's update RMS, 0.2
                    scale = 0.2 * math.sqrt(max(rows, cols))  # sqrt(max(A, B)) (Liu et al. 2025)
                param.mul_(1 - lr * group["weight_decay"])  # decoupled weight decay
                param.add_(update, alpha=-lr * scale)
        return loss


def _newton_schulz(matrix, coefficients, steps: int, eps: float) -> torch.Tensor:
    """Approximately U V^T of the matrix's SVD U S V^T, by the quintic X <- aX + (bA + cA^2)X,
    A = X X^T (Jordan et al. 2024), in bfloat16 after scaling to Frobenius norm 1 so the
    spectral norm is at most 1: torch.optim.Muon's NS5, op for op, so results match it."""
    a, b, c = coefficients
    tall = matrix.shape[0] > matrix.shape[1]
    x = matrix.bfloat16()
    x = x.T if tall else x  # the Gram matrix of the short side is the smaller one
    x = x / x.norm().clamp(min=eps)
    for _ in range(steps):
        gram = x @ x.T
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.T if tall else x


def muon_with_adamw(parameters, hidden, train: TrainConfig, fused: bool = False,
                    blocks: dict | None = None) -> Combined:
    """Muon (``Muon``) for the ``hidden`` matrices, ``blocks`` ({parameter: n}) cut into n
    matrices each, AdamW (``adamw``) for every other parameter. Muon's update is scaled to
    AdamW's RMS (``match_rms_adamw``, Liu et al. 2025, "Muon is Scalable for LLM Training"), so
    both take ``train.lr`` and ``train.weight_decay`` and one schedule drives them."""
    parameters = [p for p in parameters if p.requires_grad]
    chosen = {id(p) for p in hidden}
    muon = Muon([p for p in parameters if id(p) in chosen], lr=train.lr,
                weight_decay=train.weight_decay, adjust_lr_fn="match_rms_adamw", blocks=blocks)
    rest = [p for p in parameters if id(p) not in chosen]
    return Combined(muon, adamw(rest, train, fused))


def muon_for_blocks(parameters, blocks, train: TrainConfig, fused: bool = False) -> Combined:
    """The recipe's optimizer split for a model with a stack of Transformer ``blocks``: Muon for
    the blocks' matrices, the fused query, key and value weights orthogonalised as three (as
    modded-nanogpt does), AdamW for the embeddings, output layer, gains and anything else of
    ``parameters`` (Muon orthogonalises a matrix's update, which suits hidden layers, not
    lookups)."""
    hidden = [p for p in blocks.parameters() if p.dim() == 2]
    query_key_value = {block.attn.c_attn.weight: 3 for block in blocks}
    return muon_with_adamw(parameters, hidden, train, fused, blocks=query_key_value)
