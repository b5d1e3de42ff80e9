"""One word a concept on the command line: `--n` counts samples on every command, a family's
own options go through `--option`, and the old spellings work for one release, hidden from
--help, each saying so in exactly one line. Every option is checked before a model loads."""

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# (command, the old spelling, the new one), as each warning names them
OLD_SPELLINGS = [("eval", "--samples", "--n"), ("compare", "--samples", "--n"),
                 ("sample", "--steps", "--option steps="), ("infill", "--steps", "--option steps="),
                 ("interpolate", "--steps", "--points")]


def warning_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("gentext: warning")]


def assert_one_deprecation(result, old: str, new: str) -> None:
    """The command ran and said, in exactly one line and nothing more, what to use instead."""
    assert result.exit_code == 0, result.stderr
    assert warning_lines(result) == [f"gentext: warning: {old} is deprecated and goes in "
                                     f"gentext 0.3: use {new}"], result.stderr
    assert "FutureWarning" not in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def mdlm_run(cli, corpus, tmp_path, tiny_args):
    trained = cli(*tiny_args("mdlm", corpus, tmp_path / "mdlm"))
    assert trained.exit_code == 0, trained.stderr
    return tmp_path / "mdlm"


def test_eval_counts_samples_with_n_and_samples_still_works_with_one_warning(cli, trained_gpt):
    new = cli("eval", trained_gpt, "--json", "--n", 3)
    assert new.exit_code == 0 and not warning_lines(new), new.stderr
    old = cli("eval", trained_gpt, "--json", "--samples", 3)
    assert_one_deprecation(old, "--samples", "--n")
    assert json.loads(old.stdout) == json.loads(new.stdout)
    assert json.loads(new.stdout)["sample_metrics"]


def test_compare_counts_samples_with_n_and_samples_still_works(cli, trained_gpt):
    new = json.loads(cli("compare", trained_gpt, "--n", 4, "--json").stdout)
    old = cli("compare", trained_gpt, "--samples", 4, "--json")
    assert_one_deprecation(old, "--samples", "--n")
    figures = [{k: v for k, v in row.items() if k != "sentences_per_s"}  # a timing
               for row in (new[0], json.loads(old.stdout)[0])]
    assert figures[0] == figures[1] and figures[0]["samples"] == 4


def test_compare_temperatures_sweeps_as_sweep_did(cli, trained_gpt, tmp_path):
    """`compare --temperatures` holds the sweep: the same figures as the deprecated `sweep`."""
    result = cli("compare", trained_gpt, "--n", 6, "--temperatures", "0.5,1.5", "--json")
    assert result.exit_code == 0, result.stderr
    swept = json.loads(result.stdout)[0]["sweep"]
    assert [row["temperature"] for row in swept] == [0.5, 1.5]
    old = cli("sweep", trained_gpt, "--temperatures", "0.5,1.5", "-n", 6, "--json")
    assert_one_deprecation(old, "gentext sweep", "gentext compare --temperatures")
    assert json.loads(old.stdout) == swept
    table = cli("compare", trained_gpt, "--n", 6, "--temperatures", "0.5,1.5").stdout
    assert "| self-BLEU-4 |" in table and "6 samples per run and temperature" in table
    assert "sweep" not in json.loads(cli("compare", trained_gpt, "--n", 6, "--json").stdout)[0]


def test_family_options_go_through_option_and_steps_still_works(cli, mdlm_run):
    new = cli("sample", mdlm_run, "--n", 3, "--option", "steps=4", "--seed", 1)
    assert new.exit_code == 0 and not warning_lines(new), new.stderr
    old = cli("sample", mdlm_run, "--n", 3, "--steps", 4, "--seed", 1)
    assert_one_deprecation(old, "--steps", "--option steps=4")
    assert old.stdout == new.stdout
    text = "Emma ___2 the letter"
    new = cli("infill", mdlm_run, text, "--n", 2, "--option", "steps=4")
    old = cli("infill", mdlm_run, text, "--n", 2, "--steps", 4)
    assert_one_deprecation(old, "--steps", "--option steps=4")
    assert old.stdout == new.stdout


def test_interpolate_counts_points_and_steps_still_works(cli, corpus, tmp_path, tiny_args):
    assert cli(*tiny_args("flow", corpus, tmp_path / "flow")).exit_code == 0
    ends = ("Emma saw the letter.", "Harriet forgot.")
    new = cli("interpolate", tmp_path / "flow", *ends, "--points", 3, "--json")
    old = cli("interpolate", tmp_path / "flow", *ends, "--steps", 3, "--json")
    assert_one_deprecation(old, "--steps", "--points")
    assert old.stdout == new.stdout and len(json.loads(new.stdout)) == 3


