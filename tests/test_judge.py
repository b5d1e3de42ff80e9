"""Generative perplexity (`--judge`): a run's samples scored under another run's exact
likelihood, by `gentext eval` and `gentext compare`, with the judge's own tokenizer."""

import json
import math

import pytest


@pytest.fixture
def char_gpt(cli, corpus, tmp_path, tiny_args):
    """A tiny gpt run with a character tokenizer (trained_gpt's is byte-level BPE)."""
    out = tmp_path / "char"
    trained = cli(*tiny_args("gpt", corpus, out, "--set", "data.tokenizer=char"))
    assert trained.exit_code == 0, trained.stderr
    return out


@pytest.fixture
def flow(cli, corpus, tmp_path, tiny_args):
    """A tiny flow run: its likelihood is a bound."""
    trained = cli(*tiny_args("flow", corpus, tmp_path / "flow"))
    assert trained.exit_code == 0, trained.stderr
    return tmp_path / "flow"


def drawn(run, n: int, temperature=None) -> list[str]:
    """The ``n`` samples `gentext eval RUN --n N` draws (seed 0, on the CPU)."""
    from gentext.evaluation.evaluate import default_max_new_tokens, sample_texts
    from gentext.models.contract import SamplingOptions

    return sample_texts(run.model, run.tokenizer, n, default_max_new_tokens(run.config.data.max_len),
                        SamplingOptions(temperature=temperature))


def judged(cli, run, judge, n: int, *extra) -> dict:
    result = cli("eval", run, "--n", n, "--judge", judge, "--device", "cpu", "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_a_run_judging_its_own_samples_gives_its_likelihood_of_those_texts(cli, char_gpt, tmp_path):
    from gentext.evaluation.generative import judge_samples
    from gentext.runs.checkpoint import load_run

    run = load_run(char_gpt)
    texts = drawn(run, 20)
    kept = [t for t in texts if t.strip()]  # a data file has no blank examples
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"text": t}) + "\n" for t in kept), encoding="utf-8")
    by_eval = json.loads(cli("eval", char_gpt, "--data", samples, "--split", "all",
                             "--device", "cpu", "--json").stdout)
    assert by_eval["examples"] == len(kept) and by_eval["dropped"] == 0
    by_judge = judge_samples(run, kept)
    assert by_judge["judge_tokens"] == by_eval["tokens"]
    assert by_judge["judge_nats_per_token"] == pytest.approx(by_eval["nats_per_token"], rel=1e-9)
    report = judged(cli, char_gpt, char_gpt, 20)  # the same 20 samples, through the command
    expected = judge_samples(run, texts)
    assert report["judge_nats_per_token"] == pytest.approx(expected["judge_nats_per_token"],
                                                           rel=1e-9)
    assert report["judge_samples"] == 20 and report["judge_tokens"] == expected["judge_tokens"]
    assert report["judge"] == str(char_gpt) and report["judge_likelihood"] == "exact"
    assert math.isclose(report["judge_perplexity"], math.exp(report["judge_nats_per_token"]))
    assert "distinct-2" in report["sample_metrics"]  # beside the sample metrics, not instead
    printed = cli("eval", char_gpt, "--n", 20, "--judge", char_gpt, "--device", "cpu").stdout
    line = next(line for line in printed.splitlines() if line.startswith("gen. nats/token:"))
    assert f"{report['judge_nats_per_token']:.4f} under gpt run {char_gpt} (exact; 20 samples" in line
    assert f"{report['judge_tokens']:,} tokens of its tokenizer" in line


def test_an_empty_sample_still_counts_its_end(char_gpt):
    from gentext.evaluation.generative import judge_samples
    from gentext.runs.checkpoint import load_run

    run = load_run(char_gpt)
    empty = judge_samples(run, [""])
    assert empty["judge_samples"] == 1 and empty["judge_tokens"] == 1 and empty["judge_nats"] > 0
    both = judge_samples(run, ["", "Emma"])
    assert both["judge_tokens"] == 1 + len(run.tokenizer.encode("Emma")) + 1


def test_a_judge_scores_with_its_own_tokenizer_and_cuts_long_samples_into_windows(
        cli, char_gpt, trained_gpt):
    from gentext.runs.checkpoint import load_run

    characters, bpe = load_run(char_gpt), load_run(trained_gpt)
    assert characters.tokenizer.name != bpe.tokenizer.name
    report = judged(cli, char_gpt, trained_gpt, 10)  # character samples, a BPE judge
    assert report["tokenizer"] == characters.tokenizer.name  # the split's, under the run
    assert report["judge_tokenizer"] == bpe.tokenizer.name
    texts = drawn(characters, 10)
    assert report["judge_tokens"] == sum(len(bpe.tokenizer.encode(t)) + 1 for t in texts)
    report = judged(cli, trained_gpt, char_gpt, 10)  # BPE samples, a character judge
    texts = drawn(bpe, 10)
    assert report["judge_tokens"] == sum(len(characters.tokenizer.encode(t)) + 1 for t in texts)
    longest = max(len(characters.tokenizer.encode(t)) + 2 for t in texts)
    assert longest > characters.config.data.max_len  # too long for one context, yet scored:
    assert report["judge_samples"] == 10 < report["judge_windows"]  # no sample is left out
    assert math.isfinite(report["judge_nats_per_token"])


def test_a_judge_without_an_exact_likelihood_is_refused_before_anything_loads(
        cli, flow, assert_one_line_error, monkeypatch):
    import gentext.runs.checkpoint

    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded before the options were checked")

    monkeypatch.setattr(gentext.runs.checkpoint, "load_run", no_loading)
    assert_one_line_error(cli("eval", flow, "--n", 5, "--judge", flow), "flow", "bound", "exact")
    assert_one_line_error(cli("compare", flow, flow, "--n", 5, "--judge", flow),
                          "flow", "bound", "exact")
    assert_one_line_error(cli("eval", flow, "--judge", flow), "--judge", "--n")
    assert_one_line_error(cli("eval", flow, "--n", 5, "--judge", flow / "nothing"),
                          "does not exist")


def test_compare_adds_each_runs_samples_under_the_judge(cli, trained_gpt, flow):
    from gentext.comparison.compare import markdown_table

    rows = json.loads(cli("compare", trained_gpt, flow, "--n", 10, "--judge", trained_gpt,
                          "--device", "cpu", "--json").stdout)
    assert [row["model"] for row in rows] == ["gpt", "flow"]
    for row in rows:
        assert row["judge"] == str(trained_gpt) and row["judge_samples"] == 10
        assert math.isfinite(row["judge_nats_per_token"]) and row["judge_tokens"] > 10
    # compare's samples are eval's at temperature 1: the same figure for the same run
    alone = judged(cli, trained_gpt, trained_gpt, 10, "--temperature", 1)
    assert rows[0]["judge_nats_per_token"] == pytest.approx(alone["judge_nats_per_token"],
                                                            rel=1e-9)
    table = cli("compare", trained_gpt, flow, "--n", 10, "--judge", trained_gpt,
                "--device", "cpu").stdout
    row = next(line for line in table.splitlines() if line.startswith("| gen. nats/token (judge) |"))
    assert f"{rows[1]['judge_nats_per_token']:.4f}" in row
    assert f"under gpt run {trained_gpt}" in table
    unjudged = [{k: v for k, v in r.items() if not k.startswith("judge")} for r in rows]
    assert "gen. nats/token" not in markdown_table(unjudged)
