"""The docs are tested like code: the CLI reference matches the app, every code block in the
docs and README runs (Python), parses (TOML configs against the config dataclasses) or
names real commands and options (shell), and the site builds in strict mode, offline."""

import re
import shlex
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
SNIPPET = re.compile(r'^--8<-- "([^"]+)"$')
# commands of other tools the docs may show; each is checked to exist where it can be
OTHER_TOOLS = {"python", "python3", "pip", "make", "mkdocs", "accelerate", "torchrun", "cd", "rm",
               "git", "export", "HF_HUB_OFFLINE=1", "tensorboard"}


def blocks(language: str):
    for page in PAGES:
        for match in FENCE.finditer(page.read_text(encoding="utf-8")):
            if match.group(1) == language:
                line = page.read_text(encoding="utf-8")[: match.start()].count("\n") + 1
                yield pytest.param(match.group(2), id=f"{page.name}:{line}")


FILE_COPY = re.compile(r"^# file: (\S+)\n")


def included(code: str) -> list[str] | None:
    """The files a snippet-include block pulls in (None when the block is plain code)."""
    lines = [line for line in code.splitlines() if line.strip()]
    paths = [SNIPPET.match(line) for line in lines]
    return [m.group(1) for m in paths] if lines and all(paths) else None


def test_file_copies_in_the_docs_equal_the_files():
    """A block that starts `# file: PATH` shows that file whole (so the page reads as raw
    markdown too); it must be the file as it is."""
    copies = 0
    for page in PAGES:
        for match in FENCE.finditer(page.read_text(encoding="utf-8")):
            named = FILE_COPY.match(match.group(2))
            if named:
                copies += 1
                shown = match.group(2)[named.end():]
                assert shown == (ROOT / named.group(1)).read_text(encoding="utf-8"), \
                    f"{page.name}: the copy of {named.group(1)} is stale"
    assert copies >= 6


def test_cli_reference_page_is_generated_from_the_app():
    from gentext_cli.app import app
    from gentext_cli.reference import render

    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == render(app), \
        "docs/cli.md is stale: run `python -m gentext_cli.reference > docs/cli.md`"


def test_config_reference_page_is_generated_from_the_dataclasses():
    from gentext_cli.config_reference import render

    assert (ROOT / "docs" / "config.md").read_text(encoding="utf-8") == render(), \
        "docs/config.md is stale: run `python -m gentext_cli.config_reference > docs/config.md`"
    text = render()
    from dataclasses import fields

    from gentext.config import DataConfig, TrainConfig

    for section in (DataConfig, TrainConfig):  # every key, each with a meaning
        for field in fields(section):
            row = next(line for line in text.splitlines() if line.startswith(f"| `{field.name}` "))
            assert not row.endswith("|  |"), f"{field.name} has no comment in its dataclass"


@pytest.fixture
def docs_runs(tmp_path, trained_gpt, cli):
    """A working folder holding the runs the docs' examples name: runs/gpt and runs/gpt2 (a
    tiny trained gpt, GPT-2's recipe) and runs/gpt2-hf (its transformers export)."""
    for name in ("gpt", "gpt2"):
        shutil.copytree(trained_gpt, tmp_path / "runs" / name)
    assert cli("export", tmp_path / "runs" / "gpt2", tmp_path / "runs" / "gpt2-hf").exit_code == 0
    return tmp_path


@pytest.fixture
def docs_mdlm_runs(docs_runs, cli, corpus, tiny_args):
    """``docs_runs`` and runs/mdlm, a tiny trained mdlm."""
    trained = cli(*tiny_args("mdlm", corpus, docs_runs / "runs" / "mdlm"))
    assert trained.exit_code == 0, trained.stderr
    return docs_runs


@pytest.mark.parametrize("code", list(blocks("python")))
def test_python_blocks_run(code, request, monkeypatch):
    paths = included(code)
    if paths is not None or FILE_COPY.match(code):
        assert all((ROOT / p).is_file() for p in paths or []), paths  # its own tests run it
        return
    folder = ("docs_mdlm_runs" if "runs/mdlm" in code else "docs_runs" if "runs/" in code
              else "tmp_path")
    monkeypatch.chdir(request.getfixturevalue(folder))
    exec(compile(code, "<docs>", "exec"), {"__name__": "docs_block"})


@pytest.mark.parametrize("code", list(blocks("toml")))
def test_toml_blocks_parse_and_configs_are_valid(code):
    from gentext.config import build_config
    from gentext.plugins.manager import get_model

    paths = included(code)
    text = "\n".join((ROOT / p).read_text(encoding="utf-8") for p in paths) if paths else code
    if FILE_COPY.match(text):
        text = text[FILE_COPY.match(text).end():]
    table = tomllib.loads(text)
    if "run" in table:  # a run config: every key and value must be one gentext accepts
        spec = get_model(table["run"]["model"])
        build_config(spec.name, spec.config, table, [], spec.train_defaults, spec.data_defaults)


def shell_commands(code: str):
    """Each command line of a shell block, comments and line continuations removed."""
    joined = re.sub(r"\\\n\s*", " ", code)
    for line in joined.splitlines():
        line = line.split(" # ")[0].strip()
        if line and not line.startswith("#"):
            for part in re.split(r"\s*(?:&&|\|\||;|\|)\s*", line):
                if part:
                    yield shlex.split(part, comments=True)


