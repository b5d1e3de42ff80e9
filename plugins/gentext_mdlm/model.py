"""Masked diffusion language model (MDLM: Sahoo et al. 2024; D3PM-absorb: Austin et al. 2021;
MD4: Shi et al. 2024): tokens are masked at random by a forward process, and a bidirectional
Transformer learns to fill them back in.

A sentence of T tokens (``<bos>`` and ``<eos>`` excluded) is modelled as p(T) p(x | T): a
length prior (``gentext.models.length_prior``), then masked diffusion over exactly T positions, with
``<bos>`` and ``<eos>`` in place as fixed markers the denoiser reads. The figure ``nll``
reports is the negative ELBO of ``schedules``, plus -log p(T): an upper bound on -log p(x).
Sampling starts from T masks and unmasks them in S steps; infilling starts from the given
tokens with the blanks masked, and never changes a given token.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from gentext.api import (
    IGNORE_INDEX, Capabilities, CountedLengthPrior, GentextError, SamplingOptions, TextModel,
    Vocab, check_stack_config, draw_tokens, init_gpt2_weights, norm_layer,
    register_rotary_tables, stack_blocks, zero_init_projections,
)
from gentext_mdlm.config import MDLMConfig
from gentext_mdlm.schedules import (ESTIMATORS, SCHEDULES, diffusion_times, importance_sampled,
                                    masks_by_count)



class Denoiser(nn.Module):
    """gpt's stack with bidirectional attention: token (and ``<mask>``) embeddings,
    positions (rotary, as MDLM's DiT; or learned, as gpt's), a convolution over the
    embeddings, pre-LayerNorm blocks, a final LayerNorm. No time input: the masks themselves
    say how far the process has gone (MDLM found time conditioning unneeded).

    Why the convolution: gpt's input at a position is the token before its target, so its
    MLPs learn bigram statistics from the first step. A masked position's input is the same
    ``<mask>`` everywhere, so without it all context must come through attention, and at this
    budget attention stays at the unigram plateau (measured in docs/mdlm.md: the cross-entropy
    with 15% of tokens masked equals the one with all masked). A width-3 convolution hands
    each position its neighbours' tokens, as Primer's depthwise convolutions (So et al.
    2021) hand them to attention, and the plateau is gone within 200 steps."""

    def __init__(self, config: MDLMConfig, rows: int):
        super().__init__()
        self.wte = nn.Embedding(rows, config.n_embd)
        if config.positions == "learned":
            self.wpe = nn.Embedding(config.max_len, config.n_embd)
        else:
            register_rotary_tables(self, config.max_len, config.n_embd // config.n_head)
        if config.conv_width:
            self.conv = nn.Conv1d(config.n_embd, config.n_embd, config.conv_width,
                                  padding=config.conv_width // 2)
        self.drop = nn.Dropout(config.dropout)
        self.h = stack_blocks(config, causal=False)
        self.ln_f = norm_layer(config.norm, config.n_embd, config.bias)

    def forward(self, z: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, L, C) for sequences ``z`` (B, L); keys past each row's length (``<bos>`` to
        ``<eos>``) are never attended to."""
        positions = torch.arange(z.size(1), device=z.device)
        keys = positions[None, :] < lengths[:, None]
        x = self.wte(z)
        rotary = None
        if hasattr(self, "wpe"):
            x = x + self.wpe(positions)
        else:
            rotary = (self.rotary_cos, self.rotary_sin)
        if hasattr(self, "conv"):  # padding reads as zeros, so a sentence sees only itself
            x = x * keys[..., None]
            x = x + self.conv(x.transpose(1, 2)).transpose(1, 2)
        x = self.drop(x)
        for block in self.h:
            x = block(x, key_mask=keys, rotary=rotary)
        return self.ln_f(x)


