"""The contract every model family implements, and helpers families share.

The core trains, checkpoints, samples and evaluates any ``TextModel`` the same way; a family
only says how to compute its loss, how to sample, and how to score a batch honestly.

Batches are dicts: ``tokens`` (B, T) long, each row <bos> ... <eos> then <pad>;
``lengths`` (B,) the unpadded lengths; and, for conditional models, ``labels`` (B,) long,
indices into ``Vocab.labels``.

Training: the loop calls ``training_step`` once per step. The default computes ``loss`` and
steps one AdamW; a family with several optimizers (a GAN's generator and discriminator)
overrides ``make_optimizers``, ``learning_rates`` and ``training_step``, and the loop stays
the one loop: it schedules, logs, checkpoints and resumes every optimizer the same way.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn


@dataclass(frozen=True)
class Vocab:
    """What a model needs to know about its tokenizer."""

    size: int
    pad_id: int
    bos_id: int
    eos_id: int
    unk_id: int = 3
    labels: tuple[str, ...] = ()  # class labels of the training split, sorted (empty: none)

    @classmethod
    def of(cls, tokenizer, labels: tuple[str, ...] = ()) -> "Vocab":
        return cls(tokenizer.vocab_size, tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id,
                   tokenizer.unk_id, tuple(labels))


class StepContext(Protocol):
    """What the training loop hands ``TextModel.training_step``."""

    step: int  # optimizer steps completed before this one
    total_steps: int
    seed: int  # train.seed: key random draws to (seed, step) to make them reproducible
    rank: int  # this process among world_size data-parallel processes (0 of 1 alone): the
    world_size: int  # batch holds rows rank, rank + world_size, ... of the global batch

    def autocast(self) -> AbstractContextManager:
        """Mixed precision for the forward pass (bf16 on CUDA, nothing on the CPU)."""

    def optimize(self, name: str, loss: torch.Tensor) -> None:
        """Back-propagate ``loss``, clip the gradients of optimizer ``name``'s parameters,
        step it, and clear every gradient (so one optimizer's loss never leaks into another)."""


class TextModel(nn.Module):
    """Base class of every family. Subclasses set ``config_class`` and implement the rest.

    The likelihood protocol: examples are modelled independently, each wrapped in <bos>/<eos>;
    ``nll`` returns the summed negative log-likelihood in nats over every predicted token
    (the <eos> included, the <bos> not) and that token count, computed in float32.
    """

    config_class: type = None
    has_latent: bool = False  # True for families that implement encode/decode
    takes_prompt: bool = False  # True when sample() can continue a given prefix
    default_nll_samples: int | None = None  # k that nll() uses when given none (stochastic bounds)
    conditional: bool = False  # True when the model reads batch["labels"] (set per instance)
    default_temperature: float = 1.0  # what sample() draws at when the caller names none

    def __init__(self, config, vocab: Vocab):
        super().__init__()
        self.config = config
        self.vocab = vocab

    @property
    def max_len(self) -> int | None:
        """The longest sequence (tokens, <bos>/<eos> included) the model can score, or None."""
        return None

    @property
    def likelihood_kind(self) -> str | None:
        """What ``nll`` is for this instance, when it differs from the spec's (else None)."""
        return None

    def set_training_progress(self, step: int, total_steps: int) -> None:
        """Called by the loop before each step: schedules inside a model (KL annealing,
        temperatures) follow it. ``step`` counts completed steps."""

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        """Training objective: a dict with a scalar "loss" (and anything else worth logging)."""
        raise NotImplementedError

    def make_optimizers(self, train, fused: bool = False) -> dict[str, torch.optim.Optimizer]:
        """The named optimizers ``training_step`` uses; by default one AdamW over everything."""
        from gentext.optim import adamw

        return {"model": adamw(self.parameters(), train, fused)}

    def learning_rates(self, step: int, train) -> dict[str, float]:
        """Each optimizer's learning rate at ``step``, a pure function of the step so a resumed
        run follows the same schedule; by default warm-up then cosine."""
        from gentext.optim import warmup_cosine

        return {"model": warmup_cosine(step, train)}

    def training_step(self, batch: dict, context: StepContext) -> dict[str, torch.Tensor]:
        """One optimizer step on ``batch``; returns scalars to log, with "loss" among them."""
        return self.loss_step(batch, context, "model")

    def loss_step(self, batch: dict, context: StepContext, optimizer: str) -> dict[str, torch.Tensor]:
        """Minimise ``loss(batch)`` with the named optimizer: the whole step of most families."""
        with context.autocast():
            outputs = self.loss(batch)
        context.optimize(optimizer, outputs["loss"])
        return outputs

    @torch.no_grad()
    def nll(self, batch: dict, samples: int | None = None) -> tuple[torch.Tensor, int]:
        """(summed nats, number of predicted tokens) with the family's honest estimator.

        ``samples`` is for stochastic estimators (the k of an importance-weighted bound);
        None means the family's default, and exact models ignore it."""
        raise NotImplementedError

    @torch.no_grad()
    def diagnostics(self, batches) -> dict[str, float]:
        """Extra figures over a whole split (e.g. KL, mutual information, active units),
        reported beside the likelihood. None by default."""
        return {}

    @torch.no_grad()
    def sample(self, n: int, max_len: int, *, temperature: float = 1.0, top_k: int = 0,
               top_p: float = 1.0, prompt: list[int] | None = None, condition=None,
               generator: torch.Generator | None = None) -> list[list[int]]:
        """``n`` token sequences (no <bos>, stopped before <eos>) of at most ``max_len`` tokens."""
        raise NotImplementedError

    def encode(self, batch: dict) -> torch.Tensor:
        """Posterior mean of the latent code of each example (latent families only)."""
        raise NotImplementedError(f"{type(self).__name__} has no latent space")

    def decode(self, z: torch.Tensor, max_len: int, **sampling) -> list[list[int]]:
        """Token sequences decoded from latent codes (latent families only)."""
        raise NotImplementedError(f"{type(self).__name__} has no latent space")

    def num_parameters(self) -> int:
        """Distinct trainable parameters (tied weights counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Keep the ``top_k`` largest logits and the smallest set whose probability reaches
    ``top_p`` (nucleus sampling, Holtzman et al. 2020); the rest become -inf. (B, V)."""
    if top_k and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = torch.softmax(sorted_logits, dim=-1)
        drop = probs.cumsum(dim=-1) - probs >= top_p  # keep the first past p
        drop[:, 0] = False  # the most likely token always stays (a top_p below float32's least is 0)
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


def next_token(logits: torch.Tensor, temperature: float, top_k: int, top_p: float,
               generator: torch.Generator | None) -> torch.Tensor:
    """Draw one token per row from (B, V) logits; temperature 0 means greedy. Returns (B,)."""
    logits = logits.float()
    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(filter_logits(logits / temperature, top_k, top_p), dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def trim_at_eos(rows: torch.Tensor, eos_id: int) -> list[list[int]]:
    """Cut each generated row before its first <eos>."""
    out = []
    for row in rows.tolist():
        out.append(row[: row.index(eos_id)] if eos_id in row else row)
    return out


def shifted_targets(batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (B, T-1) and next-token targets (B, T-1) with padding targets set to -100."""
    tokens = batch["tokens"]
    inputs, targets = tokens[:, :-1], tokens[:, 1:].clone()
    positions = torch.arange(targets.size(1), device=tokens.device)
    targets[positions[None, :] >= (batch["lengths"].to(tokens.device)[:, None] - 1)] = -100
    return inputs, targets
