"""train.compile for real: inductor runs on the CPU, so each family that names a hot path is
compiled as on a GPU, trained on batches of varying shape, evaluated and sampled, and the
graphs Dynamo made are counted (a recompile per shape would reach Dynamo's limit on a GPU
and fall back to eager without a word)."""

import random

import pytest
import torch

from tiny_families import TINY, tiny_model

from gentext.data.batching import collate
from gentext.models.contract import SamplingOptions
from gentext.training.compiling import compile_hot_path

COMPILED = [family for family in TINY if tiny_model(family).compiled_modules]  # a hot path named
MOST_GRAPHS = 2  # per compiled module (each makes one today): a recompile per shape fails


def batches(count: int):
    """Batches of 3 to 5 rows of 1 to 11 tokens between <bos> and <eos>: every shape varies."""
    rng = random.Random(0)
    for _ in range(count):
        rows = [[1, *(rng.randrange(4, 40) for _ in range(rng.randrange(1, 12))), 2]
                for _ in range(rng.choice([3, 4, 5]))]
        batch = collate(rows, pad_id=0)
        batch["labels"] = torch.zeros(len(rows), dtype=torch.long)
        yield batch


def test_the_families_that_compile_are_the_ones_measured():
    assert COMPILED == ["gpt", "mdlm"]


@pytest.mark.parametrize("family", COMPILED)
def test_compiled_training_does_not_recompile_and_evaluation_and_sampling_run_eagerly(family):
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    model = tiny_model(family).train()
    names = compile_hot_path(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for batch in batches(5):
        model.loss(batch)["loss"].backward()
        optimizer.step()
        optimizer.zero_grad()
    trained = counters["stats"]["unique_graphs"]
    assert 1 <= trained <= MOST_GRAPHS * len(names), dict(counters["stats"])  # a ModuleList
    # of blocks is one name: one graph serves every block
    model.eval()
    for batch in batches(3):
        model.nll(batch)
    model.sample(3, SamplingOptions(seed=0), max_new_tokens=12)
    assert counters["stats"]["unique_graphs"] == trained  # nothing compiled outside training


@pytest.mark.parametrize("family", COMPILED)
def test_compiled_training_gives_the_eager_loss(family):
    eager, compiled = tiny_model(family).train(), tiny_model(family).train()
    compile_hot_path(compiled)
    batch = next(batches(1))
    losses = []
    for model in (eager, compiled):
        torch.manual_seed(0)  # the same draws (mdlm's masks)
        losses.append(float(model.loss(batch)["loss"]))
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
