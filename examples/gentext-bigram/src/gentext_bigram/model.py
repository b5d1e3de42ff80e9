"""A bigram LM: one row of next-token logits per token, trained by maximum likelihood."""

import torch
import torch.nn.functional as F
from torch import nn

from gentext.model import TextModel, next_token, shifted_targets, trim_at_eos
from gentext_bigram.config import BigramConfig


class Bigram(TextModel):
    """p(x_t | x_<t) = p(x_t | x_{t-1}): a table of logits. Its ``nll`` is exact."""

    config_class = BigramConfig
    takes_prompt = True

    def __init__(self, config: BigramConfig, vocab):
        super().__init__(config, vocab)
        self.table = nn.Embedding(vocab.size, vocab.size)
        nn.init.zeros_(self.table.weight)  # starts uniform

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Next-token logits (B, T, V) after each of ``tokens`` (B, T)."""
        return self.table(tokens)

    def loss(self, batch: dict) -> dict:
        inputs, targets = shifted_targets(batch)
        logits = self(inputs).float().flatten(0, 1)
        loss = F.cross_entropy(logits, targets.flatten(), ignore_index=-100,
                               label_smoothing=self.config.smoothing)
        return {"loss": loss}

    @torch.no_grad()
    def nll(self, batch: dict, samples=None) -> tuple:
        inputs, targets = shifted_targets(batch)
        nats = F.cross_entropy(self(inputs).float().flatten(0, 1), targets.flatten(),
                               ignore_index=-100, reduction="sum")
        return nats, int((targets != -100).sum())

    @torch.no_grad()
    def sample(self, n, max_len, *, temperature=1.0, top_k=0, top_p=1.0, prompt=None,
               condition=None, generator=None):
        device = self.table.weight.device
        prompt = list(prompt or [])
        token = torch.full((n,), (prompt or [self.vocab.bos_id])[-1], dtype=torch.long, device=device)
        rows = [torch.tensor(prompt, dtype=torch.long, device=device).expand(n, -1)]
        for _ in range(max_len):
            token = next_token(self(token), temperature, top_k, top_p, generator)
            rows.append(token[:, None])
        return trim_at_eos(torch.cat(rows, dim=1), self.vocab.eos_id)
