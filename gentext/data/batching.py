"""Token sequences and batches: each example is <bos> tokens <eos>, padded to the batch's
longest, with training batches drawn in a fixed, resumable order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from gentext.tokenizer import TextTokenizer

BUCKET_BATCHES = 50  # batches sorted together by length: less padding, still shuffled


@dataclass
class Encoded:
    """A split as token sequences, with the texts they came from (too-long ones left out)."""

    sequences: list[list[int]]
    texts: list[str]
    dropped: int  # examples longer than max_len, left out


def encode_split(examples: list[dict], tokenizer: TextTokenizer, max_len: int) -> Encoded:
    """Wrap each example in <bos>/<eos>; leave out (and count) those longer than ``max_len``."""
    texts = [e["text"] for e in examples]
    sequences, kept_texts = [], []
    for text, ids in zip(texts, tokenizer.encode_batch(texts)):
        sequence = [tokenizer.bos_id, *ids, tokenizer.eos_id]
        if len(sequence) <= max_len:
            sequences.append(sequence)
            kept_texts.append(text)
    return Encoded(sequences, kept_texts, dropped=len(examples) - len(sequences))


def collate(sequences: list[list[int]], pad_id: int) -> dict:
    """Pad to the longest sequence: {"tokens": (B, T) long, "lengths": (B,) long}."""
    longest = max(len(s) for s in sequences)
    tokens = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        tokens[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
    return {"tokens": tokens, "lengths": torch.tensor([len(s) for s in sequences])}


def eval_batches(encoded: Encoded, batch_size: int, pad_id: int):
    """Batches of a split in length order (least padding), each example exactly once."""
    order = sorted(range(len(encoded.sequences)), key=lambda i: len(encoded.sequences[i]))
    for start in range(0, len(order), batch_size):
        yield collate([encoded.sequences[i] for i in order[start : start + batch_size]], pad_id)


class BatchStream:
    """Endless training batches in an order fixed by (seed, epoch), so a resumed run sees
    exactly the batches an uninterrupted one would. Its position is two integers."""

    def __init__(self, encoded: Encoded, batch_size: int, pad_id: int, seed: int,
                 epoch: int = 0, index: int = 0):
        if not encoded.sequences:
            raise ValueError("no training examples")
        self.encoded, self.batch_size, self.pad_id, self.seed = encoded, batch_size, pad_id, seed
        self.epoch, self.index = epoch, index
        self._plan = self._epoch_plan(epoch)

    def _epoch_plan(self, epoch: int) -> list[list[int]]:
        rng = random.Random(self.seed * 1_000_003 + epoch)
        order = list(range(len(self.encoded.sequences)))
        rng.shuffle(order)
        span = self.batch_size * BUCKET_BATCHES
        batches = []
        for start in range(0, len(order), span):
            bucket = sorted(order[start : start + span], key=lambda i: len(self.encoded.sequences[i]))
            batches += [bucket[i : i + self.batch_size] for i in range(0, len(bucket), self.batch_size)]
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
        return collate([self.encoded.sequences[i] for i in chunk], self.pad_id)

    def __iter__(self):
        return self
