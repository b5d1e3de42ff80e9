"""A text GAN: SeqGAN's networks (Yu et al. 2017) trained through a Gumbel-softmax
relaxation as RelGAN does (Nie et al. 2019), or by REINFORCE with Monte-Carlo roll-outs.

Training has two phases in the one loop. For the first ``pretrain_steps`` the generator is an
ordinary LSTM language model trained by maximum likelihood. After that each step updates the
discriminator on real sentences against generated ones, then the generator against the
discriminator: with ``estimator = "gumbel"`` the discriminator reads the generator's relaxed
one-hots, so its gradient flows back into the generator; with ``"reinforce"`` it scores hard
samples and roll-outs, and the generator follows the policy gradient (SeqGAN's estimator).

The generator stays an autoregressive model, so its likelihood is exact: ``nll`` is its
teacher-forced negative log-likelihood (given the label, for a conditional GAN).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from gentext.api import (
    AutoregressiveModel, Capabilities, GentextError, SamplingOptions, Shard, StepContext, Vocab,
    adamw, finished_check_every, warmup_cosine,
)
from gentext_seqgan.config import SeqGANConfig
from gentext_seqgan.diversity import batch_diversity, token_diversity
from gentext_seqgan.networks import Discriminator, Generator
from gentext_seqgan.relaxation import KeyedNoise, gumbel, inverse_temperature, relaxed_one_hot

ESTIMATORS = ("gumbel", "reinforce")
LOSSES = ("rsgan", "standard")
ADVERSARIAL_BETAS = (0.9, 0.999)  # Adam's, as RelGAN trains both networks


def check_config(config: SeqGANConfig) -> None:
    """Refuse settings that cannot work, naming the key."""
    if config.estimator not in ESTIMATORS:
        raise GentextError(f"model.estimator must be one of {', '.join(ESTIMATORS)}, "
                           f"got {config.estimator!r}")
    if config.loss not in LOSSES:
        raise GentextError(f"model.loss must be one of {', '.join(LOSSES)}, got {config.loss!r}")
    if not 1 <= config.disc_min_width <= config.disc_max_width:
        raise GentextError("need 1 <= model.disc_min_width <= model.disc_max_width")
    if config.max_inverse_temperature < 1:
        raise GentextError("model.max_inverse_temperature must be at least 1")
    for name in ("pretrain_steps", "monitor_samples"):
        if getattr(config, name) < 0:
            raise GentextError(f"model.{name} must be 0 or more")
    for name in ("embedding_dim", "hidden_dim", "disc_embedding_dim", "disc_filters",
                 "discriminator_steps", "rollouts", "label_dim", "max_generated_len",
                 "adversarial_batch_size"):
        if getattr(config, name) < 1:
            raise GentextError(f"model.{name} must be at least 1")
    if not 0 <= config.dropout < 1 or not 0 <= config.disc_dropout < 1:
        raise GentextError("model.dropout and model.disc_dropout must be in [0, 1)")


def discriminator_loss(real: torch.Tensor, fake: torch.Tensor, kind: str) -> torch.Tensor:
    """Standard GAN: real -> 1, fake -> 0. Relativistic (RSGAN, Jolicoeur-Martineau 2019):
    each real sentence should look more real than the generated one it is paired with."""
    if kind == "rsgan":
        return F.binary_cross_entropy_with_logits(real - fake, torch.ones_like(real))
    return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


def generator_loss(real: torch.Tensor, fake: torch.Tensor, kind: str) -> torch.Tensor:
    """The generator's side: non-saturating (fake -> 1) or relativistic (fake beats real)."""
    if kind == "rsgan":
        return F.binary_cross_entropy_with_logits(fake - real, torch.ones_like(fake))
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


