"""What plugins register: small, torch-free descriptions of models, datasets and metrics.

A spec names its heavy parts by import string, so listing models never imports torch.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import Callable, Literal

from gentext.errors import GentextError

LikelihoodKind = Literal["exact", "bound", "estimate", "none"]
LIKELIHOOD_KINDS = ("exact", "bound", "estimate", "none")


NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
IMPORT_STRING = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def check_name(kind: str, name: str) -> None:
    """Registered names become folder names (runs/NAME) and CLI words: lower-case letters,
    digits, '-' and '_' only, so no name can point outside the folder it is put in."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ValueError(f"{kind} name {name!r} must be lower-case letters, digits, '-' or '_'")


def import_string(path: str):
    """Import ``"package.module:Name"`` and return ``Name``."""
    module_name, _, attribute = path.partition(":")
    if not attribute:
        raise ValueError(f"import string {path!r} must look like 'package.module:Name'")
    module = importlib.import_module(module_name)
    if not hasattr(module, attribute):
        raise ImportError(f"module {module_name!r} has no {attribute!r}")
    return getattr(module, attribute)


def check_config_class(owner: str, config) -> None:
    """A config must be a dataclass (the class, not an instance) with a default for every
    field: gentext builds it with no arguments, then applies the run's settings."""
    import dataclasses

    if not (isinstance(config, type) and dataclasses.is_dataclass(config)):
        raise ValueError(f"{owner}: config must be a dataclass class (e.g. the class "
                         f"MyConfig, decorated with @dataclass), got {config!r:.60}")
    missing = [f.name for f in dataclasses.fields(config)
               if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ValueError(f"{owner}: config field(s) {', '.join(missing)} of "
                         f"{config.__name__} need a default")


@dataclass(frozen=True)
class FamilyRecipe:
    """How a family joins `gentext compare --recipe families` (trained on a matched budget).

    ``first_phase`` names a model knob that counts the steps of a first training phase of a
    different cost (a GAN's MLE pre-training): the recipe times both phases and keeps their
    default proportion. The family declares both, not ``gentext.comparison.recipes``: a
    plugin's family joins the recipe too, and only the family knows its own knobs."""

    first_phase: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A model family: its CLI name, config dataclass and (lazily imported) model class."""

    name: str
    description: str  # one line, shown by `gentext models`
    config: type  # a dataclass with a default for every field
    model: str  # "package.module:Class" of a gentext.models.contract.TextModel subclass
    # what its `nll` is: exact, a bound, an estimate, or none; or a function of the config
    # that says so, for a family whose kind depends on a setting (the one source of the kind)
    likelihood: LikelihoodKind | Callable[[object], LikelihoodKind]
    train_defaults: dict = field(default_factory=dict)  # [train] defaults this family prefers
    data_defaults: dict = field(default_factory=dict)  # [data] defaults (e.g. its tokenizer)
    recipe: FamilyRecipe | None = None  # joins `compare --recipe families` when set
    # how a stochastic `nll` combines its k draws, in words (`gentext eval` prints it beside
    # the kind); or a function of the config that says so
    nll_estimator: str | Callable[[object], str] = "importance-weighted"

    def __post_init__(self):
        """What can be checked without importing the model (and torch): a mistake here is a
        one-line warning naming the plugin when it registers, not a traceback later."""
        check_name("model", self.name)
        owner = f"model {self.name!r}"
        if not callable(self.likelihood) and self.likelihood not in LIKELIHOOD_KINDS:
            raise ValueError(f"{owner}: likelihood must be one of {', '.join(LIKELIHOOD_KINDS)} "
                             f"(or a function of the config), got {self.likelihood!r}")
        if not callable(self.nll_estimator) and not isinstance(self.nll_estimator, str):
            raise ValueError(f"{owner}: nll_estimator must be words (or a function of the "
                             f"config giving them), got {self.nll_estimator!r:.60}")
        if not isinstance(self.model, str) or not IMPORT_STRING.fullmatch(self.model):
            raise ValueError(f"{owner}: model must be an import string 'package.module:Class' "
                             f"(so listing models never imports torch), got {self.model!r:.60}")
        check_config_class(owner, self.config)
        for name in ("train_defaults", "data_defaults"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(f"{owner}: {name} must be a dict of settings")

    def likelihood_of(self, config) -> LikelihoodKind:
        """The likelihood kind of this family's models built from ``config``."""
        kind = self.likelihood(config) if callable(self.likelihood) else self.likelihood
        if kind not in LIKELIHOOD_KINDS:
            raise GentextError(f"model {self.name!r} declares likelihood {kind!r}; "
                               f"it must be one of {', '.join(LIKELIHOOD_KINDS)}")
        return kind

    def nll_estimator_of(self, config) -> str:
        """How the ``nll`` of this family's models built from ``config`` combines its draws."""
        return self.nll_estimator(config) if callable(self.nll_estimator) else self.nll_estimator

    def model_class(self):
        """Import and return the model class (this is where torch gets imported), checked to
        be a ``TextModel`` that implements what the contract asks of it."""
        try:
            cls = import_string(self.model)
        except Exception as exc:  # noqa: BLE001 - any failure of a plugin's module, one line
            raise GentextError(f"model {self.name!r} could not be imported from "
                               f"{self.model!r}: {type(exc).__name__}: {exc}") from exc
        from gentext.models.contract import contract_gaps

        gaps = contract_gaps(cls)
        if gaps:
            raise GentextError(f"model {self.name!r} ({self.model}) {gaps}; see "
                               "docs/plugins.md, 'The model contract'")
        return cls

    def build(self, config, vocab):
        """A new model of this family from its config dataclass and the ``Vocab``."""
        return self.model_class()(config, vocab)


@dataclass(frozen=True)
class DatasetSpec:
    """A named corpus usable as ``--data NAME``; ``load()`` returns its examples."""

    name: str
    description: str
    load: Callable[[], list[dict]]  # each example is {"text": str} plus an optional "label"


@dataclass(frozen=True)
class MetricSpec:
    """A metric of generated samples, scored against one split's texts."""

    name: str
    description: str
    compute: Callable[[list[str], list[str]], float]  # (samples, references) -> value
    references: Literal["train", "test"] = "test"
    higher_is_better: bool | None = None
