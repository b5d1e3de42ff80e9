"""``torch.compile`` for the training step only (``train.compile``, on CUDA): the submodules a
family names, compiled for training-mode calls with gradients; evaluation and sampling run
eagerly."""

from __future__ import annotations

import torch

from gentext.models.contract import TextModel


def compile_hot_path(model: TextModel) -> list[str]:
    """``torch.compile`` the forward of each submodule the model's ``compiled_modules``
    name, for the training step only: a call in training mode with gradients on runs the
    compiled graph; evaluation and sampling (no gradients) run eagerly, so their many shapes
    (a KV cache's every position, each batch of a split) never recompile. The module keeps
    its state_dict keys. A ``ModuleList`` named compiles each of its modules (a Transformer's
    blocks: one graph serves them all). Returns the names compiled."""
    names = model.capabilities.honour_moved("compile", model.compiled_modules)
    for name in names:
        module = model.get_submodule(name)
        for each in module if isinstance(module, torch.nn.ModuleList) else [module]:
            _compile_training_forward(each)
    return list(names)


def _compile_training_forward(module: torch.nn.Module) -> None:
    eager = module.forward
    compiled = torch.compile(eager)

    def forward(*args, **kwargs):
        if module.training and torch.is_grad_enabled():
            for value in [*args, *kwargs.values()]:  # batches vary in rows and width: one
                if isinstance(value, torch.Tensor):  # graph for all, not one per shape
                    for dim in range(min(value.dim(), 2)):
                        torch._dynamo.maybe_mark_dynamic(value, dim)
            return compiled(*args, **kwargs)
        return eager(*args, **kwargs)

    module.forward = forward
