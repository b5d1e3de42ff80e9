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
import torch.nn.functional as F
from torch import nn

from gentext_flow.positions import PositionConv

LOG_2PI = math.log(2 * math.pi)


DEQUANTIZATIONS = ("argmax", "categorical", "contextual", "uniform")


def binary_code(tokens: torch.Tensor, dim: int) -> torch.Tensor:
    """Each token's index in binary, least significant bit first: (..., dim) of 0s and 1s."""
    powers = 2 ** torch.arange(dim, device=tokens.device)
    return (tokens[..., None] // powers) % 2


def read_binary_code(bits: torch.Tensor, vocab_size: int, unk_id: int) -> torch.Tensor:
    """The token whose code ``bits`` (..., dim) is; a code no token has reads as <unk>."""
    powers = 2 ** torch.arange(bits.size(-1), device=bits.device)
    index = (bits.long() * powers).sum(-1)
    return torch.where(index < vocab_size, index, unk_id)


def one_hot_log_probs(tokens: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """log p(token | z) of a deterministic decoder, (..., V): 0 at ``tokens``, -inf elsewhere."""
    log_probs = torch.full((*tokens.shape, vocab_size), float("-inf"), device=tokens.device)
    return log_probs.scatter(-1, tokens[..., None], 0.0)


def gaussian_sample(mean: torch.Tensor, log_scale: torch.Tensor,
                    generator: torch.Generator | None = None):
    """Reparameterised z ~ N(mean, diag(exp(log_scale)^2)), (..., D), and log N(z), (...)."""
    noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    log_density = -0.5 * (noise.pow(2) + LOG_2PI).sum(-1) - log_scale.sum(-1)
    return mean + noise * log_scale.exp(), log_density


class CategoricalEncoding(nn.Module):
    """q(z | token) per token, and the Bayes decoder p(token | z) it implies."""

    exact = False  # the decoder is a distribution over tokens (``decoder_logits``)

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
        return gaussian_sample(self.mean(tokens), self._log_scales(tokens), generator)

    def center(self, tokens: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """The most typical z of each token (B, T, D): its Gaussian's mean."""
        return self.mean(tokens)

    def decoder_logits(self, z: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """log q(z | token) p(token) for every token, (B, T, V): Bayes' rule unnormalised."""
        mean, log_scale = self.mean.weight, self._log_scales()  # (V, D)
        diff = (z[..., None, :] - mean) * torch.exp(-log_scale)  # (B, T, V, D)
        log_q = -0.5 * (diff.pow(2) + LOG_2PI).sum(-1) - log_scale.sum(-1)  # (B, T, V)
        return log_q + torch.log_softmax(self.log_prior, dim=0)

    def log_decoder(self, z: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """log p(token | z) for every token, (B, T, V): Bayes' rule over the encodings."""
        return torch.log_softmax(self.decoder_logits(z, valid), dim=-1)


class ContextualPosterior(nn.Module):
    """q(u | x): a Gaussian per position read from its neighbours (an embedding, then
    convolutions over positions), shared by ``contextual`` and ``argmax``."""

    def __init__(self, vocab_size: int, dim: int, hidden: int, min_log_scale: float):
        super().__init__()
        self.dim, self.min_log_scale = dim, min_log_scale
        self.embedding = nn.Embedding(vocab_size, hidden)
        self.encoder = PositionConv([hidden, hidden, hidden, 2 * dim], [5, 5, 1])

    def _posterior(self, tokens, valid):
        mean, log_scale = self.encoder(self.embedding(tokens), valid).chunk(2, -1)
        return mean, log_scale.clamp(min=self.min_log_scale)


class ContextualEncoding(ContextualPosterior):
    """A latent in place of a dequantisation: q(z | x) and p(x_t | z) read their neighbours
    (convolutions over positions), so the flow becomes the prior of a VAE whose decoder is
    still parallel (FlowSeq, Ma et al. 2019). The bound is the same ELBO; z no longer has to
    name its token alone, which leaves the flow a smoother density to fit."""

    exact = False

    def __init__(self, vocab_size: int, dim: int, hidden: int = 128, min_log_scale: float = -4.0):
        super().__init__(vocab_size, dim, hidden, min_log_scale)
        self.decoder = PositionConv([dim, hidden, hidden, vocab_size], [5, 5, 1])

    def sample(self, tokens: torch.Tensor, valid: torch.Tensor | None = None,
               generator: torch.Generator | None = None):
        return gaussian_sample(*self._posterior(tokens, valid), generator)

    def center(self, tokens: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        return self._posterior(tokens, valid)[0]

    def decoder_logits(self, z: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(z, valid).float()

    def log_decoder(self, z: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        return torch.log_softmax(self.decoder_logits(z, valid), dim=-1)


class UniformDequantization(nn.Module):
    """z = bits(token) + U[0, 1)^D: no parameters, q and the decoder exact (the simple baseline)."""

    exact = True  # the decoder names one token (``decode_tokens``)

    def __init__(self, vocab_size: int, unk_id: int):
        super().__init__()
        self.vocab_size, self.unk_id = vocab_size, unk_id
        self.dim = max(2, math.ceil(math.log2(vocab_size)))  # couplings split channels: D >= 2

    def bits(self, tokens: torch.Tensor) -> torch.Tensor:
        return binary_code(tokens, self.dim).float()

    def sample(self, tokens: torch.Tensor, valid: torch.Tensor | None = None,
               generator: torch.Generator | None = None):
        """z uniform in the token's unit cube, and log q = 0 (the cube's volume is 1)."""
        corner = self.bits(tokens)
        noise = torch.rand(corner.shape, generator=generator, device=corner.device)
        return corner + noise, torch.zeros(tokens.shape, device=corner.device)

    def center(self, tokens: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        return self.bits(tokens) + 0.5

    def decode_tokens(self, z: torch.Tensor) -> torch.Tensor:
        """The token whose cube z lies in, (B, T); a z outside every token's cube (a sample off
        the data) decodes to <unk>."""
        corner = torch.floor(z).long()
        inside = ((corner == 0) | (corner == 1)).all(-1)
        index = read_binary_code(corner.clamp(0, 1), self.vocab_size, self.unk_id)
        return torch.where(inside, index, self.unk_id)

    def log_decoder(self, z: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """log p(token | z), (B, T, V): 0 for the cube z lies in, -inf elsewhere."""
        return one_hot_log_probs(self.decode_tokens(z), self.vocab_size)


class ArgmaxEncoding(ContextualPosterior):
    """Binary argmax dequantisation (Hoogeboom et al. 2021, "Argmax Flows"): token c owns the
    orthant of R^D whose signs spell its index in binary, D = ceil(log2 V). q(z | x) is a
    Gaussian per position read from the neighbours (convolutions, as in ``contextual``),
    pushed into the token's orthant by z_d = sign_d(c) * softplus(u_d). The decoder reads the
    signs back: it is exact, so a sample of the flow decoded is a sample of the model, and the
    bound is log p(x) >= E_q[ log p(z) - log q(z | x) ] with nothing left to a softmax.
    A margin of 1e-4 keeps z off the orthant's walls where softplus underflows (a shift: the
    log-determinant is unchanged)."""

    margin = 1e-4
    exact = True

    def __init__(self, vocab_size: int, unk_id: int, hidden: int = 128, min_log_scale: float = -4.0):
        dim = max(2, math.ceil(math.log2(vocab_size)))  # couplings split channels: D >= 2
        super().__init__(vocab_size, dim, hidden, min_log_scale)
        self.vocab_size, self.unk_id = vocab_size, unk_id

    def _signs(self, tokens: torch.Tensor) -> torch.Tensor:
        return 2.0 * binary_code(tokens, self.dim) - 1.0

    def sample(self, tokens: torch.Tensor, valid: torch.Tensor | None = None,
               generator: torch.Generator | None = None):
        """z in the token's orthant, and log q(z | x) = log N(u) - sum_d log softplus'(u_d)."""
        u, log_q_u = gaussian_sample(*self._posterior(tokens, valid), generator)
        log_q = log_q_u - F.logsigmoid(u).sum(-1)
        return self._signs(tokens) * (F.softplus(u) + self.margin), log_q

    def center(self, tokens: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        return self._signs(tokens) * (F.softplus(self._posterior(tokens, valid)[0]) + self.margin)

    def decode_tokens(self, z: torch.Tensor) -> torch.Tensor:
        """The token whose orthant z lies in, (B, T) (<unk> for a code no token has)."""
        return read_binary_code(z > 0, self.vocab_size, self.unk_id)

    def log_decoder(self, z: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """log p(token | z), (B, T, V): 0 for the token whose orthant z lies in, -inf elsewhere."""
        return one_hot_log_probs(self.decode_tokens(z), self.vocab_size)
