"""p(T): a categorical over sentence lengths, for families that do not end a sentence with a
drawn ``<eos>`` (a flow, a masked-diffusion model): the length is drawn first, then the
tokens given it, and the likelihood counts the length too, -log p(x) = -log p(T) - log p(x | T).

Two ways to fit it: ``LengthPrior`` learns logits with the rest of the model by gradient;
``CountedLengthPrior`` counts the training lengths it is shown (the maximum-likelihood
estimate, smoothed), which needs no learning rate and cannot be thrown about by one.
"""

from __future__ import annotations

import torch
from torch import nn


class _Lengths(nn.Module):
    def log_probs(self) -> torch.Tensor:
        """log p(T) for T = 0 .. max_len."""
        raise NotImplementedError

    def log_prob(self, lengths: torch.Tensor) -> torch.Tensor:
        return self.log_probs()[lengths]

    def sample(self, n: int, generator: torch.Generator | None = None, shortest: int = 1,
               longest: int | None = None) -> torch.Tensor:
        """``n`` lengths drawn from p(T | shortest <= T <= longest); by default never an
        empty sentence."""
        probs = self.log_probs().detach().float().exp()
        allowed = torch.zeros_like(probs, dtype=torch.bool)
        allowed[max(0, shortest) : None if longest is None else longest + 1] = True
        probs = probs * allowed
        if not float(probs.sum()) > 0:  # the prior puts no mass there: any allowed length
            probs = allowed.float()
        return torch.multinomial(probs, n, replacement=True, generator=generator)


class LengthPrior(_Lengths):
    """Logits learned with the rest of the model (they take the loss's gradient), so samples
    have the varied lengths of real sentences."""

    def __init__(self, max_len: int):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(max_len + 1))

    def log_probs(self) -> torch.Tensor:
        return torch.log_softmax(self.logits, dim=0)


class CountedLengthPrior(_Lengths):
    """The training lengths seen so far, counted (``observe``), with ``smoothing`` added to
    every count so a length never seen keeps some probability: p(T) = (n_T + a) / (N + a K).
    The counts are a buffer, saved and restored with the weights, so resume stays exact;
    integers, so they stay exact on every device (Apple's MPS has no float64).

    Over several processes each sees its share of a batch: count with ``histogram``, sum the
    histograms over the processes (``StepContext.sum_over_processes``), then ``add`` the sum,
    so every process holds the counts of the whole data."""

    def __init__(self, max_len: int, smoothing: float = 0.5):
        super().__init__()
        self.smoothing = smoothing
        self.register_buffer("counts", torch.zeros(max_len + 1, dtype=torch.long))

    def histogram(self, lengths: torch.Tensor) -> torch.Tensor:
        """How often each length occurs in ``lengths`` (on their device, no host sync)."""
        lengths = lengths.flatten().clamp(0, self.counts.numel() - 1)
        return torch.zeros_like(self.counts, device=lengths.device).index_add_(
            0, lengths, torch.ones_like(lengths))

    @torch.no_grad()
    def add(self, histogram: torch.Tensor) -> None:
        self.counts += histogram.to(self.counts.device, self.counts.dtype)

    @torch.no_grad()
    def observe(self, lengths: torch.Tensor) -> None:
        """Count ``lengths`` (one process's)."""
        self.add(self.histogram(lengths))

    def log_probs(self) -> torch.Tensor:
        counts = self.counts.float() + self.smoothing
        return (counts / counts.sum()).log()
