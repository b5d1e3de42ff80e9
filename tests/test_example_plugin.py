"""The plugin author's path, end to end: pip-install examples/gentext-bigram (its own
pyproject.toml, nothing of gentext changed) and use it through the `gentext` command."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "gentext-bigram"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The example installed with pip into a folder that the commands below put on their path
    (so this test environment's other tests never see it)."""
    target = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("source") / EXAMPLE.name
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
               str(target), str(source)]
    if importlib.util.find_spec("setuptools"):
        command.insert(4, "--no-build-isolation")  # build with this environment's setuptools
    build = tmp_path_factory.mktemp("build")
    subprocess.run(command, check=True, cwd=build, capture_output=True, timeout=300)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), *sys.path[1:]]),
                   "GENTEXT_STRICT_PLUGINS": "1"}
    return environment


def gentext(environment, *args, cwd):
    return subprocess.run([sys.executable, "-m", "gentext", *map(str, args)], env=environment,
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def test_installed_example_trains_samples_and_evaluates_through_the_cli(installed, corpus, tmp_path):
    listed = gentext(installed, "models", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "bigram" in listed.stdout and "gentext_bigram" in listed.stdout

    run = tmp_path / "runs" / "bigram"
    trained = gentext(installed, "train", "--model", "bigram", "--data", corpus, "--out", run,
                      "--quiet", "--set", "train.steps=60", "--set", "train.eval_every=30",
                      "--set", "train.batch_size=16", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "trained bigram for 60 steps" in trained.stdout

    sampled = gentext(installed, "sample", run, "--n", "3", "--seed", "1", cwd=tmp_path)
    assert sampled.returncode == 0, sampled.stderr
    assert len(sampled.stdout.strip().splitlines()) == 3

    scored = gentext(installed, "eval", run, "--json", cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr
    report = json.loads(scored.stdout)
    # a trained bigram over ~30 characters beats the uniform 1/V by far
    assert report["likelihood"] == "exact" and report["nats_per_token"] < 2.5

    nxt = gentext(installed, "bigram-next", run, "Mr. K", cwd=tmp_path)
    assert nxt.returncode == 0, nxt.stderr
    assert nxt.stdout.splitlines()[0].startswith("'n'")  # "Knightley": K is always followed by n


def test_the_examples_own_tests_pass_once_installed(installed, tmp_path):
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "--rootdir", str(EXAMPLE), str(EXAMPLE / "tests")],
                            env=installed, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