class MaskedDiffusion(TextModel):
    """The denoiser p_theta(x_i | z_t) with the SUBS parameterisation: it never predicts
    ``<mask>`` (nor ``<bos>``, ``<eos>``, ``<pad>``: impossible inside a sentence), and a
    position that is not masked keeps its token, so only masked positions carry loss."""

    capabilities = Capabilities(prompt=True, infill=True, nll_samples=16,
                                sampling_knobs={"steps": 64})
    # the blocks (inductor's convolution backward fixes the width: not the input convolution)
    compiled_modules = ("denoiser.h",)
    fsdp_units = ("denoiser.h",)

    def __init__(self, config: MDLMConfig, vocab: Vocab):
        super().__init__(config, vocab)
        check_stack_config(config)
        if config.schedule not in SCHEDULES:
            raise GentextError(f"unknown model.schedule {config.schedule!r}; choose one of "
                               f"{', '.join(SCHEDULES)}")
        if config.estimator not in ESTIMATORS:
            raise GentextError(f"unknown model.estimator {config.estimator!r}; choose one of "
                               f"{', '.join(ESTIMATORS)}")
        if config.conv_width < 0 or (config.conv_width and config.conv_width % 2 == 0):
            raise GentextError(f"model.conv_width must be 0 (none) or odd (1, 3, 5, ...), got "
                               f"{config.conv_width}")
        for name, least in (("max_len", 3), ("nll_samples", 1), ("sampling_steps", 1)):
            if getattr(config, name) < least:
                raise GentextError(f"model.{name} must be at least {least}, got "
                                   f"{getattr(config, name)}")
        self.capabilities = dataclasses.replace(
            self.capabilities, nll_samples=config.nll_samples,
            sampling_knobs={"steps": config.sampling_steps})
        self.schedule = SCHEDULES[config.schedule]()
        # the tokenizer's own mask token, else one row past its vocabulary
        self.mask_id = vocab.size if vocab.mask_id is None else vocab.mask_id
        self.denoiser = Denoiser(config, vocab.size + 1)
        self.length_prior = CountedLengthPrior(config.max_len - 2)
        init_gpt2_weights(self, config.n_layer)
        if config.zero_init:  # each block starts as the identity
            zero_init_projections(self.denoiser.h)
        impossible = torch.zeros(vocab.size, dtype=torch.bool)
        never = {vocab.bos_id, vocab.eos_id, vocab.pad_id, self.mask_id} - {vocab.size}
        impossible[sorted(never)] = True
        self.register_buffer("impossible", impossible, persistent=False)

    @property
    def max_len(self) -> int:
        return self.config.max_len

    def make_optimizers(self, train, fused: bool = False) -> dict[str, torch.optim.Optimizer]:
        """AdamW over everything, or the recipe's split (``model.optimizer = "muon"``): Muon for
        the denoiser's block matrices, AdamW for the rest."""
        if self.config.optimizer == "adamw":
            return super().make_optimizers(train, fused)
        from gentext.api import muon_for_blocks

        return {"model": muon_for_blocks(self.parameters(), self.denoiser.h, train, fused)}

    # -- the denoiser ---------------------------------------------------------------------

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits over the tokenizer's vocabulary through the input embedding (tied, as
        gpt's), impossible tokens at -inf; ``<mask>``'s row is never an output (SUBS)."""
        weight = self.denoiser.wte.weight[: self.vocab.size]
        return F.linear(hidden, weight).float().masked_fill(self.impossible, float("-inf"))

    # -- the bound ------------------------------------------------------------------------

    def _content(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Tokens (B, L), lengths (B,) (``<bos>``/``<eos>`` included) and the content
        positions (B, L): those between ``<bos>`` and ``<eos>``, the diffusion's variables."""
        tokens = batch["tokens"]
        lengths = batch["lengths"].to(tokens.device)  # padding past them is never content
        positions = torch.arange(tokens.size(1), device=tokens.device)
        content = (positions[None, :] >= 1) & (positions[None, :] < lengths[:, None] - 1)
        return tokens, lengths, content

    def draw_masks(self, content: torch.Tensor, u: torch.Tensor, importance: bool,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L) masks and (B,) weights, one draw of the bound per row from ``u`` (B,) in
        (0, 1]: by count (``model.estimator = "count"``: k = ceil(u T) tokens masked, weight
        T/k), or by time (t = u, or u^2 weighted by 2u under ``importance``; each token masked
        with probability mask_rate(t), weight w(t))."""
        if self.config.estimator == "count":
            return masks_by_count(content, u, generator)
        t, factor = importance_sampled(u) if importance else (u, torch.ones_like(u))
        draws = torch.rand(content.shape, device=content.device, generator=generator)
        masked = content & (draws < self.schedule.mask_rate(t)[:, None])
        return masked, factor * self.schedule.weight(t)

    def masked_nats(self, tokens: torch.Tensor, lengths: torch.Tensor, masked: torch.Tensor,
                    weight: torch.Tensor) -> torch.Tensor:
        """One draw of the diffusion bound per row (B,): ``weight`` times the cross-entropy
        summed over the ``masked`` positions only. The network reads the masked sequence
        once; logits are computed at masked positions only."""
        z = tokens.masked_fill(masked, self.mask_id)
        hidden = self.denoiser(z, lengths)  # (B, L, C)
        if hidden.device.type == "cpu":  # the masked positions only: half the output layer
            nats = F.cross_entropy(self.logits(hidden[masked]), tokens[masked], reduction="none")
            per_row = torch.zeros(tokens.size(0), device=tokens.device, dtype=nats.dtype)
            per_row = per_row.index_add(0, masked.nonzero()[:, 0], nats)
        else:  # every position, masked after: picking positions would wait for the device
            targets = tokens.masked_fill(~masked, IGNORE_INDEX)  # 0 nats where not masked
            nats = F.cross_entropy(self.logits(hidden).transpose(1, 2), targets,
                                   ignore_index=IGNORE_INDEX, reduction="none")
            per_row = nats.sum(dim=1)
        return weight.float() * per_row

    def one_draw(self, tokens, lengths, content, u, importance: bool,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """One draw of the diffusion bound per row (B,), from ``u`` (B,)."""
        masked, weight = self.draw_masks(content, u, importance, generator)
        return self.masked_nats(tokens, lengths, masked, weight)

    def length_nats(self, lengths: torch.Tensor) -> torch.Tensor:
        """-log p(T) per row, T the number of tokens between ``<bos>`` and ``<eos>``."""
        return -self.length_prior.log_prob(lengths - 2).float()

    def training_step(self, batch: dict, context) -> dict[str, torch.Tensor]:
        """Count the step's lengths into the length prior (every process's, so the prior is
        the whole data's however a run is split), then minimise the bound."""
        _, lengths, _ = self._content(batch)
        self.length_prior.add(context.sum_over_processes(self.length_prior.histogram(lengths - 2)))
        return self.loss_step(batch, context, "model")

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        """One draw of t per sentence (antithetic across the batch): the bound as nats per
        predicted token (the protocol's count: the tokens and ``<eos>``), and its parts."""
        tokens, lengths, content = self._content(batch)
        u = diffusion_times(tokens.size(0), 1, self.config.antithetic, tokens.device)[0]
        diffusion = self.one_draw(tokens, lengths, content, u[:, 0], self.config.importance_t)
        length = self.length_nats(lengths)
        predicted = (lengths - 1).sum()
        return {"loss": (diffusion.sum() + length.sum()) / predicted,
                "diffusion_per_token": (diffusion.sum() / predicted).detach(),
                "length_per_token": (length.sum() / predicted).detach()}

    def bound_draws(self, batch: dict, draws: int,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, K) single-draw estimates of the bound on -log p(x), nats: K antithetic draws
        per row (``schedules.diffusion_times``), of the count of masked tokens or of t
        (importance-sampled)."""
        tokens, lengths, content = self._content(batch)
        u = diffusion_times(tokens.size(0), draws, self.config.antithetic, tokens.device,
                            generator)[0]
        length = self.length_nats(lengths)
        return torch.stack([self.one_draw(tokens, lengths, content, u[:, k], True, generator)
                            for k in range(draws)], dim=1) + length[:, None]

    @torch.no_grad()
    def nll(self, batch: dict, samples: int | None = None) -> tuple[torch.Tensor, int]:
        """The bound averaged over K draws of t per sentence (K = ``samples``, default
        ``model.nll_samples``), summed, and the token count."""
        return self.nll_with_variance(batch, samples)[:2]

    @torch.no_grad()
    def nll_with_variance(self, batch: dict, samples: int | None = None):
        """``nll`` and the variance of its sum: each sentence's draws' variance / K, summed
        (conservative: antithetic draws vary less than independent ones). None for K = 1."""
        draws = samples or self.config.nll_samples
        bounds = self.bound_draws(batch, draws)
        variance = bounds.var(dim=1).sum() if draws > 1 else None
        return (bounds.mean(dim=1).sum(), int((batch["lengths"] - 1).sum()),
                None if variance is None else variance / draws)

    @torch.no_grad()
    def diagnostics(self, batches) -> dict[str, float]:
        """The bound's parts per token (one draw of t a sentence): the diffusion term and the
        length prior's."""
        diffusion, length, predicted = 0.0, 0.0, 0
        for batch in batches:
            lengths = batch["lengths"].to(batch["tokens"].device)
            length_nats = float(self.length_nats(lengths).sum())
            diffusion += float(self.bound_draws(batch, 1).sum()) - length_nats
            length += length_nats
            predicted += int((lengths - 1).sum())
        return {"diffusion_per_token": diffusion / predicted, "length_per_token": length / predicted}

    # -- sampling and infilling -------------------------------------------------------------

    def generate(self, n: int, options: SamplingOptions, max_new_tokens: int,
                 prompt: list[int], condition) -> list[list[int]]:
        """Lengths from the prior (at least the prompt; exactly prompt + ``max_new_tokens``
        when rows may not stop early), the prompt fixed in front, the rest denoised; a row
        longer than the prompt + ``max_new_tokens`` is cut there."""
        longest = self.config.max_len - 2
        if len(prompt) > longest:
            raise GentextError(f"the prompt has {len(prompt)} tokens; this model's sentences "
                               f"hold at most {longest}")
        cap = min(longest, len(prompt) + max_new_tokens)
        if options.stop_at_eos:
            lengths = self.length_prior.sample(n, options.generator, shortest=max(1, len(prompt)),
                                               longest=longest).to(self.device)
        else:
            lengths = torch.full((n,), cap, device=self.device)
        rows = [list(prompt) + [None] * (int(length) - len(prompt)) for length in lengths]
        return [row[:cap] for row in self.denoise(rows, options)]

    def infill(self, template: list[int | None], n: int = 1,
               options: SamplingOptions | None = None) -> list[list[int]]:
        """``n`` fillings of ``template`` (token ids, None for each blank position): the
        given tokens stay as they are; the blanks are denoised in S steps."""
        options = self.resolve_options(options or SamplingOptions())
        if len(template) > self.config.max_len - 2:
            raise GentextError(f"the text has {len(template)} tokens; this model's sentences "
                               f"hold at most {self.config.max_len - 2}")
        return self.denoise([list(template) for _ in range(n)], options)

    @torch.no_grad()
    def denoise(self, rows: list[list[int | None]], options: SamplingOptions) -> list[list[int]]:
        """Ancestral sampling (MDLM's reverse process): from time 1 to 0 in S equal steps, a
        masked position is unmasked between t and s < t with probability
        (alpha_s - alpha_t) / (1 - alpha_t), to a token drawn from p_theta(x | z_t); an
        unmasked one never changes. At s = 0 every mask is gone. The network runs again only
        for rows whose sequence changed since it last read them (a step that unmasks nothing
        costs nothing)."""
        steps = options.knobs["steps"]
        device = self.device
        width = max(len(row) for row in rows) + 2
        lengths = torch.tensor([len(row) + 2 for row in rows], device=device)
        z = torch.full((len(rows), width), self.vocab.pad_id, device=device, dtype=torch.long)
        for index, row in enumerate(rows):
            ids = [self.mask_id if token is None else token for token in row]
            z[index, : len(row) + 2] = torch.tensor([self.vocab.bos_id, *ids, self.vocab.eos_id])
        logits = torch.empty(*z.shape, self.vocab.size, device=device)
        stale = torch.ones(len(rows), dtype=torch.bool, device=device)
        for step in range(steps):
            masked = z == self.mask_id
            if not masked.any():
                break
            t = torch.tensor(1.0 - step / steps, device=device)
            s = torch.tensor(1.0 - (step + 1) / steps, device=device)
            rate_t, rate_s = self.schedule.mask_rate(t), self.schedule.mask_rate(s)
            reveal = (rate_t - rate_s) / rate_t  # (alpha_s - alpha_t) / (1 - alpha_t)
            chosen = masked & (torch.rand(z.shape, device=device,
                                          generator=options.generator) < reveal)
            if step == steps - 1:
                chosen = masked
            if not chosen.any():
                continue
            if stale.any():
                logits[stale] = self.logits(self.denoiser(z[stale], lengths[stale]))
            z[chosen] = draw_tokens(logits[chosen], options)
            stale = chosen.any(dim=1)
        return [row[1 : length - 1] for row, length in zip(z.tolist(), lengths.tolist())]
