"""A sentence VAE (Bowman et al. 2016, "Generating Sentences from a Continuous Space").

Encoder: embeddings -> bidirectional GRU/LSTM -> mean and log-variance of q(z | x), a
diagonal Gaussian. Decoder: an autoregressive GRU/LSTM language model conditioned on z, through
its initial state and/or z concatenated to every input. Trained on the ELBO with the tricks
that keep q(z | x) from collapsing onto the prior: KL annealing, word dropout and free bits.
Its likelihood is a bound: ``nll`` is the importance-weighted bound of Burda et al. (2016).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from gentext.api import (
    IGNORE_INDEX, AutoregressiveModel, Capabilities, GentextError, SamplingOptions, Vocab,
    active_units, gaussian_kl, importance_weighted_bound, log_normal, mutual_information,
    shifted_targets,
)
from gentext_seqvae.annealing import REMOVED_SCHEDULES, SCHEDULES, kl_weight
from gentext_seqvae.config import SeqVAEConfig

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}
IW_ROWS_PER_CHUNK = 2048  # sentences decoded at once when drawing k samples per example


def check_config(config: SeqVAEConfig) -> None:
    """Refuse settings that cannot work, naming the key."""
    if config.cell not in CELLS:
        raise GentextError(f"model.cell must be one of {', '.join(CELLS)}, got {config.cell!r}")
    if config.kl_schedule in REMOVED_SCHEDULES:
        raise GentextError(f"model.kl_schedule {config.kl_schedule!r} "
                           f"{REMOVED_SCHEDULES[config.kl_schedule]}; choose one of "
                           f"{', '.join(SCHEDULES)}")
    if config.kl_schedule not in SCHEDULES:
        raise GentextError(f"model.kl_schedule must be one of {', '.join(SCHEDULES)}, "
                           f"got {config.kl_schedule!r}")
    if not 0 <= config.autoencoder_fraction < 1:
        raise GentextError(f"model.autoencoder_fraction must be in [0, 1), got {config.autoencoder_fraction}")
    if config.latent_dim < 0 or config.nll_samples < 1:
        raise GentextError("model.latent_dim must be >= 0 and model.nll_samples >= 1")
    if not all(0 <= rate < 1 for rate in (config.word_dropout, config.dropout)):
        raise GentextError("model.word_dropout and model.dropout must be in [0, 1)")
    if config.latent_dim and not (config.z_init or config.z_every_step):
        raise GentextError("the decoder must see z: set model.z_init or model.z_every_step")


class SeqVAE(AutoregressiveModel):
    """Sentence VAE; with ``latent_dim = 0`` the same decoder as a plain RNN language model.

    Its decoder is the autoregressive part: ``step`` reads z (the context) through the RNN's
    initial state and/or every input, so sampling and decoding z are the shared loop."""

    capabilities = Capabilities(latent=True)
    # compiled_modules: none, Dynamo runs recurrent layers eagerly

    def __init__(self, config: SeqVAEConfig, vocab: Vocab):
        super().__init__(config, vocab)
        check_config(config)
        rnn = CELLS[config.cell]
        latent, hidden = config.latent_dim, config.decoder_hidden
        # padding's row stays zero, unless padding borrows a token that is read (GPT-2's
        # <|endoftext|> pads and begins a sentence)
        own_pad = vocab.pad_id not in (vocab.bos_id, vocab.eos_id, vocab.unk_id)
        self.embedding = nn.Embedding(vocab.size, config.embedding_dim,
                                      padding_idx=vocab.pad_id if own_pad else None)
        self.drop = nn.Dropout(config.dropout)
        if latent:
            self.encoder = rnn(config.embedding_dim, config.encoder_hidden, batch_first=True,
                               bidirectional=True)
            # one direction of it, run with its weights (``_last_state``); a tuple: not a
            # submodule, so it adds no parameters and no state_dict keys; on the meta device,
            # so making it draws no random numbers (the model's initial weights stay put)
            self._one_direction = (rnn(config.embedding_dim, config.encoder_hidden,
                                       batch_first=True, device="meta"),)
            self.to_posterior = nn.Linear(2 * config.encoder_hidden, 2 * latent)
            if config.z_init:
                state_size = hidden * (2 if config.cell == "lstm" else 1)
                self.z_to_state = nn.Linear(latent, state_size)
            if config.z_to_output:
                self.z_to_logits = nn.Linear(latent, vocab.size, bias=False)
        z_inputs = latent if latent and config.z_every_step else 0
        self.decoder = rnn(config.embedding_dim + z_inputs, hidden, batch_first=True)
        self.output = nn.Linear(hidden, vocab.size)
        self.progress = 0.0  # share of training done, for the KL schedule
        # latent_dim 0: a plain RNN language model, no latent space and an exact likelihood
        self.capabilities = dataclasses.replace(SeqVAE.capabilities, latent=bool(latent),
                                                nll_samples=config.nll_samples if latent else None)

    # --- what the core asks of a model -------------------------------------------------

    def set_training_progress(self, step: int, total_steps: int) -> None:
        self.progress = step / max(1, total_steps)

    # --- the networks ------------------------------------------------------------------

    def posterior(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | x), each (B, latent_dim)."""
        embedded = self.drop(self.embedding(batch["tokens"]))
        lengths = batch["lengths"].to(embedded.device)
        final = [self._last_state(embedded, lengths, reverse) for reverse in (False, True)]
        mu, logvar = self.to_posterior(torch.cat(final, dim=-1)).chunk(2, dim=-1)
        return mu, logvar

    def _last_state(self, embedded: torch.Tensor, lengths: torch.Tensor,
                    reverse: bool) -> torch.Tensor:
        """One direction of the bidirectional encoder, (B, H): its state after each row's
        last token, read forwards, or (``reverse``) after its first, read backwards. Each row
        is reversed within its length for the backward direction, so padding is read after a
        row, never before: what a packed sequence gives, without the lengths on the host
        (``pack_padded_sequence`` wants them there: a sync every step on a GPU)."""
        rows = torch.arange(embedded.size(0), device=embedded.device)
        last = (lengths - 1).clamp(min=0)
        if reverse:  # position t reads token length-1-t; padding stays where it is
            positions = torch.arange(embedded.size(1), device=embedded.device)[None, :]
            source = torch.where(positions < lengths[:, None], last[:, None] - positions,
                                 positions)
            embedded = embedded.gather(1, source[..., None].expand_as(embedded))
        suffix = "_reverse" if reverse else ""
        weights = {f"{name}_l0": getattr(self.encoder, f"{name}_l0{suffix}")
                   for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        outputs, _ = torch.func.functional_call(self._one_direction[0], weights, (embedded,))
        return outputs[rows, last]

    def _initial_state(self, z: torch.Tensor | None):
        if z is None or not self.config.z_init:
            return None
        state = torch.tanh(self.z_to_state(z))[None]  # (1, B, H or 2H)
        if self.config.cell == "lstm":
            hidden, cell = state.chunk(2, dim=-1)
            return hidden.contiguous(), cell.contiguous()
        return state.contiguous()

    def decoder_logits(self, inputs: torch.Tensor, z: torch.Tensor | None, state=None):
        """Next-token logits (B, T, V) for decoder ``inputs`` (B, T) given z; and the RNN state."""
        embedded = self.drop(self.embedding(inputs))
        if z is not None and self.config.z_every_step:
            embedded = torch.cat([embedded, z[:, None, :].expand(-1, inputs.size(1), -1)], dim=-1)
        if state is None:
            state = self._initial_state(z)
        outputs, state = self.decoder(embedded, state)
        logits = self.output(self.drop(outputs))
        if z is not None and self.config.z_to_output:  # the same word evidence at every step
            logits = logits + self.z_to_logits(z)[:, None, :]
        return logits, state

    def word_dropout(self, inputs: torch.Tensor) -> torch.Tensor:
        """Replace decoder inputs by <unk> at random (Bowman et al. 2016, section 3.3), so the
        decoder cannot lean on the previous word alone and must read z. <bos> is kept."""
        rate = self.config.word_dropout
        if not self.training or rate == 0:
            return inputs
        dropped = torch.rand(inputs.shape, device=inputs.device) < rate
        dropped[:, 0] = False
        dropped &= inputs != self.vocab.pad_id
        return inputs.masked_fill(dropped, self.vocab.unk_id)

    def step(self, inputs: torch.Tensor, state):
        """The decoder as the autoregressive step; the state is (RNN state, z)."""
        rnn_state, z = state
        logits, rnn_state = self.decoder_logits(inputs, z, rnn_state)
        return logits, (rnn_state, z)

    def start(self, rows: int, context, options):
        return None, context  # the RNN's initial state is made from z by decoder_logits

    def context(self, batch: dict):
        """The exact ``nll`` of a plain language model (latent_dim 0) reads no z; with a latent,
        ``loss`` and ``nll`` draw z from the posterior themselves."""
        return None

    def sampling_context(self, n: int, condition, generator):
        """z from the prior N(0, I), or nothing for a plain language model."""
        if not self.capabilities.latent:
            return None
        return torch.randn((n, self.config.latent_dim), generator=generator, device=self.device)

    def reconstruction(self, inputs: torch.Tensor, targets: torch.Tensor,
                       z: torch.Tensor | None) -> torch.Tensor:
        """-log p(x | z) per sentence (B,), in nats, computed in float32."""
        return self.sequence_nats(inputs, targets, z).sum(dim=1)

    @staticmethod
    def reparameterise(mu: torch.Tensor, logvar: torch.Tensor,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mu + sigma * eps, eps ~ N(0, I) (Kingma & Welling 2014): differentiable in mu, sigma."""
        noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + noise * (0.5 * logvar).exp()

    # --- training ----------------------------------------------------------------------

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        """The negative ELBO per token, with the KL term annealed and floored by free bits."""
        inputs, targets = shifted_targets(batch)
        tokens = (targets != IGNORE_INDEX).sum()
        decoder_inputs = self.word_dropout(inputs)
        if not self.capabilities.latent:
            rec = self.reconstruction(decoder_inputs, targets, None)
            return {"loss": rec.sum() / tokens, "rec_per_sentence": rec.mean().detach()}
        mu, logvar = self.posterior(batch)
        z = self.reparameterise(mu, logvar)
        rec = self.reconstruction(decoder_inputs, targets, z)
        kl = gaussian_kl(mu, logvar)  # (B, d) against the prior N(0, I)
        kl_per_dim = kl.mean(dim=0)
        if self.config.free_bits > 0:  # Kingma et al. 2016: no pressure below the floor
            kl_per_dim = kl_per_dim.clamp(min=self.config.free_bits)
        weight = kl_weight(self.config.kl_schedule, self.progress, self.config.kl_anneal_fraction,
                           self.config.autoencoder_fraction)
        batch_size = inputs.size(0)
        loss = (rec.sum() + weight * batch_size * kl_per_dim.sum()) / tokens
        outputs = {"kl_per_sentence": kl.sum(dim=1).mean().detach(), "kl_weight": torch.tensor(weight, device=loss.device),
                   "rec_per_sentence": rec.mean().detach(),
                   "neg_elbo_per_token": ((rec.sum() + kl.sum()) / tokens).detach()}
        return {"loss": loss, **outputs}

    # --- likelihood --------------------------------------------------------------------

    def log_weights(self, batch: dict, k: int) -> torch.Tensor:
        """log p(x, z_i) - log q(z_i | x) for k posterior samples per example: (k, B)."""
        inputs, targets = shifted_targets(batch)
        mu, logvar = self.posterior(batch)
        batch_size = inputs.size(0)
        per_chunk = max(1, IW_ROWS_PER_CHUNK // batch_size)
        chunks = []
        for start in range(0, k, per_chunk):
            count = min(per_chunk, k - start)
            z = self.reparameterise(mu.expand(count, -1, -1), logvar.expand(count, -1, -1))
            rec = self.reconstruction(inputs.repeat(count, 1), targets.repeat(count, 1),
                                      z.reshape(count * batch_size, -1)).view(count, batch_size)
            chunks.append(-rec + log_normal(z.float()) - log_normal(z.float(), mu.float(), logvar.float()))
        return torch.cat(chunks, dim=0)

    @torch.no_grad()
    def nll(self, batch: dict, samples: int | None = None) -> tuple[torch.Tensor, int]:
        """The IW bound on -log p(x) with k samples (exact when there is no latent)."""
        if not self.capabilities.latent:
            return super().nll(batch)
        tokens = int((batch["lengths"] - 1).sum())
        bound = importance_weighted_bound(self.log_weights(batch, samples or self.config.nll_samples))
        return bound.sum(), tokens

    @torch.no_grad()
    def diagnostics(self, batches) -> dict[str, float]:
        """ELBO, reconstruction and KL per sentence and per token; mutual information I(x; z);
        active units. One posterior sample per example."""
        if not self.capabilities.latent:
            return {}
        mus, logvars, rec_total, kl_total, tokens = [], [], 0.0, 0.0, 0
        for batch in batches:
            inputs, targets = shifted_targets(batch)
            mu, logvar = self.posterior(batch)
            rec_total += float(self.reconstruction(inputs, targets, self.reparameterise(mu, logvar)).sum())
            kl_total += float(gaussian_kl(mu, logvar).sum())
            tokens += int((targets != IGNORE_INDEX).sum())
            mus.append(mu.float())
            logvars.append(logvar.float())
        mu, logvar = torch.cat(mus), torch.cat(logvars)
        sentences = mu.size(0)
        return {
            "neg_elbo_per_sentence": (rec_total + kl_total) / sentences,
            "rec_per_sentence": rec_total / sentences,
            "kl_per_sentence": kl_total / sentences,
            "neg_elbo_per_token": (rec_total + kl_total) / tokens,
            "rec_per_token": rec_total / tokens,
            "kl_per_token": kl_total / tokens,
            "mutual_information": mutual_information(mu, logvar),
            "active_units": active_units(mu),
            "latent_dim": self.config.latent_dim,
        }

    # --- latent space and sampling -----------------------------------------------------

    @torch.no_grad()
    def encode(self, batch: dict, draw: bool = False) -> torch.Tensor:
        """Posterior means (B, latent_dim), or draws z ~ q(z | x) with ``draw``."""
        if not self.capabilities.latent:
            raise GentextError("this seqvae was trained with model.latent_dim=0: it has no latent space")
        mu, logvar = self.posterior(batch)
        return self.reparameterise(mu, logvar) if draw else mu

    @torch.no_grad()
    def decode(self, z: torch.Tensor, options: SamplingOptions | None = None, *,
               max_new_tokens: int) -> list[list[int]]:
        """Generate from latent codes z (B, d) token by token."""
        if not self.capabilities.latent:
            raise GentextError("this seqvae was trained with model.latent_dim=0: it has no latent space")
        options = self.resolve_options(options or SamplingOptions())
        return self.autoregress(z.size(0), z, options, max_new_tokens)
