"""A third-party-style plugin for the tests: a bigram LM with switches to misbehave on cue."""

import signal
from dataclasses import dataclass

import torch
from torch import nn

from gentext.models.autoregressive import AutoregressiveModel
from gentext.plugins.hookspecs import hookimpl
from gentext.models.contract import Capabilities
from gentext.plugins.specs import ModelSpec


@dataclass
class ToyConfig:
    dropout: float = 0.1  # so resuming must restore the RNG to follow the same curve
    nan_at: int = 0  # the loss becomes NaN at this training call (0: never)
    interrupt_at: int = 0  # send ourselves SIGINT at this training call (0: never)


class ToyBigram(AutoregressiveModel):
    # a family knob, so the tests can see one reach the model from `gentext sample --option`
    capabilities = Capabilities(prompt=True, sampling_knobs={"banned": -1})

    def __init__(self, config: ToyConfig, vocab):
        super().__init__(config, vocab)
        self.table = nn.Embedding(vocab.size, vocab.size)
        self.drop = nn.Dropout(config.dropout)
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))  # saved with the weights

    def start(self, rows, context, options):
        return None if options is None else options.knobs["banned"]

    def step(self, inputs, banned):
        logits = self.drop(self.table(inputs))
        if banned is not None and banned >= 0:  # the knob: a token that is never drawn
            logits = logits.index_fill(-1, torch.tensor([banned]), float("-inf"))
        return logits, banned

    def loss(self, batch):
        self.calls += 1
        loss = super().loss(batch)["loss"]
        if self.config.interrupt_at and int(self.calls) == self.config.interrupt_at:
            signal.raise_signal(signal.SIGINT)
        if self.config.nan_at and int(self.calls) >= self.config.nan_at:
            loss = loss * float("nan")
        return {"loss": loss}


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
