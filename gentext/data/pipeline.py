"""From a DataConfig to splits of examples: the one path every command takes."""

from __future__ import annotations

from gentext.config import DataConfig
from gentext.data.loading import load_source
from gentext.data.splits import Splits, split_documents, split_examples

SPLIT_ALIASES = {"train": "train", "valid": "valid", "validation": "valid", "test": "test"}


def load_splits(data: DataConfig, source: str | None = None) -> Splits:
    """Load ``source`` (default: ``data.source``) and split it the way ``data`` says.

    A datasets folder that already has train, valid (or validation) and test splits keeps
    them; anything else is split deterministically with ``data.split_seed`` (running text,
    ``data.unit = "document"``, by ``split_documents``).
    """
    from gentext.plugins.manager import registry

    found = registry()
    owners = {name: found.owner[("dataset", name)] for name in found.datasets}
    loaded = load_source(source or data.source, found.datasets, owners)
    if isinstance(loaded, dict):
        named = {SPLIT_ALIASES[k]: v for k, v in loaded.items() if k in SPLIT_ALIASES}
        if set(named) == {"train", "valid", "test"}:
            return Splits(**named)
        loaded = [example for split in loaded.values() for example in split]
    split = split_documents if data.unit == "document" else split_examples
    return split(loaded, data.valid_fraction, data.test_fraction, data.split_seed)
