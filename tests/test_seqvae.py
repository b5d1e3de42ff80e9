"""The seqvae family: its estimators, its anti-collapse tricks, and its latent-space commands."""

import dataclasses
import json
import math

import pytest
import torch

from gentext.data.batching import collate
from gentext.models.estimators import (active_units, gaussian_kl, importance_weighted_bound,
                                mutual_information)
from gentext.models.contract import SamplingOptions, Vocab
from gentext.plugins.manager import get_model
from gentext_seqvae.annealing import kl_weight
from gentext_seqvae.config import SeqVAEConfig
from gentext_seqvae.model import SeqVAE

VOCAB = Vocab(size=40, pad_id=0, bos_id=1, eos_id=2, unk_id=3)


def tiny(**overrides) -> SeqVAE:
    torch.manual_seed(0)
    settings = dict(embedding_dim=16, encoder_hidden=16, decoder_hidden=32, latent_dim=4,
                    autoencoder_fraction=0.0, z_to_output=False,
                    dropout=0.0, word_dropout=0.0)
    return SeqVAE(SeqVAEConfig(**{**settings, **overrides}), VOCAB)


def batch_of(*rows):
    return collate([list(r) for r in rows], pad_id=0)


ROWS = [(1, 10, 11, 12, 13, 2), (1, 10, 11, 12, 14, 2), (1, 10, 11, 15, 2), (1, 20, 21, 2)]


@pytest.fixture(scope="module")
def fitted(fit) -> SeqVAE:
    """A tiny VAE trained to fit ROWS, so its decoder depends on z (free bits let it encode)."""
    return fit(tiny(latent_dim=8, free_bits=1.0, kl_schedule="constant"), batch_of(*ROWS), steps=300)


def test_kl_of_two_diagonal_gaussians_matches_the_hand_computation():
    # q = N(1, 4), p = N(0.5, 2): 0.5 (log 2 - log 4 + (4 + 0.25) / 2 - 1) = 0.215926...
    kl = gaussian_kl(torch.tensor([1.0]), torch.tensor([math.log(4)]), torch.tensor([0.5]),
                     torch.tensor([math.log(2)]))
    assert float(kl) == pytest.approx(0.5 * (math.log(2) - math.log(4) + 4.25 / 2 - 1), abs=1e-7)
    assert float(kl) == pytest.approx(0.2159264, abs=1e-6)
    # against the standard normal prior, and zero for identical Gaussians
    assert float(gaussian_kl(torch.tensor([3.0]), torch.tensor([0.0]))) == pytest.approx(4.5)
    assert float(gaussian_kl(torch.tensor([0.3]), torch.tensor([0.7]), 0.3, 0.7)) == pytest.approx(0)


