"""The two networks of the text GAN: an LSTM generator and a CNN discriminator (SeqGAN,
Yu et al. 2017), both optionally conditioned on a class label."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

State = tuple[torch.Tensor, torch.Tensor]  # the LSTM's (h, c), each (1, B, H)


class Generator(nn.Module):
    """An LSTM language model; with labels, the label's embedding joins every input."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_dim: int, dropout: float,
                 num_labels: int = 0, label_dim: int = 0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.label_embedding = nn.Embedding(num_labels, label_dim) if num_labels else None
        self.lstm = nn.LSTM(embedding_dim + (label_dim if num_labels else 0), hidden_dim,
                            batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_dim, vocab_size)

    def forward(self, inputs: torch.Tensor, labels: torch.Tensor | None = None,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        """Next-token logits (B, T, V) for inputs (B, T), and the LSTM state after them."""
        x = self.drop(self.embedding(inputs))
        if self.label_embedding is not None:
            label = self.label_embedding(labels)[:, None, :].expand(-1, inputs.size(1), -1)
            x = torch.cat([x, label], dim=-1)
        out, state = self.lstm(x, state)
        return self.head(self.drop(out)), state


class Discriminator(nn.Module):
    """Real-or-generated logit of a sequence of (relaxed) one-hot tokens.

    Embeds each position (a one-hot or a Gumbel-softmax vector times the embedding matrix),
    convolves with several filter widths, max-pools over time, then a highway layer and
    dropout (SeqGAN's discriminator). With labels it is a projection discriminator
    (Miyato & Koyama 2018): the logit gains <label embedding, features>."""

    def __init__(self, vocab_size: int, embedding_dim: int, widths: range, filters: int,
                 dropout: float, num_labels: int = 0):
        super().__init__()
        self.embedding = nn.Parameter(torch.randn(vocab_size, embedding_dim) * embedding_dim ** -0.5)
        self.widths = list(widths)
        self.convs = nn.ModuleList(nn.Conv1d(embedding_dim, filters, w) for w in self.widths)
        features = filters * len(self.widths)
        self.highway = nn.Linear(features, 2 * features)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(features, 1)
        self.label_embedding = nn.Embedding(num_labels, features) if num_labels else None

    def forward(self, tokens: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``tokens``: (B, L) ids or (B, L, V) (relaxed) one-hots. Returns logits (B,)."""
        if tokens.dtype == torch.long:
            x = F.embedding(tokens, self.embedding)
        else:
            x = tokens.to(self.embedding.dtype) @ self.embedding  # (B, L, E)
        x = x.transpose(1, 2)  # (B, E, L)
        if x.size(-1) < self.widths[-1]:  # shorter than the widest filter: pad with zeros
            x = F.pad(x, (0, self.widths[-1] - x.size(-1)))
        h = torch.cat([F.relu(conv(x)).amax(dim=-1) for conv in self.convs], dim=-1)
        transform, gate = self.highway(h).chunk(2, dim=-1)
        gate = torch.sigmoid(gate)
        h = self.drop(gate * F.relu(transform) + (1 - gate) * h)
        logit = self.out(h).squeeze(-1)
        if self.label_embedding is not None:
            logit = logit + (self.label_embedding(labels) * h).sum(dim=-1)
        return logit
