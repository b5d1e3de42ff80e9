"""Invertible coupling layers over sequences of vectors (B, T, D), with exact log-determinants.

A coupling layer leaves part of its input untouched and transforms the rest with a function
of the untouched part, so its Jacobian is triangular and its inverse is as cheap as its
forward pass (Dinh et al. 2015, NICE; Dinh et al. 2017, Real NVP):

    affine (Real NVP):  y_b = x_b * exp(s(x_a)) + t(x_a),  log|det J| = sum s(x_a)
    additive (NICE):    y_b = x_b + t(x_a),                log|det J| = 0
    spline (NSF):       y_b = g(x_b; theta(x_a)),          log|det J| = sum log g'(x_b)

where g is a monotonic rational-quadratic spline with K bins on [-B, B] and the identity
outside (Durkan et al. 2019, Neural Spline Flows). An affine map of x_b keeps a unimodal
conditional unimodal; a spline can give it one mode per bin, which is what "which character
comes here?" needs from a prior over character vectors.

The split alternates between channels (half of each vector's dimensions) and positions
(even or odd positions of the sequence). The conditioner sees the untouched part at *every*
position (a convolution over the sequence), so positions interact while the Jacobian stays
triangular. Padding positions (beyond each sequence's length) pass through unchanged and add
nothing to the log-determinant.
"""

from __future__ import annotations

import torch
from torch import nn

from zuko.transforms import MonotonicRQSTransform

from gentext.api import float32
from gentext_flow.positions import PositionConv

COUPLINGS = ("affine", "additive", "spline")
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


def widened(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 at least (float64 stays float64): what the maps run in."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


class Conditioner(nn.Module):
    """The transform's parameters for every entry, (B, T, D, per_entry), from the untouched
    part of the whole sequence: convolutions over positions. The last layer starts at zero, so
    a new coupling is the identity and a deep stack starts stable."""

    def __init__(self, dim: int, hidden: int, kernel: int = 3, per_entry: int = 2,
                 dilation: int = 1):
        super().__init__()
        self.per_entry = per_entry
        self.net = PositionConv([dim, hidden, hidden, dim * per_entry], [kernel, 1, kernel],
                                [dilation, 1, dilation])
        nn.init.zeros_(self.net.last.weight)
        nn.init.zeros_(self.net.last.bias)

    def forward(self, untouched: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        return self.net(untouched, valid).unflatten(-1, (untouched.size(-1), self.per_entry))


class Coupling(nn.Module):
    """One affine, additive or spline coupling layer with a channel or position mask."""

    def __init__(self, dim: int, hidden: int, coupling: str = "affine", mask: str = "channel",
                 parity: int = 0, max_log_scale: float = 2.0, kernel: int = 3, bins: int = 8,
                 bound: float = 4.0, dilation: int = 1):
        super().__init__()
        if coupling not in COUPLINGS:
            raise ValueError(f"unknown coupling {coupling!r}; choose one of {', '.join(COUPLINGS)}")
        if mask not in MASKS:
            raise ValueError(f"unknown coupling mask {mask!r}; choose one of {', '.join(MASKS)}")
        self.coupling, self.mask, self.parity = coupling, mask, parity
        self.max_log_scale = max_log_scale  # s = c * tanh(raw / c): bounded, smooth near 0
        self.bins, self.bound = bins, bound  # spline: K bins over [-B, B], identity outside
        per_entry = 3 * bins - 1 if coupling == "spline" else 2  # widths, heights, inner slopes
        self.conditioner = Conditioner(dim, hidden, kernel, per_entry, dilation)

    def _transform_of(self, x: torch.Tensor, valid: torch.Tensor):
        """The transform mask (B, T, D) and the elementwise map x_b -> (y_b, log g'(x_b)) that
        the untouched part of x chooses; masked-out entries are left to the caller."""
        mask = coupling_mask(self.mask, self.parity, x.size(1), x.size(2), x.device).to(x.dtype)
        mask = mask * valid[..., None].to(x.dtype)  # padding is never transformed ...
        # ... nor read; the elementwise maps and their log-slopes are float32 under autocast
        params = widened(self.conditioner(x * (1 - mask), valid))
        if self.coupling == "spline":
            k = self.bins
            return mask, MonotonicRQSTransform(params[..., :k], params[..., k : 2 * k],
                                               params[..., 2 * k :], bound=self.bound)
        shift, raw = params.unbind(-1)
        if self.coupling == "additive":
            log_scale = torch.zeros_like(raw)
        else:
            log_scale = self.max_log_scale * torch.tanh(raw / self.max_log_scale)
        return mask, AffineMap(shift, log_scale)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, D) -> (y, log|det dy/dx| per sequence (B,)); ``valid`` (B, T) bool.
        The map runs in float32 outside autocast: a spline's bin search and slopes, and a
        sum of log-slopes over a sentence, lose the bound in bf16."""
        mask, transform = self._transform_of(x, valid)
        x = widened(x)
        with float32(x.device.type):
            y, log_slope = transform.call_and_ladj(x)
        mask = mask.to(log_slope.dtype)
        return torch.where(mask.bool(), y, x), (log_slope * mask).sum(dim=(1, 2))

    def inverse(self, y: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """The x with forward(x) = y: the untouched part is y's, so the transform is too."""
        mask, transform = self._transform_of(y, valid)
        y = widened(y)
        with float32(y.device.type):
            x = transform.inv(y)
        return torch.where(mask.bool(), x, y)


class AffineMap:
    """y = x * exp(log_scale) + shift elementwise, with the call_and_ladj / inv of zuko's
    transforms, so affine, additive and spline couplings share one code path."""

    def __init__(self, shift: torch.Tensor, log_scale: torch.Tensor):
        self.shift, self.log_scale = shift, log_scale

    def call_and_ladj(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x * torch.exp(self.log_scale) + self.shift, self.log_scale

    def inv(self, y: torch.Tensor) -> torch.Tensor:
        return (y - self.shift) * torch.exp(-self.log_scale)


class CouplingStack(nn.Module):
    """Couplings alternating channel and position masks and both parities, so every entry is
    transformed several times and every position sees every other. With ``dilated``, each
    group of four couplings reads twice as far as the one before (convolutions dilated 1, 2,
    4, ..., as WaveNet's and ByteNet's), so the last ones read the whole sentence."""

    def __init__(self, dim: int, hidden: int, layers: int, coupling: str = "affine",
                 kernel: int = 3, bins: int = 8, dilated: bool = False):
        super().__init__()
        plan = [("channel", 0), ("channel", 1), ("position", 0), ("position", 1)]
        self.layers = nn.ModuleList(
            Coupling(dim, hidden, coupling, *plan[i % len(plan)], kernel=kernel, bins=bins,
                     dilation=2 ** (i // 2) if dilated else 1)
            for i in range(layers))

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_det = torch.zeros(x.size(0), dtype=widened(x).dtype, device=x.device)
        for layer in self.layers:
            x, layer_log_det = layer(x, valid)
            log_det = log_det + layer_log_det
        return x, log_det

    def inverse(self, z: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        for layer in reversed(self.layers):
            z = layer.inverse(z, valid)
        return z
