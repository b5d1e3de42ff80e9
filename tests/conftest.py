"""Shared fixtures: offline, a private tokenizer cache, a tiny corpus, tiny model settings,
and the CLI run in-process."""

import os
import random

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest
from typer.testing import CliRunner

from gentext import plugins

# A 1-layer, 32-wide GPT: trains a few steps in well under a second.
TINY_GPT = ["model.n_layer=1", "model.n_head=2", "model.n_embd=32", "model.block_size=64",
            "data.max_len=64", "data.vocab_size=300", "train.batch_size=8",
            "train.warmup_steps=2", "train.log_every=1", "train.samples=2"]

NOUNS = ["Emma", "Harriet", "the letter", "Mr. Knightley", "the carriage", "her sister"]
VERBS = ["saw", "wrote to", "admired", "forgot", "answered", "waited for"]


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    """Tokenizers trained by the tests go to a throw-away cache."""
    os.environ["GENTEXT_CACHE"] = str(tmp_path_factory.mktemp("gentext-cache"))


@pytest.fixture
def corpus(tmp_path):
    """A .txt file of 120 short, made-up sentences."""
    rng = random.Random(0)
    lines = [f"{rng.choice(NOUNS)} {rng.choice(VERBS)} {rng.choice(NOUNS).lower()}."
             for _ in range(120)]
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def fit(model, batch: dict, steps: int, lr: float = 1e-2):
    """Train ``model`` on one batch with Adam for ``steps`` steps; return it in eval mode."""
    import torch

    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = model.loss(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


class Result:
    def __init__(self, result):
        self.exit_code, self.stdout, self.stderr = result.exit_code, result.stdout, result.stderr
        self.exception = result.exception

    @property
    def error_lines(self):
        return [line for line in self.stderr.splitlines() if line.startswith("gentext: error")]


@pytest.fixture
def cli():
    """Run `gentext ARGS...` in-process; returns exit code, stdout and stderr."""
    from gentext_cli.app import build_app

    runner = CliRunner()

    def run(*args):
        result = runner.invoke(build_app(), [str(a) for a in args])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Result(result)

    return run


@pytest.fixture
def toy_plugin():
    """The toy plugin registered for one test, then removed."""
    from toy_plugin import ToyPlugin

    plugins.register_plugin(ToyPlugin(), name="toy-plugin", version="9.9")
    yield
    plugins.unregister_plugin("toy-plugin")


@pytest.fixture
def trained_gpt(tmp_path_factory, corpus):
    """A tiny gpt run trained on the tiny corpus (6 steps)."""
    from gentext_cli.app import build_app

    out = tmp_path_factory.mktemp("runs") / "gpt"
    args = ["train", "--model", "gpt", "--data", str(corpus), "--out", str(out), "--quiet",
            "--set", "train.steps=6", "--set", "train.eval_every=3"]
    for override in TINY_GPT:
        args += ["--set", override]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.stderr + str(result.exception)
    return out
