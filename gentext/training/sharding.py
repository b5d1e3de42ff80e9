"""FSDP: each process holds a shard of every parameter, gradient and optimizer state, so a
model past one device's memory trains over several (torch's FSDP2 ``fully_shard``: Zhao et al.
2023, "PyTorch FSDP"; the sharding of ZeRO-3, Rajbhandari et al. 2020).

Asked for by the launcher, as accelerate users expect: ``accelerate launch --config_file
fsdp.yaml`` (which sets ``ACCELERATE_USE_FSDP``), or that variable under torchrun. gentext
shards the model itself rather than through ``accelerator.prepare``, the same way on CPUs
(gloo, where accelerate would ignore the config) and GPUs:

- each submodule a family names in ``fsdp_units`` (a ``ModuleList`` names each of
  its children) is one unit, all-gathered just before its forward and freed after it; the rest
  of the model is the root unit, whole for the length of one objective. Units must be called
  the same number of times on every process within an objective (a Transformer's blocks are;
  a sampling loop that stops early is not); a family that names none is one unit;
- the root is a module that runs the family's objective (``ShardedRoot``), so a
  ``training_step`` written for one process runs unchanged, and direct parameter reads (a tied
  output layer) inside it see whole tensors;
- evaluation and sampling see the whole model (``gathered``): each process all-gathers every
  parameter for their duration. Checkpoints gather weights (through
  ``torch.distributed.checkpoint.state_dict``) and optimizer state into the main process's CPU
  memory (``full_state_dict``, ``full_optimizer_state``) in the one-process format, so a
  sharded run resumes sharded or not, and its model loads anywhere.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
from torch import nn

from gentext.errors import GentextError

USE_FSDP = "ACCELERATE_USE_FSDP"  # set by `accelerate launch` for an FSDP config
# accelerate's fsdp_reshard_after_forward: true/false (FSDP2), or an FSDP1 sharding strategy
RESHARD_AFTER_FORWARD = {"true": True, "false": False, "full_shard": True,
                         "shard_grad_op": False, "1": True, "2": False}


@dataclass(frozen=True)
class ShardingPlan:
    """What the launcher's FSDP config asks of gentext."""

    reshard_after_forward: bool = True  # free a unit's gathered weights after its forward
    offload_params: bool = False  # keep shards (and the optimizer's step) in CPU memory


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def requested() -> ShardingPlan | None:
    """The launch's FSDP plan (read from accelerate's environment), or None for none."""
    if not _flag(USE_FSDP):
        return None
    strategy = os.environ.get("FSDP_RESHARD_AFTER_FORWARD",
                              os.environ.get("FSDP_SHARDING_STRATEGY", "true")).strip().lower()
    if strategy not in RESHARD_AFTER_FORWARD:
        raise GentextError(f"fsdp_reshard_after_forward {strategy!r} is not one gentext knows: "
                           "true or false (FSDP1's FULL_SHARD or SHARD_GRAD_OP)")
    return ShardingPlan(RESHARD_AFTER_FORWARD[strategy], _flag("FSDP_OFFLOAD_PARAMS"))


def check_precision(plan: ShardingPlan | None, mixed_precision: str, setting: str) -> None:
    """fp16 needs loss scaling, which gentext does not apply to sharded gradients: refused
    in one line (``mixed_precision``: what ``setting``, train.precision, means here)."""
    if plan and mixed_precision == "fp16":
        raise GentextError(
            f"train.precision {setting} means fp16 here, which gentext's FSDP does not support "
            "(loss scaling of sharded gradients): set train.precision=bf16 or fp32, or launch "
            "without the FSDP config")