def check_gentext_line(words: list[str]) -> None:
    """Parse a `gentext ...` line with the command's own parser, without running it."""
    from gentext_cli.app import build_app
    import typer

    group = typer.main.get_command(build_app())
    if words[1:2] in ([], ["--help"], ["-h"], ["--version"]):
        return
    name, arguments = words[1], words[2:]
    assert name in group.commands, f"no command `gentext {name}`"
    command = group.commands[name]
    if "--help" in arguments:
        return
    command.make_context(f"gentext {name}", list(arguments), resilient_parsing=False)


def check_other_line(words: list[str]) -> None:
    tool = words[0]
    if tool.endswith("/gentext") or tool == "gentext":
        return check_gentext_line(["gentext", *words[1:]])
    assert tool in OTHER_TOOLS or tool.startswith((".venv/", "./", "bench/")), f"unknown tool {tool}"
    if tool in ("torchrun", "accelerate", "python", "python3") and "gentext" in words:
        at = words.index("gentext")  # a launcher running `-m gentext ...`
        if words[at - 1] == "-m":
            return check_gentext_line(words[at:])
    if tool in ("python", "python3") or tool.endswith("/python"):
        if len(words) > 1 and words[1].endswith(".py"):
            assert (ROOT / words[1]).is_file(), f"{words[1]} does not exist"
        if words[1:3] == ["-m", "gentext"] or words[1:3] == ["-m", "gentext_cli.reference"]:
            return
    if tool == "make":
        makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
        for target in words[1:]:
            assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"no make target {target}"


@pytest.fixture
def example_plugin(monkeypatch, register_plugin):
    """examples/gentext-bigram loaded in-process, so lines using its commands parse too."""
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "gentext-bigram" / "src"))
    import gentext_bigram

    register_plugin(gentext_bigram, name="gentext_bigram")


SHELL = [p for language in ("bash", "sh", "console") for p in blocks(language)]
INLINE = re.compile(r"(?<!`)`((?:gentext |python bench/)[^`]*)`(?!`)")


def inline_commands():
    """Commands quoted in the prose (`gentext ...`, `python bench/...`), checked like blocks."""
    for page in PAGES:
        text = FENCE.sub("", page.read_text(encoding="utf-8"))
        for match in INLINE.finditer(text):
            command = " ".join(match.group(1).split())
            yield pytest.param(command, id=f"{page.name}:{command[:40]}")


@pytest.mark.parametrize("command", list(inline_commands()))
def test_commands_quoted_in_prose_exist_with_their_options(command, example_plugin):
    """A quoted command may leave out its arguments; its command and options must exist."""
    import typer

    from gentext_cli.app import build_app

    words = shlex.split(command)
    if words[0] == "python":
        return check_other_line(words)
    group = typer.main.get_command(build_app())
    if words[1].startswith("-"):
        assert words[1] in ("--help", "-h", "--version"), f"gentext has no option {words[1]}"
        return
    assert words[1] in group.commands, f"no command `gentext {words[1]}`"
    known = {name for param in group.commands[words[1]].params
             for name in (*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ()))}
    for word in words[2:]:
        if word.startswith("-") and not re.fullmatch(r"-?[\d.]+", word):
            assert word.split("=")[0] in known, f"`gentext {words[1]}` has no option {word}"


BENCH_LINES = SHELL + [pytest.param(c.values[0]) for c in inline_commands()]


@pytest.mark.parametrize("code", SHELL)
def test_shell_blocks_name_real_commands_and_options(code, example_plugin):
    for words in shell_commands(code):
        words = [w for w in words if not re.fullmatch(r"[A-Z_]+=\S*", w)]  # VAR=value prefixes
        if not words or words[0].startswith(("runs/", "examples/", "docs/", "gentext/")):
            continue  # a directory listing, not a command
        check_other_line(words)


def test_bench_scripts_in_the_docs_accept_their_options():
    """Every `python bench/x.py --opt` line in the docs names options the script has."""
    seen = 0
    for param in BENCH_LINES:
        for words in shell_commands(param.values[0]):
            if len(words) > 1 and words[0].startswith("python") and words[1].startswith("bench/"):
                result = subprocess.run([sys.executable, str(ROOT / words[1]), "--help"],
                                        capture_output=True, text=True, timeout=120)
                assert result.returncode == 0, result.stderr
                for option in (w.split("=")[0] for w in words[2:] if w.startswith("--")):
                    assert option in result.stdout, f"{words[1]} has no option {option}"
                seen += 1
    assert seen > 0


def test_site_builds_strictly_offline(tmp_path):
    """mkdocs and its theme come with requirements.txt ([docs] extra): never skipped."""
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                             "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "cli" / "index.html").is_file()
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "fonts.googleapis" not in html and "fonts.gstatic" not in html
    # special tokens (in docstrings, help texts, pages) render as text, never as swallowed
    # HTML tags: the API page shows them, and no page holds one as a raw tag
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    for special in ("<bos>", "<eos>", "<pad>"):
        assert special.replace("<", "&lt;").replace(">", "&gt;") in api, special
    assert "sampling_knobs" in api and "stop_at_eos" in api  # the contract's fields, rendered
    for page in (tmp_path / "site").rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"<(bos|eos|pad|unk|mask)>", text), f"{page.name} swallows a special"