@pytest.mark.parametrize("command,old,new", OLD_SPELLINGS)
def test_old_spellings_are_hidden_from_help(cli, command, old, new):
    shown = cli(command, "--help").stdout
    assert old not in shown and new.split()[0] in shown


def test_sweep_is_hidden_from_help_and_the_reference():
    from gentext_cli.app import app, build_app
    from gentext_cli.reference import render

    from typer.testing import CliRunner

    listed = CliRunner().invoke(build_app(), ["--help"]).stdout
    assert "compare" in listed and "sweep" not in listed
    page = render(app)
    assert "gentext sweep" not in page and "--samples" not in page
    assert "--steps" not in page.split("## gentext sample")[1].split("## gentext eval")[0]


def test_the_docs_readme_makefile_and_scripts_use_no_old_spelling():
    """An old spelling still parses (so the docs' own checks would pass it): look for each."""
    import typer

    from gentext_cli.app import build_app

    group = typer.main.get_command(build_app())
    texts = [*(ROOT / "docs").glob("*.md"), ROOT / "README.md", ROOT / "Makefile",
             *(ROOT / "bench").glob("*.py"), *(ROOT / "dev").glob("*.py")]
    for path in texts:
        for match in re.finditer(r"\bgentext ([a-z][a-z-]*)([^`\n#|]*)", path.read_text()):
            command = group.commands.get(match.group(1))
            if command is None:  # prose: "gentext is ..."
                continue
            assert not command.hidden, f"{path.name}: {match.group(0)}"
            hidden = {opt for param in command.params if getattr(param, "hidden", False)
                      for opt in param.opts}
            for word in match.group(2).split():
                assert word.split("=")[0] not in hidden, f"{path.name}: {match.group(0)}"


@pytest.mark.parametrize("args,words", [
    (["sample", "--n", 0], "--n"), (["sample", "--top-p", 0], "top_p"),
    (["sample", "--temperature", "nan"], "temperature"), (["sample", "--option", "steps"], "--option"),
    (["sample", "--max-new-tokens", -1], "--max-new-tokens"), (["sample", "--steps", 0], "--steps"),
    (["infill", "no blank here"], "no blank"), (["infill", "a ___0 b"], "at least 1 token"),
    (["infill", "a ___ b", "--top-k", -1], "top_k"), (["eval", "--n", -1], "--n"),
    (["eval", "--batch-size", 0], "--batch-size"), (["reconstruct", "x", "-t", -1], "temperature"),
    (["interpolate", "a", "b", "--points", 1], "--points"),
    (["reconstruct", "x", "--max-new-tokens", -2], "--max-new-tokens")])
def test_every_option_is_checked_before_a_model_loads(cli, tmp_path, args, words,
                                                      assert_one_line_error):
    """The option is named, not the missing run: nothing loads before the options are checked."""
    command, *rest = args
    assert_one_line_error(cli(command, tmp_path / "no-such-run", *rest), words)


@pytest.mark.parametrize("args,words", [
    (["--n", 1], "at least 2 samples"), (["--temperatures", "0,1"], "above 0"),
    (["--temperatures", "warm"], "--temperatures"), (["--nll-samples", -1], "--nll-samples"),
    (["--report", "report.pdf"], ".md or .html"), (["--recipe", "nonsense"], "unknown recipe")])
def test_compare_checks_every_option_before_a_run_loads_or_trains(cli, tmp_path, args, words,
                                                                  assert_one_line_error):
    assert_one_line_error(cli("compare", tmp_path / "no-such-run", *args), words)


def test_deprecations_print_one_line_each_and_leave_other_warnings_alone(capsys):
    from gentext.deprecation import deprecated
    from gentext_cli.app import deprecations_in_one_line

    seen = []
    previous, warnings.showwarning = warnings.showwarning, lambda *a, **k: seen.append(a[1])
    try:
        with deprecations_in_one_line():
            for _ in range(2):  # the same old spelling twice: said once
                deprecated("--old", "--new")
            warnings.warn("something else", UserWarning)
    finally:
        warnings.showwarning = previous
    err = capsys.readouterr().err
    assert err == "gentext: warning: --old is deprecated and goes in gentext 0.3: use --new\n"
    assert seen == [UserWarning]


def test_the_console_script_prints_a_deprecation_in_one_line(trained_gpt):
    code = "from gentext_cli.app import main; main()"
    result = subprocess.run([sys.executable, "-c", code, "eval", str(trained_gpt), "--samples",
                             "2"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["gentext: warning: --samples is deprecated and goes "
                                          "in gentext 0.3: use --n"]
