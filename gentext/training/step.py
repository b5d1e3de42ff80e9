"""One optimizer step of a model's ``training_step``: the ``StepContext`` the loop hands it
(mixed precision, loss scaling, gradient accumulation over micro-batches, clipping, DDP's
gradient synchronisation), and how a batch is cut into micro-batches."""

from __future__ import annotations

import contextlib

import torch

from gentext.distributed import Ranks
from gentext.errors import GentextError
from gentext.models.contract import Shard
from gentext.training import sharding

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
CPU_MICRO_BATCH_TOKENS = 512  # bounds a CPU run's resident memory (docs/speed.md#memory)


def micro_batch_limit(setting: int, device_kind: str) -> int:
    """Padded positions a micro-batch may hold (0: no limit) for ``train.micro_batch_tokens``:
    auto (0) bounds a CPU run's activations, where they are most of its resident memory, and
    leaves a GPU's batches whole, where a larger matrix product is faster."""
    if setting == 0:
        return CPU_MICRO_BATCH_TOKENS if device_kind == "cpu" else 0
    return max(setting, 0)


def check_batch_split(batch_size: int, grad_accum: int, world: int) -> None:
    """The global batch (``train.batch_size``) splits evenly over the processes and then
    over each process's ``grad_accum`` micro-batches, or the run is refused before it starts."""
    if world > 1 and batch_size % world:
        raise GentextError(f"train.batch_size ({batch_size}) must divide by the number of "
                           f"processes ({world}): it is the global batch")
    if batch_size % (world * grad_accum):
        raise GentextError(f"train.batch_size ({batch_size}) must divide by train.grad_accum "
                           f"({grad_accum}) x processes ({world}): each micro-batch is an "
                           "equal share of the global batch")


