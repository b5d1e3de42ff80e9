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
ESTIMATORS = ("count", "time")  # how a draw of the bound is made: masks_by_count, or t


def diffusion_times(rows: int, draws: int, antithetic: bool, device,
                    generator: torch.Generator | None = None,
                    importance: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, draws) times t in (0, 1] and the factor each draw's estimate is multiplied by.

    Antithetic: each row's draws, and the rows among themselves, are one uniform offset plus
    evenly spaced points (mod 1), so every stretch of (0, 1] gets its share and the estimate's
    variance falls (MDLM's low-discrepancy sampler). t = 0 is never drawn and no stretch near
    it is cut away (MDLM stops at 1e-3): the whole integral is estimated.

    Near t = 0, w(t) ~ 1/t while about t n tokens are masked, so a single draw is large and
    rare: with t uniform the estimate's variance is infinite (it grows like the log of the
    number of draws). ``importance`` draws t = u^2 instead (density 1/(2 sqrt t): more draws
    near 0) and multiplies each estimate by 1/density = 2 sqrt t, which leaves the expectation
    unchanged and the variance finite (importance sampling of t, as Song et al. 2021 do for
    diffusion likelihoods). Evaluation by time uses it; training keeps MDLM's uniform draws."""
    count = rows * draws
    if antithetic:
        offset = torch.rand(1, generator=generator, device=device)
        grid = torch.arange(count, device=device, dtype=torch.float32) / count
        # interleave: row r's draws are r, r + rows, ...: spread over (0, 1] within each row too
        u = (offset + grid).remainder(1.0).view(draws, rows).t()
    else:
        u = torch.rand(rows, draws, generator=generator, device=device)
    u = 1.0 - u  # in (0, 1]
    return importance_sampled(u) if importance else (u, torch.ones_like(u))


def importance_sampled(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """t = u^2 for uniform u, and the factor 2u = 1/density(t) that keeps the estimate
    unbiased (``diffusion_times``)."""
    return u * u, 2.0 * u


def masks_by_count(content: torch.Tensor, u: torch.Tensor,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The same bound drawn by how many tokens are masked instead of when: (B, L) masks with
    exactly k = ceil(u T) of each row's T content positions masked, chosen uniformly, and the
    weight T / k of each row (0 for a row with no content). ``u`` (B,) lies in (0, 1], so k is
    uniform on 1..T when u is uniform.

    Integrating t out of the continuous bound (log-linear schedule; the bound is the same for
    every schedule): a given set S of k masked tokens has weight
    integral_0^1 (1/t) t^k (1 - t)^(T - k) dt = 1 / (k C(T, k)), so

        NELBO(x | T) = sum_k (1/k) E_{|S| = k} [ sum_{i in S} -log p_theta(x_i | x outside S) ]
                     = T E_{k ~ U{1..T}} [ (1/k) sum_{i in S} ... ],

    the any-order autoregressive form (Hoogeboom et al. 2022, ARDM; Ou et al. 2024 show the
    two equal). Its weights are at most T, where the time form's 1/t is unbounded near t = 0:
    the same expectation with a far smaller variance, in training and in evaluation."""
    counts = content.sum(dim=1)
    k = torch.ceil(u * counts).clamp(min=1)
    scores = torch.rand(content.shape, device=content.device, generator=generator)
    ranks = scores.masked_fill(~content, 2.0).argsort(dim=1).argsort(dim=1)
    masked = content & (ranks < k[:, None])
    return masked, counts / k
