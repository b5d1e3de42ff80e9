"""The base of every family whose likelihood factorises left to right.

p(x) = prod_t p(x_t | x_<t, c), with c what the sequence is conditioned on (nothing, a class
label, a latent code). A family writes one step function, next-token logits from a state, and
gets, written once here: the teacher-forced loss, the exact float32 ``nll`` of the likelihood
protocol, and sampling with a prompt, temperature, top-k, top-p, ``<eos>`` and finished rows.

    class MyLM(AutoregressiveModel):
        def step(self, inputs, state):       # inputs (B, T) -> logits (B, T, V), new state
            ...

``start`` makes the state before the first token (an empty KV cache, an RNN state from z);
``context`` says what a training sequence is conditioned on; ``sampling_context`` what a new
one is. The defaults suit an unconditional model, or one conditioned on ``batch["labels"]``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from gentext.errors import GentextError
from gentext.models.linear_cross_entropy import linear_cross_entropy
from gentext.models.contract import (IGNORE_INDEX, Capabilities, SamplingOptions, TextModel,
                           draw_tokens)

# On a GPU, asking whether every row has ended costs a host-device sync: ask every this many
# tokens (rows that ended are filled with <eos> and trimmed, so the output is the same).
CUDA_FINISHED_CHECK_EVERY = 16


def finished_check_every(device: torch.device) -> int:
    """Tokens generated between asks whether every row has ended: every few on a GPU (the ask
    is a host sync), after every token elsewhere, never on the meta device (shapes without
    values: the tests' stand-in for a GPU)."""
    if device.type == "meta":
        return 1 << 62
    return CUDA_FINISHED_CHECK_EVERY if device.type == "cuda" else 1


def shifted_targets(batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (B, T-1) and next-token targets (B, T-1), padding targets set to IGNORE_INDEX."""
    tokens = batch["tokens"]
    inputs, targets = tokens[:, :-1], tokens[:, 1:].clone()
    positions = torch.arange(targets.size(1), device=tokens.device)
    targets[positions[None, :] >= (batch["lengths"].to(tokens.device)[:, None] - 1)] = IGNORE_INDEX
    return inputs, targets


def token_nats(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """-log p(target) per position (B, T) in float32 nats, 0 where the target is ignored."""
    return F.cross_entropy(logits.float().transpose(1, 2), targets, ignore_index=IGNORE_INDEX,
                           reduction="none")


def trim_at_eos(rows: torch.Tensor, eos_id: int) -> list[list[int]]:
    """Cut each row (B, L) before its first ``<eos>``."""
    out = []
    for row in rows.tolist():
        out.append(row[: row.index(eos_id)] if eos_id in row else row)
    return out


class AutoregressiveModel(TextModel):
    """A ``TextModel`` defined by its next-token step; ``nll`` is exact."""

    capabilities = Capabilities(prompt=True)

    # --- what a family writes ------------------------------------------------------------

    def step(self, inputs: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """Next-token logits (B, T, V) after each of ``inputs`` (B, T), read after ``state``,
        and the state after them."""
        raise NotImplementedError(f"{type(self).__name__} does not implement step(inputs, state)")

    def start(self, rows: int, context: Any, options: SamplingOptions | None) -> Any:
        """The state before the first token of ``rows`` sequences conditioned on ``context``.
        ``options`` is None for teacher forcing (the whole sequence in one step), the sampling
        options when generating. By default the context itself."""
        return context

    def context(self, batch: dict) -> Any:
        """What a batch's sequences are conditioned on: their labels for a conditional model."""
        return batch["labels"] if self.capabilities.condition else None

    def sampling_context(self, n: int, condition: int | None,
                         generator: torch.Generator | None) -> Any:
        """What ``n`` new sequences are conditioned on: the given label, or for a conditional
        model without one a label drawn uniformly per sequence."""
        if not self.capabilities.condition:
            return None
        if condition is None:
            return torch.randint(len(self.vocab.labels), (n,), generator=generator,
                                 device=self.device)
        return torch.full((n,), int(condition), dtype=torch.long, device=self.device)

    # --- written once: likelihood ----------------------------------------------------------

    def sequence_nats(self, inputs: torch.Tensor, targets: torch.Tensor,
                      context: Any = None) -> torch.Tensor:
        """Teacher-forced -log p(target) per position (B, T), float32, 0 where ignored."""
        logits, _ = self.step(inputs, self.start(inputs.size(0), context, None))
        return token_nats(logits, targets)

    def output_features(self, inputs: torch.Tensor, context: Any = None):
        """Teacher forcing up to the output layer: (the states it reads (B, T, D), its weight
        (V', D), how many of its rows are real tokens), or None (the default) to score
        ``step``'s logits. A family that gives them is trained and scored without ever
        holding the (B, T, V) logits whole (``gentext.models.linear_cross_entropy``)."""
        return None

    def teacher_forced(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed -log p(x) of a batch (float32 nats, every predicted token, ``<eos>``
        included) and the number of those tokens, both tensors."""
        inputs, targets = shifted_targets(batch)
        features = self.output_features(inputs, self.context(batch))
        if features is not None:
            hidden, weight, vocab = features
            return linear_cross_entropy(hidden, weight, targets, vocab)
        nats = self.sequence_nats(inputs, targets, self.context(batch))
        return nats.sum(), (targets != IGNORE_INDEX).sum()

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        """Maximum likelihood: mean nats per predicted token."""
        nats, tokens = self.teacher_forced(batch)
        return {"loss": nats / tokens}

    @torch.no_grad()
    def nll(self, batch: dict, samples: int | None = None) -> tuple[torch.Tensor, int]:
        """The exact summed -log p(x) and the count of predicted tokens."""
        nats, tokens = self.teacher_forced(batch)
        return nats, int(tokens)

    # --- written once: sampling -------------------------------------------------------------

    def generate(self, n: int, options: SamplingOptions, max_new_tokens: int,
                 prompt: list[int], condition: int | None) -> list[list[int]]:
        context = self.sampling_context(n, condition, options.generator)
        return self.autoregress(n, context, options, max_new_tokens, prompt)

    @torch.no_grad()
    def autoregress(self, n: int, context: Any, options: SamplingOptions, max_new_tokens: int,
                    prompt: list[int] = ()) -> list[list[int]]:
        """Ancestral sampling of ``n`` rows after ``<bos>`` and ``prompt``, given ``context``:
        one token a step until every row has drawn ``<eos>`` or ``max_new_tokens`` are drawn.
        Rows are returned as ``sample`` states: the prompt, then the new tokens."""
        prompt, eos = list(prompt), self.vocab.eos_id
        prefix = [self.vocab.bos_id, *prompt]
        budget = max_new_tokens
        if self.max_len is not None:  # every drawn token but the last is read back
            if len(prefix) >= self.max_len:
                raise GentextError(f"the prompt is {len(prompt)} tokens; the model's context "
                                   f"is {self.max_len} tokens")
            budget = min(budget, self.max_len - len(prefix))
        if budget <= 0:
            return [list(prompt) for _ in range(n)]
        tokens = torch.tensor([prefix] * n, dtype=torch.long, device=self.device)
        logits, state = self.step(tokens, self.start(n, context, options))
        finished = torch.zeros(n, dtype=torch.bool, device=tokens.device)
        check_every = finished_check_every(tokens.device)
        never = self.never_drawn(options, tokens.device)
        drawn = []
        for position in range(budget):
            next_logits = logits[:, -1].index_fill(-1, never, float("-inf"))
            token = draw_tokens(next_logits, options).masked_fill(finished, eos)
            drawn.append(token)
            finished |= token == eos
            if position == budget - 1:
                break
            if position % check_every == check_every - 1 and finished.all():
                break
            logits, state = self.step(token[:, None], state)
        return [prompt + row for row in trim_at_eos(torch.stack(drawn, dim=1), eos)]
