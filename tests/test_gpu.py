"""CUDA paths (bf16 autocast, torch.compile, pinned batches, the GPU sampler). They skip on
machines without a GPU; bench/gpu_check.py (`make gpu-check`) runs the two-GPU ones, and
bench/gpu_gpt.py and bench/gpu_smoke.py measure them.

A training run on CUDA must show figures, not just an exit code: every logged training loss
finite and the loss falling, and `gentext eval --split valid` (float32) giving the run's last
logged validation figure."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

STEPS = 20  # each run's length, a training row every step (train.log_every=1 in tiny settings)
EXACT_TOLERANCE = 1e-3  # relative, an exact likelihood: float32 evaluation both times
BOUND_STANDARD_ERRORS, BOUND_TOLERANCE = 3.0, 0.02  # a stochastic bound: either is enough


def metrics(out) -> tuple[list[dict], list[dict]]:
    """A run's training rows (those with tokens_per_s) and validation rows."""
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()
            if line.strip()]
    return ([r for r in rows if "tokens_per_s" in r],
            [r for r in rows if r.get("kind") == "valid"])


def assert_the_loss_falls(out, steps: int = STEPS, until: int | None = None) -> None:
    """One finite training loss a step, and the mean of the last quarter of them below the
    mean of the first (a quarter, not one row: a stochastic objective's loss is noisy);
    ``until``: compare only rows up to that step (seqgan's MLE phase)."""
    training, _ = metrics(out)
    losses = [r["loss"] for r in training]
    assert len(losses) == steps, [r["step"] for r in training]
    assert all(math.isfinite(loss) for loss in losses), losses
    phase = [r["loss"] for r in training if until is None or r["step"] <= until]
    quarter = max(1, len(phase) // 4)
    assert sum(phase[-quarter:]) / quarter < sum(phase[:quarter]) / quarter, phase


def assert_eval_gives_the_logged_validation(cli, out, device: str = "cuda") -> None:
    """`gentext eval OUT --split valid --json` equals the last validation the run logged: to
    1e-3 for an exact likelihood, within 3 standard errors or 2% for a bound (same k)."""
    _, validations = metrics(out)
    assert validations, "the run logged no validation"
    logged = validations[-1]
    args = ["eval", out, "--split", "valid", "--json", "--device", device]
    if logged.get("nll_samples"):
        args += ["--nll-samples", logged["nll_samples"]]
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["step"] == logged["step"]
    assert report["likelihood"] == logged["likelihood"]
    ours, theirs = report["nats_per_token"], logged["nats_per_token"]
    assert math.isfinite(ours)
    if report["likelihood"] == "exact":
        assert ours == pytest.approx(theirs, rel=EXACT_TOLERANCE)
    else:
        errors = [e for e in (report["stderr_nats_per_token"], logged["stderr_nats_per_token"])
                  if e is not None]
        spread = BOUND_STANDARD_ERRORS * math.sqrt(sum(e * e for e in errors))
        assert abs(ours - theirs) <= max(spread, BOUND_TOLERANCE * abs(theirs)), (ours, theirs)


def test_compiled_bf16_training_on_cuda_writes_a_run(cli, corpus, tmp_path, tiny_args):
    out = tmp_path / "r"
    args = tiny_args("gpt", corpus, out, "--set", "train.precision=bf16",
                     options=["--device", "cuda", "--compile"],
                     before=[f"train.steps={STEPS}", f"train.eval_every={STEPS}"])
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    assert_the_loss_falls(out)
    assert_eval_gives_the_logged_validation(cli, out)


def test_cuda_cached_sampling_gives_the_uncached_tokens():
    from gentext.models.contract import Vocab
    from gentext_gpt.config import GPTConfig
    from gentext_gpt.model import GPT

    model = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=32, max_len=64, dropout=0.0),
                Vocab(size=50, pad_id=0, bos_id=1, eos_id=2)).cuda().eval()
    draws = []
    from gentext.models.contract import SamplingOptions

    for use_cache in (True, False):
        draws.append(model.sample(8, SamplingOptions(seed=0, knobs={"use_cache": use_cache}),
                                  max_new_tokens=40))
    assert draws[0] == draws[1]


