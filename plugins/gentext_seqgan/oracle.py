"""The synthetic oracle of the text-GAN literature: a randomly initialised LSTM language model
that plays the real data distribution, so a generator's samples can be scored exactly.

SeqGAN (Yu et al. 2017) introduced it; Texygen (Zhu et al. 2018) fixed the protocol every
later paper (RelGAN, LeakGAN, ...) follows: an LSTM with embedding and hidden size 32 over a
5,000-word vocabulary, every parameter drawn from N(0, 1), sequences of 20 tokens. A model
is then scored by NLL-oracle (the oracle's NLL of the model's samples: quality) and by its
own NLL of held-out oracle samples (coverage). ``bench/seqgan_oracle.py`` runs the protocol.
"""

from __future__ import annotations

import math

import torch
from torch import nn

VOCAB_SIZE = 5000
EMBEDDING_DIM = 32
HIDDEN_DIM = 32
LENGTH = 20
PAD = -1  # marks the unused tail of a shorter row in ``Oracle.nll``
CHUNK = 2048  # rows per batch in generation and scoring: bounds the (rows, vocab) logits


def _draw(logits: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """One token per row of (B, V) logits at temperature 1, by inverting the CDF with one
    uniform per row: exact like ``torch.multinomial``, about twice as fast on a CPU."""
    cdf = torch.softmax(logits, dim=-1).cumsum(dim=-1)
    u = torch.rand(logits.size(0), 1, generator=rng, dtype=cdf.dtype) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True)[:, 0].clamp(max=logits.size(-1) - 1)


class Oracle(nn.Module):
    """An LSTM language model with all parameters drawn from N(0, 1) (Texygen's oracle).

    Built entirely from ``seed`` with its own ``torch.Generator``, so one seed always gives the
    same oracle and building it leaves the global RNG alone. Its input vocabulary has one extra
    entry, a start token of its own (id ``vocab_size``), which it never emits: every one of the
    ``vocab_size`` outputs is a word. There is no end token: the oracle's sentences all have
    the length they are asked for. The gates follow Texygen's ``OracleLstm``: one bias per gate
    (not torch's two), zero initial state, logits = h W + b."""

    def __init__(self, seed: int = 0, vocab_size: int = VOCAB_SIZE,
                 embedding_dim: int = EMBEDDING_DIM, hidden_dim: int = HIDDEN_DIM):
        super().__init__()
        self.vocab_size, self.hidden_dim = vocab_size, hidden_dim
        self.start_id = vocab_size
        rng = torch.Generator().manual_seed(seed)

        def normal(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.randn(*shape, generator=rng, dtype=torch.float32),
                                requires_grad=False)

        # drawn in a fixed order, so the seed alone decides every value
        self.embedding = normal(vocab_size + 1, embedding_dim)  # + the start token
        self.input_weight = normal(embedding_dim, 4 * hidden_dim)  # gates i, f, o, candidate
        self.hidden_weight = normal(hidden_dim, 4 * hidden_dim)
        self.gate_bias = normal(4 * hidden_dim)
        self.output_weight = normal(hidden_dim, vocab_size)
        self.output_bias = normal(vocab_size)

    def _step(self, tokens: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        """One LSTM step: next-token logits (B, V) after ``tokens`` (B,), and the new state."""
        gates = self.embedding[tokens] @ self.input_weight + h @ self.hidden_weight + self.gate_bias
        i, f, o, candidate = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(candidate)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h @ self.output_weight + self.output_bias, h, c

    def _zero_state(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = torch.zeros(n, self.hidden_dim, dtype=torch.float32)
        return zeros, zeros.clone()

    @torch.no_grad()
    def generate(self, n: int, length: int = LENGTH, seed: int = 0) -> torch.Tensor:
        """``n`` sequences of ``length`` word ids (n, length), by ancestral sampling at
        temperature 1 with a generator seeded by ``seed``: the same call gives the same data."""
        rng = torch.Generator().manual_seed(seed)
        out = torch.empty(n, length, dtype=torch.long)
        for start in range(0, n, CHUNK):
            rows = min(CHUNK, n - start)
            tokens = torch.full((rows,), self.start_id, dtype=torch.long)
            h, c = self._zero_state(rows)
            for t in range(length):
                logits, h, c = self._step(tokens, h, c)
                tokens = _draw(logits, rng)
                out[start: start + rows, t] = tokens
        return out

    @torch.no_grad()
    def token_nll(self, sequences: torch.Tensor) -> tuple[float, int]:
        """Summed negative log-likelihood (nats) of the non-padding tokens, and their count."""
        sequences = torch.as_tensor(sequences, dtype=torch.long)
        if sequences.dim() != 2:
            raise ValueError(f"sequences must be (n, length), got shape {tuple(sequences.shape)}")
        real = sequences != PAD
        # padding only at the end of a row: a token after padding would have no history
        if (real[:, 1:] & ~real[:, :-1]).any():
            raise ValueError("padding (-1) may only end a row")
        if ((sequences[real] < 0) | (sequences[real] >= self.vocab_size)).any():
            raise ValueError(f"token ids must be in [0, {self.vocab_size}) or -1 for padding")
        total, count = 0.0, int(real.sum())
        for start in range(0, sequences.size(0), CHUNK):
            rows, mask = sequences[start: start + CHUNK], real[start: start + CHUNK]
            tokens = torch.full((rows.size(0),), self.start_id, dtype=torch.long)
            h, c = self._zero_state(rows.size(0))
            for t in range(rows.size(1)):
                if not mask[:, t].any():
                    break
                logits, h, c = self._step(tokens, h, c)
                target = rows[:, t].clamp(min=0)
                nll = -torch.log_softmax(logits, dim=-1).gather(1, target[:, None])[:, 0]
                total += float((nll * mask[:, t]).sum())
                tokens = target
        return total, count

    def nll(self, sequences: torch.Tensor) -> float:
        """Mean negative log-likelihood per token, in nats, of word-id ``sequences`` (n, L):
        NLL-oracle when they are a model's samples; of the oracle's own samples, an estimate of
        its entropy rate, the floor any model's NLL of them sits above. Rows may be shorter,
        padded at the end with -1, which is ignored; NaN when there is no token at all."""
        total, count = self.token_nll(sequences)
        return total / count if count else math.nan
