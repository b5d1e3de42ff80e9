"""A normalizing flow over text: tokens -> continuous vectors (variational dequantisation)
-> a stack of invertible couplings -> a standard normal, with a prior over lengths.

Its likelihood is a bound (the dequantisation's): per sentence of T tokens,

    log p(x) >= log p(T) + E_q[ log N(f(z); 0, I) + log|det df/dz| + log p(x | z) - log q(z | x) ],

tightened by importance sampling with k draws. Sampling is parallel: draw T and Gaussian noise
for every position at once, run the couplings backwards, decode every position at once.
"""

from __future__ import annotations

import dataclasses

import torch

from gentext.api import (
    Capabilities, GentextError, LengthPrior, SamplingOptions, TextModel, Vocab, active_units,
    draw_tokens, importance_weighted_bound,
)
from gentext_flow.config import FlowConfig
from gentext_flow.couplings import COUPLINGS, CouplingStack
from gentext_flow.dequantization import (
    DEQUANTIZATIONS, LOG_2PI, ArgmaxEncoding, CategoricalEncoding, ContextualEncoding, UniformDequantization)


def check_config(config: FlowConfig) -> None:
    for name, choices in (("coupling", COUPLINGS), ("dequantization", DEQUANTIZATIONS)):
        if getattr(config, name) not in choices:
            raise GentextError(f"model.{name} must be one of {', '.join(choices)}, "
                               f"got {getattr(config, name)!r}")
    for name in ("dim", "hidden", "codec_hidden", "layers", "bins", "max_len", "nll_samples"):
        if getattr(config, name) < 1:
            raise GentextError(f"model.{name} must be at least 1")
    if config.dim < 2:
        raise GentextError("model.dim must be at least 2 (channel couplings split it in two)")
    if config.kernel < 1 or config.kernel % 2 == 0:
        raise GentextError(f"model.kernel must be odd and positive, got {config.kernel}")


