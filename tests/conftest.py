"""Shared fixtures: offline, a private tokenizer cache, a tiny corpus, tiny model settings,
and the CLI run in-process."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest
from typer.testing import CliRunner

from gentext.plugins import manager as plugins
from tiny_runs import NOUNS, TINY, made_up_sentences

# The run length `tiny_args` sets before a family's tiny settings, where those leave it out.
SHORT_RUN = {"gpt": ["train.steps=2", "train.eval_every=2"],
             "mdlm": ["train.steps=4", "train.eval_every=2"],
             "flow": ["train.steps=4", "train.eval_every=2"]}



@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    """Tokenizers trained by the tests go to a throw-away cache."""
    os.environ["GENTEXT_CACHE"] = str(tmp_path_factory.mktemp("gentext-cache"))


@pytest.fixture
def corpus(tmp_path):
    """A .txt file of 120 short, made-up sentences."""
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(made_up_sentences(120)) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def nouns():
    """The nouns the tiny corpus is made of (a copy)."""
    return list(NOUNS)


@pytest.fixture(scope="session")
def tiny_overrides():
    """tiny_overrides(family): a family's tiny settings (a fresh list), each one `--set` takes."""

    def overrides(family: str) -> list[str]:
        return list(TINY[family])

    return overrides


@pytest.fixture(scope="session")
def tiny_args():
    """tiny_args(family, corpus, out, *extra): the arguments of `gentext train` for a tiny run,

        train --model MODEL --data CORPUS --out OUT --quiet *OPTIONS
              --set B ... (each of BEFORE) --set T ... (each of the family's tiny settings) *EXTRA

    where MODEL is ``model`` (default: the family), OPTIONS is ``options`` (default: none) and
    BEFORE is ``before`` (default: the family's short run length, if its tiny settings leave
    the length out). A later `--set` of a key wins, so EXTRA may override anything."""

    def args(family: str, corpus, out, *extra, model: str | None = None, options=(),
             before=None) -> list:
        built = ["train", "--model", model or family, "--data", corpus, "--out", out, "--quiet",
                 *options]
        for setting in [*(SHORT_RUN.get(family, []) if before is None else before),
                        *TINY[family]]:
            built += ["--set", setting]
        return [*built, *extra]

    return args


@pytest.fixture(scope="session")
def fit():
    """fit(model, batch, steps, lr=1e-2): train ``model`` on one batch with Adam for ``steps``
    steps; return it in eval mode."""

    def train(model, batch: dict, steps: int, lr: float = 1e-2):
        import torch

        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        for _ in range(steps):
            loss = model.loss(batch)["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return model.eval()

    return train


@pytest.fixture(scope="session")
def assert_one_line_error():
    """assert_one_line_error(result, *words): the command failed with exactly one
    `gentext: error` line on stderr, containing each of ``words``, and no traceback."""

    def check(result, *words):
        assert result.exit_code != 0
        assert len(result.error_lines) == 1, result.stderr
        assert "Traceback" not in result.stderr
        for word in words:
            assert word in result.error_lines[0], result.error_lines[0]

    return check


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
def ctrl_c_during(monkeypatch):
    """ctrl_c_during(model_class, call): a context in which ``model_class.loss`` raises SIGINT
    (Ctrl-C) at its ``call``-th call, e.g. during step 4 after step 3's checkpoint."""
    import contextlib
    import signal

    @contextlib.contextmanager
    def during(model_class, call: int):
        loss, calls = model_class.loss, []

        def interrupted(self, batch):
            calls.append(1)
            if len(calls) == call:
                signal.raise_signal(signal.SIGINT)
            return loss(self, batch)

        with monkeypatch.context() as patch:
            patch.setattr(model_class, "loss", interrupted)
            yield

    return during


@pytest.fixture
def register_plugin():
    """register_plugin(plugin, name, version="unknown"): a plugin registered for this test
    only, unregistered after it."""
    names = []

    def register(plugin, name: str, version: str = "unknown"):
        plugins.register_plugin(plugin, name=name, version=version)
        names.append(name)

    yield register
    for name in names:
        plugins.plugin_manager().unregister(name=name)


@pytest.fixture
def toy_plugin(register_plugin):
    """The toy plugin registered for one test, then removed."""
    from toy_plugin import ToyPlugin

    register_plugin(ToyPlugin(), name="toy-plugin", version="9.9")


@pytest.fixture
def trained_gpt(tmp_path_factory, corpus, tiny_args):
    """A tiny gpt run trained on the tiny corpus (6 steps), GPT-2's recipe so it exports."""
    from gentext_cli.app import build_app

    out = tmp_path_factory.mktemp("runs") / "gpt"
    args = tiny_args("gpt", str(corpus), str(out), "--set", "model.arch=gpt2",
                     before=["train.steps=6", "train.eval_every=3"])
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.stderr + str(result.exception)
    return out
