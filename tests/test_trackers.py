"""train.log_with: the figures of metrics.jsonl also go to TensorBoard (read back from the
event file here), and a tracker whose library is missing is a one-line error."""

import sys

import pytest

from gentext.errors import GentextError
from gentext.runs.metrics_log import MetricsLog
from gentext.training.prepare import assemble_config
from gentext.training.trainer import train


def test_tensorboard_gets_the_metrics_rows_validation_and_config(corpus, tiny_overrides,
                                                                 tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is in requirements.txt")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = assemble_config("gpt", overrides=[f"data.source={corpus}", *tiny_overrides("gpt"),
                                               "train.steps=4", "train.eval_every=2",
                                               "train.log_with=tensorboard"])
    train(config, tmp_path / "r", progress=False)
    log = MetricsLog(tmp_path / "r" / "metrics.jsonl")
    events = EventAccumulator(str(tmp_path / "r" / "tensorboard")).Reload()
    losses = events.Scalars("train/loss")
    assert [e.step for e in losses] == [r["step"] for r in log.rows("train")]
    assert [e.value for e in losses] == pytest.approx([r["loss"] for r in log.rows("train")])
    valid = events.Scalars("valid/bits_per_byte")
    assert [e.step for e in valid] == [r["step"] for r in log.rows("valid")] == [2, 4]
    assert [e.value for e in valid] == pytest.approx([r["bits_per_byte"]
                                                      for r in log.rows("valid")])
    assert "train/tokens_per_s" in events.Tags()["scalars"]
    import yaml  # the run config, as TensorBoard's hyper-parameters (accelerate writes both)

    (stored,) = (tmp_path / "r" / "tensorboard").glob("*/hparams.yml")
    hparams = yaml.safe_load(stored.read_text())
    assert hparams["run.model"] == "gpt" and hparams["train.steps"] == 4
    assert hparams["model.n_embd"] == 32


def test_a_missing_tracker_library_is_a_one_line_error_before_anything_is_written(
        corpus, tiny_overrides, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed
    config = assemble_config("gpt", overrides=[f"data.source={corpus}", *tiny_overrides("gpt"),
                                               "train.log_with=wandb"])
    with pytest.raises(GentextError, match="needs wandb: pip install wandb"):
        train(config, tmp_path / "r", progress=False)
    config.train.log_with = "mlflow"
    with pytest.raises(GentextError, match="unknown train.log_with 'mlflow'; choose one of"):
        train(config, tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()