@contextlib.contextmanager
def accelerate_without_fsdp():
    """Hide the FSDP request from accelerate while it is set up: gentext shards the model
    itself, and accelerate would otherwise wrap it a second time (on a GPU)."""
    saved = os.environ.pop(USE_FSDP, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[USE_FSDP] = saved


class ShardedRoot(nn.Module):
    """The root FSDP unit: the model, and a forward that runs one objective on it, so FSDP
    gathers the root's weights for the objective and reduces its gradients after backward."""

    def __init__(self, model: nn.Module, plan: ShardingPlan):
        super().__init__()
        self.model, self.plan = model, plan

    def forward(self, objective, micro_batch: dict, shard):
        return objective(micro_batch, shard)

    def no_sync(self):
        """Where DDP skips the all-reduce of a micro-batch that is not the last, FSDP still
        reduce-scatters it: skipping would hold the whole model's gradients on every process
        until the last micro-batch (FSDP2's ``set_requires_gradient_sync(False)``), and
        keeping them sharded is what FSDP is for. More communication, the same update."""
        return contextlib.nullcontext()


def units(model: nn.Module, names) -> list[nn.Module]:
    """The submodules ``fsdp_units`` names (a ModuleList: each child)."""
    found = []
    for name in names:
        try:
            module = model.get_submodule(name)
        except AttributeError:
            raise GentextError(f"fsdp_units names {name!r}, which "
                               f"{type(model).__name__} does not have") from None
        found.extend(module if isinstance(module, nn.ModuleList) else [module])
    return found


def shard_model(model: nn.Module, names, plan: ShardingPlan) -> ShardedRoot:
    """Shard ``model`` in place over the default process group; returns the root to run
    objectives through. Every process must hold the same weights beforehand."""
    from torch.distributed.fsdp import CPUOffloadPolicy, OffloadPolicy, fully_shard

    offload = CPUOffloadPolicy() if plan.offload_params else OffloadPolicy()
    for unit in units(model, names):
        fully_shard(unit, reshard_after_forward=plan.reshard_after_forward,
                    offload_policy=offload)
    root = ShardedRoot(model, plan)
    fully_shard(root, offload_policy=offload)  # the root keeps its weights until backward
    return root


def _fsdp_modules(root: nn.Module) -> list:
    from torch.distributed.fsdp import FSDPModule

    return [module for module in root.modules() if isinstance(module, FSDPModule)]


def unit_count(root: ShardedRoot) -> int:
    """Units gathered apart, the root included."""
    return len(_fsdp_modules(root))


@contextlib.contextmanager
def gathered(root: ShardedRoot | None):
    """The whole model on every process (a collective: every process enters), its
    parameters plain tensors, for evaluation, sampling and a step's ``whole_model``; sharded
    again after. No-op for None (an unsharded run)."""
    if root is None:
        yield
        return
    modules = _fsdp_modules(root)
    root.set_reshard_after_forward(False)  # a unit's forward inside must not free it again
    try:
        for module in modules:
            module.unshard()
        yield
    finally:
        for module in modules:
            module.reshard()
        for module in modules:
            if module is not root:
                module.set_reshard_after_forward(root.plan.reshard_after_forward, recurse=False)


def _parameters(optimizer) -> list:
    return [p for group in optimizer.param_groups for p in group["params"]]


def _own_copy(tensor: torch.Tensor) -> torch.Tensor:
    """A gathered tensor in CPU memory with a storage of its own (a gathered shard of a
    padded parameter is a view of a larger buffer, which safetensors refuses to save)."""
    return tensor.detach().to("cpu").clone(memory_format=torch.contiguous_format)


def full_state_dict(model: nn.Module, keep: bool = True) -> dict:
    """The model's state dict gathered whole into CPU memory through
    ``torch.distributed.checkpoint.state_dict`` (a collective: every process calls it; the
    main process, ``keep``, gets the tensors). Tied parameters stay one tensor, as
    safetensors stores them."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    whole = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True,
                                                                 cpu_offload=True))
    if not keep:
        return {}
    weights, first_name = {}, {}
    for name, value in model.state_dict(keep_vars=True).items():
        if name not in whole:  # a name DCP folded into its tie
            name_of_tie = first_name.get(id(value))
            weights[name] = weights[name_of_tie]
            continue
        first = first_name.setdefault(id(value), name)
        weights[name] = weights[first] if first != name else _own_copy(whole[name])
    return weights


def full_optimizer_state(optimizer, keep: bool = True) -> dict:
    """``optimizer.state_dict()`` with every sharded tensor gathered whole into CPU memory
    (a collective, as ``full_state_dict``): the one-process format, so checkpoints do not
    depend on how a run was sharded.

    Not ``get_optimizer_state_dict``: it first steps an optimizer whose state is empty with
    zero gradients (``_init_optim_state``), which adds a step to an Adam that has not yet
    stepped (seqgan's discriminator during pre-training), and to the Muon-and-AdamW pair
    every time (its state lives in its parts), so a resumed run would leave the curve of an
    uninterrupted one."""
    from torch.distributed.tensor import DTensor

    def whole(value):
        if not isinstance(value, DTensor):
            return value
        value = value.full_tensor()
        return _own_copy(value) if keep else None

    state = optimizer.state_dict()
    state["state"] = {index: {name: whole(value) for name, value in values.items()}
                      for index, values in state["state"].items()}
    return state


def load_sharded_optimizer_state(optimizer, state: dict) -> None:
    """Load a one-process optimizer state into an optimizer over sharded parameters: each
    tensor shaped like its parameter is cut into this process's shard."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    parameters = _parameters(optimizer)
    sharded = {}
    for index, values in state["state"].items():
        parameter = parameters[int(index)]
        sharded[index] = {
            name: distribute_tensor(value.to(parameter.device), parameter.device_mesh,
                                    parameter.placements)
            if isinstance(parameter, DTensor) and torch.is_tensor(value)
            and value.shape == parameter.shape else value
            for name, value in values.items()}
    optimizer.load_state_dict({**state, "state": sharded})
