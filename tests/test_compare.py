"""`gentext compare`: its figures are `gentext eval`'s, differing test splits are refused, the
report and its plots are written, and the families recipe trains on a time budget."""

import json

import pytest


@pytest.fixture
def two_runs(cli, corpus, trained_gpt, tmp_path, tiny_args):
    flow = cli(*tiny_args("flow", corpus, tmp_path / "flow"))
    assert flow.exit_code == 0, flow.stderr
    return trained_gpt, tmp_path / "flow"


def test_table_figures_agree_with_gentext_eval(cli, two_runs):
    result = cli("compare", *two_runs, "--n", 20, "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["model"] for row in rows] == ["gpt", "flow"]
    assert len({row["test_sha256"] for row in rows}) == 1
    for row, run in zip(rows, two_runs):
        evaluation = json.loads(cli("eval", run, "--json").stdout)
        assert row["test_sha256"] == evaluation["split_sha256"]
        assert row["likelihood"] == evaluation["likelihood"]
        assert row["nats_per_token"] == pytest.approx(evaluation["nats_per_token"], rel=1e-9)
        assert row["bits_per_byte"] == pytest.approx(evaluation["bits_per_byte"], rel=1e-9)
        assert row["parameters"] > 0 and row["sentences_per_s"] > 0
        assert 0 <= row["bleu-4"] <= 1 and 0 <= row["self-bleu-4"] <= 1
        assert row["train_minutes"] > 0 and row["train_tokens_per_s"] > 0
    assert rows[0]["diagnostics"] == {}  # gpt has no latent
    assert rows[0]["reconstruction_bleu4"] is None and 0 <= rows[1]["reconstruction_bleu4"] <= 1
    flow_eval = json.loads(cli("eval", two_runs[1], "--json").stdout)["latent_space"]
    assert rows[1]["reconstruction_bleu4"] == pytest.approx(flow_eval["bleu4_mean"])
    assert rows[1]["interpolation_distinct"] == pytest.approx(flow_eval["distinct_per_path"])
    latent = rows[1]["diagnostics"]  # the three compare shows of a model that reports them
    assert list(latent) == ["kl_per_token", "active_units", "latent_dim"]
    assert latent["kl_per_token"] is not None and latent["active_units"] <= latent["latent_dim"]
    table = cli("compare", *two_runs, "--n", 20).stdout
    assert "| test bits/byte |" in table and "bound (k=16)" in table
    assert "| kl per token | — |" in table  # flow reports it; gpt reports no diagnostics
    assert "| reconstruction BLEU-4 | — |" in table


def test_runs_with_different_test_splits_are_refused(cli, corpus, trained_gpt, tmp_path, tiny_args):
    args = tiny_args("gpt", corpus, tmp_path / "other",
                     before=["train.steps=2", "data.split_seed=1"])
    assert cli(*args).exit_code == 0
    result = cli("compare", trained_gpt, tmp_path / "other", "--n", 5)
    assert result.exit_code != 0 and len(result.error_lines) == 1
    assert "different test splits" in result.error_lines[0]


@pytest.mark.parametrize("suffix", [".md", ".html"])
def test_report_and_its_plots_are_written(cli, two_runs, tmp_path, suffix):
    report = tmp_path / f"report{suffix}"
    result = cli("compare", *two_runs, "--n", 10, "--temperatures", "0.8,1.2",
                 "--report", report)
    assert result.exit_code == 0, result.stderr
    text = report.read_text()
    assert "test bits/byte" in text and "self-BLEU-4" in text
    for plot in ("report-validation.png", "report-quality-diversity.png"):
        png = (tmp_path / plot).read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 1000
        if suffix == ".md":
            assert f"]({plot})" in text
    if suffix == ".html":
        assert text.count("data:image/png;base64,") == 2 and "<table>" in text


def test_bad_report_names_and_empty_calls_are_one_line_errors(cli, two_runs, tmp_path):
    for args in (["--report", tmp_path / "report.pdf"], ["--report", tmp_path / "no" / "r.md"],
                 ["--recipe", "nonsense"]):
        result = cli("compare", *two_runs, *args)
        assert result.exit_code != 0 and len(result.error_lines) == 1
    assert len(cli("compare").error_lines) == 1


def test_throughput_forces_every_sentence_to_full_length_and_restores_the_model(trained_gpt):
    from gentext.runs.checkpoint import load_run
    from gentext.comparison.compare import sampling_throughput

    run = load_run(trained_gpt)
    vocab = run.model.vocab
    assert sampling_throughput(run.model, batch=4, length=6) > 0
    assert run.model.vocab is vocab


def test_a_run_stops_at_its_time_budget_and_finishes_normally(cli, corpus, tmp_path, tiny_args):
    args = tiny_args("gpt", corpus, tmp_path / "budget",
                     before=["train.steps=10000", "train.max_minutes=0.0001"])
    assert cli(*args).exit_code == 0
    rows = [json.loads(line) for line in (tmp_path / "budget" / "metrics.jsonl").read_text().splitlines()]
    assert max(r["step"] for r in rows) < 10000
    assert (tmp_path / "budget" / "samples.txt").is_file()  # finished, not interrupted
    assert any(r.get("split") == "valid" for r in rows)
    negative = cli("train", "--model", "gpt", "--data", corpus, "--out", tmp_path / "neg",
                   "--set", "train.max_minutes=-1")
    assert negative.exit_code != 0 and "max_minutes" in negative.error_lines[0]


def test_families_recipe_plans_steps_from_a_probe_and_trains_each_family(corpus, tmp_path,
                                                                         tiny_overrides):
    from gentext.comparison.recipes import train_families

    overrides = {family: [o for o in tiny_overrides(family) if not o.startswith("train.log_every")]
                 for family in ("gpt", "flow")}
    runs = train_families(tmp_path / "fam", 0.15, str(corpus), families=("gpt", "flow"),
                          overrides=overrides)
    assert [r.name for r in runs] == ["gpt", "flow"]
    for run in runs:
        plan = json.loads((run / "recipe.json").read_text())
        assert plan["minutes"] == 0.15 and plan["plan"]["steps"] > 1
        assert (run / "model" / "model.safetensors").is_file()
        assert not (tmp_path / "fam" / f".probe-{run.name}").exists()
    again = train_families(tmp_path / "fam", 0.15, str(corpus), families=("gpt",),
                           overrides=overrides)  # already trained: kept, not retrained
    assert again == runs[:1]


def test_recipe_keeps_seqgan_phases_in_their_default_proportion(corpus, tmp_path, tiny_overrides):
    from rich.console import Console

    from gentext.comparison.recipes import plan_steps

    tiny = [o for o in tiny_overrides("seqgan") if not o.startswith("train.log_every")]
    plan = plan_steps("seqgan", str(corpus), 0.05, tmp_path, Console(quiet=True), tiny)
    assert set(plan) == {"steps", "pretrain_steps"}
    assert plan["pretrain_steps"] == int(plan["steps"] * 1500 / 1700)


def test_the_table_leaves_out_rows_no_run_fills():
    from gentext.comparison.compare import markdown_table

    rows = [{"run": "runs/a", "model": "gpt", "nats_per_token": 4.0, "diagnostics": {}},
            {"run": "runs/b", "model": "seqvae", "nats_per_token": 4.2,
             "reconstruction_bleu4": 0.08, "diagnostics": {}}]
    table = markdown_table(rows)
    assert "| test nats/token | 4.0000 | 4.2000 |" in table
    assert "| reconstruction BLEU-4 | — | 0.0800 |" in table  # one run fills it: kept
    assert "interpolation" not in table and "parameters" not in table
