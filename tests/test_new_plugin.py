"""`gentext new-plugin`: the package it writes pip-installs, trains, samples, runs its own
command and passes its own tests, as written; for the name "bigram" it is the example plugin,
file for file."""

import fnmatch
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "gentext-bigram"
NOT_SOURCE = ("__pycache__", ".pytest_cache", "build", "dist", "*.egg-info")  # its .gitignore


def gentext(environment, *args, cwd):
    return subprocess.run([sys.executable, "-m", "gentext", *map(str, args)], env=environment,
                          cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A new plugin written by the command and pip-installed into its own folder."""
    work = tmp_path_factory.mktemp("new-plugin")
    written = gentext(os.environ, "new-plugin", "char-rnn", "--out", work / "gentext-char-rnn",
                      cwd=work)
    assert written.returncode == 0, written.stderr
    target = work / "site"
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
               str(target), str(work / "gentext-char-rnn")]
    if importlib.util.find_spec("setuptools"):
        command.insert(4, "--no-build-isolation")
    subprocess.run(command, check=True, cwd=work, capture_output=True, timeout=300)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), *sys.path[1:]]),
                   "GENTEXT_STRICT_PLUGINS": "1"}
    return work, environment


def test_the_new_plugin_trains_samples_and_runs_its_command(installed):
    work, environment = installed
    run = work / "runs" / "char-rnn"
    trained = gentext(environment, "train", "--model", "char-rnn", "--data", "char-rnn-greetings",
                      "--out", run, "--quiet", "--set", "train.steps=30",
                      "--set", "train.eval_every=30", "--set", "data.valid_fraction=0.2",
                      "--set", "data.test_fraction=0.2", cwd=work)
    assert trained.returncode == 0, trained.stderr
    assert "trained char-rnn for 30 steps" in trained.stdout
    sampled = gentext(environment, "sample", run, "--n", 3, cwd=work)
    assert sampled.returncode == 0 and len(sampled.stdout.splitlines()) == 3, sampled.stderr
    scored = gentext(environment, "eval", run, "--n", 4, "--json", cwd=work)
    report = json.loads(scored.stdout)
    assert report["likelihood"] == "exact" and "char-rnn-questions" in report["sample_metrics"]
    following = gentext(environment, "char-rnn-next", run, "How are you", "--top", 3, cwd=work)
    assert following.returncode == 0 and len(following.stdout.splitlines()) == 3, following.stderr


def test_the_new_plugins_own_tests_pass(installed):
    work, environment = installed
    tests = work / "gentext-char-rnn" / "tests"
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "--rootdir", str(tests.parent), str(tests)], env=environment,
                            cwd=work, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def source_files(folder: Path) -> dict[str, str]:
    """Each file of a plugin package by its path in it, leaving out what building it leaves."""
    return {str(path.relative_to(folder)): path.read_text(encoding="utf-8")
            for path in folder.rglob("*") if path.is_file() and not any(
                fnmatch.fnmatch(part, pattern) for part in path.relative_to(folder).parts
                for pattern in NOT_SOURCE)}


def test_the_example_plugin_is_what_new_plugin_bigram_writes(tmp_path):
    """The template and examples/gentext-bigram are one package: edit the example, then copy
    each changed file to gentext/plugins/template/ (a Python file with "-tpl" added)."""
    from gentext.plugins.new_plugin import write_plugin

    write_plugin("bigram", tmp_path / "gentext-bigram")
    written, example = source_files(tmp_path / "gentext-bigram"), source_files(EXAMPLE)
    assert sorted(written) == sorted(example)
    for path, text in written.items():
        assert text == example[path], f"examples/gentext-bigram/{path} differs from the template"


def test_a_bad_name_or_an_existing_folder_is_one_line(cli, tmp_path, assert_one_line_error):
    assert_one_line_error(cli("new-plugin", "Char RNN", "--out", tmp_path / "x"), "plugin name")
    (tmp_path / "taken").mkdir()
    assert_one_line_error(cli("new-plugin", "ok", "--out", tmp_path / "taken"), "already exists")
