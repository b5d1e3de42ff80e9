"""Tokenised corpora larger than memory: token ids in one flat memory-mapped file.

``tokenize_to_disk`` streams a text file (one example a line) through a tokenizer a chunk of
lines at a time and appends each example, wrapped as <bos> ids <eos>, to ``tokens.bin``
(uint16, or uint32 for vocabularies over 65,536) with its start in ``offsets.bin`` (int64):
memory stays bounded by one chunk whatever the corpus size. ``MappedSplit`` reads the folder
back through ``numpy.memmap`` and serves rows to the same ``BatchStream`` as an in-memory
``Encoded`` split, touching only the rows a batch needs.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from gentext.errors import GentextError

TOKENS_FILE, OFFSETS_FILE, META_FILE = "tokens.bin", "offsets.bin", "meta.json"
FORMAT = "gentext-tokens-1"


def read_lines(path: Path) -> Iterator[str]:
    """The non-blank lines of a .txt or .txt.gz file, streamed; bad UTF-8 names its line."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="\n") as handle:
        number = 0
        try:
            for number, line in enumerate(handle, start=1):
                line = line.rstrip("\n")
                if line.strip():
                    yield line
        except UnicodeDecodeError as exc:
            raise GentextError(f"data file {str(path)!r} is not UTF-8 (after line {number})") from exc


def _chunks(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def tokenize_to_disk(lines: Iterable[str], tokenizer, folder: Path, max_len: int,
                     chunk_lines: int = 10_000) -> dict:
    """Tokenise ``lines`` into ``folder``; examples longer than ``max_len`` tokens are left out
    and counted. Returns (and writes as meta.json) the counts."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dtype = np.uint16 if tokenizer.vocab_size <= 65_536 else np.uint32
    examples = dropped = tokens = text_bytes = 0
    with open(folder / TOKENS_FILE, "wb") as token_file, open(folder / OFFSETS_FILE, "wb") as offset_file:
        offset_file.write(np.zeros(1, dtype=np.int64).tobytes())
        for chunk in _chunks(lines, chunk_lines):
            rows = [[tokenizer.bos_id, *ids, tokenizer.eos_id]
                    for ids in tokenizer.encode_batch(chunk)]
            kept = [row for row in rows if len(row) <= max_len]
            dropped += len(rows) - len(kept)
            text_bytes += sum(len(t.encode("utf-8")) for t, r in zip(chunk, rows) if len(r) <= max_len)
            if kept:
                lengths = np.fromiter((len(r) for r in kept), dtype=np.int64, count=len(kept))
                flat = np.fromiter((t for r in kept for t in r), dtype=dtype, count=int(lengths.sum()))
                token_file.write(flat.tobytes())
                offset_file.write((tokens + np.cumsum(lengths)).tobytes())
                tokens += int(lengths.sum())
                examples += len(kept)
    meta = {"format": FORMAT, "dtype": np.dtype(dtype).name, "examples": examples,
            "tokens": tokens, "dropped": dropped, "bytes": text_bytes, "max_len": max_len,
            "tokenizer": tokenizer.name}
    (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


class _Rows:
    """A read-only sequence of token-id lists over the memory-mapped arrays."""

    def __init__(self, tokens: np.ndarray, offsets: np.ndarray):
        self.tokens, self.offsets = tokens, offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> list[int]:
        return self.tokens[self.offsets[index] : self.offsets[index + 1]].tolist()


class MappedSplit:
    """A tokenised folder as a split: ``sequences[i]`` reads one row from disk; ``length(i)``
    reads only the offsets. Usable wherever an ``Encoded`` split is (batching, streams)."""

    def __init__(self, folder: Path):
        folder = Path(folder)
        try:
            self.meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise GentextError(f"{str(folder)!r} is not a tokenised folder ({META_FILE}: {exc})") from exc
        if self.meta.get("format") != FORMAT:
            raise GentextError(f"{str(folder / META_FILE)!r} has format {self.meta.get('format')!r}, "
                               f"not {FORMAT!r}")
        offsets = np.memmap(folder / OFFSETS_FILE, dtype=np.int64, mode="r")
        tokens = (np.memmap(folder / TOKENS_FILE, dtype=np.dtype(self.meta["dtype"]), mode="r")
                  if self.meta["tokens"] else np.zeros(0, dtype=np.uint16))
        if len(offsets) != self.meta["examples"] + 1 or int(offsets[-1]) != len(tokens):
            raise GentextError(f"the token files in {str(folder)!r} are truncated or do not match "
                               f"{META_FILE}; tokenise again")
        self.sequences = _Rows(tokens, offsets)
        self.labels = None
        self.dropped = self.meta["dropped"]

    def length(self, index: int) -> int:
        offsets = self.sequences.offsets
        return int(offsets[index + 1] - offsets[index])

    def batch(self, indices: list[int], pad_id: int) -> dict:
        from gentext.data.batching import collate

        return collate([self.sequences[i] for i in indices], pad_id)