class TrainingStep:
    """The ``StepContext`` a model's ``training_step`` gets: one backward-clip-step per
    optimizer, in the run's mixed precision (autocast, and loss scaling for fp16), over
    ``grad_accum`` micro-batches, gradients synchronised once per step (DDP over several
    processes). Only the objectives a step runs are autocast: nothing patches the model's
    forward, so evaluation and sampling stay float32."""

    def __init__(self, optimizers: dict, grad_clip: float, total_steps: int,
                 ranks: Ranks = Ranks(), seed: int = 0, grad_accum: int = 1,
                 synced: dict | None = None, micro_batch_tokens: int = 0, root=None,
                 precision: str = "no"):
        self.optimizers, self.ranks = optimizers, ranks
        self.grad_clip, self.total_steps, self.step = grad_clip, total_steps, 0
        self.seed, self.grad_accum = seed, grad_accum
        self.micro_batch_tokens = micro_batch_tokens  # 0: split only by grad_accum
        self.synced = synced or {}  # optimizer name -> its parameters under DDP
        self.root = root  # the sharded model under FSDP (gentext.training.sharding), else None
        self.dtype = AUTOCAST_DTYPES.get(precision)  # None: float32
        self.scaler = torch.amp.GradScaler(ranks.device.type) if precision == "fp16" else None

    @property
    def rank(self) -> int:
        return self.ranks.rank

    @property
    def world_size(self) -> int:
        return self.ranks.world

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.ranks.device.type, dtype=self.dtype)

    def sum_over_processes(self, values: torch.Tensor) -> torch.Tensor:
        return self.ranks.sum(values)

    def _backward(self, loss: torch.Tensor) -> None:
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()

    def whole_model(self):
        return sharding.gathered(self.root)

    def micro_batches(self, batch: dict):
        """(micro-batch, shard, weight) triples. The batch is cut into n = grad_accum x m
        parts, m the fewest that keep each part within ``micro_batch_tokens`` padded
        positions (rows x longest row); part i holds this process's rows i, i + n, ..., i.e.
        rows rank + world * i, ... of a global batch split world * n ways, padded as the
        batch is (a family may read the padding: seqgan's discriminator does). Its weight is
        its share of the batch's predicted tokens (each row's length less ``<bos>``; a 0-d
        tensor on the batch's device, so no host sync), so summing weight x loss over the
        parts gives the loss of the whole batch for a loss that is a mean per predicted
        token, as every built-in family's is."""
        k, rank, world = self.grad_accum, self.ranks.rank, self.ranks.world
        rows = len(batch["lengths"]) if "lengths" in batch else len(next(iter(batch.values())))
        n = k
        if self.micro_batch_tokens and "tokens" in batch:
            width = batch["tokens"].size(1)
            per_part = max(1, self.micro_batch_tokens // max(width, 1))
            n = k * max(1, -(-rows // (k * per_part)))
            n = min(n, max(rows, k))
        if n == 1:
            yield batch, Shard(rank, world), 1.0
            return

        lengths = batch.get("lengths")
        predicted = None if lengths is None else (lengths - 1).clamp(min=0)
        every = None if predicted is None else predicted.sum().clamp(min=1)
        for i in range(n):
            part = {name: value[i::n] for name, value in batch.items()}
            if predicted is not None:
                weight = predicted[i::n].sum() / every
            else:
                weight = len(range(i, rows, n)) / rows
            yield part, Shard(rank + world * i, world * n), weight

    def optimize(self, name: str, objective, batch: dict | None = None) -> dict | None:
        if name not in self.optimizers:
            raise KeyError(f"training_step asked for optimizer {name!r}; "
                           f"make_optimizers made {sorted(self.optimizers)}")
        optimizer = self.optimizers[name]
        outputs = None
        if callable(objective):
            if batch is None:
                raise GentextError(f"optimize({name!r}, objective) needs the batch to split "
                                   "into micro-batches: optimize(name, objective, batch)")
            outputs = self._accumulate(name, objective, batch)
        elif self.grad_accum > 1 or self.ranks.several:
            why = (f"train.grad_accum is {self.grad_accum}" if self.grad_accum > 1
                   else f"this run has {self.ranks.world} processes")
            raise GentextError(f"{why}, but this model's training_step gives optimize() a loss "
                               "tensor, not a function of the micro-batch; see docs/plugins.md")
        else:
            self._backward(objective)
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)
        if self.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(parameters, self.grad_clip)
        if self.scaler is None:
            optimizer.step()
        else:  # skipped when the scaled gradients overflowed
            self.scaler.step(optimizer)
            self.scaler.update()
        for each in self.optimizers.values():
            each.zero_grad(set_to_none=True)
        return outputs

    def _accumulate(self, name: str, objective, batch: dict) -> dict:
        """Back-propagate ``objective`` on each micro-batch, its loss times what it is a mean
        over (the ``count`` it returns, else its predicted tokens), then divide the summed
        gradients by the total: the gradient of the whole batch's mean, however it was cut.
        Under DDP synchronised on the last micro-batch only. Returns the outputs' means,
        weighted alike."""
        synced, sums, total = self.synced.get(name), {}, 0.0
        parts = list(self.micro_batches(batch))
        for i, (part, shard, share) in enumerate(parts):
            last = i == len(parts) - 1
            with contextlib.nullcontext() if synced is None or last else synced.no_sync():
                outputs = objective(part, shard) if synced is None else synced(objective, part,
                                                                              shard)
                if not isinstance(outputs, dict):
                    outputs = {"loss": outputs}
                outputs = dict(outputs)
                count = outputs.pop("count", None)
                weight = share if count is None else count
                self._backward(outputs["loss"] * weight)
            total += weight
            for key, value in outputs.items():
                value = value.detach() if isinstance(value, torch.Tensor) else value
                sums[key] = sums[key] + value * weight if key in sums else value * weight
        if not (isinstance(total, float) and total == 1.0):  # one whole part: nothing to undo
            for group in self.optimizers[name].param_groups:
                for parameter in group["params"]:
                    if parameter.grad is not None:
                        parameter.grad.div_(total)
        return {key: value / total for key, value in sums.items()}
