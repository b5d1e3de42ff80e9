"""Corpus, loading, splits, tokenizers and batches."""

import gzip
import json

import pytest

from gentext.config import DataConfig
from gentext.data import AUSTEN_PATH, load_austen, split_examples, texts_sha256
from gentext.data.batching import BatchStream, collate, encode_split
from gentext.data.pipeline import load_splits
from gentext.errors import GentextError
from gentext.data.tokenizer import TextTokenizer, train_tokenizer


def test_the_default_corpus_ships_inside_the_package():
    assert AUSTEN_PATH.is_file() and (AUSTEN_PATH.parent / "PROVENANCE.md").is_file()
    examples = load_austen()
    assert 25_000 < len(examples) < 30_000
    lengths = [len(e["text"].split()) for e in examples]
    assert min(lengths) >= 4 and max(lengths) <= 50
    assert any("truth universally acknowledged" in e["text"] for e in examples)


def test_austen_split_is_deterministic_and_disjoint():
    first, second = load_splits(DataConfig()), load_splits(DataConfig())
    assert texts_sha256([e["text"] for e in first.test]) == texts_sha256([e["text"] for e in second.test])
    n = len(first.train) + len(first.valid) + len(first.test)
    assert n == len(load_austen()) and abs(len(first.test) - 0.05 * n) <= 1
    other_seed = load_splits(DataConfig(split_seed=1))
    assert [e["text"] for e in other_seed.test] != [e["text"] for e in first.test]


def test_split_keeps_every_example_once():
    examples = [{"text": f"sentence {i}"} for i in range(100)]
    splits = split_examples(examples, 0.1, 0.2, seed=3)
    seen = [e["text"] for e in splits.train + splits.valid + splits.test]
    assert sorted(seen) == sorted(e["text"] for e in examples)
    assert (len(splits.valid), len(splits.test)) == (10, 20)


def test_too_little_data_is_an_error():
    with pytest.raises(GentextError, match="at least 3"):
        split_examples([{"text": "a"}, {"text": "b"}], 0.1, 0.1, 0)


def test_jsonl_with_labels_loads(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps({"text": f"t {i}", "label": "ab"[i % 2]}) + "\n"
                            for i in range(30)))
    splits = load_splits(DataConfig(source=str(path)))
    everything = splits.get("all")
    assert len(everything) == 30 and {e["label"] for e in everything} == {"a", "b"}


def test_jsonl_keeps_text_and_label_whatever_the_other_fields_hold(tmp_path):
    """Fields gentext does not use may change type from line to line, and blank lines may
    sit between records (pyarrow's schema inference failed on both)."""
    extras = [[False, 0], {}, [None, None], "x", 3]
    lines = [json.dumps({"text": f"t {i}", "extra": extras[i % 5],
                         **({"label": i % 2} if i % 3 else {})}) for i in range(30)]
    path = tmp_path / "data.jsonl"
    path.write_text("\n" + "\n\n".join(lines) + "\n")
    everything = load_splits(DataConfig(source=str(path))).get("all")
    assert sorted(e["text"] for e in everything) == sorted(f"t {i}" for i in range(30))
    assert all(set(e) <= {"text", "label"} for e in everything)
    assert sum("label" in e for e in everything) == 20


def test_datasets_folder_keeps_its_own_splits(tmp_path):
    import datasets

    parts = {name: datasets.Dataset.from_dict({"text": [f"{name} {i}" for i in range(n)]})
             for name, n in (("train", 12), ("validation", 3), ("test", 4))}
    datasets.DatasetDict(parts).save_to_disk(str(tmp_path / "ds"))
    splits = load_splits(DataConfig(source=str(tmp_path / "ds")))
    assert (len(splits.train), len(splits.valid), len(splits.test)) == (12, 3, 4)
    assert splits.test[0]["text"] == "test 0"


def test_datasets_folder_with_one_dataset_is_split(tmp_path):
    import datasets

    datasets.Dataset.from_dict({"text": [f"line {i}" for i in range(40)]}).save_to_disk(str(tmp_path / "ds"))
    splits = load_splits(DataConfig(source=str(tmp_path / "ds")))
    assert len(splits.get("all")) == 40


def test_txt_gz_and_txt_load_the_same(tmp_path, corpus):
    gz = tmp_path / "c.txt.gz"
    gz.write_bytes(gzip.compress(corpus.read_bytes()))
    assert load_splits(DataConfig(source=str(gz))) == load_splits(DataConfig(source=str(corpus)))


@pytest.mark.parametrize("kind", ["bpe", "char"])
def test_tokenizer_round_trips_and_reserves_special_ids(kind, tmp_path):
    texts = ["It is a truth universally acknowledged.", "Emma Woodhouse, handsome, clever."] * 20
    tokenizer = train_tokenizer(texts, kind, 300)
    ids = tokenizer.encode(texts[1])
    assert tokenizer.decode(ids) == texts[1]
    specials = (tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id, tokenizer.unk_id)
    assert len(set(specials)) == 4 and not set(ids) & set(specials) and not tokenizer.lent
    tokenizer.save(tmp_path / "tokenizer.json")
    loaded = TextTokenizer.load(tmp_path / "tokenizer.json")
    assert loaded.encode(texts[0]) == tokenizer.encode(texts[0])
    assert loaded.role_ids == tokenizer.role_ids
    assert tokenizer.kind == kind


