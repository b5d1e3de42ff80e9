"""The Gumbel-softmax relaxation of sampled tokens and its temperature schedule.

A token drawn as argmax(logits + Gumbel noise) is an exact sample of softmax(logits); the
softmax of the same noisy logits divided by a temperature tau is a differentiable stand-in
for its one-hot (Jang et al. 2017; Maddison et al. 2017), which the discriminator reads so its
gradient reaches the generator (Kusner & Hernandez-Lobato 2016). RelGAN (Nie et al. 2019)
raises the inverse temperature beta = 1 / tau exponentially during training: soft early
(low-variance, biased gradients), nearly one-hot late.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gumbel(uniform: torch.Tensor) -> torch.Tensor:
    """Gumbel(0, 1) noise from uniform noise in (0, 1): argmax(logits + gumbel(u)) is an exact
    sample of softmax(logits) (the Gumbel-max trick)."""
    return -torch.log(-torch.log(uniform.clamp(1e-20, 1 - 1e-7)))


def relaxed_one_hot(logits: torch.Tensor, inverse_temperature: float,
                    straight_through: bool = False,
                    uniform: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(relaxed one-hots (..., V), sampled tokens (...)). The token is the argmax of the noisy
    logits, so it is distributed as softmax(logits) whatever the temperature; with
    ``straight_through`` the one-hot is exact forward and soft backward. ``uniform`` (same
    shape as ``logits``, in (0, 1)) supplies the noise; by default it is drawn here."""
    if uniform is None:
        relaxed = F.gumbel_softmax(logits.float(), tau=1.0 / inverse_temperature,
                                   hard=straight_through)
        return relaxed, relaxed.argmax(dim=-1)
    soft = torch.softmax((logits.float() + gumbel(uniform)) * inverse_temperature, dim=-1)
    token = soft.argmax(dim=-1)
    if straight_through:
        hard = F.one_hot(token, soft.size(-1)).to(soft.dtype)
        return hard - soft.detach() + soft, token
    return soft, token


class KeyedNoise:
    """Uniform noise for one batch of generated rows, keyed to each row's place in the
    *global* batch: every process draws the whole global block from the same seeded generator
    and keeps its own rows, so a row gets the same noise whichever process generates it (and a
    multi-process run draws what a one-process run draws).

    The generator lives on the device the noise is asked for (known at the first call), so a
    GPU draws its own noise instead of copying a CPU block for every token; on the CPU it is
    ``torch.Generator().manual_seed(key)``, as it always was. The values differ by device."""

    def __init__(self, key: int, rows: int, vocab: int, rank: int = 0, world: int = 1):
        self.key = key
        self.generator: torch.Generator | None = None  # made on the first call's device
        self.block = -(-rows // world) * world  # global rows drawn per position
        self.vocab, self.rank, self.world = vocab, rank, world

    def __call__(self, n: int, device) -> torch.Tensor:
        """The next position's noise for this process's first ``n`` rows: (n, V)."""
        device = torch.device(device)
        if self.generator is None and device.type != "meta":  # meta has no generator: shapes only
            self.generator = torch.Generator(device=device).manual_seed(self.key)
        block = torch.rand(self.block, self.vocab, generator=self.generator, device=device)
        return block[self.rank :: self.world][:n]


def inverse_temperature(progress: float, maximum: float) -> float:
    """RelGAN's exponential schedule: beta = maximum ** progress, from 1 to ``maximum`` as
    ``progress`` (the share of adversarial training done) goes from 0 to 1."""
    return float(maximum ** min(1.0, max(0.0, progress)))
