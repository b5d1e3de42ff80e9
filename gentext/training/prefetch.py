"""The training batches on the device, the next one copied while the current one trains."""

from __future__ import annotations

import torch

from gentext.data.batching import BatchStream
from gentext.distributed import Ranks


class DeviceBatches:
    """The training batches, this process's rows of each, on the device, with their lengths
    kept on the host (so counting tokens never asks the device), and on a GPU copied from
    pinned memory one step ahead, the copy queued behind the step before so the host never
    waits for it. ``position`` is the stream's position after the
    last batch handed out (what a checkpoint saves), not after the one fetched ahead."""

    def __init__(self, stream: BatchStream, ranks: Ranks):
        self.stream, self.ranks = stream, ranks
        self.position = stream.position()
        self.ahead = None

    def _fetch(self):
        batch = self.ranks.shard(next(self.stream))
        lengths = batch["lengths"]
        position = self.stream.position()
        device = self.ranks.device
        if device.type == "cuda":
            batch = {k: v.pin_memory() for k, v in batch.items()}
        moved = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        return moved, lengths, position

    def prefetch(self) -> None:
        if self.ranks.device.type == "cuda" and self.ahead is None:
            self.ahead = self._fetch()

    def next(self) -> tuple[dict, torch.Tensor]:
        """The next batch on the device, and its rows' lengths on the host."""
        batch, lengths, self.position = self.ahead or self._fetch()
        self.ahead = None
        return batch, lengths
