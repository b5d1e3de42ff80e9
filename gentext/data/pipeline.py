"""From a DataConfig to splits of examples: the one path every command takes."""

from __future__ import annotations

from gentext.config import DataConfig
from gentext.data.loading import load_source
from gentext.data.splits import (Splits, hold_out, own_split_names, split_documents,
                                 split_examples)


def load_splits(data: DataConfig, source: str | None = None) -> Splits:
    """Load ``source`` (default: ``data.source``) and split it the way ``data`` says.

    Data that comes with its own splits keeps them (``own_splits``); anything else is split
    deterministically with ``data.split_seed`` (running text, ``data.unit = "document"``, by
    ``split_documents``).
    """
    from gentext.plugins.manager import registry

    found = registry()
    owners = {name: found.owner[("dataset", name)] for name in found.datasets}
    loaded = load_source(source or data.source, found.datasets, owners, data)
    if isinstance(loaded, dict):
        return own_splits(loaded, data)
    return _split(loaded, data)


def _split(examples: list[dict], data: DataConfig) -> Splits:
    """gentext's deterministic split, of examples or (``data.unit = "document"``) documents."""
    split = split_documents if data.unit == "document" else split_examples
    return split(examples, data.valid_fraction, data.test_fraction, data.split_seed)


def own_splits(loaded: dict[str, list[dict]], data: DataConfig) -> Splits:
    """A dataset's own splits (train; valid, validation or dev; test), each kept as it is and
    under its own name, so figures follow the dataset's published protocol. A held-out split
    it lacks is cut from its training split by ``data.split_seed``; without a training split
    and a held-out one, every example (of every split) is split as one list, as a file is."""
    names = own_split_names(loaded)
    named = {ours: loaded[theirs] for ours, theirs in names.items()}
    if "train" not in named or len(named) == 1:
        return _split([example for split in loaded.values() for example in split], data)
    for ours, fraction in (("valid", data.valid_fraction), ("test", data.test_fraction)):
        if ours not in named:
            named["train"], named[ours] = hold_out(named["train"], fraction, data.split_seed,
                                                   data.unit)
    return Splits(**named, names=names)
