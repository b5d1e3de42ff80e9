"""A third-party-style plugin for the tests: a bigram LM with switches to misbehave on cue."""

import signal
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gentext.hookspecs import hookimpl
from gentext.model import TextModel, next_token, shifted_targets, trim_at_eos
from gentext.specs import ModelSpec


@dataclass
class ToyConfig:
    dropout: float = 0.1  # so resuming must restore the RNG to follow the same curve
    nan_at: int = 0  # the loss becomes NaN at this training call (0: never)
    interrupt_at: int = 0  # send ourselves SIGINT at this training call (0: never)


class ToyBigram(TextModel):
    config_class = ToyConfig

    def __init__(self, config: ToyConfig, vocab):
        super().__init__(config, vocab)
        self.table = nn.Embedding(vocab.size, vocab.size)
        self.drop = nn.Dropout(config.dropout)
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))  # saved with the weights

    def logits(self, tokens):
        return self.drop(self.table(tokens))

    def loss(self, batch):
        self.calls += 1
        inputs, targets = shifted_targets(batch)
        loss = F.cross_entropy(self.logits(inputs).flatten(0, 1), targets.flatten())
        if self.config.interrupt_at and int(self.calls) == self.config.interrupt_at:
            signal.raise_signal(signal.SIGINT)
        if self.config.nan_at and int(self.calls) >= self.config.nan_at:
            loss = loss * float("nan")
        return {"loss": loss}

    @torch.no_grad()
    def nll(self, batch, samples=None):
        inputs, targets = shifted_targets(batch)
        nats = F.cross_entropy(self.logits(inputs).float().flatten(0, 1), targets.flatten(),
                               reduction="sum")
        return nats, int((targets != -100).sum())

    @torch.no_grad()
    def sample(self, n, max_len, *, temperature=1.0, top_k=0, top_p=1.0, prompt=None,
               condition=None, generator=None):
        token = torch.full((n,), self.vocab.bos_id, dtype=torch.long)
        rows = []
        for _ in range(max_len):
            token = next_token(self.logits(token), temperature, top_k, top_p, generator)
            rows.append(token)
        return trim_at_eos(torch.stack(rows, dim=1), self.vocab.eos_id)


class ToyPlugin:
    """Registers the model "toy"."""

    @hookimpl
    def register_models(self, register):
        register(ModelSpec(name="toy", description="bigram LM used by the tests",
                           config=ToyConfig, model="toy_plugin:ToyBigram", likelihood="exact"))

    @hookimpl
    def register_commands(self, app):
        @app.command("toy-hello")
        def toy_hello():
            """Say hello from the toy plugin."""
            print("hello from toy")
