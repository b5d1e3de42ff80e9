"""Old spellings that still work for one minor release, each warning in one line with the new.

Three tables, and nothing else in gentext keeps an old spelling: ``MOVED`` (a module path a
0.1.0 plugin may import; the import gives the module's new home), ``RENAMED`` (a name of
``gentext.api`` that was renamed; it gives the new object) and ``CAPABILITIES`` (a field of
``Capabilities`` that is not an ability; ``Capabilities.honour_moved`` reads it where its new
place is unset). All empty in 0.3. A config key's old name is the one exception: it is kept
beside the key, in its section's dataclass (``RENAMED_KEYS``), so a plugin can rename its own;
``gentext.config`` warns of it through ``deprecated`` here.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

REMOVED_IN = "0.3"


class GentextDeprecationWarning(FutureWarning):
    """An old spelling of a gentext name or option (shown by default, unlike DeprecationWarning:
    the person who must act is the plugin's author or the user, not gentext)."""


def deprecated(old: str, new: str, stacklevel: int = 3) -> None:
    """Warn that ``old`` is spelt ``new`` now."""
    warnings.warn(f"{old} is deprecated and goes in gentext {REMOVED_IN}: use {new}",
                  GentextDeprecationWarning, stacklevel=stacklevel)


# Module paths of 0.1.0 and where their names live now. gentext.model's names went to three
# modules (and one was renamed), so it points at the public module, which has them all.
MOVED = {
    "gentext.model": "gentext.api",
    "gentext.autoregressive": "gentext.models.autoregressive",
    "gentext.transformer": "gentext.models.transformer",
    "gentext.estimators": "gentext.models.estimators",
    "gentext.length_prior": "gentext.models.length_prior",
    "gentext.optim": "gentext.models.optim",
    "gentext.hookspecs": "gentext.plugins.hookspecs",
    "gentext.specs": "gentext.plugins.specs",
    "gentext.tokenizer": "gentext.data.tokenizer",
    "gentext.metrics": "gentext.evaluation.metrics",
    "gentext.bleu": "gentext.evaluation.bleu",
    "gentext.testing": "gentext.evaluation.contract_check",
    "gentext.checkpoint": "gentext.runs.checkpoint",
}


def _next_token():
    """0.1.0's ``next_token(logits, temperature, top_k, top_p, generator)``."""
    from gentext.models.contract import SamplingOptions, draw_tokens

    def next_token(logits, temperature, top_k, top_p, generator=None):
        options = SamplingOptions(temperature=temperature, top_k=top_k, top_p=top_p,
                                  generator=generator)
        return draw_tokens(logits, options)

    return "draw_tokens(logits, SamplingOptions(...))", next_token


# Renamed names of gentext.api: old name -> a function giving (new spelling, object).
RENAMED = {"next_token": _next_token}

# 0.1.0's fields of Capabilities that are not abilities: field -> (the value that leaves its
# new place unset, where it is declared now).
CAPABILITIES = {
    "default_temperature": (1.0, "the model class attribute default_temperature"),
    "nll_estimator": ("importance-weighted", "ModelSpec(nll_estimator=...)"),
    "compile": ((), "the model class attribute compiled_modules"),
    "fsdp_units": ((), "the model class attribute fsdp_units"),
    "diagnostics": ((), "nothing: gentext compare shows kl_per_token, active_units and "
                        "latent_dim of any model whose diagnostics() reports them"),
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers an import of an old module path with the module that holds its names now."""

    def find_spec(self, fullname, path=None, target=None):
        return importlib.util.spec_from_loader(fullname, self) if fullname in MOVED else None

    def create_module(self, spec):
        deprecated(f"the module {spec.name}", f"gentext.api (the names now live in "
                   f"{MOVED[spec.name]})", stacklevel=4)
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module) -> None:
        """The module is the new one, already run."""


def install() -> None:
    """Let the old module paths import (once per process)."""
    if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModules())
