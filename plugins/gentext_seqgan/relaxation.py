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


def relaxed_one_hot(logits: torch.Tensor, inverse_temperature: float,
                    straight_through: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(relaxed one-hots (..., V), sampled tokens (...)). The token is the argmax of the noisy
    logits, so it is distributed as softmax(logits) whatever the temperature; with
    ``straight_through`` the one-hot is exact forward and soft backward."""
    relaxed = F.gumbel_softmax(logits.float(), tau=1.0 / inverse_temperature, hard=straight_through)
    return relaxed, relaxed.argmax(dim=-1)


def inverse_temperature(progress: float, maximum: float) -> float:
    """RelGAN's exponential schedule: beta = maximum ** progress, from 1 to ``maximum`` as
    ``progress`` (the share of adversarial training done) goes from 0 to 1."""
    return float(maximum ** min(1.0, max(0.0, progress)))
