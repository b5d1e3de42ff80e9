"""The model contract, stated once: every family keeps it, the base classes enforce it, and the
core names no family."""

import ast
import inspect
import textwrap
from pathlib import Path

import pytest
import torch

from gentext.models.autoregressive import AutoregressiveModel
from gentext.errors import GentextError
from gentext.models.contract import IGNORE_INDEX, SamplingOptions
from gentext.plugins.manager import get_model
from tiny_families import TINY, VOCAB, batch, tiny_model

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("gpt", "seqvae", "seqgan", "flow", "mdlm")  # built in now, or planned
def python_files(*folders):
    for folder in folders:
        yield from (ROOT / folder).rglob("*.py")


def test_the_core_and_the_cli_import_no_family_and_branch_on_no_familys_name():
    offences = []
    for path in python_files("gentext", "cli"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
                      and node.body and isinstance(node.body[0], ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gentext_") \
                    and not (node.module or "").startswith("gentext_cli"):
                offences.append(f"{path}:{node.lineno} imports {node.module}")
            elif isinstance(node, ast.Import):
                offences += [f"{path}:{node.lineno} imports {a.name}" for a in node.names
                             if a.name.startswith("gentext_") and not a.name.startswith("gentext_cli")]
            elif isinstance(node, ast.Constant) and id(node) not in docstrings \
                    and node.value in FAMILIES:
                offences.append(f"{path}:{node.lineno} names {node.value!r}")
    allowed = {ROOT / "gentext" / "__main__.py"}  # only hands over to the CLI
    assert [o for o in offences if Path(o.split(":")[0]) not in allowed] == []


def test_no_function_in_the_core_is_longer_than_80_lines():
    long = []
    for path in python_files("gentext"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if node.end_lineno - node.lineno + 1 > 80:
                    long.append(f"{path.name}:{node.name}")
    assert long == []


def test_the_ignored_target_is_written_once():
    """Teacher-forced cross-entropy lives in gentext.models.autoregressive; no family spells the
    ignored target's value (gentext.models.contract.IGNORE_INDEX) again."""
    import re

    literal = re.compile(r"(?<![\[\w])-100\b")  # not an index such as data[-100]
    here = Path(__file__).resolve()
    hits = [str(p) for p in python_files("gentext", "plugins", "examples", "tests", "bench")
            if p != here and p != ROOT / "gentext" / "models" / "contract.py"
            and literal.search(p.read_text(encoding="utf-8"))]
    assert hits == [] and IGNORE_INDEX == -100


@pytest.mark.parametrize("family", ["gpt", "seqvae", "seqgan"])
def test_autoregressive_families_subclass_the_shared_base(family):
    assert issubclass(get_model(family).model_class(), AutoregressiveModel)


def test_the_example_plugins_model_is_its_network_and_one_step():
    import sys

    sys.path.insert(0, str(ROOT / "examples" / "gentext-bigram" / "src"))
    try:
        from gentext_bigram.model import Bigram
    finally:
        sys.path.pop(0)
    source = textwrap.dedent(inspect.getsource(Bigram))
    code = [line for line in source.splitlines()
            if line.strip() and not line.strip().startswith(("#", '"""'))
            and not (line.strip().endswith('"""') and '"""' in line.strip()[:-3])]
    assert issubclass(Bigram, AutoregressiveModel) and len(code) <= 20, code
    assert {n for n in vars(Bigram) if callable(vars(Bigram)[n])} == {"__init__", "step"}


@pytest.mark.parametrize("family", list(TINY))
def test_rows_hold_the_prompt_then_at_most_max_new_tokens(family):
    model = tiny_model(family)
    prompt = [5, 6] if model.capabilities.prompt else None
    rows = model.sample(6, SamplingOptions(seed=0, temperature=1.0), max_new_tokens=4,
                        prompt=prompt)
    assert len(rows) == 6 and all(isinstance(row, list) for row in rows)
    offset = len(prompt or [])
    assert all(row[:offset] == (prompt or []) and len(row) <= offset + 4 for row in rows)
    assert all(VOCAB.eos_id not in row for row in rows)


@pytest.mark.parametrize("family", list(TINY))
def test_rows_that_may_not_stop_are_full_length(family):
    model = tiny_model(family)
    rows = model.sample(5, SamplingOptions(seed=0, temperature=1.0, stop_at_eos=False),
                        max_new_tokens=7)
    assert [len(row) for row in rows] == [7] * 5


@pytest.mark.parametrize("family", list(TINY))
def test_the_same_seed_draws_the_same_rows(family):
    model = tiny_model(family)
    draws = [model.sample(4, SamplingOptions(seed=3, temperature=1.0), max_new_tokens=6)
             for _ in range(2)]
    assert draws[0] == draws[1]


def test_what_a_model_cannot_take_is_refused_by_the_base_class():
    flow, gpt = tiny_model("flow"), tiny_model("gpt")
    with pytest.raises(GentextError, match="cannot continue a prompt"):
        flow.sample(2, max_new_tokens=3, prompt=[5])
    with pytest.raises(GentextError, match="not conditional"):
        gpt.sample(2, max_new_tokens=3, condition=0)
    with pytest.raises(GentextError, match="no sampling option 'steps'; valid: use_cache"):
        gpt.sample(2, SamplingOptions(knobs={"steps": "4"}), max_new_tokens=3)
    with pytest.raises(GentextError, match="sampling option use_cache expects true or false"):
        gpt.sample(2, SamplingOptions(knobs={"use_cache": "maybe"}), max_new_tokens=3)
    with pytest.raises(GentextError, match="temperature"):
        gpt.sample(2, SamplingOptions(temperature=-1), max_new_tokens=3)


def test_a_conditional_model_samples_the_condition_asked_for():
    model = tiny_model("seqgan")
    assert model.capabilities.condition
    with pytest.raises(GentextError, match="not a label index"):
        model.sample(2, max_new_tokens=3, condition=5)
    # the label changes what is drawn from the same noise
    rows = [model.sample(8, SamplingOptions(seed=0), max_new_tokens=6, condition=c) for c in (0, 1)]
    assert rows[0] != rows[1]


@pytest.mark.parametrize("family", ["gpt", "seqgan"])
def test_teacher_forced_nll_equals_the_sum_of_stepwise_log_probabilities(family):
    """The shared base's exact nll is what the step function says, one token at a time."""
    model = tiny_model(family)
    data = batch()
    nats, count = model.nll(data)
    expected = 0.0
    for row, length, label in zip(data["tokens"], data["lengths"], data["labels"]):
        context = label[None] if model.capabilities.condition else None
        state = model.start(1, context, SamplingOptions())
        logits, state = model.step(row[None, :1], state)
        for t in range(1, int(length)):
            expected -= torch.log_softmax(logits[0, -1].float(), -1)[row[t]].item()
            logits, state = model.step(row[None, t : t + 1], state)
    assert count == int((data["lengths"] - 1).sum())
    assert float(nats) == pytest.approx(expected, rel=1e-5)


def test_no_test_file_imports_another():
    test_modules = {p.stem for p in (ROOT / "tests").glob("test_*.py")}
    for path in (ROOT / "tests").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module] if isinstance(node, ast.ImportFrom) else [
                    a.name for a in node.names]
                assert not set(names) & (test_modules | {"conftest"}), f"{path.name} imports {names}"


def test_a_familys_own_sampling_option_reaches_it_from_gentext_sample(cli, toy_plugin, corpus,
                                                                       tmp_path):
    """The toy declares the knob "banned" (a token never drawn); `--option` carries it to the
    model with no special case in the CLI, and an undeclared knob is a one-line error."""
    from gentext.data.tokenizer import TextTokenizer

    run = tmp_path / "toy"
    trained = cli("train", "--model", "toy", "--data", corpus, "--out", run, "--quiet",
                  "--set", "data.tokenizer=char", "--set", "train.steps=30",
                  "--set", "train.eval_every=30", "--set", "train.samples=0",
                  "--set", "train.lr=0.05")
    assert trained.exit_code == 0, trained.stderr
    e = TextTokenizer.load(run / "tokenizer.json").encode("e")[0]
    free = cli("sample", run, "--n", 20, "--seed", 1)
    banned = cli("sample", run, "--n", 20, "--seed", 1, "--option", f"banned={e}")
    assert banned.exit_code == 0, banned.stderr
    assert "e" in free.stdout and "e" not in banned.stdout
    unknown = cli("sample", run, "--option", "steps=4")
    assert unknown.exit_code == 1 and len(unknown.error_lines) == 1
    assert "no sampling option 'steps'; valid: banned" in unknown.error_lines[0]


@pytest.mark.parametrize("family", list(TINY))
def test_gentext_testing_passes_for_every_built_in_family(family):
    from gentext.evaluation.contract_check import check_model

    spec = get_model(family)
    check_model(spec, spec.config(**TINY[family]))


def test_gentext_testing_passes_for_the_test_plugin(toy_plugin):
    from gentext.evaluation.contract_check import check_model

    check_model("toy")


def _planted(mistake: str):
    """The toy model with one planted mistake of those plugin authors make."""
    from toy_plugin import ToyBigram, ToyConfig

    class Planted(ToyBigram):
        def nll(self, batch, samples=None):
            nats, count = super().nll(batch)
            return (nats / count, count) if mistake == "mean" else (nats, count)

        def generate(self, n, options, max_new_tokens, prompt, condition):
            rows = super().generate(n, options, max_new_tokens, prompt, condition)
            if mistake != "padded":
                return rows
            width = max(len(r) for r in rows)
            return torch.tensor([r + [self.vocab.pad_id] * (width - len(r)) for r in rows])

    from gentext.evaluation.contract_check import VOCAB

    return Planted(ToyConfig(dropout=0.0), VOCAB)


@pytest.mark.parametrize("mistake, rule", [
    ("mean", "nll is a sum over sentences, not a mean"),
    ("padded", "returns a list of n rows"),
])
def test_gentext_testing_catches_the_plugin_authors_mistakes(mistake, rule):
    from gentext.evaluation.contract_check import ContractViolation, check_model

    with pytest.raises(ContractViolation, match=rule):
        check_model(_planted(mistake))
    check_model(_planted("none"))  # the same model without the mistake passes
