"""The training loop: exact resume, Ctrl-C, NaN, schedules."""

import json
import math

import pytest

from gentext.config import TrainConfig
from gentext.models.optim import warmup_cosine as learning_rate


def losses(run):
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in rows if "loss" in r]


def test_resume_continues_the_same_loss_curve(cli, toy_plugin, corpus, tmp_path, tiny_args):
    straight = cli(*tiny_args("toy", corpus, tmp_path / "straight"))
    assert straight.exit_code == 0, straight.stderr
    # the same run, stopped by Ctrl-C during step 3 (it checkpoints after finishing that
    # step), then resumed in a new invocation
    stopped = cli(*tiny_args("toy", corpus, tmp_path / "resumed", "--set", "model.interrupt_at=3"))
    assert stopped.exit_code == 130
    assert "checkpoint saved at step 3" in stopped.stderr
    assert json.loads((tmp_path / "resumed/checkpoints/state.json").read_text())["step"] == 3
    resumed = cli("train", "--resume", "--out", tmp_path / "resumed", "--quiet")
    assert resumed.exit_code == 0, resumed.stderr
    expected, got = losses(tmp_path / "straight"), losses(tmp_path / "resumed")
    assert [s for s, _ in got] == list(range(1, 9))
    assert [loss for _, loss in got] == pytest.approx([loss for _, loss in expected], rel=1e-6)
    same = (tmp_path / "straight/model/model.safetensors").read_bytes()
    assert (tmp_path / "resumed/model/model.safetensors").read_bytes() == same


def test_nan_loss_stops_and_keeps_last_good_checkpoint(cli, toy_plugin, corpus, tmp_path,
                                                       tiny_args):
    run = tmp_path / "r"
    result = cli(*tiny_args("toy", corpus, run, "--set", "model.nan_at=6"))
    assert result.exit_code != 0
    assert "NaN" in result.stderr and "step 4" in result.stderr
    meta = json.loads((run / "model/gentext.json").read_text())
    assert meta["step"] == 4  # the checkpoint at step 4 is kept, nothing after it is written
    assert cli("eval", run).exit_code == 0  # and it still loads and evaluates


def test_resume_refuses_to_change_the_model(cli, toy_plugin, corpus, tmp_path, tiny_args):
    assert cli(*tiny_args("toy", corpus, tmp_path / "r")).exit_code == 0
    result = cli("train", "--resume", "--out", tmp_path / "r", "--set", "model.dropout=0.5")
    assert result.exit_code != 0 and "cannot change [model]" in result.stderr


def test_force_replaces_a_run(cli, toy_plugin, corpus, tmp_path, tiny_args):
    assert cli(*tiny_args("toy", corpus, tmp_path / "r")).exit_code == 0
    (tmp_path / "r/stale.txt").write_text("old")
    assert cli(*tiny_args("toy", corpus, tmp_path / "r", "--force")).exit_code == 0
    assert not (tmp_path / "r/stale.txt").exists()


def test_learning_rate_warms_up_then_decays_to_the_floor():
    config = TrainConfig(steps=110, warmup_steps=10, lr=1.0, min_lr_ratio=0.1)
    assert learning_rate(0, config) == pytest.approx(0.1)
    assert learning_rate(9, config) == pytest.approx(1.0)
    assert learning_rate(60, config) == pytest.approx(0.1 + 0.9 * 0.5)
    assert learning_rate(110, config) == pytest.approx(0.1)
    decay = [learning_rate(s, config) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(decay, decay[1:]))


def test_validation_loss_falls_while_training(cli, corpus, tmp_path, tiny_args):
    result = cli(*tiny_args("gpt", corpus, tmp_path / "r", "--set", "train.steps=40",
                            "--set", "train.eval_every=20", "--set", "train.lr=0.01"))
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in (tmp_path / "r/metrics.jsonl").read_text().splitlines()]
    valid = [r["nats_per_token"] for r in rows if r.get("split") == "valid"]
    assert len(valid) == 2 and valid[1] < valid[0] < math.log(300)


def test_a_warm_up_longer_than_the_run_is_clamped_with_one_notice(capsys):
    from gentext.training.prepare import assemble_config

    short = assemble_config("gpt", overrides=["train.steps=40", "train.warmup_steps=100"])
    assert short.train.warmup_steps == 4
    notice = capsys.readouterr().err.strip().splitlines()
    assert len(notice) == 1 and "warming up over 4 steps" in notice[0]
    kept = assemble_config("gpt", overrides=["train.steps=400", "train.warmup_steps=100"])
    assert kept.train.warmup_steps == 100 and capsys.readouterr().err == ""
