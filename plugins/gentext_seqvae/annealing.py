"""KL-weight schedules that keep the posterior from collapsing early in training.

Each maps training progress (0 at the first step, 1 at the last) to the weight of the KL
term: linear and sigmoid warm-ups (Bowman et al. 2016), or a constant 1. Any of them may
follow an autoencoder phase (Li et al. 2019, "A Surprisingly Effective Fix for Deep Latent
Variable Modeling of Text"): weight 0 over the first ``autoencoder`` share of training, so the
encoder learns to carry the sentence before the KL term asks it to pay, then the schedule
over the rest.
"""

from __future__ import annotations

import math

from gentext.api import GentextError

SCHEDULES = ("linear", "sigmoid", "constant")
# Fu et al. 2019's cyclical schedule went in 0.2: docs/seqvae.md measured it changing nothing
REMOVED_SCHEDULES = {"cyclical": "was removed in 0.2 (docs/seqvae.md shows it changed nothing)"}
SIGMOID_SHARPNESS = 10.0  # logistic slope: ~0.007 at the start of the warm-up, ~0.993 at its end


def kl_weight(schedule: str, progress: float, fraction: float = 0.4,
              autoencoder: float = 0.0) -> float:
    """The KL weight at ``progress`` in [0, 1]."""
    progress = min(max(progress, 0.0), 1.0)
    if autoencoder > 0:
        if progress < autoencoder:
            return 0.0
        progress = (progress - autoencoder) / (1 - autoencoder)
    if schedule == "constant":
        return 1.0
    if schedule == "linear":
        return min(1.0, progress / fraction) if fraction > 0 else 1.0
    if schedule == "sigmoid":
        if fraction <= 0:
            return 1.0
        return 1.0 / (1.0 + math.exp(-SIGMOID_SHARPNESS * (progress / fraction - 0.5)))
    raise GentextError(f"unknown model.kl_schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
