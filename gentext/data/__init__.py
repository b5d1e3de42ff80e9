"""Corpora, loading user data, deterministic splits and batching."""

from gentext.data.corpus import AUSTEN_PATH, load_austen
from gentext.data.loading import load_source
from gentext.data.splits import SPLIT_NAMES, Splits, split_examples, texts_sha256

__all__ = [
    "AUSTEN_PATH",
    "SPLIT_NAMES",
    "Splits",
    "load_austen",
    "load_source",
    "split_examples",
    "texts_sha256",
]
