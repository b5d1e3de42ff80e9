"""Gradient accumulation: k micro-batches of b rows make the update one batch of k*b makes.

With dropout off, the only difference is averaging k micro-batch means instead of one
whole-batch mean (as with several processes, tests/test_distributed.py): 2e-3 nats on every
logged loss, for a one-optimizer family (gpt) and for seqgan (two optimizers, the
discriminator updated on every micro-batch before the generator meets it, Gumbel noise keyed
to the global row)."""

import pytest
import torch

from gentext.errors import GentextError
from gentext.runs.metrics_log import MetricsLog
from gentext.training.prepare import assemble_config
from gentext.training.trainer import train

TOLERANCE = 2e-3
GPT = ["model.n_layer=1", "model.n_head=2", "model.n_embd=32", "model.max_len=64",
       "data.max_len=64", "model.dropout=0", "train.steps=6", "train.eval_every=3"]
GAN = ["model.embedding_dim=16", "model.hidden_dim=32", "model.disc_embedding_dim=8",
       "model.disc_filters=8", "model.dropout=0", "model.disc_dropout=0",
       "model.adversarial_batch_size=8", "model.max_generated_len=16",
       "model.monitor_samples=0", "model.generator_lr=0.01", "model.discriminator_lr=0.01",
       "model.pretrain_steps=3", "train.steps=7", "train.eval_every=7"]
COMMON = ["data.vocab_size=300", "train.batch_size=16", "train.warmup_steps=2",
          "train.log_every=1", "train.samples=0"]


def run(family, settings, corpus, out, *extra):
    config = assemble_config(family, overrides=[f"data.source={corpus}", *COMMON, *settings,
                                                *extra])
    return train(config, out, progress=False)


def rows(out, kind):
    return list(MetricsLog(out / "metrics.jsonl").rows(kind))


@pytest.mark.parametrize("family,settings,keys", [("gpt", GPT, ["loss"]),
                                                   ("seqgan", GAN, ["loss", "g_loss", "d_loss"])],
                         ids=["gpt", "seqgan"])
def test_micro_batches_make_the_update_of_the_whole_batch(family, settings, keys, corpus,
                                                          tmp_path):
    run(family, settings, corpus, tmp_path / "whole")
    run(family, settings, corpus, tmp_path / "four", "train.grad_accum=4")
    whole, four = rows(tmp_path / "whole", "train"), rows(tmp_path / "four", "train")
    assert [r["step"] for r in four] == [r["step"] for r in whole]
    for key in keys:
        a, b = [r[key] for r in whole if key in r], [r[key] for r in four if key in r]
        assert a and len(a) == len(b)
        assert max(abs(x - y) for x, y in zip(a, b)) < TOLERANCE, (key, a, b)
    # the losses moved: the comparison is of training, not of an untouched model
    assert abs(whole[0]["loss"] - whole[-1]["loss"]) > 10 * TOLERANCE
    for x, y in zip(rows(tmp_path / "whole", "valid"), rows(tmp_path / "four", "valid")):
        assert abs(x["nats_per_token"] - y["nats_per_token"]) < TOLERANCE


def test_a_resumed_accumulating_run_follows_the_uninterrupted_one(toy_plugin, corpus,
                                                                   tiny_overrides, tmp_path):
    settings = [*tiny_overrides("toy"), "train.grad_accum=2"]
    run("toy", settings, corpus, tmp_path / "straight")
    with pytest.raises(GentextError, match="checkpoint saved at step"):
        run("toy", settings, corpus, tmp_path / "resumed", "model.interrupt_at=5")
    train(None, tmp_path / "resumed", resume=True, progress=False)
    expected = [r["loss"] for r in rows(tmp_path / "straight", "train")]
    got = [r["loss"] for r in rows(tmp_path / "resumed", "train")]
    assert len(expected) == 8 and got == pytest.approx(expected, rel=1e-6)


