"""Several processes, one run (data parallel): who writes, how a batch is shared, what is summed.

Launched by ``torchrun`` or ``accelerate launch``, every process runs the same loop on the same
global batch order and takes its share of each batch (rows ``rank::world``). Gradients are
averaged by torch's DDP (through accelerate, in the trainer), one DDP per optimizer, so
families with several optimizers (a GAN) work unchanged. Only the main process writes the run
directory; evaluation sums nats, tokens and examples across processes, so figures are those
of one process. With one process every method here is a no-op.

Every collective of gentext is here, and runs on tensors on the process's device: NCCL, the
backend on GPUs, has no CPU tensors, so a sum of host values would fail there.

May import: nothing
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    """This process's place among the processes of a run."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")  # where collectives run: the process's device

    @classmethod
    def current(cls, device: torch.device | str = "cpu") -> "Ranks":
        """This process's place, its collectives on ``device`` (the accelerator's)."""
        device = torch.device(device)
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size(), device)
        return cls(device=device)

    @staticmethod
    def launched() -> bool:
        """Started as one of several processes (torchrun, accelerate launch), known before
        the process group is set up."""
        return int(os.environ.get("WORLD_SIZE", "1")) > 1

    @property
    def main(self) -> bool:
        """The process that writes checkpoints, metrics, samples and messages."""
        return self.rank == 0

    @property
    def several(self) -> bool:
        return self.world > 1

    def shard(self, batch: dict) -> dict:
        """This process's rows of a global batch (every tensor's rows ``rank::world``)."""
        if not self.several:
            return batch
        return {name: value[self.rank :: self.world] for name, value in batch.items()}

    def barrier(self) -> None:
        if self.several:
            dist.barrier()

    def close(self, wait: bool = True) -> None:
        """Wait for every process (unless this one failed: the others may never arrive), then
        end the process group: a helper that exits while gloo's threads still run aborts
        ("terminate called without an active exception")."""
        if self.several:
            if wait:
                dist.barrier()
            dist.destroy_process_group()

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Element-wise sum of ``values`` over every process: a copy on this process's device
        (float64 where the device has it, so counts of tokens stay exact), on ``values``'s
        device again after."""
        if not self.several:
            return values
        dtype = torch.float32 if self.device.type == "mps" else torch.float64
        total = values.detach().to(self.device, dtype).clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total.to(values.device)

    def any(self, *flags: bool) -> tuple[bool, ...]:
        """Each flag, true when it is true in any process: every process stops together."""
        if not self.several:
            return flags
        summed = self.sum(torch.tensor([float(f) for f in flags], device=self.device))
        return tuple(bool(v > 0) for v in summed.tolist())

    def broadcast_parameters(self, module: torch.nn.Module) -> None:
        """Make every process start from the main process's weights."""
        if not self.several:
            return
        with torch.no_grad():
            for tensor in [*module.parameters(), *module.buffers()]:
                dist.broadcast(tensor.data, src=0)
