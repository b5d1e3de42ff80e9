"""The layout holds: families import gentext only through gentext.api, each part of the core
imports only what its docstring's "May import:" line names, and the public API changes only on
purpose (with an alias for an old spelling)."""

import ast
import importlib
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gentext"
# The entry layer: the package itself, its public module, the aliases of old spellings and the
# core's own plugin may import any part.
ENTRY = {"__init__", "__main__", "api", "deprecation", "builtin"}

# The names a plugin may import. Changing this list changes the plugin API: add a name when a
# family needs it; when one moves or is renamed, keep the old one in gentext.deprecation.
PUBLIC = [
    "ACTIVATIONS", "AutoregressiveModel", "Block", "Capabilities", "ContractViolation",
    "CountedLengthPrior", "DatasetSpec", "FamilyRecipe", "GentextError", "IGNORE_INDEX",
    "LengthPrior", "MetricSpec", "ModelSpec", "NORMS", "SamplingOptions", "Shard", "StepContext",
    "TextModel", "TextTokenizer", "TransformerConfig", "Vocab", "WHOLE_MODEL", "active_units",
    "adamw", "build_config", "hub_model_folder", "check_stack_config", "stack_blocks",
    "zero_init_projections", "muon_for_blocks", "check_choice", "check_model", "distinct_n", "draw_tokens",
    "filter_logits", "finished_check_every", "float32", "gaussian_kl", "hookimpl",
    "importance_weighted_bound", "init_gpt2_weights", "load_run", "log_normal", "mean_words",
    "muon_with_adamw", "mutual_information", "norm_layer", "register_rotary_tables", "self_bleu",
    "shifted_targets", "trim_at_eos", "warmup_cosine", "write_run",
]


def gentext_imports(path: Path) -> set[str]:
    """Every gentext module ``path`` imports, at any depth (lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "gentext":
                found.update(f"gentext.{alias.name}" for alias in node.names)
            elif node.module.startswith("gentext."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("gentext."))
    return found


def part_of(module: str) -> str:
    """The part of the core a module belongs to: its subpackage, or itself at the top."""
    return ".".join(module.split(".")[:2])


def may_import(part: Path) -> set[str]:
    """The parts named by the "May import:" line of a module's or a subpackage's docstring."""
    source = part / "__init__.py" if part.is_dir() else part
    doc = ast.get_docstring(ast.parse(source.read_text(encoding="utf-8"))) or ""
    line = re.search(r"May import:(.*?)(?:\n\n|$)", doc, re.S)
    assert line, f"{source.relative_to(ROOT)}'s docstring has no 'May import:' line"
    names = [item.split()[0] for item in line.group(1).replace("\n", " ").split(",") if item.strip()]
    return {name for name in names if name != "nothing"}  # "name (why)" keeps the name


def parts() -> list[Path]:
    return sorted(p for p in PACKAGE.iterdir() if (p.is_dir() and (p / "__init__.py").exists())
                  or (p.suffix == ".py" and p.stem not in ENTRY))


@pytest.mark.parametrize("part", parts(), ids=lambda p: p.name)
def test_each_part_imports_only_what_its_docstring_allows(part):
    name = f"gentext.{part.stem}"
    allowed = may_import(part) | {name}
    files = sorted(part.rglob("*.py")) if part.is_dir() else [part]
    wrong = {f"{f.relative_to(ROOT)} imports {module}" for f in files
             for module in gentext_imports(f) if part_of(module) not in allowed}
    assert not wrong, sorted(wrong)


def test_the_parts_import_each_other_without_a_cycle():
    """Read as a graph, the "May import:" lines never lead back: the core has floors."""
    graph = {f"gentext.{p.stem}": may_import(p) for p in parts()}

    def reaches(start: str, seen: tuple = ()) -> None:
        assert start not in seen, f"import cycle: {' -> '.join(seen + (start,))}"
        for nxt in graph.get(start, ()):
            reaches(nxt, seen + (start,))

    for start in graph:
        reaches(start)


def family_files() -> list[Path]:
    return sorted([*ROOT.glob("plugins/*/**/*.py"), *ROOT.glob("examples/*/src/**/*.py")])


def test_families_import_gentext_only_through_its_public_module():
    wrong = {f"{f.relative_to(ROOT)} imports {module}" for f in family_files()
             for module in gentext_imports(f) if module != "gentext.api"}
    assert family_files() and not wrong, sorted(wrong)


def test_the_public_api_is_the_list_held_here():
    api = importlib.import_module("gentext.api")
    assert sorted(api.__all__) == sorted(PUBLIC)
    for name in api.__all__:
        assert getattr(api, name) is not None


def test_the_api_reference_shows_every_public_name():
    reference = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    missing = [name for name in PUBLIC if not re.search(rf"\b{name}\b", reference)]
    assert not missing


def test_importing_the_public_module_does_not_import_torch():
    """A plugin's registration module imports hookimpl and ModelSpec from gentext.api and must
    stay light: `gentext models` lists families without torch."""
    code = ("import sys; from gentext.api import ModelSpec, hookimpl, GentextError, build_config; "
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_an_unknown_public_name_is_an_attribute_error_naming_it():
    api = importlib.import_module("gentext.api")
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        api.nothing_here  # noqa: B018


# 0.1.0's spellings: each still works for one minor release and warns in one line.

def test_a_0_1_0_plugin_importing_next_token_from_gentext_model_still_draws(monkeypatch):
    import torch

    from gentext.deprecation import GentextDeprecationWarning

    monkeypatch.delitem(sys.modules, "gentext.model", raising=False)
    with pytest.warns(GentextDeprecationWarning) as caught:
        from gentext.model import next_token
    logits = torch.tensor([[0.0, 5.0, 1.0], [3.0, 0.0, 0.0]])
    assert next_token(logits, 0, 0, 1.0, None).tolist() == [1, 0]  # greedy
    messages = [str(w.message) for w in caught]
    assert any("gentext.model is deprecated" in m and "gentext.api" in m for m in messages)
    assert any("next_token is deprecated" in m and "draw_tokens" in m for m in messages)
    assert all("\n" not in m for m in messages)


@pytest.mark.parametrize("old, new", [("gentext.checkpoint", "gentext.runs.checkpoint"),
                                      ("gentext.specs", "gentext.plugins.specs"),
                                      ("gentext.testing", "gentext.evaluation.contract_check")])
def test_a_0_1_0_module_path_gives_its_new_home_with_a_warning(monkeypatch, old, new):
    from gentext.deprecation import GentextDeprecationWarning

    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(GentextDeprecationWarning, match=f"{old} is deprecated"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)


def test_the_0_1_0_plugin_manager_names_still_resolve_with_a_warning():
    import gentext.plugins
    from gentext.deprecation import GentextDeprecationWarning
    from gentext.plugins.manager import get_model

    with pytest.warns(GentextDeprecationWarning, match="gentext.plugins.manager.get_model"):
        assert gentext.plugins.get_model is get_model
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from gentext.plugins import specs  # a submodule is a submodule, no warning
    assert specs.ModelSpec


def test_no_module_outside_the_aliases_names_an_old_path():
    """The moved modules are gone from the tree: only gentext.deprecation spells them."""
    from gentext.deprecation import MOVED

    assert not [old for old in MOVED if (ROOT / (old.replace(".", "/") + ".py")).exists()]
