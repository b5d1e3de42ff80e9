"""Every mistake a user can make: one line on stderr, a non-zero exit, nothing overwritten."""

import gzip
import json

import pytest


def test_unknown_model_lists_the_known_ones(cli, tmp_path, assert_one_line_error):
    result = cli("train", "--model", "gtp", "--out", tmp_path / "r")
    assert_one_line_error(result, "unknown model 'gtp'", "gpt")
    assert not (tmp_path / "r").exists()


def test_missing_data_file(cli, tmp_path, tiny_args, assert_one_line_error):
    result = cli(*tiny_args("gpt", tmp_path / "nope.txt", tmp_path / "r"))
    assert_one_line_error(result, "nope.txt", "neither a file")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("name,content,words", [
    ("empty.txt", b"\n\n  \n", ["empty"]),
    ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", ["binary"]),
    ("latin1.txt", "caf\u00e9 au lait\nna\u00efve\n".encode("latin-1"), ["not UTF-8", "line 1"]),
    ("bad.txt.gz", b"not gzip at all", ["could not be read"]),
    ("data.csv", b"a,b\n", ["unknown type"]),
])
def test_bad_data_files(cli, tmp_path, name, content, words, tiny_args, assert_one_line_error):
    path = tmp_path / name
    path.write_bytes(content)
    assert_one_line_error(cli(*tiny_args("gpt", path, tmp_path / "r")), *words)
    assert not (tmp_path / "r").exists()


def test_jsonl_line_without_text_names_the_line(cli, tmp_path, tiny_args, assert_one_line_error):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "a b c"}\n{"text": "d e f"}\n{"label": "x"}\n')
    assert_one_line_error(cli(*tiny_args("gpt", path, tmp_path / "r")), "line 3", "text")


def test_jsonl_that_is_not_json(cli, tmp_path, tiny_args, assert_one_line_error):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "a b c"}\nthis is not json\n')
    assert_one_line_error(cli(*tiny_args("gpt", path, tmp_path / "r")), "JSON")


def test_unknown_config_key_names_the_valid_ones(cli, corpus, tmp_path, tiny_args,
                                                 assert_one_line_error):
    result = cli(*tiny_args("gpt", corpus, tmp_path / "r", "--set", "train.stpes=3"))
    assert_one_line_error(result, "train.stpes", "steps", "batch_size")


def test_bad_config_value_names_the_key_and_type(cli, corpus, tmp_path, tiny_args,
                                                 assert_one_line_error):
    result = cli(*tiny_args("gpt", corpus, tmp_path / "r", "--set", "model.n_layer=two"))
    assert_one_line_error(result, "model.n_layer", "integer", "'two'")


def test_bad_config_file(cli, corpus, tmp_path, tiny_args, assert_one_line_error):
    config = tmp_path / "run.toml"
    config.write_text("[train]\nsteps = 'many'\n")
    result = cli(*tiny_args("gpt", corpus, tmp_path / "r", "--config", config))
    assert_one_line_error(result, "train.steps", "integer")
    config.write_text("[train\n")
    result = cli(*tiny_args("gpt", corpus, tmp_path / "r", "--config", config))
    assert_one_line_error(result, "TOML")


def test_existing_run_directory_is_not_overwritten(cli, trained_gpt, corpus, tiny_args,
                                                   assert_one_line_error):
    before = (trained_gpt / "model/model.safetensors").read_bytes()
    result = cli(*tiny_args("gpt", corpus, trained_gpt))
    assert_one_line_error(result, "already exists", "--resume", "--force")
    assert (trained_gpt / "model/model.safetensors").read_bytes() == before


def test_force_refuses_a_directory_that_is_not_a_run(cli, corpus, tmp_path, tiny_args,
                                                     assert_one_line_error):
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("years of work")
    assert_one_line_error(cli(*tiny_args("gpt", corpus, precious, "--force")), "not a gentext run")
    assert (precious / "chapter1.tex").read_text() == "years of work"


def test_resume_without_checkpoint(cli, corpus, tmp_path, tiny_args, assert_one_line_error):
    result = cli(*tiny_args("gpt", corpus, tmp_path / "r", "--resume"))
    assert_one_line_error(result, "cannot resume")


@pytest.mark.parametrize("command", [["sample"], ["eval"]])
def test_directory_that_is_not_a_run(cli, tmp_path, command, assert_one_line_error):
    assert_one_line_error(cli(*command, tmp_path), "not a gentext run")
    assert_one_line_error(cli(*command, tmp_path / "missing"), "does not exist")


@pytest.mark.parametrize("damage", ["truncate", "corrupt"])
@pytest.mark.parametrize("command", [["sample"], ["eval"]])
def test_damaged_weights_are_refused(cli, trained_gpt, damage, command, assert_one_line_error):
    weights = trained_gpt / "model/model.safetensors"
    data = bytearray(weights.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert_one_line_error(cli(*command, trained_gpt), "truncated or corrupted")


def test_unreadable_run_metadata(cli, trained_gpt, assert_one_line_error):
    (trained_gpt / "model/gentext.json").write_text("{not json")
    assert_one_line_error(cli("eval", trained_gpt), "not valid JSON")


def test_bad_sampling_options(cli, trained_gpt, assert_one_line_error):
    assert_one_line_error(cli("sample", trained_gpt, "--top-p", 0), "top_p")
    assert_one_line_error(cli("sample", trained_gpt, "--n", 0), "--n")
    assert_one_line_error(cli("eval", trained_gpt, "--n", 2, "--temperature", -1), "temperature")


def test_eval_unknown_split(cli, trained_gpt, assert_one_line_error):
    assert_one_line_error(cli("eval", trained_gpt, "--split", "dev"), "unknown split 'dev'")


def test_gz_text_file_trains(cli, tmp_path, corpus, tiny_args):
    path = tmp_path / "corpus.txt.gz"
    path.write_bytes(gzip.compress(corpus.read_bytes()))
    result = cli(*tiny_args("gpt", path, tmp_path / "r"))
    assert result.exit_code == 0, result.stderr
    config = (tmp_path / "r/config.toml").read_text()
    assert json.dumps(str(path)) in config


@pytest.mark.parametrize("option,value,words", [("--batch-size", "0", "--batch-size"),
                                                ("--nll-samples", "-1", "--nll-samples"),
                                                ("--temperature", "-1", "temperature")])
def test_eval_refuses_a_bad_option_before_it_loads_a_model(cli, tmp_path, option, value, words,
                                                           assert_one_line_error):
    """The option is named, not the missing run: nothing is loaded before options are checked."""
    result = cli("eval", tmp_path / "no-such-run", option, value)
    assert_one_line_error(result, words)