def test_a_batch_that_does_not_split_evenly_is_refused_before_anything_is_written(corpus,
                                                                                 tmp_path):
    with pytest.raises(GentextError, match=r"train.batch_size \(16\) must divide by "
                                           r"train.grad_accum \(3\)"):
        run("gpt", GPT, corpus, tmp_path / "r", "train.grad_accum=3")
    assert not (tmp_path / "r").exists()
    with pytest.raises(GentextError, match="train.grad_accum must be at least 1"):
        run("gpt", GPT, corpus, tmp_path / "r", "train.grad_accum=0")


def test_a_loss_tensor_cannot_be_split_into_micro_batches():

    from gentext.training.step import TrainingStep

    weight = torch.nn.Parameter(torch.ones(2))
    optimizers = {"model": torch.optim.SGD([weight], lr=0.1)}
    whole = TrainingStep(optimizers, 0.0, 10, grad_accum=1)
    whole.optimize("model", (weight ** 2).sum())  # a tensor is the whole batch: it steps
    assert torch.allclose(weight.detach(), torch.full((2,), 0.8))
    split = TrainingStep(optimizers, 0.0, 10, grad_accum=2)
    with pytest.raises(GentextError, match="gives optimize\\(\\) a loss tensor"):
        split.optimize("model", (weight ** 2).sum())


def test_each_micro_batch_holds_its_share_of_the_global_rows():

    from gentext.distributed import Ranks
    from gentext.training.step import TrainingStep

    step = TrainingStep({}, 0.0, 10, Ranks(rank=1, world=2), grad_accum=3)
    process_rows = torch.arange(1, 24, 2)  # this process's rows of a global batch of 24
    parts = list(step.micro_batches({"tokens": process_rows}))
    for part, shard, _ in parts:  # rows shard.rank, shard.rank + shard.world, ... of the batch
        assert shard.world == 6
        assert part["tokens"].tolist() == list(range(shard.rank, 24, shard.world))
    assert sorted(s.rank for _, s, _ in parts) == [1, 3, 5]


def test_a_batch_of_long_rows_is_cut_to_the_token_budget_and_weighted_by_its_tokens():

    from gentext.data.batching import collate
    from gentext.training.step import TrainingStep

    step = TrainingStep({}, 0.0, 10, grad_accum=2, micro_batch_tokens=40)
    rows = [[1] + [5] * n + [2] for n in (18, 3, 7, 2, 9, 4, 1, 6)]  # longest: 20 positions
    batch = collate(rows, 0)
    parts = list(step.micro_batches(batch))
    assert len(parts) == 4  # 2 rows of 20 fit in 40 positions: 8 rows -> 4 parts (k = 2 x 2)
    for part, shard, weight in parts:
        assert part["tokens"].numel() <= 40
        assert part["tokens"].tolist() == batch["tokens"][shard.rank :: shard.world].tolist()
        assert weight == pytest.approx(float((part["lengths"] - 1).sum())
                                       / float((batch["lengths"] - 1).sum()))
    assert sum(w for _, _, w in parts) == pytest.approx(1.0)
    assert sorted(shard.rank for _, shard, _ in parts) == [0, 1, 2, 3]


def test_a_token_budget_leaves_the_update_as_it_was(corpus, tmp_path):
    """gpt's loss is a mean per predicted token, so parts weighted by their tokens add up to
    the whole batch's loss: the runs agree to float rounding, far inside TOLERANCE."""
    run("gpt", GPT, corpus, tmp_path / "whole", "train.micro_batch_tokens=-1")
    run("gpt", GPT, corpus, tmp_path / "cut", "train.micro_batch_tokens=64")
    whole, cut = rows(tmp_path / "whole", "train"), rows(tmp_path / "cut", "train")
    assert [r["loss"] for r in cut] == pytest.approx([r["loss"] for r in whole], abs=2e-5)
    assert abs(whole[0]["loss"] - whole[-1]["loss"]) > 0.01


def test_the_automatic_token_budget_holds_on_the_cpu_only():
    from gentext.training.step import CPU_MICRO_BATCH_TOKENS, micro_batch_limit

    assert micro_batch_limit(0, "cpu") == CPU_MICRO_BATCH_TOKENS
    assert micro_batch_limit(0, "cuda") == 0 and micro_batch_limit(0, "mps") == 0
    assert micro_batch_limit(-1, "cpu") == 0 and micro_batch_limit(300, "cuda") == 300
