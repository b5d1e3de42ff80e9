"""The output layer and the cross-entropy in one pass over chunks of positions, so the
(positions x vocabulary) logits never exist whole.

For a 4,096-token vocabulary and a batch of 64 x 128 positions the logits are 134 MB in
float32, and the usual ``cross_entropy(head(h))`` keeps three tensors of that size alive at
once in its backward pass (the saved log-softmax, its gradient, the logits' gradient): most of
a small model's training memory. Here each chunk's logits are made, turned into its nats and
(when training) straight into the gradients of the hidden states and of the output weight,
then dropped: the same arithmetic as autograd's, in one chunk of memory. The fused
linear-cross-entropy of Liger-Kernel (Hsu et al. 2024) and of Wijmans et al. 2024 ("Cut Your
Losses in Large-Vocabulary Language Models") does the same on GPUs.
"""

from __future__ import annotations

import torch

from gentext.models.contract import IGNORE_INDEX

CHUNK_POSITIONS = 1024  # positions a chunk holds: 16 MB of float32 logits at 4,096 tokens


def _chunk_logits(hidden: torch.Tensor, weight: torch.Tensor, vocab: int):
    """A chunk's logits in float32 (entries past the real vocabulary, a padded head's, at
    -inf), and the dtype the matmul ran in (bf16 under autocast)."""
    raw = hidden @ weight.t()
    logits = raw.float()
    if vocab < logits.size(-1):
        logits[:, vocab:] = float("-inf")
    return logits, raw.dtype


def _nats(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per position -log p(target) (0 where ignored), and the mask of counted positions."""
    counted = targets != IGNORE_INDEX
    picked = logits.gather(1, targets.clamp(min=0)[:, None]).squeeze(1)
    return torch.where(counted, torch.logsumexp(logits, dim=-1) - picked, 0.0), counted


class _LinearCrossEntropy(torch.autograd.Function):
    """Summed nats of ``targets`` under ``hidden @ weight.T``; the gradients are made in the
    forward pass, chunk by chunk, and only scaled in the backward one (the output is a sum,
    so its gradient is one number)."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, vocab: int, chunk: int):
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty_like(hidden)
        grad_weight = torch.zeros_like(weight, dtype=torch.float32)
        for start in range(0, hidden.size(0), chunk):
            h, t = hidden[start:start + chunk], targets[start:start + chunk]
            logits, dtype = _chunk_logits(h, weight, vocab)
            nats, counted = _nats(logits, t)
            total += nats.sum()
            # d nats / d logits = softmax - one_hot(target), on counted positions only
            grad = torch.softmax(logits, dim=-1)
            del logits
            grad[torch.arange(t.size(0), device=t.device), t.clamp(min=0)] -= 1.0
            grad = (grad * counted[:, None]).to(dtype)
            grad_hidden[start:start + chunk] = (grad @ weight.to(dtype)).to(hidden.dtype)
            grad_weight += (grad.t() @ h.to(dtype)).float()
        ctx.save_for_backward(grad_hidden, grad_weight)
        ctx.weight_dtype = weight.dtype
        return total

    @staticmethod
    def backward(ctx, grad_total):
        grad_hidden, grad_weight = ctx.saved_tensors
        return (grad_hidden * grad_total.to(grad_hidden.dtype),
                (grad_weight * grad_total).to(ctx.weight_dtype), None, None, None)


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                         vocab: int | None = None,
                         chunk: int = CHUNK_POSITIONS) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed float32 nats of ``targets`` (..., ) under logits ``hidden @ weight.T``
    (hidden (..., D), weight (V, D); only the first ``vocab`` rows can be predicted), and the
    number of counted targets (IGNORE_INDEX ones are not). Equal to
    ``cross_entropy(hidden @ weight.T, targets, reduction="sum")``, gradients included."""
    vocab = weight.size(0) if vocab is None else vocab
    hidden, targets = hidden.reshape(-1, hidden.size(-1)), targets.reshape(-1)
    keep = targets != IGNORE_INDEX
    count = keep.sum()
    if hidden.device.type == "cpu":  # padding is not scored: leave it out before the head
        hidden, targets = hidden[keep], targets[keep]  # (on a GPU this would wait for it)
    if torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad):
        return _LinearCrossEntropy.apply(hidden, weight, targets, vocab, chunk), count
    total = torch.zeros((), dtype=torch.float32, device=hidden.device)
    for start in range(0, hidden.size(0), chunk):
        logits, _ = _chunk_logits(hidden[start:start + chunk], weight, vocab)
        nats, _ = _nats(logits, targets[start:start + chunk])
        total += nats.sum()
    return total, count
