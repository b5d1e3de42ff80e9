"""The processes of a run: accelerate's set-up (process group, DDP, trackers), the sharding
engines gentext refuses, and each optimizer's parameters under DDP. FSDP is
``gentext.training.sharding``."""

from __future__ import annotations

import torch

from gentext.distributed import Ranks
from gentext.errors import GentextError
from gentext.training import sharding

UNSUPPORTED_ENGINES = {"DEEPSPEED": "DeepSpeed", "MEGATRON_LM": "Megatron-LM"}


def check_distributed_type(kind) -> None:
    """A launch whose accelerate config asks for a sharding engine gentext does not wire in
    is refused in one line, before anything is trained (not trained as plain DDP, silently:
    on CPUs accelerate ignores such configs). ``kind``: the accelerator's DistributedType
    (None: not made yet); the launcher's ``ACCELERATE_USE_<ENGINE>`` variables count too.
    FSDP is wired in (gentext.training.sharding)."""
    from accelerate.utils import parse_flag_from_env

    asked = [key for key in UNSUPPORTED_ENGINES if getattr(kind, "name", str(kind)) == key
             or parse_flag_from_env(f"ACCELERATE_USE_{key}")]
    name = UNSUPPORTED_ENGINES[asked[0]] if asked else None
    if name:
        raise GentextError(f"the accelerate config asks for {name}, which gentext does not "
                           "support yet: it trains data-parallel (DDP or FSDP); launch without "
                           "that config (docs/distributed.md)")


def make_accelerator(device_kind: str, trackers: list):
    """accelerate sets up the processes, DDP and the trackers; the precision is the step
    context's own (autocast around objectives), so accelerate's state is the same for
    every run of a process (a notebook, the tests) and never patches a forward. One of
    several processes runs once, on the device asked for (its process group: gloo on the
    CPU, NCCL on GPUs); one process alone trains on its own device whatever accelerate's
    state holds, which then never has to change (it cannot, within a process)."""
    from accelerate import Accelerator, DistributedDataParallelKwargs

    on_cpu = device_kind == "cpu" if Ranks.launched() else not torch.cuda.is_available()
    with sharding.accelerate_without_fsdp():  # gentext shards the model itself
        accelerator = Accelerator(
            cpu=on_cpu, log_with=trackers or None,
            # a family's step may leave some parameters without a gradient (a GAN's phases)
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    check_distributed_type(accelerator.distributed_type)
    return accelerator


class _Held(torch.nn.Module):
    """The parameters one optimizer steps, as a module DDP can wrap (the same tensors, not
    copies): its forward runs an objective, so DDP's gradient hooks and its no_sync apply to
    whatever a family's objective computes, for any number of optimizers."""

    def __init__(self, parameters):
        super().__init__()
        self.held = torch.nn.ParameterList(parameters)

    def forward(self, objective, micro_batch: dict, shard):
        return objective(micro_batch, shard)


def ddp_per_optimizer(accelerator, optimizers: dict) -> dict:
    """Each optimizer's trainable parameters under DDP, by optimizer name: a GAN's two
    networks are synchronised apart, each when its own optimizer steps."""
    synced = {}
    for name, optimizer in optimizers.items():
        held = [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]
        synced[name] = accelerator.prepare_model(_Held(held), device_placement=False)
    return synced
