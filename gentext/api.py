"""The names a plugin may import from gentext, all of them: this module's ``__all__``.

A family (built in or installed with pip) imports gentext through this module and nothing
else; tests/test_layout.py holds both rules, so a change to the list is deliberate. A name
that moves or is renamed keeps a deprecated alias here for one minor release
(``gentext.deprecation``).

Names load on first use, so a plugin's registration module can import ``hookimpl`` and
``ModelSpec`` from here without importing torch.
"""

from __future__ import annotations

import importlib

from gentext.deprecation import RENAMED, deprecated

# Where each public name is defined, grouped as docs/api.md shows them.
_WHERE = {
    # Registering a family, a dataset or a metric (torch-free)
    "hookimpl": "gentext.plugins.hookspecs",
    "ModelSpec": "gentext.plugins.specs",
    "FamilyRecipe": "gentext.plugins.specs",
    "DatasetSpec": "gentext.plugins.specs",
    "MetricSpec": "gentext.plugins.specs",
    "GentextError": "gentext.errors",
    "build_config": "gentext.config",
    # The model contract
    "TextModel": "gentext.models.contract",
    "SamplingOptions": "gentext.models.contract",
    "Capabilities": "gentext.models.contract",
    "Vocab": "gentext.models.contract",
    "StepContext": "gentext.models.contract",
    "Shard": "gentext.models.contract",
    "IGNORE_INDEX": "gentext.models.contract",
    "WHOLE_MODEL": "gentext.models.contract",
    "float32": "gentext.models.contract",
    "filter_logits": "gentext.models.contract",
    "draw_tokens": "gentext.models.contract",
    # The autoregressive base
    "AutoregressiveModel": "gentext.models.autoregressive",
    "shifted_targets": "gentext.models.autoregressive",
    "trim_at_eos": "gentext.models.autoregressive",
    "finished_check_every": "gentext.models.autoregressive",
    # Parts families share
    "TransformerConfig": "gentext.config",
    "Block": "gentext.models.transformer",
    "ACTIVATIONS": "gentext.models.transformer",
    "NORMS": "gentext.models.transformer",
    "check_choice": "gentext.models.transformer",
    "check_stack_config": "gentext.models.transformer",
    "stack_blocks": "gentext.models.transformer",
    "zero_init_projections": "gentext.models.transformer",
    "norm_layer": "gentext.models.transformer",
    "init_gpt2_weights": "gentext.models.transformer",
    "register_rotary_tables": "gentext.models.transformer",
    "LengthPrior": "gentext.models.length_prior",
    "CountedLengthPrior": "gentext.models.length_prior",
    "gaussian_kl": "gentext.models.estimators",
    "log_normal": "gentext.models.estimators",
    "importance_weighted_bound": "gentext.models.estimators",
    "mutual_information": "gentext.models.estimators",
    "active_units": "gentext.models.estimators",
    "adamw": "gentext.models.optim",
    "muon_with_adamw": "gentext.models.optim",
    "muon_for_blocks": "gentext.models.optim",
    "warmup_cosine": "gentext.models.optim",
    # Text, metrics and runs
    "TextTokenizer": "gentext.data.tokenizer",
    "hub_model_folder": "gentext.data.hub",
    "distinct_n": "gentext.evaluation.metrics",
    "mean_words": "gentext.evaluation.metrics",
    "self_bleu": "gentext.evaluation.bleu",
    "load_run": "gentext.runs.checkpoint",
    "write_run": "gentext.runs.checkpoint",
    # Checking a plugin's model
    "check_model": "gentext.evaluation.contract_check",
    "ContractViolation": "gentext.evaluation.contract_check",
}

__all__ = list(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in RENAMED:
        new_spelling, value = RENAMED[name]()
        deprecated(f"gentext.api.{name}", new_spelling)
        return value
    raise AttributeError(f"module 'gentext.api' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
