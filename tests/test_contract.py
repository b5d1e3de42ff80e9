"""The model contract, stated once: every family keeps it, the base classes enforce it, and the
core names no family."""

import ast
import inspect
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from gentext.models.autoregressive import AutoregressiveModel
from gentext.errors import GentextError
from gentext.models.contract import IGNORE_INDEX, Capabilities, SamplingOptions
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


def test_no_function_in_the_core_or_cli_is_over_60_lines_and_no_module_over_400():
    long = []
    for path in [*python_files("gentext"), *python_files("cli")]:
        source = path.read_text(encoding="utf-8")
        if source.count("\n") > 400:
            long.append(f"{path.name}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if node.end_lineno - node.lineno + 1 > 60:
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


def test_capabilities_are_abilities_and_the_rest_lives_where_it_is_used():
    """What a model can do is in Capabilities; its sampling default and build hints are class
    attributes of the model, its estimator's words the spec's. The fields 0.1.0 kept beside
    the abilities are keyword-only aliases."""
    from dataclasses import fields

    from gentext.deprecation import CAPABILITIES

    assert {f.name for f in fields(Capabilities) if not f.kw_only} == {
        "latent", "prompt", "condition", "nll_samples", "infill", "windows", "sampling_knobs"}
    assert {f.name for f in fields(Capabilities) if f.kw_only} == set(CAPABILITIES)
    gpt, mdlm, flow = tiny_model("gpt"), tiny_model("mdlm"), tiny_model("flow")
    assert gpt.compiled_modules == ("",) and gpt.fsdp_units == ("transformer.h",)
    assert mdlm.compiled_modules == mdlm.fsdp_units == ("denoiser.h",)
    assert flow.default_temperature == 0.8 and gpt.default_temperature == 1.0
    assert flow.resolve_options(SamplingOptions()).temperature == 0.8
    said = get_model("mdlm").nll_estimator_of
    assert said(get_model("mdlm").config(estimator="time")) == "the ELBO averaged over draws of t"
    assert get_model("flow").nll_estimator_of(flow.config) == "importance-weighted"


def test_a_0_1_0_familys_capabilities_still_work_each_warning_in_one_line():
    """Capabilities(default_temperature=..., compile=..., ...) works for one minor release:
    each old field warns, naming its new place, and is honoured where that is left unset."""
    import dataclasses

    from gentext.deprecation import GentextDeprecationWarning

    with pytest.warns(GentextDeprecationWarning) as caught:
        old = Capabilities(prompt=True, default_temperature=0.0, nll_estimator="words",
                           compile=("table",), fsdp_units=("table",), diagnostics=("kl",))
    said = [str(w.message) for w in caught]
    assert len(said) == 5 and all("\n" not in m and "is deprecated" in m for m in said)
    assert any("Capabilities(compile=...)" in m and "compiled_modules" in m for m in said)

    class Old(AutoregressiveModel):  # declares nothing in the new places
        capabilities = old

        def __init__(self, config, vocab):
            super().__init__(config, vocab)
            self.table = nn.Embedding(vocab.size, vocab.size)

        def step(self, inputs, state):
            return self.table(inputs), None

    class Migrated(Old):  # where the new place is set, it wins
        default_temperature, compiled_modules = 0.5, ("table", "table")

    model = Old(None, VOCAB)
    with pytest.warns(GentextDeprecationWarning):  # replace() keeps the old fields
        model.capabilities = dataclasses.replace(old, nll_samples=None)
    caps = model.capabilities
    assert model.resolve_options(SamplingOptions()).temperature == 0.0
    assert caps.honour_moved("compile", model.compiled_modules) == ("table",)
    assert caps.honour_moved("fsdp_units", model.fsdp_units) == ("table",)
    assert caps.honour_moved("nll_estimator", "importance-weighted") == "words"
    assert caps.honour_moved("diagnostics", ()) == ("kl",)
    migrated = Migrated(None, VOCAB)
    assert migrated.resolve_options(SamplingOptions()).temperature == 0.5
    assert caps.honour_moved("compile", migrated.compiled_modules) == ("table", "table")


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


@dataclass
class SumConfig:
    mistake: str = "none"  # "peeks", "forgets", "pools" or "none"


class RunningSum(AutoregressiveModel):
    """A tiny recurrent LM: the prediction after token t reads the running sum of the
    embeddings of tokens 0..t, carried between calls as the state; or, with a planted mistake,
    reads the next token too, drops its state, or subtracts the batch's mean."""

    def __init__(self, config: SumConfig, vocab):
        super().__init__(config, vocab)
        self.embed = nn.Embedding(vocab.size, 8, padding_idx=vocab.pad_id)
        self.out = nn.Linear(8, vocab.size)

    def step(self, inputs, state):
        h = self.embed(inputs)
        if self.config.mistake == "peeks":  # a non-causal step: position t reads token t+1
            h = h + torch.cat([h[:, 1:], torch.zeros_like(h[:, :1])], dim=1)
        total = h.cumsum(dim=1)
        if state is not None and self.config.mistake != "forgets":
            total = total + state[:, None]
        if self.config.mistake == "pools":  # each sentence depends on the others in its batch
            total = total - total.mean(dim=0, keepdim=True)
        return self.out(total), total[:, -1]


@pytest.mark.parametrize("mistake, rule", [
    ("peeks", "step is causal: the prediction after token 0 reads tokens 0..0 only"),
    ("forgets", "fed one token at a time with the state it returned"),
    ("pools", "nll is the same for a sentence alone and padded in a batch"),
])
def test_the_checker_fails_a_model_whose_likelihood_is_false(mistake, rule):
    """Each of these models passes the sum, count and sampling rules, and each breaks the
    likelihood: it reads the future, drops its state, or scores a sentence by its batch."""
    from gentext.evaluation.contract_check import VOCAB, ContractViolation, check_model

    with pytest.raises(ContractViolation, match=rule) as caught:
        check_model(RunningSum(SumConfig(mistake), VOCAB))
    assert "\n" not in str(caught.value)
    check_model(RunningSum(SumConfig(), VOCAB))  # the same model without the mistake passes
