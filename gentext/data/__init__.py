"""Text in, token ids out: corpora and datasets (``loading``, ``corpus``), deterministic splits,
tokenizers, batching, the memory-mapped corpus for large data, and ``pipeline``, the one path
from a ``DataConfig`` to splits that every command takes.

May import: gentext.errors, gentext.config, gentext.distributed, gentext.plugins
"""


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
