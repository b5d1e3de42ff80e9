"""Token sequences and batches: each example is ``<bos>`` tokens ``<eos>``, padded to the batch's
longest, with training batches drawn in a fixed, resumable order.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

from gentext.errors import GentextError
from gentext.data.tokenizer import TextTokenizer

BUCKET_BATCHES = 50  # batches sorted together by length: less padding, still shuffled
MAX_CHARS_PER_TOKEN = 32  # an example longer than max_len * this many characters cannot fit
KEEP_SHARE = 0.99  # leaving out more than 1% of a split is worth a warning


def may_fit(text: str, max_len: int) -> bool:
    """False for a text too long to fit in ``max_len`` tokens of any tokenizer gentext trains
    (no token is 32 characters on average): it is left out before anything tokenises it, so
    a 10 MB line costs nothing."""
    return len(text) <= max_len * MAX_CHARS_PER_TOKEN


@dataclass
class Encoded:
    """A split as token sequences, with the texts they came from (too-long ones left out)."""

    sequences: list[list[int]]
    texts: list[str]
    dropped: int  # examples longer than max_len, left out
    labels: list[int] | None = None  # each kept example's label index, for conditional models
    keeps_99: int | None = None  # the max_len that would keep 99% of the split (None: unknown)
    documents: list[str] | None = None  # running text: the documents the windows were cut from

    @property
    def scored_texts(self) -> list[str]:
        """The texts whose bytes the sequences cover, once each: the examples, or for windows
        of running text the documents they were cut from."""
        return self.texts if self.documents is None else self.documents

    def length_warning(self, split: str, max_len: int) -> str | None:
        """A line for the user when more than 1% of the split is left out, else None."""
        return left_out_warning(len(self.sequences), self.dropped, split, max_len, self.keeps_99)

    def length(self, index: int) -> int:
        return len(self.sequences[index])

    def subset(self, indices: list[int]) -> "Encoded":
        """The examples at ``indices`` (e.g. one process's share of a split)."""
        return Encoded([self.sequences[i] for i in indices], [self.texts[i] for i in indices],
                       self.dropped, None if self.labels is None else [self.labels[i] for i in indices])

    def batch(self, indices: list[int], pad_id: int) -> dict:
        """The examples at ``indices`` as one padded batch."""
        labels = None if self.labels is None else [self.labels[i] for i in indices]
        return collate([self.sequences[i] for i in indices], pad_id, labels)


def left_out_warning(kept: int, dropped: int, split: str, max_len: int,
                     keeps_99: int | None) -> str | None:
    """When more than 1% of a split is too long for ``max_len``: how many, and the max_len
    that would keep 99% of it (else None)."""
    total = kept + dropped
    if not total or dropped <= (1 - KEEP_SHARE) * total:
        return None
    fix = f"; data.max_len={keeps_99} keeps 99%" if keeps_99 else ""
    return (f"{dropped:,} of {total:,} {split} examples ({dropped / total:.0%}) are longer than "
            f"data.max_len={max_len} tokens and left out{fix}")


def label_names(examples: list[dict]) -> tuple[str, ...]:
    """The sorted, distinct labels of the examples that have one (empty when none do)."""
    return tuple(sorted({str(e["label"]) for e in examples if e.get("label") is not None}))


def encode_split(examples: list[dict], tokenizer: TextTokenizer, max_len: int,
                 labels: tuple[str, ...] | None = None, unit: str = "example") -> Encoded:
    """Wrap each example in ``<bos>``/``<eos>``; leave out (and count) those longer than
    ``max_len``. With ``unit="document"`` nothing is left out: each example is running text,
    cut into windows (``encode_windows``).

    With ``labels`` (a conditional model's classes), each example's label becomes its index;
    an example without one, or with a class the model was not trained on, is an error."""
    if unit == "document":
        if labels is not None:
            raise GentextError("data.unit=document cuts examples into windows; a conditional "
                               "model needs whole labelled examples (data.unit=example)")
        return encode_windows(examples, tokenizer, max_len)
    index = None if labels is None else {name: i for i, name in enumerate(labels)}
    total = len(examples)
    examples = [e for e in examples if may_fit(e["text"], max_len)]
    texts = [e["text"] for e in examples]
    sequences, kept_texts, kept_labels = [], [], []
    lengths = [float("inf")] * (total - len(examples))  # too long to tokenise at all
    for number, (example, ids) in enumerate(zip(examples, tokenizer.encode_batch(texts)), start=1):
        sequence = [tokenizer.bos_id, *ids, tokenizer.eos_id]
        lengths.append(len(sequence))
        if len(sequence) > max_len:
            continue
        if index is not None:
            label = example.get("label")
            if label is None or str(label) not in index:
                what = "has no label" if label is None else f"has label {str(label)!r}"
                raise GentextError(f"example {number} {what}; this conditional model knows the "
                                   f"labels {', '.join(labels)}")
            kept_labels.append(index[str(label)])
        sequences.append(sequence)
        kept_texts.append(example["text"])
    return Encoded(sequences, kept_texts, dropped=total - len(sequences),
                   labels=None if index is None else kept_labels,
                   keeps_99=_length_keeping(lengths, KEEP_SHARE))


def windows(ids: list[int], bos_id: int, eos_id: int, max_len: int) -> list[list[int]]:
    """A document's tokens and its ``<eos>``, cut into consecutive windows of at most
    ``max_len - 1``, each behind a ``<bos>``: every token is predicted exactly once, in one
    window, from the tokens before it in that window (the likelihood protocol for windows)."""
    stream, size = [*ids, eos_id], max_len - 1
    return [[bos_id, *stream[i : i + size]] for i in range(0, len(stream), size)]


def encode_windows(examples: list[dict], tokenizer: TextTokenizer, max_len: int) -> Encoded:
    """Running text: each example (a document) as windows of ``max_len`` tokens. The split's
    texts are each window's document (so a subset keeps its texts), and ``documents`` lists
    each document once, for the bytes and the hash of the split."""
    if max_len < 3:
        raise GentextError(f"data.max_len must be at least 3 to hold a window, got {max_len}")
    documents = [e["text"] for e in examples]
    sequences, texts = [], []
    for text, ids in zip(documents, tokenizer.encode_batch(documents)):
        for window in windows(ids, tokenizer.bos_id, tokenizer.eos_id, max_len):
            sequences.append(window)
            texts.append(text)
    return Encoded(sequences, texts, dropped=0, documents=documents)


def _length_keeping(lengths: list[float], share: float) -> int | None:
    """The smallest max_len under which ``share`` of these sequence lengths fit."""
    if not lengths:
        return None
    needed = sorted(lengths)[max(0, math.ceil(share * len(lengths)) - 1)]
    return None if math.isinf(needed) else int(needed)


def collate(sequences: list[list[int]], pad_id: int, labels: list[int] | None = None) -> dict:
    """Pad to the longest sequence: {"tokens": (B, T) long, "lengths": (B,) long}, and
    "labels" (B,) long when given."""
    longest = max(len(s) for s in sequences)
    tokens = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        tokens[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
    batch = {"tokens": tokens, "lengths": torch.tensor([len(s) for s in sequences])}
    if labels is not None:
        batch["labels"] = torch.tensor(labels, dtype=torch.long)
    return batch


def eval_batches(encoded: Encoded, batch_size: int, pad_id: int, max_tokens: int = 0):
    """Batches of a split in length order (least padding), each example exactly once: at
    most ``batch_size`` rows, and with ``max_tokens`` (0: no limit) at most that many padded
    positions (rows x longest row; one row at least), so scoring a split needs no more memory
    than a training micro-batch."""
    order = sorted(range(len(encoded.sequences)), key=lambda i: len(encoded.sequences[i]))
    chunk: list[int] = []
    for index in order:  # lengths rise, so the newest row is the longest
        rows = len(chunk) + 1
        if chunk and (rows > batch_size or (max_tokens and rows * encoded.length(index) > max_tokens)):
            yield encoded.batch(chunk, pad_id)
            chunk = []
        chunk.append(index)
    if chunk:
        yield encoded.batch(chunk, pad_id)


class BatchStream:
    """Endless training batches in an order fixed by (seed, epoch), so a resumed run sees
    exactly the batches an uninterrupted one would. Its position is two integers."""

    def __init__(self, encoded: Encoded, batch_size: int, pad_id: int, seed: int,
                 epoch: int = 0, index: int = 0, min_rows: int = 1):
        if not encoded.sequences:
            raise ValueError("no training examples")
        self.encoded, self.batch_size, self.pad_id, self.seed = encoded, batch_size, pad_id, seed
        self.min_rows = min_rows  # processes sharing each batch: a shorter tail joins the batch before
        self.epoch, self.index = epoch, index
        self._plan = self._epoch_plan(epoch)

    def _epoch_plan(self, epoch: int) -> list[list[int]]:
        rng = random.Random(self.seed * 1_000_003 + epoch)
        order = list(range(len(self.encoded.sequences)))
        rng.shuffle(order)
        span = self.batch_size * BUCKET_BATCHES
        batches = []
        for start in range(0, len(order), span):
            bucket = sorted(order[start : start + span], key=self.encoded.length)
            chunks = [bucket[i : i + self.batch_size] for i in range(0, len(bucket), self.batch_size)]
            if len(chunks) > 1 and len(chunks[-1]) < self.min_rows:
                chunks[-2] += chunks.pop()
            batches += chunks
        rng.shuffle(batches)
        return batches

    def position(self) -> dict:
        return {"epoch": self.epoch, "index": self.index}

    def __next__(self) -> dict:
        if self.index >= len(self._plan):
            self.epoch, self.index = self.epoch + 1, 0
            self._plan = self._epoch_plan(self.epoch)
        chunk = self._plan[self.index]
        self.index += 1
        return self.encoded.batch(chunk, self.pad_id)

    def __iter__(self):
        return self
