"""Estimators shared by families with a latent variable: Gaussian densities, the
importance-weighted bound, and the diagnostics of posterior collapse (mutual information,
active units). seqvae and flow both call these; a plugin with a latent space may too."""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)
ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. 2016: Cov_x(E_q[z_d]) above this is "active"


def gaussian_kl(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor | float = 0.0,
                logvar_p: torch.Tensor | float = 0.0) -> torch.Tensor:
    """KL(N(mu_q, var_q) || N(mu_p, var_p)) per dimension, for diagonal Gaussians:
    0.5 (log var_p - log var_q + (var_q + (mu_q - mu_p)^2) / var_p - 1)."""
    mu_p, logvar_p = torch.as_tensor(mu_p), torch.as_tensor(logvar_p)
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1)


def log_normal(z: torch.Tensor, mu: torch.Tensor | float = 0.0,
               logvar: torch.Tensor | float = 0.0) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))), summed over the last dimension."""
    mu, logvar = torch.as_tensor(mu), torch.as_tensor(logvar)
    return (-0.5 * (LOG_2PI + logvar + (z - mu) ** 2 / logvar.exp())).sum(-1)


def importance_weighted_bound(log_weights: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """-log p(x) <= -log (1/k) sum_i w_i, w_i = p(x, z_i) / q(z_i | x), z_i ~ q (Burda et al.
    2016, eq. 8). ``log_weights`` holds the k draws along ``dim``; returns the bound per
    example, that dimension reduced."""
    k = log_weights.size(dim)
    return -(torch.logsumexp(log_weights, dim=dim) - math.log(k))


def mutual_information(mu: torch.Tensor, logvar: torch.Tensor, chunk: int = 256,
                       generator: torch.Generator | None = None) -> float:
    """I(x; z) under q(x, z) = p_data(x) q(z | x), estimated as E[log q(z|x)] - E[log q(z)] with
    the aggregate posterior q(z) = mean_j q(z | x_j) over the given examples (Hoffman & Johnson
    2016; He et al. 2019). At most log N for N examples in expectation (the entropy term is
    exact, log q(z) is sampled, so one estimate near the ceiling can pass it by its noise).
    ``mu``, ``logvar``: (N, d)."""
    n, dims = mu.shape
    mu, logvar = mu.double(), logvar.double()
    neg_entropy = (-0.5 * dims * LOG_2PI - 0.5 * (1 + logvar).sum(-1)).mean()
    noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    z = mu + noise * (0.5 * logvar).exp()
    log_qz = []
    for start in range(0, n, chunk):
        # log q(z_i | x_j) for this chunk of i against every j: (chunk, N)
        log_q = log_normal(z[start : start + chunk, None, :], mu[None], logvar[None])
        log_qz.append(torch.logsumexp(log_q, dim=1) - math.log(n))
    return float(neg_entropy - torch.cat(log_qz).mean())


def active_units(codes: torch.Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """Latent dimensions whose posterior mean varies across the data: Var_x(mu_d) > threshold.
    ``codes``: (N, d), one posterior mean per example (or per position)."""
    if codes.size(0) < 2:
        return 0
    return int((codes.double().var(dim=0) > threshold).sum())
