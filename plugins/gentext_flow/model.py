"""A normalizing flow over text: tokens -> continuous vectors (variational dequantisation)
-> a stack of invertible couplings -> a standard normal, with a prior over lengths.

Its likelihood is a bound (the dequantisation's): per sentence of T tokens,

    log p(x) >= log p(T) + E_q[ log N(f(z); 0, I) + log|det df/dz| + log p(x | z) - log q(z | x) ],

tightened by importance sampling with k draws. Sampling is parallel: draw T and Gaussian noise
for every position at once, run the couplings backwards, decode every position at once.
"""

from __future__ import annotations

import math

import torch

from gentext.errors import GentextError
from gentext.model import TextModel, Vocab, filter_logits
from gentext_flow.config import FlowConfig
from gentext_flow.couplings import COUPLINGS, CouplingStack
from gentext_flow.dequantization import LOG_2PI, CategoricalEncoding, LengthPrior


def check_config(config: FlowConfig) -> None:
    if config.coupling not in COUPLINGS:
        raise GentextError(f"model.coupling must be one of {', '.join(COUPLINGS)}, "
                           f"got {config.coupling!r}")
    for name in ("dim", "hidden", "layers", "max_len", "iw_samples"):
        if getattr(config, name) < 1:
            raise GentextError(f"model.{name} must be at least 1")


class TextFlow(TextModel):
    config_class = FlowConfig
    has_latent = True
    default_nll_samples = None  # set from the config

    def __init__(self, config: FlowConfig, vocab: Vocab):
        super().__init__(config, vocab)
        check_config(config)
        self.encoding = CategoricalEncoding(vocab.size, config.dim)
        self.flow = CouplingStack(config.dim, config.hidden, config.layers, config.coupling)
        self.length_prior = LengthPrior(config.max_len)
        self.default_nll_samples = config.iw_samples

    @property
    def max_len(self) -> int:
        return self.config.max_len

    def _content(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The tokens between <bos> and <eos> (B, L), their lengths (B,) and validity (B, L).
        The length prior stands for <eos>, so each sentence still predicts lengths-1 tokens."""
        lengths = batch["lengths"].to(batch["tokens"].device) - 2
        tokens = batch["tokens"][:, 1 : 1 + int(lengths.max())]
        valid = torch.arange(tokens.size(1), device=tokens.device)[None, :] < lengths[:, None]
        return tokens.masked_fill(~valid, self.vocab.pad_id), lengths, valid

    def log_weights(self, batch: dict, k: int = 1) -> torch.Tensor:
        """(B, k) log importance weights: each a single-sample lower bound on log p(x)."""
        tokens, lengths, valid = self._content(batch)
        tokens, lengths, valid = (t.repeat_interleave(k, dim=0) for t in (tokens, lengths, valid))
        z, log_q = self.encoding.sample(tokens)
        z = z * valid[..., None]
        u, log_det = self.flow(z, valid)
        log_base = (-0.5 * (u.pow(2) + LOG_2PI).sum(-1) * valid).sum(-1)
        log_decoder = self.encoding.log_decoder(z).gather(-1, tokens[..., None])[..., 0]
        content = ((log_decoder - log_q) * valid).sum(-1)
        log_w = self.length_prior.log_prob(lengths) + log_base + log_det + content
        return log_w.view(-1, k)

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        """The single-sample bound, as nats per predicted token."""
        log_w = self.log_weights(batch).float()
        tokens = (batch["lengths"] - 1).sum()
        return {"loss": -log_w.sum() / tokens}

    @torch.no_grad()
    def nll(self, batch: dict, samples: int | None = None) -> tuple[torch.Tensor, int]:
        """The importance-weighted bound (Burda et al. 2016): -log mean_k w_k, summed."""
        k = samples or self.config.iw_samples
        log_w = self.log_weights(batch, k).float()
        bound = -(torch.logsumexp(log_w, dim=1) - math.log(k))
        return bound.sum(), int((batch["lengths"] - 1).sum())

    def _decode_tokens(self, z: torch.Tensor, valid: torch.Tensor, temperature: float,
                       top_k: int, top_p: float, generator) -> list[list[int]]:
        log_probs = self.encoding.log_decoder(z)  # (B, L, V), every position at once
        if temperature <= 0:
            tokens = log_probs.argmax(-1)
        else:
            flat = filter_logits(log_probs.flatten(0, 1) / temperature, top_k, top_p)
            tokens = torch.multinomial(torch.softmax(flat, -1), 1, generator=generator).view(z.shape[:2])
        return [row[: int(n)] for row, n in zip(tokens.tolist(), valid.sum(-1).tolist())]

    @torch.no_grad()
    def sample(self, n: int, max_len: int, *, temperature: float = 1.0, top_k: int = 0,
               top_p: float = 1.0, prompt: list[int] | None = None, condition=None,
               generator: torch.Generator | None = None) -> list[list[int]]:
        """Lengths from the prior, noise for every position, the flow run backwards: one
        parallel pass, no loop over positions."""
        device = self.encoding.mean.weight.device
        lengths = self.length_prior.sample(n, generator).to(device).clamp(max=max(1, max_len - 2))
        width = int(lengths.max())
        valid = torch.arange(width, device=device)[None, :] < lengths[:, None]
        u = torch.randn((n, width, self.config.dim), generator=generator, device=device)
        z = self.flow.inverse(u * valid[..., None], valid)
        return self._decode_tokens(z, valid, temperature, top_k, top_p, generator)

    def encode(self, batch: dict) -> torch.Tensor:
        """The base-space point of each sentence's mean encoding (B, L, D), zero past its end."""
        tokens, _, valid = self._content(batch)
        z = self.encoding.mean(tokens) * valid[..., None]
        return self.flow(z, valid)[0]

    def decode(self, u: torch.Tensor, max_len: int, **sampling) -> list[list[int]]:
        """Sentences from base-space points (B, L, D); positions that are all zero are ends."""
        valid = u.abs().sum(-1) > 0
        z = self.flow.inverse(u, valid)
        return self._decode_tokens(z, valid, sampling.get("temperature", 0.0),
                                   sampling.get("top_k", 0), sampling.get("top_p", 1.0),
                                   sampling.get("generator"))
