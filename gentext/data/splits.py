"""Deterministic train / valid / test splits, and the hash that identifies a split."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from gentext.errors import GentextError

SPLIT_NAMES = ("train", "valid", "test")


@dataclass
class Splits:
    """Examples by split; each example is {"text": str} with an optional "label"."""

    train: list[dict]
    valid: list[dict]
    test: list[dict]

    def get(self, name: str) -> list[dict]:
        """One split by name; "all" gives every example."""
        if name == "all":
            return self.train + self.valid + self.test
        if name not in SPLIT_NAMES:
            raise GentextError(f"unknown split {name!r}; choose one of {', '.join(SPLIT_NAMES)}, all")
        return getattr(self, name)


def split_examples(examples: list[dict], valid_fraction: float, test_fraction: float,
                   seed: int) -> Splits:
    """Shuffle with a fixed seed and cut; the same data and seed always give the same split."""
    for name, fraction in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if not 0 < fraction < 0.5:
            raise GentextError(f"data.{name} must be between 0 and 0.5, got {fraction}")
    if len(examples) < 3:
        raise GentextError(f"the data has {len(examples)} examples; at least 3 are needed "
                           "(one each for train, valid and test)")
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


def texts_sha256(texts: list[str]) -> str:
    """SHA-256 of a split's texts, so figures measured on different splits are never mixed."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()
