"""Tokenised corpora on disk: the same rows, the same batches, in bounded memory."""

import gzip

import pytest

from gentext.data.batching import BatchStream, encode_split
from gentext.data.memmap import MappedSplit, read_lines, tokenize_to_disk
from gentext.errors import GentextError
from gentext.tokenizer import train_tokenizer


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
