"""Datasets in Hugging Face hub layout (`--data hf:NAME`): their own splits under their own
names, their columns renamed, errors in one line, and `gentext tokenize` reading them a chunk
at a time. Every fixture is a local folder made here; nothing reaches the network."""

import json
import time

import pytest

from gentext.config import DataConfig
from gentext.data.pipeline import load_splits
from gentext.data.splits import texts_sha256
from gentext.errors import GentextError
from tiny_runs import made_up_sentences

TRAIN = made_up_sentences(80, seed=1)
VALID = made_up_sentences(10, seed=2)
TEST = made_up_sentences(12, seed=3)


@pytest.fixture(autouse=True)
def offline_with_a_private_cache(monkeypatch, tmp_path):
    """Offline, and the Arrow files datasets makes of a folder go to this test's tmp_path."""
    import datasets.config

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")


def parquet_folder(root, column="text", labels=None):
    """A folder in hub layout: data/{train,validation,test}-00000-of-00001.parquet, the
    texts in ``column``, and (with ``labels``, a column name) a two-class ClassLabel column."""
    import datasets

    features = {column: datasets.Value("string")}
    if labels:
        features[labels] = datasets.ClassLabel(names=["neg", "pos"])
    (root / "data").mkdir(parents=True)
    for name, texts in (("train", TRAIN), ("validation", VALID), ("test", TEST)):
        rows = {column: [*texts, ""]}  # an empty row, which is left out
        if labels:
            rows[labels] = [i % 2 for i in range(len(texts) + 1)]
        datasets.Dataset.from_dict(rows, features=datasets.Features(features)).to_parquet(
            str(root / "data" / f"{name}-00000-of-00001.parquet"))
    return root


def text_folder(root):
    """A folder in hub layout with train.txt and test.txt only (no validation split)."""
    root.mkdir(parents=True)
    (root / "train.txt").write_text("\n".join(TRAIN) + "\n\n", encoding="utf-8")
    (root / "test.txt").write_text("\n".join(TEST) + "\n", encoding="utf-8")
    return root


def texts(examples):
    return [e["text"] for e in examples]


def test_a_hub_folder_keeps_its_own_splits_under_their_own_names(tmp_path):
    splits = load_splits(DataConfig(source=f"hf:{parquet_folder(tmp_path / 'ds')}"))
    assert (texts(splits.train), texts(splits.valid), texts(splits.test)) == (TRAIN, VALID, TEST)
    assert splits.get("validation") == splits.get("valid") == splits.valid
    assert splits.name_of("valid") == splits.name_of("validation") == "validation"
    assert splits.name_of("test") == "test" and splits.name_of("all") == "all"
    with pytest.raises(GentextError, match="choose one of train, validation, test, all"):
        splits.get("dev")  # not this dataset's name of a split


def test_a_folder_without_validation_keeps_its_test_and_cuts_valid_from_train(tmp_path):
    data = DataConfig(source=f"hf:{text_folder(tmp_path / 'ds')}")
    splits = load_splits(data)
    assert texts(splits.test) == TEST
    assert sorted(texts(splits.train) + texts(splits.valid)) == sorted(TRAIN)
    assert len(splits.valid) == round(len(TRAIN) * data.valid_fraction)
    assert load_splits(data) == splits  # deterministic
    assert splits.name_of("valid") == "valid"  # gentext cut it: gentext names it


def test_a_custom_text_column_and_class_labels_by_name(tmp_path):
    folder = parquet_folder(tmp_path / "ds", column="sentence", labels="sentiment")
    splits = load_splits(DataConfig(source=f"hf:{folder}", text_column="sentence",
                                    label_column="sentiment"))
    assert texts(splits.test) == TEST
    assert {e["label"] for e in splits.train} == {"neg", "pos"}


def test_a_missing_column_is_one_line_naming_the_columns_there_are(cli, tmp_path, tiny_args,
                                                                    assert_one_line_error):
    folder = parquet_folder(tmp_path / "ds", column="sentence")
    result = cli(*tiny_args("gpt", f"hf:{folder}", tmp_path / "run"))
    assert_one_line_error(result, "no column 'text'", "sentence", "data.text_column")
    result = cli(*tiny_args("gpt", f"hf:{folder}", tmp_path / "run", "--set",
                            "data.text_column=sentence", "--set", "data.label_column=stars"))
    assert_one_line_error(result, "no column 'stars'", "data.label_column")
    assert not (tmp_path / "run").exists()


def test_an_unreachable_hub_id_is_one_line_at_once(cli, tmp_path, tiny_args,
                                                   assert_one_line_error):
    started = time.monotonic()
    result = cli(*tiny_args("gpt", "hf:nobody-here/no-such-dataset", tmp_path / "run"))
    assert time.monotonic() - started < 10
    assert_one_line_error(result, "'nobody-here/no-such-dataset'", "cannot be reached",
                          "local folder")