class TextFlow(TextModel):
    # base_temperature scales the base noise a sample starts from, u ~ N(0, tau^2 I) (Glow's
    # reduced-temperature sampling, Kingma & Dhariwal 2018): below 1, samples come from nearer
    # the mode; 1 is the model the bound scores
    capabilities = Capabilities(latent=True, sampling_knobs={"base_temperature": 1.0})
    # Samples draw z from the flow, then each position's token from p(x | z) at temperature
    # 0.8: on byte-level BPE that keeps 90% of sampled words real at distinct-2 0.86, where
    # temperature 1 (the model the bound scores) spreads over rarer tokens and the most likely
    # token (0, FlowSeq's noisy parallel decoding, Ma et al. 2019) repeats "the" and ","
    # (docs/flow.md, "Decoding a sample").
    default_temperature = 0.8
    # compiled_modules: none yet; the couplings recompile for every width (docs/speed.md)

    def __init__(self, config: FlowConfig, vocab: Vocab):
        super().__init__(config, vocab)
        check_config(config)
        if config.dequantization == "argmax":
            self.encoding = ArgmaxEncoding(vocab.size, vocab.unk_id, config.codec_hidden)
        elif config.dequantization == "uniform":
            self.encoding = UniformDequantization(vocab.size, vocab.unk_id)
        elif config.dequantization == "contextual":
            self.encoding = ContextualEncoding(vocab.size, config.dim, config.codec_hidden)
        else:
            self.encoding = CategoricalEncoding(vocab.size, config.dim)
        self.dim = self.encoding.dim
        self.flow = CouplingStack(self.dim, config.hidden, config.layers, config.coupling,
                                  config.kernel, config.bins, config.dilated)
        self.length_prior = LengthPrior(config.max_len)
        self.capabilities = dataclasses.replace(TextFlow.capabilities, nll_samples=config.nll_samples)

    @property
    def max_len(self) -> int:
        return self.config.max_len

    def _content(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The tokens between <bos> and <eos> (B, L), their lengths (B,) and validity (B, L).
        The length prior stands for <eos>, so each sentence still predicts lengths-1 tokens."""
        lengths = batch["lengths"].to(batch["tokens"].device) - 2
        tokens = batch["tokens"][:, 1:-1]  # past a row's length: padding, masked by ``valid``
        valid = torch.arange(tokens.size(1), device=tokens.device)[None, :] < lengths[:, None]
        return tokens.masked_fill(~valid, self.vocab.pad_id), lengths, valid

    def bound_terms(self, batch: dict, k: int = 1) -> dict[str, torch.Tensor]:
        """The parts of k single-sample bounds per sentence, each (B, k): log p(T) ("length"),
        log p(z) under the flow ("prior"), log p(x | z) ("decoder") and -log q(z | x)
        ("entropy"). Their sum is a lower bound on log p(x)."""
        tokens, lengths, valid = self._content(batch)
        tokens, lengths, valid = (t.repeat_interleave(k, dim=0) for t in (tokens, lengths, valid))
        z, log_q = self.encoding.sample(tokens, valid)
        z = z * valid[..., None]
        u, log_det = self.flow(z, valid)
        log_base = (-0.5 * (u.pow(2) + LOG_2PI).sum(-1) * valid).sum(-1)
        log_decoder = self.encoding.log_decoder(z, valid).gather(-1, tokens[..., None])[..., 0]
        terms = {"length": self.length_prior.log_prob(lengths), "prior": log_base + log_det,
                 "decoder": (log_decoder * valid).sum(-1), "entropy": -(log_q * valid).sum(-1)}
        return {name: term.float().view(-1, k) for name, term in terms.items()}

    def log_weights(self, batch: dict, k: int = 1) -> torch.Tensor:
        """(B, k) log importance weights: each a single-sample lower bound on log p(x)."""
        return sum(self.bound_terms(batch, k).values())

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        """The single-sample bound as nats per predicted token, and its parts for the log:
        reconstruction -log p(x | z), KL-like gap log q(z | x) - log p(z), and -log p(T)."""
        terms = self.bound_terms(batch)
        tokens = (batch["lengths"] - 1).sum()
        kl_like = terms["prior"] + terms["entropy"]
        loss = -(terms["decoder"] + terms["length"] + kl_like).sum() / tokens
        return {"loss": loss, "rec_per_token": (-terms["decoder"].sum() / tokens).detach(),
                "kl_per_token": (-kl_like.sum() / tokens).detach(),
                "length_per_token": (-terms["length"].sum() / tokens).detach()}

    @torch.no_grad()
    def nll(self, batch: dict, samples: int | None = None) -> tuple[torch.Tensor, int]:
        """The importance-weighted bound (Burda et al. 2016): -log mean_k w_k, summed."""
        k = samples or self.config.nll_samples
        bound = importance_weighted_bound(self.log_weights(batch, k).float(), dim=1)
        return bound.sum(), int((batch["lengths"] - 1).sum())

    @torch.no_grad()
    def diagnostics(self, batches) -> dict[str, float]:
        """The single-draw bound's parts per token over a split (reconstruction, the KL-like
        gap log q(z | x) - log p(z), the length), and the active units of z: dimensions whose
        dequantisation centre varies across the split's positions, Var > 0.01 (Burda et al.)."""
        totals, tokens, centres = {"rec": 0.0, "kl": 0.0, "length": 0.0}, 0, []
        for batch in batches:
            terms = self.bound_terms(batch)
            totals["rec"] -= float(terms["decoder"].sum())
            totals["kl"] -= float((terms["prior"] + terms["entropy"]).sum())
            totals["length"] -= float(terms["length"].sum())
            tokens += int((batch["lengths"] - 1).sum())
            content, _, valid = self._content(batch)
            centres.append(self.encoding.center(content, valid)[valid].float())
        figures = {f"{name}_per_token": total / tokens for name, total in totals.items()}
        centres = torch.cat(centres)
        figures["active_units"] = active_units(centres)
        figures["latent_dim"] = self.dim
        return figures

    def _decode_tokens(self, z: torch.Tensor, valid: torch.Tensor,
                       options: SamplingOptions) -> list[list[int]]:
        if self.encoding.exact:
            # one token a position whatever the temperature (<unk> for a code no token owns)
            tokens = self.encoding.decode_tokens(z)
        else:
            logits = self.encoding.decoder_logits(z, valid)  # (B, L, V), every position at once
            # a position inside a sentence holds none of <bos>, <pad>, <eos> (its end is the
            # length)
            specials = self.never_drawn(dataclasses.replace(options, stop_at_eos=False), z.device)
            logits = logits.index_fill(-1, specials, float("-inf"))
            tokens = draw_tokens(logits.flatten(0, 1), options).view(z.shape[:2])
        return [row[: int(n)] for row, n in zip(tokens.tolist(), valid.sum(-1).tolist())]

    def generate(self, n: int, options: SamplingOptions, max_new_tokens: int,
                 prompt: list[int], condition) -> list[list[int]]:
        """Lengths from the prior (at most ``max_new_tokens``; exactly that many when rows
        may not stop early), then ``sample_lengths``."""
        device = self.length_prior.logits.device
        if options.stop_at_eos:
            lengths = self.length_prior.sample(n, options.generator).to(device)
            lengths = lengths.clamp(max=max(1, max_new_tokens))
        else:
            lengths = torch.full((n,), max(1, max_new_tokens), device=device)
        return self.sample_lengths(lengths, options)

    @torch.no_grad()
    def sample_lengths(self, lengths: torch.Tensor,
                       options: SamplingOptions | None = None) -> list[list[int]]:
        """Sentences of the given lengths (B,): noise for every position, the flow run
        backwards, every position decoded: one parallel pass, no loop over positions."""
        options = self.resolve_options(options or SamplingOptions())
        lengths = lengths.to(self.length_prior.logits.device)
        width = int(lengths.max())
        valid = torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]
        tau = options.knobs["base_temperature"]
        if not 0 <= tau < float("inf"):
            raise GentextError(f"base_temperature must be a finite number >= 0, got {tau}")
        u = torch.randn((len(lengths), width, self.dim), generator=options.generator,
                        device=lengths.device)
        z = self.flow.inverse(tau * u * valid[..., None], valid)
        return self._decode_tokens(z, valid, options)

    def encode(self, batch: dict, draw: bool = False) -> torch.Tensor:
        """Each sentence's point in the flow's base space, from its tokens' typical encodings
        (or with ``draw`` a draw from the dequantiser q(z | x)), (B, L, D + 1): the last
        channel is 1 inside the sentence and 0 past its end, so a straight line between two
        sentences of different lengths changes length halfway."""
        tokens, _, valid = self._content(batch)
        z = self.encoding.sample(tokens, valid)[0] if draw else self.encoding.center(tokens, valid)
        u = self.flow(z * valid[..., None], valid)[0]
        return torch.cat([u * valid[..., None], valid[..., None].to(u.dtype)], dim=-1)

    @torch.no_grad()
    def decode(self, u: torch.Tensor, options: SamplingOptions | None = None, *,
               max_new_tokens: int) -> list[list[int]]:
        """Sentences from base-space points as ``encode`` gives them: the flow run backwards,
        then each position decoded (greedily at temperature 0). A point's length is its own
        (the last channel), cut to ``max_new_tokens``."""
        options = self.resolve_options(options or SamplingOptions())
        valid = u[..., -1] > 0.5
        u = u[..., :-1] * valid[..., None]
        z = self.flow.inverse(u, valid)
        return [row[:max_new_tokens] for row in self._decode_tokens(z, valid, options)]