class SeqGAN(AutoregressiveModel):
    """LSTM generator + CNN discriminator; the generator alone is what samples and is scored.

    The generator is the autoregressive part (``step``): maximum likelihood, the exact
    ``nll`` and sampling come from the shared base; the adversarial generation below keeps
    its own loops (relaxed one-hots, roll-outs) over the same step."""

    capabilities = Capabilities(prompt=True)
    # compiled_modules: none, the generator is an LSTM, which Dynamo runs eagerly, and inductor's
    # convolution backward fixes the discriminator's width (a graph per width: docs/speed.md)

    def __init__(self, config: SeqGANConfig, vocab: Vocab):
        super().__init__(config, vocab)
        check_config(config)
        num_labels = len(vocab.labels) if config.conditional else 0
        if num_labels:
            self.capabilities = dataclasses.replace(SeqGAN.capabilities, condition=True)
        self.generator = Generator(vocab.size, config.embedding_dim, config.hidden_dim,
                                   config.dropout, num_labels, config.label_dim)
        self.discriminator = Discriminator(
            vocab.size, config.disc_embedding_dim,
            range(config.disc_min_width, config.disc_max_width + 1), config.disc_filters,
            config.disc_dropout, num_labels)

    # --- the generator as the autoregressive step --------------------------------------

    def step(self, inputs: torch.Tensor, state):
        """The generator's logits; the state is (LSTM state, labels or None)."""
        lstm_state, labels = state
        logits, lstm_state = self.generator(inputs, labels, lstm_state)
        return logits, (lstm_state, labels)

    def start(self, rows: int, context, options):
        return None, context  # the LSTM starts from zeros; the labels ride along

    # --- training: MLE, then adversarial ----------------------------------------------

    def make_optimizers(self, train, fused: bool = False) -> dict[str, torch.optim.Optimizer]:
        return {"generator": adamw(self.generator.parameters(), train, fused),
                "discriminator": adamw(self.discriminator.parameters(), train, fused,
                                       betas=ADVERSARIAL_BETAS)}

    def learning_rates(self, step: int, train) -> dict[str, float]:
        """Pre-training: warm-up + cosine over ``pretrain_steps`` alone, so a run of exactly
        that many steps is this GAN's MLE starting point. Adversarial: RelGAN's constants."""
        if step < self.config.pretrain_steps:
            return {"generator": warmup_cosine(step, train, total=self.config.pretrain_steps),
                    "discriminator": 0.0}
        return {"generator": self.config.generator_lr,
                "discriminator": self.config.discriminator_lr}

    def training_step(self, batch: dict, context: StepContext) -> dict[str, torch.Tensor]:
        if context.step < self.config.pretrain_steps:
            return self.loss_step(batch, context, "generator")
        return self._adversarial_step(batch, context)

    def _adversarial_step(self, batch: dict, context: StepContext) -> dict[str, torch.Tensor]:
        config = self.config
        adversarial_steps = max(1, context.total_steps - config.pretrain_steps)
        beta = inverse_temperature((context.step - config.pretrain_steps) / adversarial_steps,
                                   config.max_inverse_temperature)
        relaxed = beta if config.estimator == "gumbel" else None
        seed = getattr(context, "seed", 0)

        def rows(part: dict, shard: Shard):
            """The first adversarial_batch_size rows of the global batch, of those ``part``
            holds (rows shard.rank, shard.rank + shard.world, ...; free-running samples are
            the cost), and the noise of call ``call`` for them."""
            held = slice(0, len(range(shard.rank, config.adversarial_batch_size, shard.world)))
            real = part["tokens"][held, 1:]  # the discriminator reads what the generator writes
            labels = self.context(part)
            labels = None if labels is None else labels[held]

            def noise(call: int) -> KeyedNoise:
                key = (seed * 1_000_003 + context.step) * 64 + call
                return KeyedNoise(key, config.adversarial_batch_size, self.vocab.size,
                                  shard.rank, shard.world)

            return real, labels, noise

        def discriminator_objective(call: int):
            def objective(part: dict, shard: Shard) -> dict[str, torch.Tensor]:
                real, labels, noise = rows(part, shard)
                with torch.no_grad():
                    fake = self.generate_for_discriminator(real.size(0), config.max_generated_len,
                                                           labels, relaxed, noise(call))
                real, fake = self._same_length(real, fake)
                with context.autocast():
                    return {"loss": discriminator_loss(self.discriminator(real, labels),
                                                       self.discriminator(fake, labels),
                                                       config.loss), **self._diversity(fake),
                            "count": real.size(0)}  # a mean over these rows
            return objective

        def generator_objective(part: dict, shard: Shard) -> dict[str, torch.Tensor]:
            real, labels, noise = rows(part, shard)
            with context.autocast():
                if relaxed is None:
                    return {"loss": self.reinforce_loss(real.size(0), config.max_generated_len,
                                                        labels), "count": real.size(0)}
                fake = self.generate_for_discriminator(real.size(0), config.max_generated_len,
                                                       labels, relaxed,
                                                       noise(config.discriminator_steps))
                real, fake = self._same_length(real, fake)
                return {"loss": generator_loss(self.discriminator(real, labels).detach(),
                                               self.discriminator(fake, labels), config.loss),
                        **self._diversity(fake), "count": real.size(0)}

        for call in range(config.discriminator_steps):
            d = context.optimize("discriminator", discriminator_objective(call), batch)
        g = context.optimize("generator", generator_objective, batch)
        with torch.no_grad(), context.autocast(), context.whole_model():
            mle = self.loss(batch)["loss"]
        diversity = {k: v for k, v in (g if relaxed is not None else d).items() if k != "loss"}
        # every value a 0-d tensor on the batch's device: the trainer sums them there
        return {"loss": mle, "g_loss": g["loss"], "d_loss": d["loss"],
                "inverse_temperature": torch.full((), beta, device=mle.device), **diversity}

    def _diversity(self, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """Distinct tokens and bigrams, and mean length, of a generated batch: logged every
        adversarial step, so a generator collapsing onto a few outputs shows at once."""
        tokens = fake.argmax(dim=-1) if fake.dtype != torch.long else fake
        return batch_diversity(tokens, self.vocab.eos_id, self.vocab.size, "fake")

    # --- generation ---------------------------------------------------------------------

    def _after_eos(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, L) True at positions after each row's first <eos>."""
        is_eos = (tokens == self.vocab.eos_id).long()
        return (is_eos.cumsum(dim=1) - is_eos) > 0

    def _first_inputs(self, n: int) -> torch.Tensor:
        return torch.full((n, 1), self.vocab.bos_id, dtype=torch.long,
                          device=self.generator.head.weight.device)

    def generate_for_discriminator(self, n: int, max_length: int, labels: torch.Tensor | None,
                                   beta: float | None, noise=None) -> torch.Tensor:
        """``n`` free-running samples, until every one has ended (or ``max_length`` tokens), as
        the discriminator reads them: relaxed one-hots (B, L, V) at inverse temperature
        ``beta``, or token ids (B, L) when ``beta`` is None; positions after <eos> become <pad>,
        as in real batches. Cutting samples at the real batch's length instead would leave
        them without <eos>, which the discriminator spots, teaching the generator to stop early.
        ``noise`` (a `KeyedNoise`) supplies each position's uniform noise; by default the
        global generator does. On a GPU the samples may end in a few extra columns of <pad>
        (see ``finished_check_every``)."""
        inputs, state, outputs, tokens = self._first_inputs(n), self.start(n, labels, None), [], []
        ended = torch.zeros(n, dtype=torch.bool, device=inputs.device)
        check_every = finished_check_every(inputs.device)
        for position in range(max_length):
            logits, state = self.step(inputs, state)
            uniform = None if noise is None else noise(n, logits.device)
            if beta is None and uniform is None:
                token = torch.multinomial(torch.softmax(logits[:, 0].float(), dim=-1), 1)[:, 0]
            elif beta is None:  # Gumbel-max: an exact sample of softmax(logits)
                token = (logits[:, 0].float() + gumbel(uniform)).argmax(dim=-1)
            else:
                one_hot, token = relaxed_one_hot(logits[:, 0], beta, self.config.straight_through,
                                                 uniform)
                outputs.append(one_hot)
            tokens.append(token)
            inputs = token[:, None]
            ended |= token == self.vocab.eos_id
            if position % check_every == check_every - 1 and ended.all():
                break
        tokens = torch.stack(tokens, dim=1)
        dead = self._after_eos(tokens)
        if beta is None:
            return tokens.masked_fill(dead, self.vocab.pad_id)
        relaxed = torch.stack(outputs, dim=1)
        return torch.where(dead[..., None], self._pad_one_hot(relaxed.dtype), relaxed)

    def _pad_one_hot(self, dtype: torch.dtype) -> torch.Tensor:
        pad = torch.full((), self.vocab.pad_id, device=self.generator.head.weight.device)
        return F.one_hot(pad, self.vocab.size).to(dtype)

    def _same_length(self, real: torch.Tensor, fake: torch.Tensor):
        """Pad real token ids (B, T) and fakes (ids or one-hots) with <pad> to one length."""
        length = max(real.size(1), fake.size(1))
        real = F.pad(real, (0, length - real.size(1)), value=self.vocab.pad_id)
        extra = length - fake.size(1)
        if extra and fake.dtype == torch.long:
            fake = F.pad(fake, (0, extra), value=self.vocab.pad_id)
        elif extra:
            pads = self._pad_one_hot(fake.dtype).expand(fake.size(0), extra, -1)
            fake = torch.cat([fake, pads], dim=1)
        return real, fake

    def reinforce_loss(self, n: int, length: int, labels: torch.Tensor | None) -> torch.Tensor:
        """SeqGAN's policy gradient on ``n`` samples of at most ``length`` tokens: each token
        is rewarded by the discriminator's mean probability of "real" over ``rollouts``
        completions of its prefix (the last token by the whole sequence's), minus the batch
        mean at that position as a baseline. Columns after every row's <eos> (a GPU may
        sample a few, see ``finished_check_every``) are dead in every row: their rewards are
        masked out of the loss, and roll-outs from a prefix that holds its <eos> complete it
        with <pad>."""
        rollouts, pad = self.config.rollouts, self.vocab.pad_id
        with torch.no_grad():
            inputs, state, tokens, states = self._first_inputs(n), self.start(n, labels, None), [], []
            ended = torch.zeros(n, dtype=torch.bool, device=inputs.device)
            check_every = finished_check_every(inputs.device)
            for position in range(length):
                logits, state = self.step(inputs, state)
                inputs = torch.multinomial(torch.softmax(logits[:, 0].float(), dim=-1), 1)
                tokens.append(inputs[:, 0])
                states.append(state)
                ended |= inputs[:, 0] == self.vocab.eos_id
                if position % check_every == check_every - 1 and ended.all():
                    break
            tokens = torch.stack(tokens, dim=1)
            length = tokens.size(1)
            rewards = torch.empty(n, length, device=tokens.device)
            repeated_labels = None if labels is None else labels.repeat_interleave(rollouts)
            for t in range(length):
                if t == length - 1:
                    completed = tokens
                    labels_t = labels
                else:
                    prefix = tokens[:, : t + 1].repeat_interleave(rollouts, dim=0)
                    h, c = (s.repeat_interleave(rollouts, dim=1) for s in states[t][0])
                    inputs, state, tail = prefix[:, -1:], ((h, c), repeated_labels), []
                    for _ in range(length - t - 1):
                        logits, state = self.step(inputs, state)
                        inputs = torch.multinomial(torch.softmax(logits[:, 0].float(), dim=-1), 1)
                        tail.append(inputs[:, 0])
                    completed = torch.cat([prefix, torch.stack(tail, dim=1)], dim=1)
                    labels_t = repeated_labels
                completed = completed.masked_fill(self._after_eos(completed), pad)
                reward = torch.sigmoid(self.discriminator(completed, labels_t).float())
                rewards[:, t] = reward.view(n, -1).mean(dim=1)
            advantage = rewards - rewards.mean(dim=0, keepdim=True)
            alive = ~self._after_eos(tokens)
        inputs = torch.cat([self._first_inputs(n), tokens[:, :-1]], dim=1)
        logits, _ = self.step(inputs, self.start(n, labels, None))
        log_probs = torch.log_softmax(logits.float(), dim=-1).gather(-1, tokens[..., None])[..., 0]
        return -(log_probs * advantage * alive).sum() / alive.sum()

    @torch.no_grad()
    def diagnostics(self, batches) -> dict[str, float]:
        """Diversity of ``monitor_samples`` samples, in tokens (the model has no tokenizer):
        logged at every validation so mode collapse shows while it happens."""
        count = self.config.monitor_samples
        if count < 2:
            return {}
        from gentext.api import self_bleu

        max_len = max(int(b["lengths"].max()) for b in batches)
        generator = torch.Generator(device=self.generator.head.weight.device).manual_seed(0)
        samples = self.sample(count, SamplingOptions(generator=generator), max_new_tokens=max_len)
        rows = [" ".join(map(str, s)) for s in samples]
        return {**token_diversity(samples, "sample"), "sample_self_bleu_4": self_bleu(rows, 4)}
