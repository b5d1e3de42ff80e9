"""The whole path through the CLI, train -> checkpoint -> sample -> evaluate, on tiny data."""

import json
import math


def test_train_writes_a_complete_run_directory(trained_gpt):
    for name in ("config.toml", "tokenizer.json", "metrics.jsonl", "samples.txt", "loss.png",
                 "model/gentext.json", "model/config.json", "model/model.safetensors",
                 "checkpoints/state.json", "checkpoints/state.safetensors"):
        assert (trained_gpt / name).is_file(), name
    meta = json.loads((trained_gpt / "model/gentext.json").read_text())
    assert meta["model"] == "gpt" and meta["step"] == 6 and meta["plugin"] == "gentext_gpt"
    assert len((trained_gpt / "samples.txt").read_text().split("\n")) == 3
    assert (trained_gpt / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_metrics_log_training_and_validation(trained_gpt):
    rows = [json.loads(line) for line in (trained_gpt / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if "loss" in r]
    valid_rows = [r for r in rows if r.get("split") == "valid"]
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4, 5, 6]
    assert [r["step"] for r in valid_rows] == [3, 6]
    assert all(r["tokens_per_s"] > 0 and math.isfinite(r["loss"]) for r in train_rows)


def test_sample_prints_n_lines_and_is_reproducible(cli, trained_gpt):
    first = cli("sample", trained_gpt, "--n", 5, "--seed", 3)
    again = cli("sample", trained_gpt, "--n", 5, "--seed", 3)
    other = cli("sample", trained_gpt, "--n", 5, "--seed", 4)
    assert first.exit_code == 0, first.stderr
    assert len(first.stdout.split("\n")) == 6  # five lines, each ending in a newline
    assert first.stdout == again.stdout != other.stdout


def test_sample_with_prompt_starts_with_it(cli, trained_gpt):
    result = cli("sample", trained_gpt, "--n", 3, "--prompt", "Emma saw", "--max-new-tokens", 10)
    assert result.exit_code == 0, result.stderr
    assert all(line.startswith("Emma saw") for line in result.stdout.splitlines())


def test_sampling_temperature_defaults_to_the_familys(cli, trained_gpt):
    default = cli("sample", trained_gpt, "--n", 4, "--seed", 2).stdout
    assert default == cli("sample", trained_gpt, "--n", 4, "--seed", 2, "--temperature", 1).stdout
    assert default != cli("sample", trained_gpt, "--n", 4, "--seed", 2, "--temperature", 0).stdout


def test_greedy_sampling_is_deterministic_across_seeds(cli, trained_gpt):
    one = cli("sample", trained_gpt, "--n", 2, "--temperature", 0, "--seed", 1)
    two = cli("sample", trained_gpt, "--n", 2, "--temperature", 0, "--seed", 2)
    assert one.stdout == two.stdout


def test_eval_reports_units_kind_and_split(cli, trained_gpt):
    result = cli("eval", trained_gpt, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["split"] == "test" and report["likelihood"] == "exact"
    assert report["tokenizer"].startswith("byte-level BPE")
    assert math.isclose(report["perplexity"], math.exp(report["nats_per_token"]))
    assert math.isclose(report["bits_per_byte"], report["nats"] / math.log(2) / report["bytes"])
    assert len(report["split_sha256"]) == 64
    assert (trained_gpt / "eval-test.json").is_file()
    text = cli("eval", trained_gpt, "--split", "valid")
    assert "nats/token" in text.stdout and "bits/byte" in text.stdout and "exact" in text.stdout


def test_eval_n_samples_computes_registered_metrics(cli, trained_gpt):
    report = json.loads(cli("eval", trained_gpt, "--json", "--n", 4).stdout)
    assert set(report["sample_metrics"]) >= {"distinct-1", "distinct-2", "known-words"}
    assert 0 <= report["sample_metrics"]["known-words"] <= 1
    assert report["sample_temperature"] == 1.0  # gpt's default
    text = cli("eval", trained_gpt, "--n", 4, "--temperature", 0.5).stdout
    assert "(on 4 samples, temperature 0.5)" in text
    text = cli("eval", trained_gpt, "--n", 4, "--option", "use_cache=false").stdout
    assert "(on 4 samples, temperature 1, use_cache False)" in text
    result = cli("eval", trained_gpt, "--n", 4, "--option", "steps=3")
    assert result.exit_code != 0 and "steps" in result.error_lines[0]


def test_eval_on_other_data_uses_that_data(cli, trained_gpt, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("Emma saw the letter.\nHarriet forgot her sister.\n" * 10)
    mine = json.loads(cli("eval", trained_gpt, "--json", "--split", "all").stdout)
    theirs = json.loads(cli("eval", trained_gpt, "--json", "--data", other, "--split", "all").stdout)
    assert theirs["examples"] == 20 and theirs["split_sha256"] != mine["split_sha256"]


def test_models_lists_gpt_with_its_likelihood(cli):
    result = cli("models", "--json")
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["gpt"]["likelihood"] == "exact" and rows["gpt"]["plugin"] == "gentext_gpt"


def test_help_lists_the_commands(cli):
    result = cli("--help")
    for command in ("train", "sample", "eval", "models", "plugins"):
        assert command in result.stdout


def test_resume_of_finished_run_with_more_steps_continues(cli, trained_gpt):
    result = cli("train", "--resume", "--out", trained_gpt, "--quiet", "--set", "train.steps=8")
    assert result.exit_code == 0, result.stderr
    meta = json.loads((trained_gpt / "model/gentext.json").read_text())
    assert meta["step"] == 8


def test_a_prompt_word_the_tokenizer_cannot_represent_is_named_not_dropped_silently(
        cli, corpus, tiny_args, tmp_path):
    out = tmp_path / "words"
    trained = cli(*tiny_args("gpt", str(corpus), str(out), "--set", "data.tokenizer=word",
                             "--set", "data.vocab_size=40", before=["train.steps=2"]))
    assert trained.exit_code == 0, trained.stderr
    result = cli("sample", out, "--n", 2, "--prompt", "Emma saw the zebra", "--max-new-tokens", 3)
    assert result.exit_code == 0, result.stderr
    warnings = result.stderr.splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("gentext: warning: the prompt has 1 word")
    assert "'zebra'" in warnings[0] and "<unk>" in warnings[0]
    quiet = cli("sample", out, "--n", 2, "--prompt", "Emma saw", "--max-new-tokens", 3)
    assert quiet.stderr == ""