def test_bpe_round_trips_any_unicode():
    tokenizer = train_tokenizer(["plain ascii text only"] * 10, "bpe", 300)
    text = "naïve café — 東京 🙂"
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_tokenizer_is_cached_by_content_and_size():
    from gentext.data.tokenizer import cache_dir

    texts = [f"cache test sentence {i}" for i in range(50)]
    train_tokenizer(texts, "bpe", 290)
    before = set(cache_dir().iterdir())
    train_tokenizer(texts, "bpe", 290)
    assert set(cache_dir().iterdir()) == before
    train_tokenizer(texts, "bpe", 291)
    assert len(set(cache_dir().iterdir()) - before) == 1


def test_unknown_tokenizer_and_tiny_vocab_are_errors():
    with pytest.raises(GentextError, match="unknown tokenizer"):
        train_tokenizer(["a"], "wordpiece", 300)
    with pytest.raises(GentextError, match="at least"):
        train_tokenizer(["a"], "bpe", 100)


def test_encode_split_wraps_and_leaves_out_long_examples():
    tokenizer = train_tokenizer(["a b c d e f g h"] * 10, "char")
    encoded = encode_split([{"text": "abc"}, {"text": "a b c d e f g h"}], tokenizer, max_len=6)
    assert encoded.sequences == [[tokenizer.bos_id, *tokenizer.encode("abc"), tokenizer.eos_id]]
    assert encoded.dropped == 1 and encoded.texts == ["abc"]


def test_collate_pads_and_records_lengths():
    batch = collate([[1, 5, 2], [1, 5, 6, 7, 2]], pad_id=0)
    assert batch["tokens"].tolist() == [[1, 5, 2, 0, 0], [1, 5, 6, 7, 2]]
    assert batch["lengths"].tolist() == [3, 5]


def test_batch_stream_resumes_at_the_same_batch():
    tokenizer = train_tokenizer([f"s {i}" for i in range(10)], "char")
    encoded = encode_split([{"text": f"s {i}" * (i % 5 + 1)} for i in range(37)], tokenizer, 64)
    stream = BatchStream(encoded, 5, 0, seed=1)
    first = [next(stream)["tokens"].tolist() for _ in range(11)]  # crosses an epoch boundary
    resumed = BatchStream(encoded, 5, 0, seed=1, **BatchStream(encoded, 5, 0, seed=1).position())
    assert [next(resumed)["tokens"].tolist() for _ in range(11)] == first
    midway = BatchStream(encoded, 5, 0, seed=1)
    for _ in range(9):
        next(midway)
    again = BatchStream(encoded, 5, 0, seed=1, **midway.position())
    assert next(again)["tokens"].tolist() == first[9]
    # an epoch is 8 batches (7 of 5 and one of 2) holding every example once
    seen = [[t for t in row if t != 0] for batch in first[:8] for row in batch]
    assert sorted(seen) == sorted(encoded.sequences)


def test_a_family_that_sets_its_own_max_len_keeps_99_percent_of_the_default_corpus():
    """A family whose defaults set ``data.max_len`` (the flow: short sequences keep its
    steps cheap) keeps at least 99% of every split of the default corpus with its default
    tokenizer (and a model context that holds it), so no warning greets its default run."""
    from gentext.data.tokenizer import make_tokenizer
    from gentext.plugins.manager import registry
    from gentext.training.prepare import assemble_config

    checked = 0
    for name, spec in registry().models.items():
        if "max_len" not in spec.data_defaults:
            continue
        checked += 1
        config = assemble_config(name)
        splits = load_splits(config.data)
        tokenizer = make_tokenizer(config.data.tokenizer, [e["text"] for e in splits.train],
                                   config.data.vocab_size)
        for split in ("train", "valid", "test"):
            encoded = encode_split(getattr(splits, split), tokenizer, config.data.max_len)
            said = encoded.length_warning(split, config.data.max_len)
            assert said is None, (name, said)
        assert getattr(config.model, "max_len", config.data.max_len) >= config.data.max_len, name
    assert checked, "no built-in family sets its own data.max_len any more: rewrite this test"


def test_eval_batches_cover_the_split_once_within_the_token_budget():
    from gentext.data.batching import Encoded, eval_batches

    lengths = [3, 9, 4, 12, 7, 5, 30, 2, 8, 6]
    encoded = Encoded([[1] * n for n in lengths], [str(n) for n in lengths], dropped=0)
    seen = []
    for batch in eval_batches(encoded, batch_size=4, pad_id=0, max_tokens=24):
        rows, width = batch["tokens"].shape
        assert rows <= 4 and (rows * width <= 24 or rows == 1)  # one row may exceed it alone
        seen += batch["lengths"].tolist()
    assert sorted(seen) == sorted(lengths)
    unlimited = [b["tokens"].shape[0] for b in eval_batches(encoded, batch_size=4, pad_id=0)]
    assert unlimited == [4, 4, 2]


def test_a_tokenizer_names_what_of_a_text_it_cannot_represent():
    from gentext.data.tokenizer import train_tokenizer

    words = train_tokenizer(["The cat sat on the mat ."] * 3, "word", 12)
    assert words.unknown_pieces("The zebra sat on a mat") == ["zebra", "a"]
    warning = words.unknown_warning("The zebra sat on the zebra")  # named once
    assert "has 1 word " in warning and "'zebra'" in warning and "<unk>" in warning
    assert words.unknown_warning("The cat sat") is None
    characters = train_tokenizer(["abc"] * 3, "char")
    assert characters.unknown_pieces("abz") == ["z"]
    assert train_tokenizer(["abc def"] * 30, "bpe", 300).unknown_pieces("zebra ☃") == []
