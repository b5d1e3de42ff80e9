"""Deterministic train / valid / test splits, and the hash that identifies a split."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from gentext.errors import GentextError

SPLIT_NAMES = ("train", "valid", "test")
# The names datasets give their splits, each as gentext's own.
SPLIT_ALIASES = {"train": "train", "valid": "valid", "validation": "valid", "dev": "valid",
                 "test": "test"}


def own_split_names(names) -> dict[str, str]:
    """gentext's name -> the data's own, for each split of ``names`` that is one of
    ``SPLIT_ALIASES`` (a second alias of one, dev beside validation, is left out)."""
    found: dict[str, str] = {}
    for name in names:
        if name in SPLIT_ALIASES:
            found.setdefault(SPLIT_ALIASES[name], name)
    return found


@dataclass
class Splits:
    """Examples by split; each example is {"text": str} with an optional "label"."""

    train: list[dict]
    valid: list[dict]
    test: list[dict]
    # gentext's name of each split the data came with -> the data's own ("valid" -> "validation")
    names: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> list[dict]:
        """One split by gentext's name or the data's own; "all" gives every example."""
        if name == "all":
            return self.train + self.valid + self.test
        return getattr(self, self.ours(name))

    def ours(self, name: str) -> str:
        """gentext's name (train, valid, test) of the split called ``name``."""
        theirs = {own: split for split, own in self.names.items()}
        if name in SPLIT_NAMES or name in theirs:
            return theirs.get(name, name)
        choices = ", ".join(self.names.get(split, split) for split in SPLIT_NAMES)
        raise GentextError(f"unknown split {name!r}; choose one of {choices}, all")

    def name_of(self, name: str) -> str:
        """How the data itself names the split called ``name`` ("validation" for valid, when
        that is the dataset's name of it), so figures say which split they were measured on."""
        return name if name == "all" else self.names.get(self.ours(name), self.ours(name))


def _check_fractions(valid_fraction: float, test_fraction: float) -> None:
    for name, fraction in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if not 0 < fraction < 0.5:
            raise GentextError(f"data.{name} must be between 0 and 0.5, got {fraction}")


def split_examples(examples: list[dict], valid_fraction: float, test_fraction: float,
                   seed: int) -> Splits:
    """Shuffle with a fixed seed and cut; the same data and seed always give the same split."""
    _check_fractions(valid_fraction, test_fraction)
    if len(examples) < 3:
        raise GentextError(f"the data has {len(examples)} examples; at least 3 are needed "
                           "(one each for train, valid and test); for running text in a few "
                           "long lines, set data.unit=document")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_valid = max(1, round(len(examples) * valid_fraction))
    n_test = max(1, round(len(examples) * test_fraction))
    pick = lambda indices: [examples[i] for i in sorted(indices)]  # noqa: E731 - keep file order
    return Splits(
        test=pick(order[:n_test]),
        valid=pick(order[n_test:n_test + n_valid]),
        train=pick(order[n_test + n_valid:]),
    )


def hold_out(examples: list[dict], fraction: float, seed: int,
             unit: str = "example") -> tuple[list[dict], list[dict]]:
    """``examples`` cut in two, the rest and a held-out share of ``fraction``, by a seeded
    shuffle as ``split_examples`` cuts: for a dataset with its own training split but not
    every held-out one. Running text in too few documents to go whole has each document's
    tail held out instead (``cut_document``)."""
    _check_fractions(fraction, fraction)
    if unit == "document" and not documents_go_whole(len(examples), fraction, fraction):
        parts = [(e, cut_document(e["text"], fraction, 0.0)) for e in examples]
        rest = [{**e, "text": head} for e, (head, _, _) in parts if head]
        held = [{**e, "text": tail} for e, (_, tail, _) in parts if tail]
    else:
        order = list(range(len(examples)))
        random.Random(seed).shuffle(order)
        count = max(1, round(len(examples) * fraction))
        held = [examples[i] for i in sorted(order[:count])]
        rest = [examples[i] for i in sorted(order[count:])]
    if not (rest and held):
        raise GentextError(f"the training split has {len(examples)} examples; too few to hold "
                           "a share out of it (give more data, or set data.unit=document for "
                           "running text in a few long lines)")
    return rest, held


def split_documents(documents: list[dict], valid_fraction: float, test_fraction: float,
                    seed: int) -> Splits:
    """Splits of running text (``data.unit = "document"``). With enough documents for each
    held-out split to get one (``documents_go_whole``: 20 at the default 5%) they go whole to
    a split, as examples do; fewer (a book, a handful of files) are each cut by
    ``cut_document``: the head trains, the middle validates, the tail tests."""
    _check_fractions(valid_fraction, test_fraction)
    if documents_go_whole(len(documents), valid_fraction, test_fraction):
        return split_examples(documents, valid_fraction, test_fraction, seed)
    parts = {name: [] for name in SPLIT_NAMES}
    for document in documents:
        for name, piece in zip(SPLIT_NAMES, cut_document(document["text"], valid_fraction,
                                                         test_fraction)):
            if piece:
                parts[name].append({**document, "text": piece})
    if not (parts["valid"] and parts["test"]):
        raise GentextError("the documents are too short to cut a valid and a test part from; "
                           "give more text or set data.unit=example")
    return Splits(**parts)


def documents_go_whole(count: int, valid_fraction: float, test_fraction: float) -> bool:
    """Whether ``count`` documents are enough to split whole (each held-out split gets one)."""
    return count * min(valid_fraction, test_fraction) >= 1


def cut_document(text: str, valid_fraction: float, test_fraction: float) -> tuple[str, str, str]:
    """A document's train, valid and test parts: its head, middle and tail by share of
    characters, each cut moved on to the next whitespace so no word is split (a part may be
    empty when the text is short)."""
    train_end = _next_space(text, round(len(text) * (1 - valid_fraction - test_fraction)))
    valid_end = _next_space(text, max(train_end, round(len(text) * (1 - test_fraction))))
    return text[:train_end].strip(), text[train_end:valid_end].strip(), text[valid_end:].strip()


def _next_space(text: str, index: int) -> int:
    """The first whitespace at or after ``index`` (the end if none)."""
    while index < len(text) and not text[index].isspace():
        index += 1
    return index


def texts_sha256(texts: list[str]) -> str:
    """SHA-256 of a split's texts, so figures measured on different splits are never mixed."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()
