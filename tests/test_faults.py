"""Faults: a process killed while checkpointing, damaged or foreign run files, plugins whose
hooks raise, a malicious pickle, the network. Ctrl-C and NaN are in test_training.py."""

import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

# Kills the process at the Nth call of safetensors' save_file, after writing half a file: the
# 1st checkpoint (step 2) is model weights (call 1) and training state (call 2), the 2nd
# (step 4) calls 3 and 4. KILL_AFTER_RENAME=NAME kills instead right after the Nth call's
# checkpoint renames a file onto NAME: the state committed and the weights not yet
# (state.safetensors), or the weights renamed and their metadata not yet (model.safetensors).
KILLER = textwrap.dedent("""
    import os, signal, sys
    import safetensors.torch as st
    import gentext.runs.atomic as atomic
    import gentext.runs.checkpoint as ck
    import gentext.runs.training_state as ts
    kill_at, after_rename = int(os.environ["KILL_AT"]), os.environ.get("KILL_AFTER_RENAME")
    calls = {"n": 0}
    original_save, original_replace = st.save_file, atomic.replace_durably

    def save_file(tensors, filename, metadata=None):
        calls["n"] += 1
        if calls["n"] == kill_at and not after_rename:
            with open(filename, "wb") as handle:
                handle.write(b"half a file")
                handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return original_save(tensors, filename, metadata=metadata)

    def replace_durably(partial, path):
        original_replace(partial, path)
        if after_rename == os.path.basename(path) and calls["n"] >= kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    st.save_file = save_file
    atomic.replace_durably = ck.replace_durably = ts.replace_durably = replace_durably
    from gentext_cli.app import main
    main(sys.argv[1:])
""")


def losses(run) -> list[float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "tokens_per_s" in r]


@pytest.fixture
def train_args(tiny_args):
    """train_args(corpus, out, steps=6, *extra): a tiny gpt run without dropout, as strings."""

    def args(corpus, out, steps=6, *extra):
        return tiny_args("gpt", str(corpus), str(out), *extra,
                         before=[f"train.steps={steps}", "train.eval_every=2",
                                 "train.log_every=1", "model.dropout=0"])

    return args


@pytest.mark.parametrize("kill_at,after_rename,loads,resumes", [
    (3, "", 2, 2), (4, "", 2, 2), (4, "state.safetensors", 2, 4), (4, "model.safetensors", 4, 4)],
    ids=["writing-weights", "writing-state", "state-renamed-weights-not",
         "weights-renamed-meta-not"])
