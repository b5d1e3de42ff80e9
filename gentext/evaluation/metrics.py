"""From summed nats to the figures people compare, and metrics of generated samples.

Units: nats per token depend on the tokenizer, so perplexity is always shown with the
tokenizer's name; bits per UTF-8 byte divide by the bytes of the text (plus one per example,
its end), which does not depend on the tokenizer and so compares across families.
"""

from __future__ import annotations

import math
import re
from collections import Counter

WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


def utf8_bytes(texts: list[str]) -> int:
    """UTF-8 bytes of the texts plus one per example for its end (the protocol's ``<eos>``)."""
    return sum(len(t.encode("utf-8")) + 1 for t in texts)


def nats_per_token(nats: float, tokens: int) -> float:
    return nats / tokens


def perplexity(nats: float, tokens: int) -> float:
    return math.exp(nats / tokens)


def bits_per_byte(nats: float, n_bytes: int) -> float:
    return nats / math.log(2) / n_bytes


def distinct_n(samples: list[str], n: int) -> float:
    """Distinct n-grams over all n-grams of the samples (Li et al. 2016), on words."""
    grams = Counter()
    for sample in samples:
        words = sample.split()
        grams.update(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    total = sum(grams.values())
    return len(grams) / total if total else 0.0


def words(text: str) -> list[str]:
    """Lower-cased alphabetic words (with inner apostrophes) of ``text``."""
    return [w.lower() for w in WORD.findall(text)]


def known_word_rate(samples: list[str], references: list[str]) -> float:
    """Share of the samples' words that occur in the references (1.0 = no invented words)."""
    vocabulary = {w for text in references for w in words(text)}
    sampled = [w for text in samples for w in words(text)]
    return sum(w in vocabulary for w in sampled) / len(sampled) if sampled else 0.0


def mean_words(samples: list[str], references: list[str] | None = None) -> float:
    return sum(len(s.split()) for s in samples) / len(samples) if samples else 0.0
