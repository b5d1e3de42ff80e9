"""The bigram model: one row of next-token logits per token, trained by maximum likelihood.
Its likelihood factorises left to right, so it subclasses gentext's autoregressive base and
writes one step function; the base gives it the training loss, the exact nll and sampling."""

from torch import nn

from gentext.api import AutoregressiveModel
from gentext_bigram.config import BigramConfig


class Bigram(AutoregressiveModel):
    """p(x_t | x_<t) = p(x_t | x_{t-1}): a table of logits. Its ``nll`` is exact."""

    def __init__(self, config: BigramConfig, vocab):
        super().__init__(config, vocab)
        self.table = nn.Embedding(vocab.size, vocab.size)
        if config.uniform_start:
            nn.init.zeros_(self.table.weight)  # every next token equally likely at first

    def step(self, inputs, state):
        """Next-token logits (B, T, V) after each of ``inputs`` (B, T); no state to carry."""
        return self.table(inputs), None
