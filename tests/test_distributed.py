"""Data-parallel training over two processes (gloo, CPU, torch's DDP through accelerate, or
FSDP) follows the one-process loss curve at the same global batch, for gpt, for seqgan (two
optimizers, Gumbel noise keyed to the global row) and for gpt with two micro-batches per
process, with dropout off. Tolerance: 2e-3 nats on every logged loss (measured: 1e-4,
the difference of averaging two half-batch means instead of one whole-batch mean)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(),
                                reason="this torch build has no torch.distributed")

TOLERANCE = 2e-3
COMMON = ["--quiet", "--set", "train.batch_size=16", "--set", "train.warmup_steps=2",
          "--set", "train.log_every=1", "--set", "data.vocab_size=300", "--set", "train.samples=2"]
GPT = ["--model", "gpt", "--set", "train.steps=8", "--set", "train.eval_every=4",
       "--set", "model.n_layer=1", "--set", "model.n_head=2", "--set", "model.n_embd=32",
       "--set", "model.max_len=64", "--set", "data.max_len=64", "--set", "model.dropout=0"]
GAN = ["--model", "seqgan", "--set", "train.steps=10", "--set", "train.eval_every=5",
       "--set", "model.pretrain_steps=5", "--set", "model.embedding_dim=16",
       "--set", "model.hidden_dim=32", "--set", "model.disc_embedding_dim=8",
       "--set", "model.disc_filters=8", "--set", "model.dropout=0", "--set", "model.disc_dropout=0",
       "--set", "model.adversarial_batch_size=8", "--set", "model.max_generated_len=16",
       "--set", "model.monitor_samples=0", "--set", "model.generator_lr=0.01",
       "--set", "model.discriminator_lr=0.01"]


FSDP = {"ACCELERATE_USE_FSDP": "true"}  # what `accelerate launch --config_file fsdp.yaml` sets


def launch(processes: int, args: list, cwd, env: dict | None = None):
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node",
                 str(processes), "--standalone"] if processes > 1 else [sys.executable])
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([*launcher, "-m", "gentext", "train", *map(str, args)], cwd=cwd,
                          env=environment, capture_output=True, text=True, timeout=300)


def run(processes: int, args: list, out, cwd, env: dict | None = None):
    result = launch(processes, [*args, "--out", out], cwd, env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def curves(out) -> tuple[list[dict], list[dict]]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "tokens_per_s" in r], [r for r in rows if "nats_per_token" in r]


@pytest.mark.parametrize("family,keys,split,engine", [
    (GPT, ["loss"], [], {}), (GAN, ["loss", "g_loss", "d_loss"], [], {}),
    (GPT, ["loss"], ["--set", "train.grad_accum=2"], {}),  # two processes of two micro-batches
    # FSDP: gpt's blocks are units of their own; seqgan is one unit, and logs a loss computed
    # outside its objectives (context.whole_model)
    (GPT, ["loss"], [], FSDP), (GAN, ["loss", "g_loss", "d_loss"], [], FSDP),
    (GPT, ["loss"], ["--set", "train.grad_accum=2"], FSDP)],
    ids=["gpt", "seqgan", "gpt-grad-accum", "gpt-fsdp", "seqgan-fsdp", "gpt-fsdp-grad-accum"])
def test_two_processes_follow_the_one_process_loss_curve(family, keys, split, engine, corpus,
                                                         tmp_path):
    args = ["--data", corpus, *COMMON, *family]
    run(1, args, tmp_path / "one", tmp_path)
    result = run(2, [*args, *split], tmp_path / "two", tmp_path, engine)
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
    result = launch(2, ["--data", corpus, *GPT, *COMMON, "--set", "train.batch_size=15",
                        "--out", tmp_path / "r"], tmp_path)
    assert result.returncode != 0
    assert "train.batch_size (15) must divide by the number of processes (2)" in result.stderr
    assert not (tmp_path / "r").exists()


def test_a_deepspeed_launch_is_refused_in_one_line_before_a_run_directory_is_made(corpus,
                                                                                 tmp_path):
    # what `accelerate launch --config_file deepspeed.yaml` sets for each process
    result = launch(2, ["--data", corpus, *GPT, *COMMON, "--out", tmp_path / "r"], tmp_path,
                    {"ACCELERATE_USE_DEEPSPEED": "true"})
    assert result.returncode != 0
    assert "the accelerate config asks for DeepSpeed, which gentext does not support yet" \
        in result.stderr
    assert not (tmp_path / "r").exists()


def test_an_fsdp_run_resumes_exactly_sharded_or_not(corpus, tmp_path):
    """Checkpoints gather the shards into the one-process format: an FSDP run stopped at
    step 4 continues under FSDP, or in one process, as a one-process run resumed there does."""
    first_half = ["--data", corpus, *COMMON, *GPT, "--set", "train.steps=4"]
    second_half = ["--resume", "--quiet", "--set", "train.steps=8"]
    run(1, first_half, tmp_path / "one", tmp_path)
    run(1, second_half, tmp_path / "one", tmp_path)
    run(2, first_half, tmp_path / "sharded", tmp_path, FSDP)
    shutil.copytree(tmp_path / "sharded", tmp_path / "unsharded")
    run(2, second_half, tmp_path / "sharded", tmp_path, FSDP)
    run(1, second_half, tmp_path / "unsharded", tmp_path)
    (train_one, valid_one) = curves(tmp_path / "one")
    assert [r["step"] for r in train_one] == list(range(1, 9))
    for name in ("sharded", "unsharded"):
        train_other, valid_other = curves(tmp_path / name)
        assert [r["step"] for r in train_other] == list(range(1, 9))
        assert max(abs(a["loss"] - b["loss"]) for a, b in zip(train_one, train_other)) \
            < TOLERANCE, name
        assert [r["tokens"] for r in valid_other] == [r["tokens"] for r in valid_one]
        assert max(abs(a["nats_per_token"] - b["nats_per_token"])
                   for a, b in zip(valid_one, valid_other)) < TOLERANCE


MISTAKEN_PLUGIN = """
import torch
from gentext.plugins.hookspecs import hookimpl
from gentext.plugins.specs import ModelSpec
from toy_plugin import ToyBigram, ToyConfig


