"""The trainer from Python, the training state and metrics.jsonl: what the CLI does, a script
does the same way."""

import json

import pytest

from gentext.errors import GentextError
from gentext.runs.metrics_log import MetricsLog
from gentext.training.prepare import assemble_config
from gentext.training.trainer import train


@pytest.fixture
def toy_config(corpus, tiny_overrides):
    """toy_config(*extra): the tiny toy run's config on the tiny corpus."""
    return lambda *extra: assemble_config("toy", overrides=[
        f"data.source={corpus}", *tiny_overrides("toy"), *extra])


def train_losses(run):
    return [(row["step"], row["loss"]) for row in MetricsLog(run / "metrics.jsonl").rows("train")]


def test_a_python_caller_resumes_with_changed_train_settings(toy_plugin, toy_config, tmp_path):
    from gentext.runs.checkpoint import read_run_config

    assert train(toy_config("train.steps=4"), tmp_path / "r", progress=False).step == 4
    # the saved config with one [train] setting changed, as `gentext train --resume --set`
    resumed = train(None, tmp_path / "r", resume=True, overrides=["train.steps=8"],
                    progress=False)
    assert resumed.status == "finished" and resumed.step == 8
    assert [s for s, _ in train_losses(tmp_path / "r")] == list(range(1, 9))
    assert read_run_config(tmp_path / "r").train.steps == 8
    with pytest.raises(GentextError, match=r"cannot change \[model\]"):
        train(None, tmp_path / "r", resume=True, overrides=["model.dropout=0.5"])


def test_resuming_from_python_equals_an_uninterrupted_run(toy_plugin, toy_config, tmp_path):
    """Stopped by Ctrl-C at step 3, resumed from Python with the run's saved config."""
    train(toy_config(), tmp_path / "straight", progress=False)
    with pytest.raises(GentextError, match="checkpoint saved at step 3"):
        train(toy_config("model.interrupt_at=3"), tmp_path / "resumed", progress=False)
    train(None, tmp_path / "resumed", resume=True, progress=False)
    expected, got = train_losses(tmp_path / "straight"), train_losses(tmp_path / "resumed")
    assert [loss for _, loss in got] == pytest.approx([loss for _, loss in expected], rel=1e-6)


def test_a_new_run_needs_a_config(tmp_path):
    with pytest.raises(GentextError, match="needs a config"):
        train(None, tmp_path / "r")


def test_every_metrics_row_has_a_kind_and_reserved_names_are_refused(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.append("train", 1, {"loss": 2.0})
    log.append("valid", 1, {"split": "valid", "nats_per_token": 1.5,
                            "diagnostics": {"loss": 9.0, "split": "x"}})  # nested: harmless
    assert [row["kind"] for row in log.rows()] == ["train", "valid"]
    assert log.rows("train")[0]["loss"] == 2.0 and log.rows("valid")[0]["split"] == "valid"
    with pytest.raises(ValueError, match="'kind'"):
        log.append("train", 2, {"kind": "valid"})
    with pytest.raises(ValueError, match="kind"):
        log.append("eval", 2, {})


def test_a_diagnostic_named_like_a_field_cannot_corrupt_an_evaluation():
    from gentext.evaluation.evaluate import Evaluation

    evaluation = Evaluation(split="valid", likelihood="bound", tokenizer="t", examples=1,
                            tokens=10, bytes=20, nats=5.0, dropped=0, split_sha256="abc",
                            extra={"split": "oops", "nats": -1.0})
    row = evaluation.as_dict()
    assert row["split"] == "valid" and row["nats"] == 5.0
    assert row["diagnostics"] == {"split": "oops", "nats": -1.0}


def test_the_training_state_round_trips_naming_its_weights(tmp_path):
    import torch

    from gentext.runs.training_state import TrainingState

    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    state = TrainingState.capture({"model": optimizer}, step=7, elapsed_s=1.5,
                                  data={"epoch": 1, "index": 4}, device="cpu")
    state.with_weights("ab" * 32).save(tmp_path)
    loaded = TrainingState.load(tmp_path)
    assert (loaded.step, loaded.elapsed_s, loaded.data) == (7, 1.5, {"epoch": 1, "index": 4})
    assert loaded.weights_sha256 == "ab" * 32  # the weights live in model/, named, not copied
    again = torch.optim.AdamW(torch.nn.Linear(3, 2).parameters())
    loaded.restore_optimizers({"model": again})
    exp_avg = optimizer.state_dict()["state"][0]["exp_avg"]
    assert torch.equal(again.state_dict()["state"][0]["exp_avg"], exp_avg)
    assert torch.equal(loaded.rng["cpu"], state.rng["cpu"])


def test_a_training_state_from_before_it_named_its_weights_is_refused(tmp_path):
    import torch
    from safetensors.torch import save_file

    from gentext.runs.training_state import TrainingState

    (tmp_path / "checkpoints").mkdir()
    old = {"step": 2, "elapsed_s": 1.0, "data": {"epoch": 0, "index": 2}, "param_groups": {}}
    save_file({"rng.cpu": torch.get_rng_state()}, str(tmp_path / "checkpoints/state.safetensors"),
              metadata={"state": json.dumps(old)})
    with pytest.raises(GentextError, match="earlier gentext .* --force"):
        TrainingState.load(tmp_path)


def test_a_checkpoint_writes_the_weights_once_and_its_state_names_them(trained_gpt):
    from safetensors import safe_open

    meta = json.loads((trained_gpt / "model/gentext.json").read_text())
    with safe_open(str(trained_gpt / "checkpoints/state.safetensors"), framework="pt") as state:
        assert not [key for key in state.keys() if not key.startswith(("optimizer.", "rng."))]
        named = json.loads(state.metadata()["state"])["weights_sha256"]
    assert named == meta["weights_sha256"] and "previous" not in meta


def test_leaving_out_more_than_1_percent_of_a_split_is_said_with_the_fix(
        cli, corpus, tmp_path, tiny_args):
    import re

    from gentext.data.batching import left_out_warning

    assert left_out_warning(99, 1, "test", 128, 130) is None  # 1% is fine
    assert left_out_warning(98, 2, "test", 128, 130) == (
        "2 of 100 test examples (2%) are longer than data.max_len=128 tokens and left out; "
        "data.max_len=130 keeps 99%")
    run = tmp_path / "r"
    trained = cli(*tiny_args("gpt", corpus, run, "--set", "data.tokenizer=char",
                             "--set", "data.max_len=24"))
    assert trained.exit_code == 0, trained.stderr
    said = re.search(r"gentext: warning: [\d,]+ of [\d,]+ training examples \(\d+%\) are longer "
                     r"than data.max_len=24 tokens and left out; data.max_len=(\d+) keeps 99%",
                     trained.stderr)
    assert said and int(said.group(1)) > 24, trained.stderr
    scored = cli("eval", run)
    assert re.search(r"test examples \(\d+%\) are longer than data.max_len=24 tokens and left "
                     r"out; data.max_len=\d+ keeps 99%", scored.stderr), scored.stderr