def elbo_bound(log_weights: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """-ELBO per example from the same weights: -(1/k) sum_i log w_i."""
    return -log_weights.mean(dim=dim)


def test_iw_bound_is_never_looser_than_the_elbo_from_the_same_samples(fitted):
    for seed in range(5):
        torch.manual_seed(seed)
        log_weights = fitted.log_weights(batch_of(*ROWS), k=8)
        assert (importance_weighted_bound(log_weights) <= elbo_bound(log_weights) + 1e-6).all()
    random_weights = torch.randn(20, 100) * 5
    assert (importance_weighted_bound(random_weights) <= elbo_bound(random_weights)).all()


def test_iw_bound_tightens_as_k_grows_on_average_over_seeds(fitted):
    """Burda et al. 2016, theorem 1: E[bound_k] is non-increasing in k. The gain shows when q is
    a poor fit, so widen this model's posterior (log-variance + 3) before measuring."""
    import copy

    poor = copy.deepcopy(fitted)
    with torch.no_grad():
        poor.to_posterior.bias[poor.config.latent_dim:] += 3.0
    batch = batch_of(*ROWS)

    def mean_bound(k):
        values = []
        for seed in range(30):
            torch.manual_seed(seed)
            values.append(float(poor.nll(batch, samples=k)[0]))
        return sum(values) / len(values)

    bounds = [mean_bound(k) for k in (1, 8, 64)]
    assert bounds[0] > bounds[1] > bounds[2]


def test_iw_bound_of_synthetic_weights_tightens_with_k():
    generator = torch.Generator().manual_seed(0)
    log_weights = torch.randn(256, 2000, generator=generator) * 2  # log w ~ N(0, 4), iid
    bounds = [float(importance_weighted_bound(log_weights[:k]).mean()) for k in (1, 4, 16, 256)]
    assert all(a > b for a, b in zip(bounds, bounds[1:]))
    # k = 1 is the ELBO itself: E[-log w] = 0; the limit is -log E[w] = -2
    assert bounds[0] == pytest.approx(0, abs=0.15) and bounds[-1] > -2


def test_annealing_schedules_give_the_values_they_should():
    assert kl_weight("linear", 0.0, fraction=0.4) == 0.0
    assert kl_weight("linear", 0.2, fraction=0.4) == pytest.approx(0.5)
    assert kl_weight("linear", 0.7, fraction=0.4) == 1.0
    assert kl_weight("sigmoid", 0.2, fraction=0.4) == pytest.approx(0.5)
    assert kl_weight("sigmoid", 0.0, fraction=0.4) == pytest.approx(1 / (1 + math.exp(5)))
    assert kl_weight("sigmoid", 0.4, fraction=0.4) == pytest.approx(1 / (1 + math.exp(-5)))
    assert kl_weight("constant", 0.0) == 1.0
    # an autoencoder phase over the first 20%, then the linear warm-up over the remaining 80%
    assert [kl_weight("linear", p, fraction=0.4, autoencoder=0.2) for p in (0.1, 0.2, 0.36, 0.52)] \
        == pytest.approx([0.0, 0.0, 0.5, 1.0])
    assert kl_weight("constant", 0.19, autoencoder=0.2) == 0.0
    assert kl_weight("constant", 0.2, autoencoder=0.2) == 1.0


def test_autoencoder_phase_reaches_the_loss_through_training_progress():
    model = tiny(autoencoder_fraction=0.5, kl_schedule="constant")
    model.set_training_progress(40, 100)
    assert float(model.loss(batch_of(*ROWS))["kl_weight"]) == 0.0
    model.set_training_progress(50, 100)
    assert float(model.loss(batch_of(*ROWS))["kl_weight"]) == 1.0


def test_free_bits_floor_the_kl_term():
    model = tiny(free_bits=50.0, kl_schedule="constant").eval()
    batch = batch_of(*ROWS)
    outputs = model.loss(batch)
    tokens = sum(len(r) - 1 for r in ROWS)
    rows, dims = len(ROWS), model.config.latent_dim
    # the actual KL is far below 50 nats a dimension, so the term is exactly the floor
    assert float(outputs["kl_per_sentence"]) < 50 * dims
    expected = (float(outputs["rec_per_sentence"]) * rows + rows * dims * 50.0) / tokens
    assert float(outputs["loss"].detach()) == pytest.approx(expected, rel=1e-5)
    # without the floor, the term is the KL itself
    torch.manual_seed(0)
    free = tiny(free_bits=0.0, kl_schedule="constant").eval().loss(batch)
    expected = (float(free["rec_per_sentence"]) + float(free["kl_per_sentence"])) * rows / tokens
    assert float(free["loss"].detach()) == pytest.approx(expected, rel=1e-5)


def test_word_dropout_zero_is_a_no_op_and_keeps_bos_and_padding():
    inputs = batch_of(*ROWS)["tokens"]
    assert torch.equal(tiny(word_dropout=0.0).train().word_dropout(inputs), inputs)
    torch.manual_seed(0)
    dropped = tiny(word_dropout=0.5).train().word_dropout(inputs)
    assert (dropped[:, 0] == VOCAB.bos_id).all()
    assert torch.equal(dropped == 0, inputs == 0)
    changed = dropped != inputs
    assert changed.any() and (dropped[changed] == VOCAB.unk_id).all()
    assert torch.equal(tiny(word_dropout=0.5).eval().word_dropout(inputs), inputs)


def test_z_to_output_adds_a_term_of_z_to_every_steps_logits():
    plain, skip = tiny().eval(), tiny(z_to_output=True).eval()
    skip.load_state_dict({**plain.state_dict(),
                          "z_to_logits.weight": skip.z_to_logits.weight.detach()})
    inputs, z = batch_of(*ROWS)["tokens"], torch.randn(len(ROWS), 4)
    with torch.no_grad():
        added = skip.decoder_logits(inputs, z)[0] - plain.decoder_logits(inputs, z)[0]
        expected = skip.z_to_logits(z)[:, None, :].expand_as(added)
    assert torch.allclose(added, expected, atol=1e-5)


def test_tiny_vae_overfits_sentences_sharing_first_words_and_reconstructs_each(fitted):
    """The sentences share their first words, so the decoder can only tell them apart by z."""
    decoded = fitted.decode(fitted.encode(batch_of(*ROWS)), SamplingOptions(temperature=0),
                            max_new_tokens=10)
    assert decoded == [list(r[1:-1]) for r in ROWS]


def test_latent_dim_zero_is_the_same_decoder_as_an_exact_lm():
    model = tiny(latent_dim=0).eval()
    assert not model.capabilities.latent and model.capabilities.nll_samples is None
    assert model.capabilities == dataclasses.replace(SeqVAE.capabilities, latent=False)
    assert get_model("seqvae").likelihood_of(model.config) == "exact"
    assert get_model("seqvae").likelihood_of(SeqVAEConfig()) == "bound"
    assert not hasattr(model, "encoder")
    first, count = model.nll(batch_of(*ROWS), samples=50)
    assert float(first) == pytest.approx(float(model.nll(batch_of(*ROWS))[0]))
    assert count == sum(len(r) - 1 for r in ROWS)
    assert model.diagnostics([batch_of(*ROWS)]) == {}


def test_mutual_information_and_active_units_see_collapse():
    torch.manual_seed(0)
    collapsed_mu, logvar = torch.zeros(2000, 4), torch.zeros(2000, 4)  # q(z|x) = p(z) for all x
    assert abs(mutual_information(collapsed_mu, logvar)) < 0.15  # Monte Carlo noise ~0.03
    assert active_units(collapsed_mu) == 0
    informative = torch.cat([torch.randn(200, 2) * 3, torch.zeros(200, 2)], dim=1)
    assert active_units(informative) == 2
    assert mutual_information(informative, torch.full((200, 4), -4.0)) > 2.0
    assert mutual_information(informative, torch.full((200, 4), -4.0)) <= math.log(200) + 1e-6


@pytest.fixture
def trained_vae(cli, corpus, tmp_path, tiny_args):
    result = cli(*tiny_args("seqvae", corpus, tmp_path / "vae"))
    assert result.exit_code == 0, result.stderr
    return tmp_path / "vae"


def test_training_logs_elbo_terms_and_validation_diagnostics(trained_vae):
    from gentext.runs.metrics_log import MetricsLog

    log = MetricsLog(trained_vae / "metrics.jsonl")
    train_rows, valid = log.rows("train"), log.rows("valid")
    assert {"rec_per_sentence", "kl_per_sentence", "kl_weight", "neg_elbo_per_token"} <= set(train_rows[0])
    assert valid[-1]["likelihood"] == "bound" and valid[-1]["nll_samples"] == 3
    diagnostics = valid[-1]["diagnostics"]
    for key in ("neg_elbo_per_sentence", "kl_per_token", "mutual_information", "active_units"):
        assert key in diagnostics
    # the IW bound (nats) is never looser than the -ELBO, here both per token
    assert valid[-1]["nats_per_token"] <= diagnostics["neg_elbo_per_token"] + 0.05


def test_eval_reports_a_labelled_bound_and_is_reproducible(cli, trained_vae):
    first = json.loads(cli("eval", trained_vae, "--json", "--nll-samples", 4).stdout)
    again = json.loads(cli("eval", trained_vae, "--json", "--nll-samples", 4).stdout)
    assert first["likelihood"] == "bound" and first["nll_samples"] == 4
    assert first["nats"] == again["nats"]
    assert 0 <= first["diagnostics"]["active_units"] <= 4
    text = cli("eval", trained_vae).stdout
    assert "upper bound" in text and "k=5" in text and "mutual_information" in text
    latent = first["latent_space"]  # reconstruction and interpolation figures, reproducible
    assert latent == again["latent_space"] and latent["sentences"] == first["examples"]
    assert 0 <= latent["bleu4_mean"] <= 1 and len(latent["bleu4_to_first"]) == latent["steps"]
    assert "reconstruction (greedy" in text and "interpolation (" in text


def test_sample_reconstruct_interpolate_on_a_tiny_run(cli, trained_vae, nouns):
    sampled = cli("sample", trained_vae, "--n", 3)
    assert sampled.exit_code == 0 and len(sampled.stdout.split("\n")) == 4
    rebuilt = cli("reconstruct", trained_vae, f"{nouns[0]} saw the letter.", "Harriet forgot.")
    assert rebuilt.exit_code == 0, rebuilt.stderr
    lines = rebuilt.stdout.splitlines()
    assert lines[0] == f"> {nouns[0]} saw the letter." and lines[1].startswith("= ")
    assert len(lines) == 4
    walk = cli("interpolate", trained_vae, "Emma saw the letter.", "Harriet forgot her sister.",
               "--points", 5, "--json")
    points = json.loads(walk.stdout)
    assert [p["t"] for p in points] == pytest.approx([0, 0.25, 0.5, 0.75, 1])


def test_models_without_a_latent_space_refuse_latent_commands(cli, trained_gpt, corpus, tmp_path,
                                                              tiny_args):
    for args in (["reconstruct", trained_gpt, "a sentence"], ["interpolate", trained_gpt, "a", "b"]):
        result = cli(*args)
        assert result.exit_code != 0 and len(result.error_lines) == 1
        assert "has no latent space" in result.error_lines[0]
    lm = cli(*tiny_args("seqvae", corpus, tmp_path / "lm", "--set", "model.latent_dim=0"))
    assert lm.exit_code == 0, lm.stderr
    assert "no latent space" in cli("reconstruct", tmp_path / "lm", "x").stderr
    report = json.loads(cli("eval", tmp_path / "lm", "--json").stdout)
    assert report["likelihood"] == "exact" and "latent_space" not in report


def test_bad_seqvae_settings_are_one_line_errors(cli, corpus, tmp_path, tiny_args):
    result = cli(*tiny_args("seqvae", corpus, tmp_path / "r", "--set", "model.kl_schedule=cosine"))
    assert result.exit_code != 0 and "model.kl_schedule" in result.error_lines[0]
    result = cli(*tiny_args("seqvae", corpus, tmp_path / "r", "--set", "model.cell=transformer"))
    assert result.exit_code != 0 and "model.cell" in result.error_lines[0]
    for key, value in (("autoencoder_fraction", "1.0"), ("word_dropout", "1.0"),
                       ("nll_samples", "0")):
        result = cli(*tiny_args("seqvae", corpus, tmp_path / "r", "--set", f"model.{key}={value}"))
        assert result.exit_code != 0 and f"model.{key}" in result.error_lines[0]
    assert not (tmp_path / "r").exists()  # nothing half-made to trip over when retrying


@pytest.mark.parametrize("key, value", [("bag_of_words", "0.5"), ("bn_gamma", "0.7"),
                                        ("autoencoder_word_dropout", "0.5"), ("kl_cycles", "2")])
def test_a_removed_variant_is_a_one_line_error_saying_why(key, value):
    """The variants docs/seqvae.md measured as no help went in 0.2, and their keys with them."""
    from gentext.config import build_config
    from gentext.errors import GentextError

    with pytest.raises(GentextError) as raised:
        build_config("seqvae", SeqVAEConfig, None, [f"model.{key}={value}"])
    message = str(raised.value)
    assert message.startswith(f"config key model.{key} was removed in 0.2 ")
    assert "docs/seqvae.md" in message and message.endswith("; leave it out")
    assert "\n" not in message
    with pytest.raises(GentextError, match="'cyclical' was removed in 0.2"):
        tiny(kl_schedule="cyclical")


def test_a_run_saved_with_a_removed_key_at_its_old_default_still_loads():
    """A config.toml written before 0.2 holds every key, the removed ones at their defaults
    (what the code now always does): it builds the same config as one without them."""
    from gentext.config import build_config

    saved = {"model": {"bag_of_words": 0.0, "bn_gamma": 0, "autoencoder_word_dropout": 0.0,
                       "kl_cycles": 4, "latent_dim": 8}}
    assert build_config("seqvae", SeqVAEConfig, saved) == \
        build_config("seqvae", SeqVAEConfig, {"model": {"latent_dim": 8}})
