"""Convolutions over the positions of padded sequences that never read the padding."""

from __future__ import annotations

import torch
from torch import nn


class PositionConv(nn.Module):
    """Conv1d layers with GELUs between them over (B, T, C) input. Activations past each
    sequence's end are zeroed before every layer, so a sentence gives the same output alone
    or in a padded batch (biases would otherwise leak from the padding into its neighbours)."""

    def __init__(self, widths: list[int], kernels: list[int], dilations: list[int] | None = None):
        super().__init__()
        dilations = dilations or [1] * len(kernels)
        self.convs = nn.ModuleList(
            nn.Conv1d(w_in, w_out, k, padding=d * (k // 2), dilation=d)
            for w_in, w_out, k, d in zip(widths[:-1], widths[1:], kernels, dilations))
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        keep = None if valid is None else valid[:, None, :].to(x.dtype)
        h = x.transpose(1, 2)
        for i, conv in enumerate(self.convs):
            if keep is not None:
                h = h * keep
            h = conv(h)
            if i < len(self.convs) - 1:
                h = self.act(h)
        return h.transpose(1, 2)

    @property
    def last(self) -> nn.Conv1d:
        return self.convs[-1]
