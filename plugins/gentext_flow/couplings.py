"""Invertible coupling layers over sequences of vectors (B, T, D), with exact log-determinants.

A coupling layer leaves part of its input untouched and transforms the rest with a function
of the untouched part, so its Jacobian is triangular and its inverse is as cheap as its
forward pass (Dinh et al. 2015, NICE; Dinh et al. 2017, Real NVP):

    affine (Real NVP):  y_b = x_b * exp(s(x_a)) + t(x_a),  log|det J| = sum s(x_a)
    additive (NICE):    y_b = x_b + t(x_a),                log|det J| = 0

The split alternates between channels (half of each vector's dimensions) and positions
(even or odd positions of the sequence). The conditioner sees the untouched part at *every*
position (a convolution over the sequence), so positions interact while the Jacobian stays
triangular. Padding positions (beyond each sequence's length) pass through unchanged and add
nothing to the log-determinant.
"""

from __future__ import annotations

import torch
from torch import nn

from gentext_flow.positions import PositionConv

COUPLINGS = ("affine", "additive")
MASKS = ("channel", "position")


def coupling_mask(kind: str, parity: int, length: int, dim: int, device=None) -> torch.Tensor:
    """(T, D) float mask, 1 where the layer transforms and 0 where it leaves the input alone."""
    if kind == "channel":
        transformed = (torch.arange(dim, device=device) % 2 == parity).float()
        return transformed.expand(length, dim)
    if kind == "position":
        transformed = (torch.arange(length, device=device) % 2 == parity).float()
        return transformed[:, None].expand(length, dim)
    raise ValueError(f"unknown coupling mask {kind!r}; choose one of {', '.join(MASKS)}")


class Conditioner(nn.Module):
    """Shift and log-scale for every position from the untouched part of the whole sequence:
    convolutions over positions. The last layer starts at zero, so a new coupling is the
    identity and a deep stack starts stable."""

    def __init__(self, dim: int, hidden: int, kernel: int = 3):
        super().__init__()
        self.net = PositionConv([dim, hidden, hidden, 2 * dim], [kernel, 1, kernel])
        nn.init.zeros_(self.net.last.weight)
        nn.init.zeros_(self.net.last.bias)

    def forward(self, untouched: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shift, log_scale = self.net(untouched, valid).chunk(2, dim=-1)
        return shift, log_scale


class Coupling(nn.Module):
    """One affine or additive coupling layer with a channel or position mask."""

    def __init__(self, dim: int, hidden: int, coupling: str = "affine", mask: str = "channel",
                 parity: int = 0, max_log_scale: float = 2.0, kernel: int = 3):
        super().__init__()
        if coupling not in COUPLINGS:
            raise ValueError(f"unknown coupling {coupling!r}; choose one of {', '.join(COUPLINGS)}")
        if mask not in MASKS:
            raise ValueError(f"unknown coupling mask {mask!r}; choose one of {', '.join(MASKS)}")
        self.coupling, self.mask, self.parity = coupling, mask, parity
        self.max_log_scale = max_log_scale  # s = c * tanh(raw / c): bounded, smooth near 0
        self.conditioner = Conditioner(dim, hidden, kernel)

    def _parameters_of(self, x: torch.Tensor, valid: torch.Tensor):
        """The transform mask (B, T, D), shift and log-scale, from the untouched part of x."""
        mask = coupling_mask(self.mask, self.parity, x.size(1), x.size(2), x.device).to(x.dtype)
        mask = mask * valid[..., None].to(x.dtype)  # padding is never transformed ...
        shift, raw = self.conditioner(x * (1 - mask), valid)  # ... nor read
        if self.coupling == "additive":
            log_scale = torch.zeros_like(raw)
        else:
            log_scale = self.max_log_scale * torch.tanh(raw / self.max_log_scale)
        return mask, shift * mask, log_scale * mask

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, D) -> (y, log|det dy/dx| per sequence (B,)); ``valid`` (B, T) bool."""
        mask, shift, log_scale = self._parameters_of(x, valid)
        y = x * torch.exp(log_scale) + shift  # untouched entries: log_scale = shift = 0
        return y, log_scale.sum(dim=(1, 2))

    def inverse(self, y: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """The x with forward(x) = y: the untouched part is y's, so the parameters are too."""
        _, shift, log_scale = self._parameters_of(y, valid)
        return (y - shift) * torch.exp(-log_scale)


class CouplingStack(nn.Module):
    """Couplings alternating channel and position masks and both parities, so every entry is
    transformed several times and every position sees every other."""

    def __init__(self, dim: int, hidden: int, layers: int, coupling: str = "affine",
                 kernel: int = 3):
        super().__init__()
        plan = [("channel", 0), ("channel", 1), ("position", 0), ("position", 1)]
        self.layers = nn.ModuleList(
            Coupling(dim, hidden, coupling, *plan[i % len(plan)], kernel=kernel)
            for i in range(layers))

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_det = torch.zeros(x.size(0), dtype=x.dtype, device=x.device)
        for layer in self.layers:
            x, layer_log_det = layer(x, valid)
            log_det = log_det + layer_log_det
        return x, log_det

    def inverse(self, z: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        for layer in reversed(self.layers):
            z = layer.inverse(z, valid)
        return z
