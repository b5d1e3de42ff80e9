"""What a GPU would catch, caught on the CPU: the meta device stands in for CUDA (a CPU tensor
joined with a meta one raises as it would with a CUDA one, and a host sync such as ``.item()``
raises), and a stand-in process group refuses CPU tensors as NCCL does."""

import contextlib
import json

import pytest
import torch

from tiny_families import TINY, batch, tiny_model

from gentext.config import TrainConfig
from gentext.distributed import Ranks
from gentext.training.progress import Window
from gentext.training.step import TrainingStep

META = torch.device("meta")


def on_meta(family: str):
    model = tiny_model(family).train().to(META)
    return model, {name: value.to(META) for name, value in batch().items()}


@pytest.mark.parametrize("family", list(TINY))
def test_a_training_step_and_its_logging_stay_on_the_device(family):
    """Every family's step runs on a meta model and batch without a host sync, returns its
    figures on the batch's device, and the trainer's window sums them there."""
    model, meta_batch = on_meta(family)
    ranks = Ranks(device=META)
    context = TrainingStep(model.make_optimizers(TrainConfig()), 1.0, 10, ranks)
    context.step = getattr(model.config, "pretrain_steps", 0)  # seqgan: its adversarial step
    outputs = model.training_step(meta_batch, context)
    assert "loss" in outputs
    assert {name: value.device for name, value in outputs.items()
            if not (torch.is_tensor(value) and value.device == META)} == {}
    window = Window(META)
    window.add(outputs, tokens=10)
    assert window.totals(ranks).device == META


@pytest.fixture
def nccl_like(monkeypatch):
    """torch.distributed's all_reduce as NCCL takes it: tensors on the device only; each sum is
    what two processes holding the same values would give. Returns the devices it saw."""
    seen = []

    def all_reduce(tensor, op=None):
        seen.append(tensor.device)
        if tensor.device.type == "cpu":
            raise RuntimeError("No backend type associated with device type cpu")
        if tensor.device.type != "meta":
            tensor.mul_(2)

    monkeypatch.setattr("gentext.distributed.dist.all_reduce", all_reduce)
    return seen


def test_collectives_run_on_the_processes_device(nccl_like):
    ranks = Ranks(rank=0, world=2, device=META)
    assert ranks.sum(torch.ones(3, device=META)).shape == (3,)
    with contextlib.suppress(RuntimeError, NotImplementedError):  # meta has no values to read
        ranks.any(True, False)
    window = Window(META)
    window.add({"loss": torch.tensor(1.0), "weight": 0.5}, tokens=4)  # a family's CPU figures
    window.totals(ranks)
    assert nccl_like and all(device == META for device in nccl_like)


def test_the_length_prior_counts_every_processs_lengths(monkeypatch):
    """mdlm's length prior sums its counts over the processes, so the saved prior is the
    whole data's (two processes that saw the same rows count each row twice)."""
    monkeypatch.setattr("gentext.distributed.dist.all_reduce", lambda tensor, op=None: tensor.mul_(2))
    model = tiny_model("mdlm").train()
    context = TrainingStep(model.make_optimizers(TrainConfig()), 1.0, 10, Ranks(rank=0, world=2))
    rows = batch()
    model.training_step(rows, context)
    expected = torch.bincount(rows["lengths"] - 2, minlength=model.length_prior.counts.numel())
    assert torch.equal(model.length_prior.counts, 2 * expected)


def test_spline_couplings_run_in_float32_under_bf16_autocast():
    from gentext_flow.couplings import Coupling

    torch.manual_seed(0)
    layer = Coupling(4, 16, "spline", "channel", 0)
    for parameter in layer.parameters():  # a trained layer: not the identity it starts as
        torch.nn.init.normal_(parameter, std=0.1)
    x, valid = torch.randn(3, 7, 4) * 2, torch.ones(3, 7, dtype=torch.bool)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, log_det = layer(x, valid)
        back = layer.inverse(y, valid)
    assert y.dtype == log_det.dtype == torch.float32
    assert (back - x).abs().max() < 1e-5  # bf16 splines: about 2e-3


def test_evaluation_is_float32_inside_a_callers_autocast():
    from gentext.evaluation.evaluate import evaluation_mode

    model, rows = tiny_model("gpt"), batch()
    with evaluation_mode(model):
        plain, _ = model.nll(rows)
    with torch.autocast("cpu", dtype=torch.bfloat16), evaluation_mode(model):
        inside, _ = model.nll(rows)
    assert float(inside) == pytest.approx(float(plain), rel=1e-6)


def test_a_bf16_run_logs_the_validation_that_gentext_eval_gives(cli, corpus, tmp_path, tiny_args):
    """One process, bf16: training's validation is float32 like `gentext eval` (no forward
    left wrapped in autocast), so a run has one number for its validation split."""
    out = tmp_path / "r"
    result = cli(*tiny_args("gpt", corpus, out, "--set", "train.precision=bf16"))
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    logged = [row for row in rows if "nats_per_token" in row][-1]["nats_per_token"]
    evaluated = cli("eval", out, "--split", "valid", "--json")
    assert evaluated.exit_code == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["nats_per_token"] == pytest.approx(logged, rel=1e-6)
