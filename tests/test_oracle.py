"""Texygen's synthetic oracle (an N(0, 1) LSTM) and the benchmark that scores seqgan on it."""

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from gentext_seqgan.oracle import Oracle

BENCH = Path(__file__).resolve().parents[1] / "bench" / "seqgan_oracle.py"


@pytest.fixture(scope="module")
def oracle() -> Oracle:
    return Oracle(seed=0)


def test_the_same_seed_builds_the_same_oracle_whatever_the_global_rng(oracle):
    torch.manual_seed(123)
    state = torch.get_rng_state()
    again = Oracle(seed=0)
    assert torch.equal(torch.get_rng_state(), state)  # building it draws nothing global
    for (name, a), (_, b) in zip(oracle.named_parameters(), again.named_parameters()):
        assert torch.equal(a, b), name
    assert not torch.equal(Oracle(seed=1).output_weight, oracle.output_weight)


def test_parameters_look_like_standard_normal_draws(oracle):
    values = torch.cat([p.flatten() for p in oracle.parameters()])
    assert values.dtype == torch.float32
    assert abs(float(values.mean())) < 0.02 and abs(float(values.std()) - 1) < 0.02
    assert oracle.embedding.shape == (5001, 32)  # 5,000 words + its own start token
    assert oracle.output_weight.shape == (32, 5000)  # the start token is never an output


def test_generation_is_deterministic_for_a_seed_and_differs_across_seeds(oracle):
    first = oracle.generate(8, length=6, seed=3)
    torch.manual_seed(99)  # the global RNG has no say
    assert torch.equal(first, oracle.generate(8, length=6, seed=3))
    assert not torch.equal(first, oracle.generate(8, length=6, seed=4))
    assert not torch.equal(first, Oracle(seed=1).generate(8, length=6, seed=3))


def test_generated_sequences_have_the_asked_length_and_stay_in_the_vocabulary(oracle):
    sequences = oracle.generate(50, length=7, seed=0)
    assert sequences.shape == (50, 7) and sequences.dtype == torch.long
    assert int(sequences.min()) >= 0 and int(sequences.max()) < 5000


def test_own_samples_score_far_better_than_uniformly_random_sequences(oracle):
    own = oracle.nll(oracle.generate(200, length=10, seed=1))
    uniform = oracle.nll(torch.randint(0, 5000, (200, 10), generator=torch.Generator().manual_seed(0)))
    assert 0 < own < math.log(5000) < uniform


def test_padding_is_ignored_and_a_padded_row_scores_as_its_prefix(oracle):
    rows = oracle.generate(4, length=6, seed=2)
    total, count = oracle.token_nll(rows[:, :3])
    padded = rows.clone()
    padded[:, 3:] = -1
    assert oracle.token_nll(padded) == pytest.approx((total, count))
    assert count == 12
    # mixed lengths: the mean is over the real tokens of both rows
    mixed = rows[:2].clone()
    mixed[1, 2:] = -1
    long_total, _ = oracle.token_nll(rows[:1])
    short_total, _ = oracle.token_nll(rows[1:2, :2])
    assert oracle.nll(mixed) == pytest.approx((long_total + short_total) / 8)


def test_padding_inside_a_row_and_out_of_range_ids_are_refused(oracle):
    with pytest.raises(ValueError, match="padding"):
        oracle.nll(torch.tensor([[5, -1, 7]]))
    with pytest.raises(ValueError, match="token ids"):
        oracle.nll(torch.tensor([[5, 5000]]))


def test_bench_smoke_reports_mle_and_gan_rows_with_finite_numbers(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("seqgan_oracle_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    report = bench.main(["--pretrain-steps", "3", "--adversarial-steps", "2", "--train-size", "48",
                         "--valid-size", "8", "--test-size", "8", "--samples", "16",
                         "--eval-every", "100", "--batch-size", "8", "--monitor-samples", "0",
                         "--out", str(tmp_path / "work"),
                         "--json", str(tmp_path / "report.json")])
    rows = {row["name"].split(" ")[0]: row for row in report["rows"]}
    for name in ("MLE", "GAN"):
        for key in ("nll_oracle", "nll_test", "mean_length"):
            assert math.isfinite(rows[name][key]), (name, key)
        assert 0 < rows[name]["mean_length"] <= 20
    assert rows["MLE"]["step"] == 3 and rows["GAN"]["step"] == 5
    assert rows["RelGAN(100),"]["published"] is True
    assert (tmp_path / "report.json").is_file()
    printed = capsys.readouterr().out
    assert "| MLE" in printed and "| GAN" in printed and "mode collapse" in printed
