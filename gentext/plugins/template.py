"""`gentext new-plugin NAME`: a working plugin package to start from, as simonw/llm's
llm-plugin and datasette-plugin templates give their authors.

The package registers a model (a GRU language model on the autoregressive base), a dataset,
a metric and a command, and its test calls ``gentext.evaluation.contract_check.check_model``: it pip-installs,
trains and passes its own test as written.
"""

from __future__ import annotations

import re
from pathlib import Path

from gentext.errors import GentextError

PLUGIN_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "gentext-{name}"
version = "0.1.0"
description = "The {name} model family for gentext."
requires-python = ">=3.10"
dependencies = ["gentext"]

[project.optional-dependencies]
test = ["pytest"]

# This entry point is what makes the package a gentext plugin.
[project.entry-points.gentext]
{package} = "{package}"

[tool.setuptools.packages.find]
where = ["src"]
'''

README = '''\
# gentext-{name}

The `{name}` model family for gentext, a toolkit of generative models of text.

```bash
pip install -e '.[test]'
gentext models                                   # lists "{name}"
gentext train --model {name} --out runs/{name}
gentext sample runs/{name} --n 5
gentext {name}-info runs/{name}
python -m pytest tests
```
'''

INIT = '''\
"""gentext-{name}: registers the model "{name}", the dataset "{name}-greetings", the metric
"{name}-questions" and the command `gentext {name}-info`.

gentext imports this module to list models, so it stays free of torch: the model class is
named by an import string and imported only to train.
"""

from gentext.plugins.hookspecs import hookimpl
from gentext.plugins.specs import DatasetSpec, MetricSpec, ModelSpec
from {package}.config import {cls}Config

__version__ = "0.1.0"


@hookimpl
def register_models(register):
    register(ModelSpec(
        name="{name}",
        description="a GRU language model (the gentext plugin template)",
        config={cls}Config,
        model="{package}.model:{cls}",
        likelihood="exact",  # an autoregressive model: its nll is exact
        train_defaults={{"steps": 200, "lr": 0.01}},  # your family's preferred [train] settings
    ))


@hookimpl
def register_datasets(register):
    register(DatasetSpec(
        name="{name}-greetings",
        description="a handful of greetings (replace with your corpus)",
        load=lambda: [{{"text": t}} for t in GREETINGS],
    ))


@hookimpl
def register_metrics(register):
    register(MetricSpec(
        name="{name}-questions",
        description="share of samples ending in '?'",
        compute=lambda samples, references: sum(s.endswith("?") for s in samples) / len(samples),
        references="test",
        higher_is_better=None,
    ))


@hookimpl
def register_commands(app):
    from {package}.command import info

    app.command("{name}-info")(info)


GREETINGS = ["Hello there.", "Good morning!", "How do you do?", "Nice to meet you.",
             "Good evening.", "How are you today?", "Welcome back.", "Hi!"] * 8
'''

CONFIG = '''\
"""The {name} model's settings: a dataclass with a default for every field. Its fields are
the [model] section of a run's config.toml, and `--set model.hidden=128` changes one."""

from dataclasses import dataclass


@dataclass
class {cls}Config:
    hidden: int = 64  # width of the embeddings and the GRU
'''

MODEL = '''\
"""The {name} model: a GRU language model. Its likelihood factorises left to right, so it
subclasses gentext's autoregressive base and writes one step function; the base gives it the
training loss, the exact nll and sampling."""

from torch import nn

from gentext.models.autoregressive import AutoregressiveModel


class {cls}(AutoregressiveModel):
    """p(x_t | x_<t) from a GRU over the tokens so far."""

    def __init__(self, config, vocab):
        super().__init__(config, vocab)
        self.embedding = nn.Embedding(vocab.size, config.hidden)
        self.rnn = nn.GRU(config.hidden, config.hidden, batch_first=True)
        self.head = nn.Linear(config.hidden, vocab.size)

    def step(self, inputs, state):
        """Next-token logits (B, T, V) after each of ``inputs`` (B, T); the state is the GRU's."""
        outputs, state = self.rnn(self.embedding(inputs), state)
        return self.head(outputs), state
'''

COMMAND = '''\
"""`gentext {name}-info RUN`: what a {name} run holds."""

from pathlib import Path

import typer

from gentext.errors import GentextError


def info(run: Path = typer.Argument(..., metavar="RUN", help="A {name} run directory.")):
    """Print a {name} run's size and settings."""
    from gentext.runs.checkpoint import load_run

    loaded = load_run(run)
    if loaded.spec.name != "{name}":
        raise GentextError(f"{{str(run)!r}} is a {{loaded.spec.name!r}} run, not a {name} run")
    typer.echo(f"{{loaded.model.num_parameters():,}} parameters, hidden {{loaded.config.model.hidden}}, "
               f"step {{loaded.meta.get('step')}}")
'''

TEST = '''\
"""The plugin's own tests: gentext's contract checker, then the plugin through the CLI."""

from typer.testing import CliRunner

from gentext.evaluation.contract_check import check_model


def test_the_model_keeps_gentexts_contract():
    check_model("{name}")


def test_the_plugin_registers_its_model_dataset_and_metric():
    from gentext_cli.app import build_app

    runner, app = CliRunner(), build_app()
    assert "{name}" in runner.invoke(app, ["models"]).stdout
    assert "{name}-greetings" in runner.invoke(app, ["datasets"]).stdout
    assert "{name}-questions" in runner.invoke(app, ["metrics"]).stdout
'''

FILES = {
    "pyproject.toml": PYPROJECT,
    "README.md": README,
    "src/{package}/__init__.py": INIT,
    "src/{package}/config.py": CONFIG,
    "src/{package}/model.py": MODEL,
    "src/{package}/command.py": COMMAND,
    "tests/test_{package}.py": TEST,
}


def write_plugin(name: str, out: Path) -> list[Path]:
    """Write the package of plugin ``name`` into folder ``out`` (which must not exist yet)."""
    if not PLUGIN_NAME.fullmatch(name):
        raise GentextError(f"plugin name {name!r} must be lower-case letters and digits, words "
                           "joined by '-' or '_' (e.g. charrnn or char-rnn)")
    out = Path(out)
    if out.exists():
        raise GentextError(f"{str(out)!r} already exists; choose another --out")
    package = "gentext_" + name.replace("-", "_")
    cls = "".join(part.capitalize() for part in re.split(r"[-_]", name))
    written = []
    for path, text in FILES.items():
        target = out / path.format(package=package)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text.format(name=name, package=package, cls=cls), encoding="utf-8")
        written.append(target)
    return written
