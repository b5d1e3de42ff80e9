"""Tokenised corpora on disk: the same rows, the same batches, in bounded memory."""

import gzip
import json

import pytest

from gentext.data.batching import BatchStream, encode_split
from gentext.data.memmap import MappedSplit, read_lines, tokenize_to_disk
from gentext.errors import GentextError
from gentext.data.tokenizer import train_tokenizer


@pytest.fixture
def tokenizer(corpus):
    return train_tokenizer(corpus.read_text().splitlines(), "bpe", 300)


def test_disk_rows_and_batches_equal_the_in_memory_ones(corpus, tokenizer, tmp_path):
    lines = corpus.read_text().splitlines() + ["word " * 200]  # one too long: left out
    meta = tokenize_to_disk(iter(lines), tokenizer, tmp_path / "tok", max_len=32, chunk_lines=7)
    in_memory = encode_split([{"text": t} for t in lines], tokenizer, max_len=32)
    mapped = MappedSplit(tmp_path / "tok")
    assert meta["examples"] == len(in_memory.sequences) and meta["dropped"] == 1
    assert [mapped.sequences[i] for i in range(len(mapped.sequences))] == in_memory.sequences
    disk = BatchStream(mapped, 8, tokenizer.pad_id, seed=3)
    memory = BatchStream(in_memory, 8, tokenizer.pad_id, seed=3)
    for _ in range(40):  # across an epoch boundary
        a, b = next(disk), next(memory)
        assert all((a[k] == b[k]).all() for k in b)


def test_gz_lines_stream_and_bad_utf8_names_the_file(corpus, tmp_path):
    path = tmp_path / "c.txt.gz"
    path.write_bytes(gzip.compress(corpus.read_bytes()))
    assert list(read_lines(path)) == corpus.read_text().splitlines()
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\ncaf\xe9\n")
    with pytest.raises(GentextError, match="not UTF-8"):
        list(read_lines(bad))


def test_a_truncated_token_file_is_refused(corpus, tokenizer, tmp_path):
    tokenize_to_disk(iter(corpus.read_text().splitlines()), tokenizer, tmp_path / "tok", 32)
    tokens = tmp_path / "tok" / "tokens.bin"
    tokens.write_bytes(tokens.read_bytes()[:-10])
    with pytest.raises(GentextError, match="truncated"):
        MappedSplit(tmp_path / "tok")


def test_a_tokenised_corpus_folder_trains_and_evaluates(cli, tmp_path, tiny_args):
    lines = [f"Sentence number {i} was written by {['Emma', 'Anne', 'Fanny'][i % 3]}." for i in range(400)]
    source = tmp_path / "big.txt"
    source.write_text("\n".join(lines) + "\n")
    folder = tmp_path / "tokens"
    result = cli("tokenize", source, "--out", folder, "--vocab-size", "300", "--max-len", "64",
                 "--chunk-lines", "50")
    assert result.exit_code == 0, result.stderr
    corpus = json.loads((folder / "corpus.json").read_text())
    held = corpus["valid_examples"] + corpus["test_examples"]
    assert corpus["train_examples"] + held == 400 and 10 < held < 80
    # the same file and seed give the same split
    again = cli("tokenize", source, "--out", tmp_path / "again", "--vocab-size", "300",
                "--max-len", "64")
    assert (tmp_path / "again/valid.txt").read_text() == (folder / "valid.txt").read_text()
    args = tiny_args("gpt", folder, tmp_path / "run",
                     before=["train.steps=3", "train.eval_every=3"])
    trained = cli(*args)
    assert trained.exit_code == 0, trained.stderr
    scored = cli("eval", tmp_path / "run", "--json")
    assert scored.exit_code == 0, scored.stderr
    assert json.loads(scored.stdout)["examples"] == corpus["test_examples"]
    assert again.exit_code == 0
    refused = cli(*[a if a != "data.max_len=64" else "data.max_len=32" for a in args[:-2]],
                  "--set", "model.max_len=64", "--force")
    assert refused.exit_code != 0 and "data.max_len=64" in refused.error_lines[0]
