"""Masking schedules and the draws of diffusion time t.

The forward process masks each token independently: at time t in [0, 1] a token is still
itself with probability alpha_t and ``<mask>`` otherwise, from alpha_0 = 1 (clean) to
alpha_1 = 0 (every token masked). Under the SUBS parameterisation (the denoiser never
predicts ``<mask>`` and carries unmasked tokens over), the continuous-time negative ELBO is

    -log p(x | T) <= integral_0^1 w(t) E_{z_t ~ q(z_t | x)} [ sum_{i masked in z_t}
                                                     -log p_theta(x_i | z_t) ] dt,
    w(t) = -alpha'_t / (1 - alpha_t)

(Sahoo et al. 2024, MDLM eq. 10; Shi et al. 2024, MD4). The integral does not depend on the
schedule (substitute m = 1 - alpha_t), but its Monte Carlo variance does.
"""

from __future__ import annotations

import math

import torch


class LogLinear:
    """alpha_t = 1 - t: the mask rate grows linearly; w(t) = 1/t (MDLM's default)."""

    def mask_rate(self, t: torch.Tensor) -> torch.Tensor:
        return t

    def weight(self, t: torch.Tensor) -> torch.Tensor:
        return 1.0 / t


class Cosine:
    """alpha_t = 1 - cos(pi/2 (1 - t)): few masks early, many late (MD4's cosine schedule);
    w(t) = pi/2 tan(pi/2 (1 - t))."""

    def mask_rate(self, t: torch.Tensor) -> torch.Tensor:
        return torch.cos(0.5 * math.pi * (1 - t))

    def weight(self, t: torch.Tensor) -> torch.Tensor:
        return 0.5 * math.pi * torch.tan(0.5 * math.pi * (1 - t))


SCHEDULES = {"loglinear": LogLinear, "cosine": Cosine}


def diffusion_times(rows: int, draws: int, antithetic: bool, device,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """(rows, draws) times in (0, 1]. Antithetic: each row's draws, and the rows among
    themselves, are one uniform offset plus evenly spaced points (mod 1), so every stretch of
    (0, 1] gets its share and the estimate's variance falls (MDLM's low-discrepancy sampler).

    t = 0 is never drawn and t is never truncated away from it (MDLM stops at 1e-3): the
    whole integral is estimated, so the figure stays an upper bound in expectation."""
    count = rows * draws
    if antithetic:
        offset = torch.rand(1, generator=generator, device=device)
        grid = torch.arange(count, device=device, dtype=torch.float32) / count
        # interleave: row r's draws are r, r + rows, ...: spread over (0, 1] within each row too
        u = (offset + grid).remainder(1.0).view(draws, rows).t()
    else:
        u = torch.rand(rows, draws, generator=generator, device=device)
    return 1.0 - u  # in (0, 1]