@pytest.mark.parametrize("family", ["seqvae", "seqgan", "flow", "mdlm"])
def test_each_family_trains_on_cuda(cli, corpus, tmp_path, tiny_args, family):
    """Default precision (bf16 where the GPU has it) and torch.compile; seqgan's first half is
    MLE, its second adversarial, and its loss must fall in the first."""
    out = tmp_path / family
    pretrain = STEPS // 2
    extra = ["--set", f"train.steps={STEPS}", "--set", f"train.eval_every={STEPS}"]
    if family == "seqgan":
        extra += ["--set", f"model.pretrain_steps={pretrain}"]
    result = cli(*tiny_args(family, corpus, out, *extra, options=["--device", "cuda"]))
    assert result.exit_code == 0, result.stderr
    assert_the_loss_falls(out, until=pretrain if family == "seqgan" else None)
    assert_eval_gives_the_logged_validation(cli, out)


@pytest.mark.parametrize("precision", ["fp16", "auto"])
def test_fp16_with_loss_scaling_and_auto_precision_train_on_cuda(cli, corpus, tmp_path,
                                                                  tiny_args, precision):
    out = tmp_path / "r"
    args = tiny_args("gpt", corpus, out, "--set", f"train.precision={precision}",
                     options=["--device", "cuda:0"],
                     before=[f"train.steps={STEPS}", f"train.eval_every={STEPS}"])
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    assert_the_loss_falls(out)
    assert_eval_gives_the_logged_validation(cli, out, device="cuda:0")


def one_and_two_gpu_losses(corpus, tmp_path, two_gpu_env: dict) -> list[list[float]]:
    """The logged training losses of the same bf16 gpt run on one GPU and, with
    ``two_gpu_env`` (e.g. FSDP's switch), on two processes under torchrun."""
    args = ["-m", "gentext", "train", "--data", str(corpus), "--quiet", "--device", "cuda",
            "--model", "gpt", "--set", "train.precision=bf16", "--set", "train.steps=8",
            "--set", "train.batch_size=16", "--set", "train.log_every=1",
            "--set", "data.vocab_size=300", "--set", "model.n_layer=2", "--set", "model.n_head=2",
            "--set", "model.n_embd=64", "--set", "model.dropout=0"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node", "2"]
    losses = []
    for launcher, env, out in (([sys.executable], {}, "one"), (torchrun, two_gpu_env, "two")):
        result = subprocess.run([*launcher, *args, "--out", str(tmp_path / out)], cwd=tmp_path,
                                env={**os.environ, **env}, capture_output=True, text=True,
                                timeout=600)
        assert result.returncode == 0, result.stderr
        training, _ = metrics(tmp_path / out)
        losses.append([r["loss"] for r in training])
    return losses


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_ddp_on_two_gpus_follows_one_gpu_in_bf16(corpus, tmp_path):
    """DDP over NCCL (torchrun, no FSDP), bf16 autocast: the loss curve of one GPU at the
    same global batch (bf16's rounding: a looser tolerance than the CPU tests' fp32)."""
    one, two = one_and_two_gpu_losses(corpus, tmp_path, {"ACCELERATE_USE_FSDP": "false"})
    assert len(one) == len(two) == 8
    assert all(math.isfinite(loss) for loss in one + two)
    assert max(abs(a - b) for a, b in zip(one, two)) < 2e-2


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_fsdp_on_two_gpus_follows_one_gpu_in_bf16(corpus, tmp_path):
    """FSDP over NCCL, bf16 autocast: the loss curve of one GPU at the same global batch
    (bf16's rounding: a looser tolerance than the CPU tests' fp32)."""
    one, two = one_and_two_gpu_losses(corpus, tmp_path, {"ACCELERATE_USE_FSDP": "true"})
    assert len(one) == len(two) == 8
    assert all(math.isfinite(loss) for loss in one + two)
    assert max(abs(a - b) for a, b in zip(one, two)) < 2e-2
