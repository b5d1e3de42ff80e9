"""From a DataConfig to splits of examples: the one path every command takes."""

from __future__ import annotations

from gentext.config import DataConfig
from gentext.data.loading import load_source
from gentext.data.splits import (SPLIT_ALIASES, Splits, hold_out, split_documents,
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
    split = split_documents if data.unit == "document" else split_examples
    return split(loaded, data.valid_fraction, data.test_fraction, data.split_seed)


def own_splits(loaded: dict[str, list[dict]], data: DataConfig) -> Splits:
    """A dataset's own splits (train; valid, validation or dev; test), each kept as it is and
    under its own name, so figures follow the dataset's published protocol. A held-out split
    it lacks is cut from its training split by ``data.split_seed``; without a training split
    and a held-out one, every example (of every split) is split as one list, as a file is."""
    named, names = {}, {}
    for name, examples in loaded.items():  # a second alias of one (dev beside validation) is left out
        ours = SPLIT_ALIASES.get(name)
        if ours is not None and ours not in named:
            named[ours], names[ours] = examples, name
    if "train" not in named or len(named) == 1:
        everything = [example for split in loaded.values() for example in split]
        split = split_documents if data.unit == "document" else split_examples
        return split(everything, data.valid_fraction, data.test_fraction, data.split_seed)
    for ours, fraction in (("valid", data.valid_fraction), ("test", data.test_fraction)):
        if ours not in named:
            named["train"], named[ours] = hold_out(named["train"], fraction, data.split_seed,
                                                   data.unit)
    return Splits(**named, names=names)