def test_sigkill_while_checkpointing_keeps_a_loadable_run_that_resumes(
        kill_at, after_rename, loads, resumes, cli, corpus, tmp_path, train_args):
    from gentext.runs.checkpoint import load_run
    from gentext.runs.training_state import TrainingState

    out = tmp_path / "run"
    environment = {**os.environ, "KILL_AT": str(kill_at), "KILL_AFTER_RENAME": after_rename}
    killed = subprocess.run([sys.executable, "-c", KILLER, *train_args(corpus, out)],
                            env=environment, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # the model loads (the weights on disk: step 2's until step 4's are renamed into place),
    # and a resume continues from the state committed, finishing its weights' commit
    sampled = cli("sample", out, "--n", "2")
    assert sampled.exit_code == 0, sampled.stderr
    assert load_run(out).meta["step"] == loads
    assert TrainingState.load(out).step == resumes
    resumed = cli("train", "--resume", "--out", out, "--quiet")
    assert resumed.exit_code == 0, resumed.stderr
    assert "trained gpt for 6 steps" in resumed.stdout
    assert not list((out / "model").glob(".*.partial"))
    straight = cli(*train_args(corpus, tmp_path / "straight"))
    assert straight.exit_code == 0
    # the resumed run follows the uninterrupted one (the killed steps ran in another process,
    # so float sums may differ in the last bits)
    assert losses(out) == pytest.approx(losses(tmp_path / "straight"), rel=1e-5)


def test_a_training_state_and_weights_that_do_not_belong_together_are_refused(
        cli, trained_gpt, assert_one_line_error):
    import torch

    from gentext.runs.checkpoint import load_run, save_model

    run = load_run(trained_gpt)
    with torch.no_grad():
        next(run.model.parameters()).add_(1.0)
    save_model(trained_gpt, run.model, "gpt", run.meta["step"])  # new weights, the old state
    assert_one_line_error(cli("train", "--resume", "--out", trained_gpt, "--quiet"),
                          "training state", "other weights", "--force")


def test_a_run_from_a_newer_gentext_is_refused_naming_the_file(cli, trained_gpt,
                                                               assert_one_line_error):
    meta_path = trained_gpt / "model/gentext.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "format_version": 99}))
    assert_one_line_error(cli("eval", trained_gpt), "gentext.json", "format version 99", "upgrade")


def test_a_missing_config_is_named(cli, trained_gpt, assert_one_line_error):
    (trained_gpt / "config.toml").unlink()
    assert_one_line_error(cli("sample", trained_gpt), "no config.toml")


def test_a_damaged_training_state_is_named_on_resume(cli, trained_gpt, assert_one_line_error):
    state = trained_gpt / "checkpoints/state.safetensors"
    state.write_bytes(state.read_bytes()[:100])
    assert_one_line_error(cli("train", "--resume", "--out", trained_gpt, "--quiet"),
                          "checkpoint", "cannot be read")


class RaisingPlugin:
    """Every hook raises, as a buggy third-party plugin might."""

    from gentext.plugins.hookspecs import hookimpl

    @hookimpl
    def register_models(self, register):
        raise RuntimeError("bug in register_models")

    @hookimpl
    def register_metrics(self, register):
        raise RuntimeError("bug in register_metrics")

    @hookimpl
    def register_commands(self, app):
        raise RuntimeError("bug in register_commands")


def test_a_plugin_whose_hooks_raise_leaves_the_others_working(cli, corpus, tmp_path, capsys,
                                                              train_args, register_plugin):
    register_plugin(RaisingPlugin(), name="raising")
    listed = cli("models", "--json")
    assert listed.exit_code == 0
    assert {"gpt", "seqvae", "seqgan", "flow"} <= {r["name"] for r in json.loads(listed.stdout)}
    assert "plugin 'raising' failed in register_models: RuntimeError" in listed.stderr
    trained = cli(*train_args(corpus, tmp_path / "r", steps=2))
    assert trained.exit_code == 0, trained.stderr
    scored = cli("eval", tmp_path / "r", "--n", "3", "--json")
    assert scored.exit_code == 0 and "distinct-2" in json.loads(scored.stdout)["sample_metrics"]


def test_a_model_name_that_could_leave_the_runs_folder_is_refused(cli, register_plugin):
    from gentext.plugins.hookspecs import hookimpl
    from gentext.plugins.specs import ModelSpec
    from toy_plugin import ToyConfig

    class Escaping:
        @hookimpl
        def register_models(self, register):
            register(ModelSpec(name="../../etc", description="x", config=ToyConfig,
                               model="toy_plugin:ToyBigram", likelihood="exact"))

    register_plugin(Escaping(), name="escaping")
    listed = cli("models", "--json")
    assert "../../etc" not in {r["name"] for r in json.loads(listed.stdout)}
    assert "must be lower-case letters" in listed.stderr


class Payload:
    """Unpickling this runs code: it creates the file ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("target", ["model/model.safetensors", "checkpoints/state.safetensors"])
def test_a_pickle_planted_where_weights_belong_is_refused_unopened(cli, trained_gpt, tmp_path,
                                                                   target):
    marker = tmp_path / "pwned"
    (trained_gpt / target).write_bytes(pickle.dumps(Payload(marker)))
    command = ("sample", trained_gpt) if target.startswith("model") else \
        ("train", "--resume", "--out", trained_gpt, "--quiet")
    result = cli(*command)
    assert result.exit_code != 0 and "Traceback" not in result.stderr
    assert not marker.exists()


def test_nothing_reaches_the_network(cli, corpus, tmp_path, monkeypatch, train_args):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    run = tmp_path / "r"
    # GPT-2's recipe, the one that exports
    assert cli(*train_args(corpus, run, 2, "--set", "model.arch=gpt2")).exit_code == 0
    assert cli("sample", run, "--n", "2").exit_code == 0
    assert cli("eval", run, "--n", "2").exit_code == 0
    assert cli("export", run, tmp_path / "hf").exit_code == 0
    assert cli("import", tmp_path / "hf", "--out", tmp_path / "back").exit_code == 0
    assert attempts == []
