"""From tokens to continuous vectors and back: the bridge a flow over text needs.

Variational dequantisation with a learned categorical encoding (Lippe & Gavves 2021,
"Categorical Normalizing Flows"): each token c has its own Gaussian q(z | c) = N(mu_c,
diag(sigma_c^2)) in a small space. The decoder follows from Bayes' rule with a learned prior
over tokens, p(c | z) = q(z | c) p(c) / sum_c' q(z | c') p(c'), so it is exact where the
Gaussians do not overlap. With a flow density p(z), every z drawn from q gives a lower bound

    log p(x) >= E_q[ log p(z) + log p(x | z) - log q(z | x) ],

and averaging k importance weights inside the log tightens it (Burda et al. 2016).
Uniform dequantisation (z = one-hot + U[0, 1)^V noise, Theis et al. 2016) is the simple
alternative; it needs D = V and its decoder is the argmax.
"""

from __future__ import annotations

import math

import torch
from torch import nn

LOG_2PI = math.log(2 * math.pi)


class CategoricalEncoding(nn.Module):
    """q(z | token) per token, and the Bayes decoder p(token | z) it implies."""

    def __init__(self, vocab_size: int, dim: int, min_log_scale: float = -4.0):
        super().__init__()
        self.mean = nn.Embedding(vocab_size, dim)
        self.log_scale = nn.Embedding(vocab_size, dim)
        self.log_prior = nn.Parameter(torch.zeros(vocab_size))
        self.min_log_scale = min_log_scale
        nn.init.normal_(self.mean.weight, std=1.0)  # spread the tokens apart from the start
        nn.init.constant_(self.log_scale.weight, -1.0)

    def _log_scales(self, tokens: torch.Tensor | None = None) -> torch.Tensor:
        table = self.log_scale.weight if tokens is None else self.log_scale(tokens)
        return table.clamp(min=self.min_log_scale)

    def sample(self, tokens: torch.Tensor, generator: torch.Generator | None = None):
        """Reparameterised z ~ q(z | tokens), (B, T, D), and log q(z | tokens) per position (B, T)."""
        mean, log_scale = self.mean(tokens), self._log_scales(tokens)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        z = mean + noise * log_scale.exp()
        log_q = -0.5 * (noise.pow(2) + LOG_2PI).sum(-1) - log_scale.sum(-1)
        return z, log_q

    def log_decoder(self, z: torch.Tensor) -> torch.Tensor:
        """log p(token | z) for every token, (B, T, V): Bayes' rule over the encodings."""
        mean, log_scale = self.mean.weight, self._log_scales()  # (V, D)
        diff = (z[..., None, :] - mean) * torch.exp(-log_scale)  # (B, T, V, D)
        log_q = -0.5 * (diff.pow(2) + LOG_2PI).sum(-1) - log_scale.sum(-1)  # (B, T, V)
        joint = log_q + torch.log_softmax(self.log_prior, dim=0)
        return joint - torch.logsumexp(joint, dim=-1, keepdim=True)


class LengthPrior(nn.Module):
    """p(T): a categorical over sentence lengths, learned with the rest, so samples have the
    varied lengths of real sentences and the likelihood counts the length too."""

    def __init__(self, max_len: int):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(max_len + 1))

    def log_prob(self, lengths: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.logits, dim=0)[lengths]

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        probs = torch.softmax(self.logits.float(), dim=0)
        probs[0] = 0.0  # never an empty sentence
        return torch.multinomial(probs, n, replacement=True, generator=generator)