def test_a_bad_configuration_name_lists_the_valid_ones(cli, tmp_path, tiny_args,
                                                       assert_one_line_error):
    folder = tmp_path / "ds"
    folder.mkdir()
    for name in ("one", "two"):
        (folder / f"{name}.txt").write_text("\n".join(TRAIN) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(
        "---\nconfigs:\n" + "".join(f"- config_name: {name}\n  data_files:\n  - split: train\n"
                                    f"    path: {name}.txt\n" for name in ("one", "two"))
        + "---\n", encoding="utf-8")
    result = cli(*tiny_args("gpt", f"hf:{folder}", tmp_path / "run", "--set",
                            "data.hf_config=three"))
    assert_one_line_error(result, "no configuration 'three'", "one, two", "data.hf_config")
    splits = load_splits(DataConfig(source=f"hf:{folder}", hf_config="two"))
    assert len(splits.get("all")) == len(TRAIN)


def test_train_then_eval_scores_exactly_the_datasets_own_splits(cli, tmp_path, tiny_args):
    folder = parquet_folder(tmp_path / "ds")
    run = tmp_path / "run"
    trained = cli(*tiny_args("gpt", f"hf:{folder}", run))
    assert trained.exit_code == 0, trained.stderr
    for asked, name, expected in (("test", "test", TEST), ("validation", "validation", VALID),
                                  ("valid", "validation", VALID)):
        result = cli("eval", run, "--split", asked, "--json")
        assert result.exit_code == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["split"] == name and report["examples"] == len(expected)
        assert report["split_sha256"] == texts_sha256(expected)
    assert (run / "eval-validation.json").is_file()
    printed = cli("eval", run, "--split", "validation")
    assert "split:       validation of hf:" in printed.stdout


def test_a_conditional_model_trains_on_a_hub_datasets_label_column(cli, tmp_path, tiny_args):
    folder = parquet_folder(tmp_path / "ds", labels="sentiment")
    run = tmp_path / "run"
    result = cli(*tiny_args("seqgan", f"hf:{folder}", run, "--set", "data.label_column=sentiment",
                            "--set", "train.steps=3", "--set", "model.pretrain_steps=2",
                            "--set", "train.eval_every=3"))
    assert result.exit_code == 0, result.stderr
    assert json.loads((run / "labels.json").read_text()) == ["neg", "pos"]


def test_tokenize_a_hub_folder_then_train_and_score_its_own_splits(cli, tmp_path, tiny_args):
    folder, corpus = parquet_folder(tmp_path / "ds"), tmp_path / "corpus"
    made = cli("tokenize", f"hf:{folder}", "--out", corpus, "--vocab-size", "300",
               "--max-len", "64", "--chunk-lines", "7")
    assert made.exit_code == 0, made.stderr
    assert "80 training examples" in made.stdout and "10 validation, 12 test" in made.stdout
    assert (corpus / "test.txt").read_text(encoding="utf-8").splitlines() == TEST
    assert json.loads((corpus / "corpus.json").read_text())["split_names"] == {
        "valid": "validation", "test": "test"}
    run = tmp_path / "run"
    trained = cli(*tiny_args("gpt", corpus, run))
    assert trained.exit_code == 0, trained.stderr
    for split, expected in (("test", TEST), ("validation", VALID)):
        report = json.loads(cli("eval", run, "--split", split, "--json").stdout)
        assert report["split"] == split and report["split_sha256"] == texts_sha256(expected)


def test_tokenize_keeps_a_datasets_test_and_draws_valid_from_its_train(cli, tmp_path):
    corpus = tmp_path / "corpus"
    made = cli("tokenize", f"hf:{text_folder(tmp_path / 'ds')}", "--out", corpus,
               "--tokenizer", "char", "--max-len", "64")
    assert made.exit_code == 0, made.stderr
    assert (corpus / "test.txt").read_text(encoding="utf-8").splitlines() == TEST
    meta = json.loads((corpus / "corpus.json").read_text())
    assert meta["split_names"] == {"test": "test"}
    assert meta["valid_examples"] + meta["train_examples"] == len(TRAIN)
    assert meta["valid_examples"] > 0


def test_tokenize_names_a_missing_column_and_an_unreachable_id(cli, tmp_path,
                                                                assert_one_line_error):
    folder = parquet_folder(tmp_path / "ds", column="sentence")
    result = cli("tokenize", f"hf:{folder}", "--out", tmp_path / "c1")
    assert_one_line_error(result, "no column 'text'", "sentence")
    result = cli("tokenize", "hf:nobody-here/no-such-dataset", "--out", tmp_path / "c2")
    assert_one_line_error(result, "cannot be reached")
    assert not (tmp_path / "c1").exists() and not (tmp_path / "c2").exists()
    made = cli("tokenize", f"hf:{folder}", "--out", tmp_path / "c3", "--text-column",
               "sentence", "--tokenizer", "char", "--max-len", "64")
    assert made.exit_code == 0, made.stderr


def test_eval_reads_another_dataset_its_own_way_with_data_settings(cli, tmp_path, tiny_args,
                                                                   corpus,
                                                                   assert_one_line_error):
    """A run trained elsewhere scores a hub dataset's own test split, as running text cut
    into windows and from a column of its own: `eval --set data.KEY=VALUE`."""
    run = tmp_path / "run"
    assert cli(*tiny_args("gpt", corpus, run)).exit_code == 0
    folder = parquet_folder(tmp_path / "ds", column="sentence")
    result = cli("eval", run, "--data", f"hf:{folder}", "--set", "data.text_column=sentence",
                 "--set", "data.unit=document", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["split"] == "test" and report["split_sha256"] == texts_sha256(TEST)
    assert report["windows"] == len(TEST)  # each short document fits one window
    assert not (run / "eval-test.json").exists()  # another protocol: not the run's figure
    result = cli("eval", run, "--set", "data.tokenizer=char")
    assert_one_line_error(result, "data.tokenizer cannot change")
    result = cli("eval", run, "--set", "train.steps=3")
    assert_one_line_error(result, "train.steps cannot change")
    result = cli("eval", run, "--set", "data.max_len=100000")
    assert_one_line_error(result, "longer than the model's context")
