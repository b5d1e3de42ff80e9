"""From tokens to continuous vectors and back: the bridge a flow over text needs.

Variational dequantisation with a learned categorical encoding (Lippe & Gavves 2021,
"Categorical Normalizing Flows"): each token c has its own Gaussian q(z | c) = N(mu_c,
diag(sigma_c^2)) in a small space. The decoder follows from Bayes' rule with a learned prior
over tokens, p(c | z) = q(z | c) p(c) / sum_c' q(z | c') p(c'), so it is exact where the
Gaussians do not overlap. With a flow density p(z), every z drawn from q gives a lower bound

    log p(x) >= E_q[ log p(z) + log p(x | z) - log q(z | x) ],

and averaging k importance weights inside the log tightens it (Burda et al. 2016).
Uniform dequantisation (Theis et al. 2016) is the simple alternative: each token is the unit
cube at the corner given by its index in binary, z = bits(c) + U[0, 1)^D with D = ceil(log2 V).
The cubes are disjoint and of volume 1, so log P(x) >= E_u[ log p(z) ] with q and the decoder
both exact (floor, then read the bits back); the flow alone must put its mass inside the cubes.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gentext_flow.positions import PositionConv

LOG_2PI = math.log(2 * math.pi)


DEQUANTIZATIONS = ("categorical", "contextual", "uniform")


class CategoricalEncoding(nn.Module):
    """q(z | token) per token, and the Bayes decoder p(token | z) it implies."""

    def __init__(self, vocab_size: int, dim: int, min_log_scale: float = -4.0):
        super().__init__()
        self.dim = dim
        self.mean = nn.Embedding(vocab_size, dim)
        self.log_scale = nn.Embedding(vocab_size, dim)
        self.log_prior = nn.Parameter(torch.zeros(vocab_size))
        self.min_log_scale = min_log_scale
        nn.init.normal_(self.mean.weight, std=1.0)  # spread the tokens apart from the start
        nn.init.constant_(self.log_scale.weight, -1.0)

    def _log_scales(self, tokens: torch.Tensor | None = None) -> torch.Tensor:
        table = self.log_scale.weight if tokens is None else self.log_scale(tokens)
        return table.clamp(min=self.min_log_scale)

    def sample(self, tokens: torch.Tensor, valid: torch.Tensor | None = None,
               generator: torch.Generator | None = None):
        """Reparameterised z ~ q(z | tokens), (B, T, D), and log q(z | tokens) per position (B, T)."""
        mean, log_scale = self.mean(tokens), self._log_scales(tokens)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        z = mean + noise * log_scale.exp()
        log_q = -0.5 * (noise.pow(2) + LOG_2PI).sum(-1) - log_scale.sum(-1)
        return z, log_q

    def center(self, tokens: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """The most typical z of each token (B, T, D): its Gaussian's mean."""
        return self.mean(tokens)

    def log_decoder(self, z: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """log p(token | z) for every token, (B, T, V): Bayes' rule over the encodings."""
        mean, log_scale = self.mean.weight, self._log_scales()  # (V, D)
        diff = (z[..., None, :] - mean) * torch.exp(-log_scale)  # (B, T, V, D)
        log_q = -0.5 * (diff.pow(2) + LOG_2PI).sum(-1) - log_scale.sum(-1)  # (B, T, V)
        joint = log_q + torch.log_softmax(self.log_prior, dim=0)
        return joint - torch.logsumexp(joint, dim=-1, keepdim=True)


class ContextualEncoding(nn.Module):
    """A latent in place of a dequantisation: q(z | x) and p(x_t | z) read their neighbours
    (convolutions over positions), so the flow becomes the prior of a VAE whose decoder is
    still parallel (FlowSeq, Ma et al. 2019). The bound is the same ELBO; z no longer has to
    name its token alone, which leaves the flow a smoother density to fit."""

    def __init__(self, vocab_size: int, dim: int, hidden: int = 128, min_log_scale: float = -4.0):
        super().__init__()
        self.dim, self.min_log_scale = dim, min_log_scale
        self.embedding = nn.Embedding(vocab_size, hidden)
        self.encoder = PositionConv([hidden, hidden, hidden, 2 * dim], [5, 5, 1])
        self.decoder = PositionConv([dim, hidden, hidden, vocab_size], [5, 5, 1])

    def _posterior(self, tokens, valid):
        mean, log_scale = self.encoder(self.embedding(tokens), valid).chunk(2, -1)
        return mean, log_scale.clamp(min=self.min_log_scale)

    def sample(self, tokens: torch.Tensor, valid: torch.Tensor | None = None,
               generator: torch.Generator | None = None):
        mean, log_scale = self._posterior(tokens, valid)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        log_q = -0.5 * (noise.pow(2) + LOG_2PI).sum(-1) - log_scale.sum(-1)
        return mean + noise * log_scale.exp(), log_q

    def center(self, tokens: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        return self._posterior(tokens, valid)[0]

    def log_decoder(self, z: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        return torch.log_softmax(self.decoder(z, valid).float(), dim=-1)


class UniformDequantization(nn.Module):
    """z = bits(token) + U[0, 1)^D: no parameters, q and the decoder exact (the simple baseline)."""

    def __init__(self, vocab_size: int, unk_id: int):
        super().__init__()
        self.vocab_size, self.unk_id = vocab_size, unk_id
        self.dim = max(2, math.ceil(math.log2(vocab_size)))  # couplings split channels: D >= 2
        self.register_buffer("powers", 2 ** torch.arange(self.dim), persistent=False)

    def bits(self, tokens: torch.Tensor) -> torch.Tensor:
        return ((tokens[..., None] // self.powers) % 2).float()

    def sample(self, tokens: torch.Tensor, valid: torch.Tensor | None = None,
               generator: torch.Generator | None = None):
        """z uniform in the token's unit cube, and log q = 0 (the cube's volume is 1)."""
        corner = self.bits(tokens)
        noise = torch.rand(corner.shape, generator=generator, device=corner.device)
        return corner + noise, torch.zeros(tokens.shape, device=corner.device)

    def center(self, tokens: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        return self.bits(tokens) + 0.5

    def log_decoder(self, z: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """log p(token | z), (B, T, V): 0 for the cube z lies in, -inf elsewhere; a z outside
        every token's cube (a sample off the data) decodes to <unk>."""
        corner = torch.floor(z).long()
        inside = ((corner == 0) | (corner == 1)).all(-1)
        index = (corner.clamp(0, 1) * self.powers).sum(-1)
        index = torch.where(inside & (index < self.vocab_size), index, self.unk_id)
        log_probs = torch.full((*z.shape[:-1], self.vocab_size), float("-inf"), device=z.device)
        return log_probs.scatter(-1, index[..., None], 0.0)


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
