"""Tokenised corpora larger than memory: token ids in one flat memory-mapped file.

``tokenize_to_disk`` streams a text file (one example a line) through a tokenizer a chunk of
lines at a time and appends each example, wrapped as ``<bos>`` ids ``<eos>``, to ``tokens.bin``
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
CORPUS_FILE, SAMPLE_FILE = "corpus.json", "sample.txt"
FORMAT, CORPUS_FORMAT = "gentext-tokens-1", "gentext-corpus-1"


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


class TokenWriter:
    """Appends tokenised examples to a folder's flat files; ``close`` writes meta.json."""

    def __init__(self, folder: Path, tokenizer, max_len: int, unit: str = "example"):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.tokenizer, self.max_len, self.unit = tokenizer, max_len, unit
        self.dtype = np.uint16 if tokenizer.vocab_size <= 65_536 else np.uint32
        self.examples = self.dropped = self.tokens = self.bytes = 0
        self.token_file = open(self.folder / TOKENS_FILE, "wb")
        self.offset_file = open(self.folder / OFFSETS_FILE, "wb")
        self.offset_file.write(np.zeros(1, dtype=np.int64).tobytes())

    def add(self, texts: list[str]) -> list[str]:
        """Tokenise and append ``texts``; returns the ones kept (not longer than max_len).
        With ``unit="document"`` each text is running text: all are kept, as windows."""
        from gentext.data.batching import windows

        bos, eos = self.tokenizer.bos_id, self.tokenizer.eos_id
        if self.unit == "document":
            kept = [(t, w) for t, ids in zip(texts, self.tokenizer.encode_batch(texts))
                    for w in windows(ids, bos, eos, self.max_len)]
            self._write(kept)
            self.bytes += sum(len(t.encode("utf-8")) for t in texts)
            return texts
        rows = [[bos, *ids, eos] for ids in self.tokenizer.encode_batch(texts)]
        kept = [(t, r) for t, r in zip(texts, rows) if len(r) <= self.max_len]
        self.dropped += len(rows) - len(kept)
        self._write(kept)
        self.bytes += sum(len(t.encode("utf-8")) for t, _ in kept)
        return [t for t, _ in kept]

    def _write(self, kept: list[tuple[str, list[int]]]) -> None:
        """Append the rows of ``kept`` (text, ids) to the token and offset files."""
        if kept:
            lengths = np.fromiter((len(r) for _, r in kept), dtype=np.int64, count=len(kept))
            flat = np.fromiter((t for _, r in kept for t in r), dtype=self.dtype,
                               count=int(lengths.sum()))
            self.token_file.write(flat.tobytes())
            self.offset_file.write((self.tokens + np.cumsum(lengths)).tobytes())
            self.tokens += int(lengths.sum())
            self.examples += len(kept)

    def close(self) -> dict:
        self.token_file.close()
        self.offset_file.close()
        meta = {"format": FORMAT, "dtype": np.dtype(self.dtype).name, "examples": self.examples,
                "tokens": self.tokens, "dropped": self.dropped, "bytes": self.bytes,
                "max_len": self.max_len, "unit": self.unit, "tokenizer": self.tokenizer.name}
        (self.folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return meta


def tokenize_to_disk(lines: Iterable[str], tokenizer, folder: Path, max_len: int,
                     chunk_lines: int = 10_000) -> dict:
    """Tokenise ``lines`` into ``folder``; examples longer than ``max_len`` tokens are left out
    and counted. Returns (and writes as meta.json) the counts."""
    writer = TokenWriter(folder, tokenizer, max_len)
    for chunk in _chunks(lines, chunk_lines):
        writer.add(chunk)
    return writer.close()


def is_corpus_folder(path) -> bool:
    return Path(path, CORPUS_FILE).is_file()


def tokenize_corpus(source, out: Path, kind: str = "bpe", vocab_size: int = 4096,
                    max_len: int = 128, valid_fraction: float = 0.05, test_fraction: float = 0.05,
                    seed: int = 0, chunk_lines: int = 10_000, tokenizer_lines: int = 100_000,
                    unit: str = "example", hf_config: str = "", text_column: str = "text") -> dict:
    """A text file of any size (or an ``hf:`` dataset) as a tokenised corpus folder that
    `gentext train --data` reads: the tokenizer trained on the first ``tokenizer_lines`` lines
    (kept as ``sample.txt``, the training texts that sample metrics compare against), the
    training split as memory-mapped token files, and the valid and test splits as text. Each
    line goes to a split by a seeded random draw, so the same file and seed give the same
    splits. A dataset's own valid and test splits are written as they are (each text on one
    line), a held-out split it lacks drawn from its training split as a file's lines are.

    With ``unit="document"`` each line is running text, kept whole as windows of ``max_len``
    tokens; a file with too few lines to split whole (``documents_go_whole``) has each line
    cut into a head (train), middle (valid) and tail (test), as ``split_documents`` does."""
    from gentext.data.batching import may_fit
    from gentext.data.splits import cut_document, documents_go_whole
    from gentext.data.tokenizer import TOKENIZER_KINDS, make_tokenizer

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise GentextError(f"{str(out)!r} already exists; choose a new folder")
    # a pretrained tokenizer is loaded (or refused) before any data is read
    pretrained = None if kind in TOKENIZER_KINDS else make_tokenizer(kind, [], vocab_size)
    texts, own, where = _texts_of(source, hf_config, text_column, chunk_lines)
    draw = {"valid": 0.0 if "valid" in own else valid_fraction,
            "test": 0.0 if "test" in own else test_fraction}  # shares drawn from the lines
    documents = unit == "document"
    cut = documents and any(draw.values()) and not documents_go_whole(
        sum(1 for _ in texts()), draw["valid"] or draw["test"], draw["test"] or draw["valid"])
    sample = [line for _, line in zip(range(tokenizer_lines), texts())]
    if not sample:
        raise GentextError(f"{where} has no non-empty lines")
    if cut:  # the training texts are the heads only
        sample = [head for head, _, _ in (cut_document(t, draw["valid"], draw["test"])
                                          for t in sample) if head]
    tokenizer = pretrained or make_tokenizer(kind, sample if documents else
                                             [t for t in sample if may_fit(t, max_len)], vocab_size)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save(out / "tokenizer.json")
    (out / SAMPLE_FILE).write_text("".join(t + "\n" for t in sample), encoding="utf-8")
    writer = TokenWriter(out / "train", tokenizer, max_len, unit)
    counts = _write_splits(texts, own, out, writer, cut, draw, seed, chunk_lines,
                           None if documents else max_len)
    meta = writer.close()
    if documents and not (counts["valid"] and counts["test"]):
        raise GentextError(f"{where} is too short to cut a valid and a test part from; give "
                           "more text or tokenise it without --unit document")
    corpus = {"format": CORPUS_FORMAT, "source": str(source), "tokenizer": kind,
              "vocab_size": tokenizer.vocab_size, "max_len": max_len, "unit": unit, "seed": seed,
              "valid_fraction": valid_fraction, "test_fraction": test_fraction,
              "train_examples": meta["examples"], "train_tokens": meta["tokens"],
              "train_dropped": meta["dropped"], **{f"{k}_examples": v for k, v in counts.items()}}
    if own:  # the dataset's names of its held-out splits, which evaluation reports
        corpus.update(hf_config=hf_config, text_column=text_column, split_names=own)
    (out / CORPUS_FILE).write_text(json.dumps(corpus, indent=2) + "\n", encoding="utf-8")
    return corpus


def _texts_of(source, hf_config: str, text_column: str, chunk: int):
    """``texts(split=None)``, streaming a split's texts (default: the training texts); the
    held-out splits the source has of its own (gentext's name -> its name); and how errors
    name the source."""
    from gentext.data.hub import hub_name

    name = hub_name(str(source))
    if name is None:
        return (lambda split=None: read_lines(source)), {}, f"data file {str(source)!r}"
    from gentext.data.hub_datasets import DatasetTexts

    dataset = DatasetTexts(name, hf_config, text_column, chunk)
    return dataset.texts, dataset.held_out, f"dataset {name!r}"


def _write_splits(texts, own: dict, out: Path, writer: TokenWriter, cut: bool, draw: dict,
                  seed: int, chunk_lines: int, max_len: int | None) -> dict:
    """The training texts, split by ``_split_lines``, and the source's own held-out splits,
    written to valid.txt and test.txt as they are. Returns how many lines each got."""
    with open(out / "valid.txt", "w", encoding="utf-8") as valid, \
            open(out / "test.txt", "w", encoding="utf-8") as test:
        held_out = {"valid": valid, "test": test}
        counts = _split_lines(texts(), held_out, writer, cut, draw["valid"], draw["test"], seed,
                              chunk_lines, max_len)
        for ours, theirs in own.items():
            for text in texts(theirs):
                held_out[ours].write(text + "\n")
                counts[ours] += 1
    return counts


def _split_lines(lines: Iterable[str], held_out: dict, writer: TokenWriter, cut: bool,
                 valid_fraction: float, test_fraction: float, seed: int, chunk_lines: int,
                 max_len: int | None) -> dict:
    """Send each line to a split by a seeded draw (with ``cut``, its head, middle and tail to
    train, valid and test; a fraction of 0 draws nothing for its split): the training texts to
    ``writer`` (those that may fit in ``max_len`` tokens; all when it is None, as documents
    become windows), the others to ``held_out``'s valid and test files. Returns how many
    lines each of those got."""
    import random

    from gentext.data.batching import may_fit
    from gentext.data.splits import cut_document

    rng, counts = random.Random(seed), {"valid": 0, "test": 0}
    for chunk in _chunks(lines, chunk_lines):
        train = []
        for line in chunk:
            if cut:
                parts = zip(("train", "valid", "test"),
                            cut_document(line, valid_fraction, test_fraction))
            else:
                draw = rng.random()
                parts = [("valid" if draw < valid_fraction else "test"
                          if draw < valid_fraction + test_fraction else "train", line)]
            for split, text in parts:
                if text and split == "train":
                    train.append(text)
                elif text:
                    held_out[split].write(text + "\n")
                    counts[split] += 1
        writer.add(train if max_len is None else [t for t in train if may_fit(t, max_len)])
    return counts


def read_corpus(folder: Path) -> dict:
    """The corpus.json of a tokenised corpus folder, checked."""
    try:
        corpus = json.loads(Path(folder, CORPUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GentextError(f"{str(Path(folder, CORPUS_FILE))!r} cannot be read: {exc}") from exc
    if corpus.get("format") != CORPUS_FORMAT:
        raise GentextError(f"{str(Path(folder, CORPUS_FILE))!r} has format "
                           f"{corpus.get('format')!r}, not {CORPUS_FORMAT!r}")
    return corpus


def corpus_texts(folder: Path) -> dict[str, list[dict]]:
    """A corpus folder's texts by split: valid and test (named as the dataset it was made of
    names them), and for train the tokenizer's sample (the training split itself is kept only
    as token ids)."""
    names = read_corpus(folder).get("split_names", {})
    return {names.get(name, name): [{"text": t} for t in read_lines(Path(folder, file))]
            for name, file in (("train", SAMPLE_FILE), ("valid", "valid.txt"), ("test", "test.txt"))}


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
        self.texts = None  # the training split is kept as token ids only

    def length(self, index: int) -> int:
        offsets = self.sequences.offsets
        return int(offsets[index + 1] - offsets[index])

    def batch(self, indices: list[int], pad_id: int) -> dict:
        from gentext.data.batching import collate

        return collate([self.sequences[i] for i in indices], pad_id)
