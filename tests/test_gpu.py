"""CUDA paths (bf16 autocast, torch.compile, pinned batches, the GPU sampler). They skip on
machines without a GPU; bench/gpu_gpt.py and bench/gpu_smoke.py measure them."""

import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_compiled_bf16_training_on_cuda_writes_a_run(cli, corpus, tmp_path, tiny_args):
    args = tiny_args("gpt", corpus, tmp_path / "r", options=["--device", "cuda", "--compile"],
                     before=["train.steps=4", "train.eval_every=2"])
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    assert cli("eval", tmp_path / "r", "--device", "cuda").exit_code == 0


def test_cuda_cached_sampling_gives_the_uncached_tokens():
    from gentext.model import Vocab
    from gentext_gpt.config import GPTConfig
    from gentext_gpt.model import GPT

    model = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=64, dropout=0.0),
                Vocab(size=50, pad_id=0, bos_id=1, eos_id=2)).cuda().eval()
    draws = []
    from gentext.model import SamplingOptions

    for use_cache in (True, False):
        draws.append(model.sample(8, SamplingOptions(seed=0, knobs={"use_cache": use_cache}),
                                  max_new_tokens=40))
    assert draws[0] == draws[1]


@pytest.mark.parametrize("family", ["seqvae", "seqgan", "flow"])
def test_each_family_trains_on_cuda(cli, corpus, tmp_path, family):
    args = ["train", "--model", family, "--data", corpus, "--out", tmp_path / family, "--quiet",
            "--device", "cuda", "--set", "train.steps=2", "--set", "train.eval_every=2",
            "--set", "data.vocab_size=300", "--set", "train.batch_size=8"]
    if family == "seqgan":
        args += ["--set", "model.pretrain_steps=1"]
    result = cli(*args)
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("precision", ["fp16", "auto"])
def test_fp16_with_loss_scaling_and_auto_precision_train_on_cuda(cli, corpus, tmp_path,
                                                                  tiny_args, precision):
    args = tiny_args("gpt", corpus, tmp_path / "r", "--set", f"train.precision={precision}",
                     options=["--device", "cuda:0"],
                     before=["train.steps=4", "train.eval_every=2"])
    result = cli(*args)
    assert result.exit_code == 0, result.stderr


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_fsdp_on_two_gpus_follows_one_gpu_in_bf16(corpus, tmp_path):
    """FSDP over NCCL, bf16 autocast: the loss curve of one GPU at the same global batch
    (bf16's rounding: a looser tolerance than the CPU tests' fp32)."""
    import json
    import os
    import subprocess
    import sys

    args = ["-m", "gentext", "train", "--data", str(corpus), "--quiet", "--device", "cuda",
            "--model", "gpt", "--set", "train.precision=bf16", "--set", "train.steps=8",
            "--set", "train.batch_size=16", "--set", "train.log_every=1",
            "--set", "data.vocab_size=300", "--set", "model.n_layer=2", "--set", "model.n_head=2",
            "--set", "model.n_embd=64", "--set", "model.dropout=0"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node", "2"]
    losses = []
    for launcher, env, out in (([sys.executable], {}, "one"),
                               (torchrun, {"ACCELERATE_USE_FSDP": "true"}, "two")):
        result = subprocess.run([*launcher, *args, "--out", str(tmp_path / out)], cwd=tmp_path,
                                env={**os.environ, **env}, capture_output=True, text=True,
                                timeout=600)
        assert result.returncode == 0, result.stderr
        rows = [json.loads(line) for line in (tmp_path / out / "metrics.jsonl").read_text().splitlines()]
        losses.append([r["loss"] for r in rows if "tokens_per_s" in r])
    assert len(losses[0]) == len(losses[1]) == 8
    assert max(abs(a - b) for a, b in zip(*losses)) < 2e-2
