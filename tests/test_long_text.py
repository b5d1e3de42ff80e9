"""Running text (data.unit = "document"): a document is cut into windows of data.max_len
tokens, its held-out parts are scored window by window, and every byte of them is counted."""

import json
import random

import pytest

from gentext.data.batching import encode_split, windows
from gentext.data.splits import cut_document, split_documents
from gentext.errors import GentextError
from gentext.data.tokenizer import TextTokenizer

WORDS = ["Emma", "Harriet", "wrote", "to", "her", "sister", "and", "the", "letter", "was",
         "long", "Mr.", "Knightley", "smiled", "--", "café", "naïve"]


@pytest.fixture
def book(tmp_path):
    """A 'book' of about 2,500 words stored as one line (no line a model could fit whole)."""
    rng = random.Random(1)
    text = " ".join(rng.choice(WORDS) + ("." if rng.random() < 0.1 else "")
                    for _ in range(2500))
    path = tmp_path / "book.txt"
    path.write_text(text + "\n", encoding="utf-8")
    return path, text


@pytest.mark.parametrize("length", [0, 1, 5, 62, 63, 64, 200])
def test_windows_predict_every_token_and_the_eos_exactly_once(length):
    ids = list(range(10, 10 + length))
    cut = windows(ids, bos_id=1, eos_id=2, max_len=64)
    assert all(w[0] == 1 and 2 <= len(w) <= 64 for w in cut)
    assert [t for w in cut for t in w[1:]] == [*ids, 2]  # each predicted once, in order


def test_a_few_documents_are_cut_at_whitespace_and_many_go_whole():
    text = "one two three four five six seven eight nine ten " * 20
    train, valid, test = cut_document(text.strip(), 0.05, 0.05)
    assert " ".join([train, valid, test]) == text.strip()  # nothing lost, no word split
    assert len(train) > 10 * len(test) and valid and test
    few = split_documents([{"text": text}], 0.05, 0.05, seed=0)
    assert [len(few.train), len(few.valid), len(few.test)] == [1, 1, 1]
    many = split_documents([{"text": f"document {i}"} for i in range(40)], 0.05, 0.05, seed=0)
    assert [len(many.train), len(many.valid), len(many.test)] == [36, 2, 2]
    assert all(e["text"].startswith("document ") for e in many.test)  # whole documents
    with pytest.raises(GentextError, match="too short"):
        split_documents([{"text": "word"}], 0.05, 0.05, seed=0)


def test_encoded_windows_count_each_documents_bytes_once(tmp_path):
    from gentext.data.tokenizer import train_tokenizer

    texts = ["naïve " * 100, "short one"]
    tokenizer: TextTokenizer = train_tokenizer(texts, "bpe", 300)
    encoded = encode_split([{"text": t} for t in texts], tokenizer, max_len=16, unit="document")
    assert encoded.dropped == 0 and encoded.documents == texts
    assert len(encoded.sequences) > len(texts)  # the long document is cut
    predicted = sum(len(s) - 1 for s in encoded.sequences)
    assert predicted == sum(len(tokenizer.encode(t)) + 1 for t in texts)
    with pytest.raises(GentextError, match="conditional"):
        encode_split([{"text": "a b", "label": "x"}], tokenizer, 16, labels=("x",), unit="document")


def test_a_book_on_one_line_trains_and_eval_scores_every_byte_of_its_test_part(
        cli, book, tmp_path, tiny_args):
    path, text = book
    refused = cli(*tiny_args("gpt", path, tmp_path / "whole"))
    assert refused.exit_code == 1 and "data.unit=document" in refused.stderr

    run = tmp_path / "run"
    trained = cli(*tiny_args("gpt", path, run, "--set", "data.unit=document",
                             before=["train.steps=6", "train.eval_every=3"]))
    assert trained.exit_code == 0, trained.stderr
    said = cli("eval", run, "--json")
    assert said.exit_code == 0, said.stderr
    report = json.loads(said.stdout)
    test_part = cut_document(text, 0.05, 0.05)[2]
    tokenizer = TextTokenizer.load(run / "tokenizer.json")
    assert report["examples"] == 1 and report["dropped"] == 0
    assert report["bytes"] == len(test_part.encode("utf-8")) + 1  # every byte, once
    assert report["tokens"] == len(tokenizer.encode(test_part)) + 1
    assert report["windows"] == -(-report["tokens"] // 63)  # max_len 64: 63 predicted a window
    assert report["likelihood"] == "exact" and report["bits_per_byte"] > 0


def test_a_tokenised_book_scores_as_the_file_does(cli, book, tmp_path, tiny_args):
    path, _ = book
    folder = tmp_path / "corpus"
    made = cli("tokenize", path, "--out", folder, "--unit", "document", "--vocab-size", 300,
               "--max-len", 64)
    assert made.exit_code == 0, made.stderr
    reports = []
    for data, name in ((path, "file"), (folder, "folder")):
        run = tmp_path / name
        trained = cli(*tiny_args("gpt", data, run, "--set", "data.unit=document"))
        assert trained.exit_code == 0, trained.stderr
        reports.append(json.loads(cli("eval", run, "--json").stdout))
    for key in ("bytes", "tokens", "windows", "split_sha256", "nats"):
        assert reports[0][key] == pytest.approx(reports[1][key]), key
    mixed = cli(*tiny_args("gpt", folder, tmp_path / "mixed"))
    assert mixed.exit_code == 1 and "data.unit=document" in mixed.stderr


@pytest.mark.parametrize("family", ["seqvae", "flow"])
def test_a_family_that_models_whole_examples_refuses_windows_in_one_line(cli, book, tmp_path,
                                                                        tiny_args, family):
    path, _ = book
    result = cli(*tiny_args(family, path, tmp_path / family, "--set", "data.unit=document"))
    assert result.exit_code == 1
    assert "models whole examples" in result.stderr and "gpt" in result.stderr
    assert not (tmp_path / family).exists()  # refused before a run directory is made