class LogsOutside(ToyBigram):
    def training_step(self, batch, context):
        outputs = self.loss_step(batch, context, "model")
        with torch.no_grad():  # the model, sharded, outside an objective
            outputs["extra"] = self.loss(batch)["loss"]
        return outputs


class Plugin:
    @hookimpl
    def register_models(self, register):
        register(ModelSpec(name="outside", description="logs a loss outside its objectives",
                           config=ToyConfig, model="mistaken_plugin:LogsOutside",
                           likelihood="exact"))


plugin = Plugin()
"""


def test_a_plugin_that_uses_its_sharded_model_outside_an_objective_gets_one_line(corpus,
                                                                                tmp_path):
    site = tmp_path / "site"
    dist = site / "mistaken_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mistaken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[gentext]\nmistaken = mistaken_plugin:plugin\n")
    (site / "mistaken_plugin.py").write_text(MISTAKEN_PLUGIN)
    path = os.pathsep.join([str(site), str(Path(__file__).parent), *sys.path[1:]])
    result = launch(2, ["--data", corpus, *COMMON, "--model", "outside", "--set",
                        "train.steps=2", "--out", tmp_path / "r"], tmp_path,
                    {**FSDP, "PYTHONPATH": path})
    assert result.returncode != 0
    assert ("gentext: error: under FSDP, outside's training_step used the model outside the "
            "objectives it gives context.optimize") in result.stderr
    # no frame of gentext's, nor the raw DTensor error (torchrun adds a traceback of its own)
    assert 'train.py"' not in result.stderr and "DTensor" not in result.stderr


@pytest.mark.parametrize("family", ["mdlm", "seqvae", "flow"])
def test_every_other_family_trains_sharded(family, corpus, tmp_path):
    """mdlm's blocks are units of their own; seqvae and flow are one unit each."""
    result = run(2, ["--data", corpus, *COMMON, "--model", family, "--set", "train.steps=2",
                     "--set", "train.eval_every=2"], tmp_path / "r", tmp_path, FSDP)
    units = 5 if family == "mdlm" else 1  # mdlm: its 4 blocks and the root
    assert f"sharded by FSDP over 2 processes in {units} units" in \
        " ".join((result.stdout + result.stderr).split())  # rich wraps the line
    train_rows, valid_rows = curves(tmp_path / "r")
    assert [r["step"] for r in train_rows] == [1, 2] and len(valid_rows) == 1
    assert (tmp_path / "r" / "model" / "model.safetensors").is_file()
