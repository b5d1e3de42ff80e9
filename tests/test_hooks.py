"""Every hook has a section in docs/plugins.md and a test here named test_hook_<hook>; the
tests run the section's own example, so the documented code is the tested code."""

import inspect
import json
import re
import types
from pathlib import Path

import pytest

from gentext.plugins import hookspecs

PLUGINS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
HOOKS = sorted(name for name, f in vars(hookspecs).items()
               if inspect.isfunction(f) and hasattr(f, "gentext_spec"))


def documented_example(hook: str):
    """The first Python block of the hook's section in docs/plugins.md, run as a module."""
    text = PLUGINS_PAGE.read_text(encoding="utf-8")
    section = re.search(rf"^### {hook}\n(.*?)(?=^#)", text, re.M | re.S)
    assert section, f"docs/plugins.md has no section '### {hook}'"
    code = re.search(r"```python\n(.*?)```", section.group(1), re.S)
    assert code, f"the section of {hook} has no Python example"
    module = types.ModuleType(f"documented_{hook}")
    exec(compile(code.group(1), f"docs/plugins.md:{hook}", "exec"), module.__dict__)
    return module


@pytest.fixture
def register_documented(register_plugin):
    return lambda hook: register_plugin(documented_example(hook), name=f"docs-{hook}")


def test_every_hook_is_documented_and_tested():
    assert HOOKS == ["register_commands", "register_datasets", "register_metrics", "register_models"]
    text = PLUGINS_PAGE.read_text(encoding="utf-8")
    tests = {name for name in globals() if name.startswith("test_hook_")}
    for hook in HOOKS:
        assert f"\n### {hook}\n" in text, f"hook {hook} has no section in docs/plugins.md"
        assert f"test_hook_{hook}" in tests, f"hook {hook} has no test_hook_{hook}"


def test_hook_register_models(register_documented, cli, corpus, tmp_path, tiny_args):
    register_documented("register_models")
    listed = cli("models", "--json")
    assert "my-gpt" in {row["name"] for row in json.loads(listed.stdout)}
    args = tiny_args("gpt", corpus, tmp_path / "run", model="my-gpt", before=["train.steps=2"])
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    assert cli("sample", tmp_path / "run", "--n", "2").exit_code == 0


def test_hook_register_datasets(register_documented):
    from gentext.config import DataConfig
    from gentext.data.pipeline import load_splits

    register_documented("register_datasets")
    splits = load_splits(DataConfig(source="greetings", valid_fraction=0.34, test_fraction=0.34))
    texts = sorted(e["text"] for part in (splits.train, splits.valid, splits.test) for e in part)
    assert texts == ["Good day.", "Hello.", "Hi there."]


def test_hook_register_metrics(register_documented, cli, trained_gpt):
    register_documented("register_metrics")
    result = cli("eval", trained_gpt, "--n", "4", "--json")
    assert result.exit_code == 0, result.stderr
    value = json.loads(result.stdout)["sample_metrics"]["question-rate"]
    assert 0.0 <= value <= 1.0


def test_hook_register_commands(register_documented, cli):
    register_documented("register_commands")
    result = cli("hello", "--name", "reader")
    assert result.exit_code == 0 and result.stdout.strip() == "hello, reader"
