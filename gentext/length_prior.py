"""p(T): a categorical over sentence lengths, for families that do not end a sentence with a
drawn ``<eos>`` (a flow, a masked-diffusion model): the length is drawn first, then the
tokens given it, and the likelihood counts the length too, -log p(x) = -log p(T) - log p(x | T).
"""

from __future__ import annotations

import torch
from torch import nn


class LengthPrior(nn.Module):
    """Learned with the rest of the model (its logits take the loss's gradient), so samples
    have the varied lengths of real sentences.

    The logits are ``gain`` times the parameter: Adam moves a parameter by about the learning
    rate a step whatever its gradient, so with gain g the prior learns g times faster than the
    network's weights (a categorical over a hundred lengths settles in the first hundred steps
    instead of the last)."""

    def __init__(self, max_len: int, gain: float = 1.0):
        super().__init__()
        self.gain = gain
        self.logits = nn.Parameter(torch.zeros(max_len + 1))

    def log_probs(self) -> torch.Tensor:
        return torch.log_softmax(self.gain * self.logits, dim=0)

    def log_prob(self, lengths: torch.Tensor) -> torch.Tensor:
        return self.log_probs()[lengths]

    def sample(self, n: int, generator: torch.Generator | None = None, shortest: int = 1,
               longest: int | None = None) -> torch.Tensor:
        """``n`` lengths drawn from p(T | shortest <= T <= longest); by default never an
        empty sentence."""
        probs = self.log_probs().float().exp()
        allowed = torch.zeros_like(probs, dtype=torch.bool)
        allowed[max(0, shortest) : None if longest is None else longest + 1] = True
        probs = probs * allowed
        if not float(probs.sum()) > 0:  # the prior puts no mass there: any allowed length
            probs = allowed.float()
        return torch.multinomial(probs, n, replacement=True, generator=generator)
