"""Data-parallel training over two processes (gloo, CPU, torch's DDP through accelerate)
follows the one-process loss curve at the same global batch, for gpt, for seqgan (two
optimizers, Gumbel noise keyed to the global row) and for gpt with two micro-batches per
process, with dropout off. Tolerance: 2e-3 nats on every logged loss (measured: 1e-4,
the difference of averaging two half-batch means instead of one whole-batch mean)."""

import json
import os
import subprocess
import sys

import pytest
import torch.distributed

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(),
                                reason="this torch build has no torch.distributed")

TOLERANCE = 2e-3
COMMON = ["--quiet", "--set", "train.batch_size=16", "--set", "train.warmup_steps=2",
          "--set", "train.log_every=1", "--set", "data.vocab_size=300", "--set", "train.samples=2"]
GPT = ["--model", "gpt", "--set", "train.steps=8", "--set", "train.eval_every=4",
       "--set", "model.n_layer=1", "--set", "model.n_head=2", "--set", "model.n_embd=32",
       "--set", "model.block_size=64", "--set", "data.max_len=64", "--set", "model.dropout=0"]
GAN = ["--model", "seqgan", "--set", "train.steps=10", "--set", "train.eval_every=5",
       "--set", "model.pretrain_steps=5", "--set", "model.embedding_dim=16",
       "--set", "model.hidden_dim=32", "--set", "model.disc_embedding_dim=8",
       "--set", "model.disc_filters=8", "--set", "model.dropout=0", "--set", "model.disc_dropout=0",
       "--set", "model.adversarial_batch_size=8", "--set", "model.max_generated_len=16",
       "--set", "model.monitor_samples=0", "--set", "model.generator_lr=0.01",
       "--set", "model.discriminator_lr=0.01"]


def run(processes: int, args: list, out, cwd):
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node",
                 str(processes), "--standalone"] if processes > 1 else [sys.executable])
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([*launcher, "-m", "gentext", "train", *map(str, args), "--out",
                             str(out)], cwd=cwd, env=environment, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def curves(out) -> tuple[list[dict], list[dict]]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "tokens_per_s" in r], [r for r in rows if "nats_per_token" in r]


@pytest.mark.parametrize("family,keys,split", [
    (GPT, ["loss"], []), (GAN, ["loss", "g_loss", "d_loss"], []),
    (GPT, ["loss"], ["--set", "train.grad_accum=2"])],  # two processes of two micro-batches
    ids=["gpt", "seqgan", "gpt-grad-accum"])
def test_two_processes_follow_the_one_process_loss_curve(family, keys, split, corpus, tmp_path):
    args = ["--data", corpus, *COMMON, *family]
    run(1, args, tmp_path / "one", tmp_path)
    result = run(2, [*args, *split], tmp_path / "two", tmp_path)
    assert result.stdout.count("trained ") == 1  # only the main process reports
    (train_one, valid_one), (train_two, valid_two) = curves(tmp_path / "one"), curves(tmp_path / "two")
    assert [r["step"] for r in train_two] == [r["step"] for r in train_one]  # one writer
    for key in keys:
        one = [r[key] for r in train_one if key in r]
        two = [r[key] for r in train_two if key in r]
        assert one and len(one) == len(two)
        assert max(abs(a - b) for a, b in zip(one, two)) < TOLERANCE, (key, one, two)
    # validation sums nats and tokens over both processes: the one-process figures
    assert [(r["tokens"], r["examples"]) for r in valid_two] == \
        [(r["tokens"], r["examples"]) for r in valid_one]
    for a, b in zip(valid_one, valid_two):
        assert abs(a["nats_per_token"] - b["nats_per_token"]) < TOLERANCE


def test_global_batch_must_divide_by_processes(corpus, tmp_path):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--standalone"]
    result = subprocess.run([*launcher, "-m", "gentext", "train", "--data", str(corpus), *GPT,
                             *COMMON, "--set", "train.batch_size=15", "--out", str(tmp_path / "r")],
                            cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "train.batch_size (15) must divide by the number of processes (2)" in result.stderr
    assert not (tmp_path / "r").exists()


def test_an_fsdp_launch_is_refused_in_one_line_before_a_run_directory_is_made(corpus, tmp_path):
    # what `accelerate launch --config_file fsdp.yaml` sets for each process
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--standalone"]
    result = subprocess.run([*launcher, "-m", "gentext", "train", "--data", str(corpus), *GPT,
                             *COMMON, "--out", str(tmp_path / "r")], cwd=tmp_path,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_FSDP": "true"},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "the accelerate config asks for FSDP, which gentext does not support yet" in result.stderr
    assert not (tmp_path / "r").exists()
