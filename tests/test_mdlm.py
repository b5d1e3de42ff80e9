"""The masked-diffusion family: its schedules, its bound, its sampler and infilling."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from gentext.data.batching import collate
from gentext.errors import GentextError
from gentext.models.contract import SamplingOptions, Vocab
from gentext_mdlm.config import MDLMConfig
from gentext_mdlm.model import MaskedDiffusion
from gentext_mdlm.schedules import SCHEDULES, Cosine, LogLinear, diffusion_times, masks_by_count

VOCAB = Vocab(size=12, pad_id=0, bos_id=1, eos_id=2, unk_id=3)
TINY = dict(n_layer=1, n_head=2, n_embd=32, max_len=16, dropout=0.0)
ROWS = [[1, 5, 6, 7, 2], [1, 8, 2], [1, 9, 10, 11, 4, 5, 2], [1, 4, 4, 2]]


def tiny(**settings) -> MaskedDiffusion:
    torch.manual_seed(0)
    return MaskedDiffusion(MDLMConfig(**{**TINY, **settings}), VOCAB).eval()


def test_schedules_at_known_times_and_each_token_counted_once_on_average():
    t = torch.tensor([0.25, 0.5, 1.0])
    assert LogLinear().mask_rate(t).tolist() == [0.25, 0.5, 1.0]
    assert LogLinear().weight(t).tolist() == [4.0, 2.0, 1.0]
    cosine = Cosine()
    assert cosine.mask_rate(torch.tensor([0.0, 1.0])).tolist() == pytest.approx([0.0, 1.0], abs=1e-7)
    assert float(cosine.weight(torch.tensor(0.5))) == pytest.approx(math.pi / 2)
    # w(t) * mask_rate(t) integrates to 1 over (0, 1] for every schedule: in expectation a
    # token is counted once, whatever the schedule (the ELBO does not depend on it)
    grid = (torch.arange(200_000, dtype=torch.float64) + 0.5) / 200_000
    for schedule in SCHEDULES.values():
        assert float((schedule().weight(grid) * schedule().mask_rate(grid)).mean()) == \
            pytest.approx(1.0, abs=1e-4)


def test_antithetic_times_cover_every_stretch_of_the_interval():
    t, factor = diffusion_times(8, 4, antithetic=True, device="cpu",
                                generator=torch.Generator().manual_seed(0))
    assert torch.equal(factor, torch.ones_like(t))
    assert t.shape == (8, 4) and float(t.min()) > 0 and float(t.max()) <= 1
    # the 32 draws fall one in each of 32 equal stretches of (0, 1], each row's spread out
    assert sorted(torch.ceil(t.flatten() * 32).long().tolist()) == list(range(1, 33))
    assert all(sorted(torch.ceil(row * 4).long().tolist()) == [1, 2, 3, 4] for row in t)


def test_antithetic_draws_of_t_cut_the_variance_of_a_smooth_integrand():
    def spread(antithetic: bool) -> float:
        means = [float(diffusion_times(8, 4, antithetic, "cpu",
                                       torch.Generator().manual_seed(s))[0].pow(2).mean())
                 for s in range(200)]
        return float(torch.tensor(means).var())

    assert spread(True) < 0.05 * spread(False)


def test_importance_sampled_times_leave_the_expectation_and_tame_the_tail():
    """t = u^2 weighted by 2 sqrt t: w(t) * mask_rate(t) still averages 1 (unbiased), and the
    second moment of a one-token sentence's estimate, E[(weight)^2 * mask_rate], is finite
    (4) where uniform draws make it grow without bound (the log of the number of draws)."""
    t, factor = diffusion_times(1, 100_000, True, "cpu", torch.Generator().manual_seed(0),
                                importance=True)
    assert torch.allclose(t, (factor / 2) ** 2)
    for schedule in SCHEDULES.values():
        weighted = factor * schedule().weight(t) * schedule().mask_rate(t)
        assert float(weighted.mean()) == pytest.approx(1.0, abs=2e-3)
    uniform, _ = diffusion_times(1, 100_000, True, "cpu", torch.Generator().manual_seed(0))
    loglinear = LogLinear()
    assert float(((factor * loglinear.weight(t)) ** 2 * t).mean()) == pytest.approx(4.0, abs=0.05)
    assert float((loglinear.weight(uniform) ** 2 * uniform).mean()) > 10


def test_the_loss_counts_masked_positions_only():
    model = tiny()
    batch = collate(ROWS, VOCAB.pad_id)
    tokens, lengths, content = model._content(batch)
    model.config.estimator = "time"
    masked, weight = model.draw_masks(content, torch.full((len(ROWS),), 0.5), False,
                                      torch.Generator().manual_seed(3))
    got = model.masked_nats(tokens, lengths, masked, weight)
    draws = torch.rand(tokens.shape, generator=torch.Generator().manual_seed(3))
    masked = content & (draws < 0.5)
    assert masked.any() and not (masked & ~content).any()  # <bos>, <eos>, <pad> never masked
    logits = model.logits(model.denoiser(tokens.masked_fill(masked, model.mask_id), lengths))
    nats = F.cross_entropy(logits.transpose(1, 2), tokens, reduction="none").masked_fill(~masked, 0)
    expected = 2.0 * nats.sum(dim=1)  # w(0.5) = 2 under the log-linear schedule
    assert torch.allclose(got, expected, atol=1e-5)
    # a token that is not masked can change without changing the loss (it is carried over)
    other = tokens.clone()
    other[~masked & content] = 4
    again = model.masked_nats(other, lengths, masked, weight)
    logits = model.logits(model.denoiser(other.masked_fill(masked, model.mask_id), lengths))
    nats = F.cross_entropy(logits.transpose(1, 2), tokens, reduction="none").masked_fill(~masked, 0)
    assert torch.allclose(again, 2.0 * nats.sum(dim=1), atol=1e-5)


def test_a_draw_by_count_masks_exactly_k_content_tokens_weighted_t_over_k():
    batch = collate(ROWS, VOCAB.pad_id)
    _, _, content = tiny()._content(batch)  # 3, 1, 5 and 2 content tokens
    masked, weight = masks_by_count(content, torch.tensor([0.5, 0.5, 1.0, 0.01]),
                                    torch.Generator().manual_seed(0))
    assert masked.sum(dim=1).tolist() == [2, 1, 5, 1]  # k = ceil(u T), at least 1
    assert weight.tolist() == pytest.approx([1.5, 1.0, 1.0, 2.0])
    assert not (masked & ~content).any()
    # which tokens: uniform over the row's content positions
    hits = sum(masks_by_count(content, torch.full((4,), 0.2), torch.Generator().manual_seed(s))[0]
               [2].long() for s in range(2000))
    assert hits[1:6].tolist() == pytest.approx([400] * 5, abs=70) and hits.sum() == 2000


@torch.no_grad()
def test_the_count_and_time_draws_estimate_the_same_bound_exactly_enumerated():
    """On one 3-token sentence, NELBO(x | T) = sum_k (1/k) mean over the k-subsets S of the
    cross-entropy at S given the rest: enumerated exactly. Both estimators average to it (within
    4 standard errors of 4,000 draws), and the count's draws vary far less than time's."""
    from itertools import combinations

    model = tiny()
    batch = collate([[1, 5, 9, 7, 2]], VOCAB.pad_id)
    tokens, lengths, content = model._content(batch)
    exact = 0.0
    for k in (1, 2, 3):
        subsets = list(combinations((1, 2, 3), k))
        for subset in subsets:
            masked = torch.zeros_like(content)
            masked[0, list(subset)] = True
            exact += float(model.masked_nats(tokens, lengths, masked, torch.ones(1))) / k / len(subsets)
    rows = collate([[1, 5, 9, 7, 2]] * 4000, VOCAB.pad_id)
    spread = {}
    for estimator in ("count", "time"):
        model.config.estimator = estimator
        draws = model.bound_draws(rows, 1, torch.Generator().manual_seed(0))[:, 0]
        draws = draws - model.length_nats(rows["lengths"])
        mean, error = float(draws.mean()), float(draws.std()) / math.sqrt(len(draws))
        assert abs(mean - exact) < 4 * error, (estimator, mean, exact, error)
        spread[estimator] = float(draws.var())
    assert spread["count"] < 0.5 * spread["time"], spread


def draw_toy(n: int) -> dict:
    """Sentences of 3 tokens: a uniform one of 4, a copy of it, a uniform one of 2. Entropy:
    log 8 nats a sentence (and the length is certain)."""
    first, last = torch.randint(4, 8, (n,)), torch.randint(8, 10, (n,))
    return collate([[1, int(a), int(a), int(b), 2] for a, b in zip(first, last)], 0)


@pytest.fixture(scope="module")
def toy_model():
    """A denoiser trained on ``draw_toy`` for 400 steps (about 3 s)."""
    torch.manual_seed(0)
    model = MaskedDiffusion(MDLMConfig(n_layer=1, n_head=2, n_embd=64, max_len=8, dropout=0.0),
                            VOCAB)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(400):
        batch = draw_toy(64)
        model.length_prior.observe(batch["lengths"] - 2)  # what training_step counts
        loss = model.loss(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_the_trained_bound_approaches_a_known_entropy_from_above(toy_model):
    """The bound must not fall below the entropy (beyond 4 standard errors) and must come
    within 0.12 nats a sentence of it."""
    torch.manual_seed(1)
    nats, tokens, variance = toy_model.nll_with_variance(draw_toy(512), samples=32)
    per_sentence, stderr = float(nats) / 512, math.sqrt(float(variance)) / 512
    assert tokens == 512 * 4
    assert per_sentence >= math.log(8) - 4 * stderr
    assert per_sentence <= math.log(8) + 0.12, (per_sentence, math.log(8))


@torch.no_grad()
def test_the_bound_is_reproducible_under_its_seed_and_antithetic_draws_vary_less(toy_model):
    torch.manual_seed(2)
    batch = draw_toy(64)
    first = toy_model.bound_draws(batch, 4, torch.Generator().manual_seed(1))
    assert torch.equal(first, toy_model.bound_draws(batch, 4, torch.Generator().manual_seed(1)))
    assert not torch.equal(first, toy_model.bound_draws(batch, 4, torch.Generator().manual_seed(2)))

    def spread(antithetic: bool) -> float:
        toy_model.config.antithetic = antithetic
        estimates = [float(toy_model.bound_draws(batch, 4, torch.Generator().manual_seed(s)).mean())
                     for s in range(300)]
        return float(torch.tensor(estimates).var())

    try:  # on 3-token sentences most of the variance is which tokens get masked, not t
        assert spread(True) < 0.95 * spread(False)
    finally:
        toy_model.config.antithetic = True


def test_after_s_steps_nothing_is_masked_and_given_tokens_never_change():
    model = tiny(sampling_steps=5)
    rows = model.sample(6, SamplingOptions(seed=0), max_new_tokens=8, prompt=[5, 6])
    assert all(row[:2] == [5, 6] and len(row) <= 10 for row in rows)
    assert all(model.mask_id not in row and set(row) <= set(range(3, 12)) for row in rows)
    template = [7, None, None, 8, None, 9]
    filled = model.infill(template, n=5, options=SamplingOptions(seed=0))
    for row in filled:
        assert len(row) == len(template) and model.mask_id not in row
        assert [row[i] for i in (0, 3, 5)] == [7, 8, 9]
    # one step unmasks everything at once; many steps can skip the network
    assert all(len(r) == 6 for r in model.infill(template, 3, SamplingOptions(knobs={"steps": 1})))


def test_sampling_runs_the_network_only_when_a_row_changed(monkeypatch):
    model = tiny()
    calls = []
    forward = model.denoiser.forward
    monkeypatch.setattr(model.denoiser, "forward",
                        lambda z, lengths: calls.append(z.size(0)) or forward(z, lengths))
    model.infill([None, None, 5], n=1, options=SamplingOptions(seed=0, knobs={"steps": 256}))
    assert 1 <= len(calls) <= 2  # two masks: at most two steps change anything


def test_other_families_refuse_to_infill_in_one_line(cli, corpus, tmp_path, tiny_args,
                                                     assert_one_line_error):
    gpt = tmp_path / "gpt"
    assert cli(*tiny_args("gpt", corpus, gpt)).exit_code == 0
    refused = cli("infill", gpt, "Emma ___ the letter.")
    assert_one_line_error(refused, "cannot fill blanks")


def test_train_sample_infill_and_eval_through_the_cli(cli, corpus, tmp_path, tiny_args):
    run = tmp_path / "mdlm"
    trained = cli(*tiny_args("mdlm", corpus, run))
    assert trained.exit_code == 0, trained.stderr
    filled = cli("infill", run, "Emma ___2 the letter ___3", "--n", 3, "--json")
    assert filled.exit_code == 0, filled.stderr
    texts = json.loads(filled.stdout)["fillings"]
    assert len(texts) == 3 and all(t.startswith("Emma") and " the letter" in t for t in texts)
    assert cli("infill", run, "no blank here").exit_code == 1
    sampled = cli("sample", run, "--n", 3, "--option", "steps=4", "--seed", 2)
    assert sampled.exit_code == 0 and len(sampled.stdout.splitlines()) == 3
    assert sampled.stdout == cli("sample", run, "--n", 3, "--option", "steps=4", "--seed", 2).stdout
    result = json.loads(cli("eval", run, "--json").stdout)
    assert result["likelihood"] == "bound" and result["nll_samples"] == 2
    assert result["stderr_bits_per_byte"] > 0
    said = cli("eval", run, "--nll-samples", 3).stdout
    assert "ELBO averaged over draws of how many tokens are masked with k=3" in said and "±" in said


def test_a_model_setting_out_of_range_is_one_line():
    with pytest.raises(GentextError, match="unknown model.schedule 'linear'; choose one of"):
        tiny(schedule="linear")
    with pytest.raises(GentextError, match="model.positions must be one of 'learned', 'rotary', "
                                           "got 'sinusoidal'"):
        tiny(positions="sinusoidal")
    with pytest.raises(GentextError, match="model.optimizer must be one of 'adamw', 'muon'"):
        tiny(optimizer="sgd")
    with pytest.raises(GentextError, match="model.conv_width must be 0 .none. or odd"):
        tiny(conv_width=2)
    with pytest.raises(GentextError, match="at most 14"):
        tiny().infill([None] * 15)


def test_an_interrupted_run_resumes_to_the_same_weights(cli, corpus, tmp_path, tiny_args,
                                                        ctrl_c_during):
    """Ctrl-C during step 4 of 6, then --resume: the masks and times drawn after the resume
    are the ones the straight run drew, so the weights end bit for bit the same."""
    settings = ("--set", "train.steps=6", "--set", "train.eval_every=3")
    straight = cli(*tiny_args("mdlm", corpus, tmp_path / "straight", *settings))
    assert straight.exit_code == 0, straight.stderr
    with ctrl_c_during(MaskedDiffusion, 4):  # during step 4, after step 3's checkpoint
        stopped = cli(*tiny_args("mdlm", corpus, tmp_path / "resumed", *settings))
    assert stopped.exit_code == 130, stopped.stderr
    resumed = cli("train", "--resume", "--out", tmp_path / "resumed", "--quiet")
    assert resumed.exit_code == 0, resumed.stderr
    weights = "model/model.safetensors"
    assert (tmp_path / "resumed" / weights).read_bytes() == (tmp_path / "straight" / weights).read_bytes()


def test_the_counted_length_prior_is_the_smoothed_share_of_each_length():
    from gentext.models.length_prior import CountedLengthPrior

    prior = CountedLengthPrior(max_len=5, smoothing=0.5)
    prior.observe(torch.tensor([3, 3, 3, 5]))
    probs = prior.log_probs().exp()
    assert probs.tolist() == pytest.approx([0.5 / 7, 0.5 / 7, 0.5 / 7, 3.5 / 7, 0.5 / 7, 1.5 / 7])
    drawn = prior.sample(1000, torch.Generator().manual_seed(0), shortest=4, longest=5)
    assert set(drawn.tolist()) == {4, 5} and (drawn == 5).float().mean() > 0.65


def test_training_counts_lengths_and_evaluation_does_not():
    model = tiny()
    batch = collate(ROWS, VOCAB.pad_id)
    from gentext.config import TrainConfig
    from gentext.training.step import TrainingStep

    model.loss(batch)  # evaluation: nothing counted
    model.train().loss(batch)  # nor the loss alone: the step counts, once over the processes
    assert float(model.length_prior.counts.sum()) == 0
    model.training_step(batch, TrainingStep(model.make_optimizers(TrainConfig()), 1.0, 10))
    assert model.length_prior.counts[[3, 1, 5, 2]].tolist() == [1, 1, 1, 1]


def test_rotary_positions_make_attention_depend_on_offsets_only():
    from gentext.models.transformer import rotary_tables, rotate

    torch.manual_seed(0)
    query, key = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)
    cos, sin = rotary_tables(20, 8, "cpu")

    def score(i: int, j: int) -> float:
        return float((rotate(query, cos[i], sin[i]) * rotate(key, cos[j], sin[j])).sum())

    assert score(3, 1) == pytest.approx(score(12, 10), abs=1e-5)
    assert score(3, 1) != pytest.approx(score(3, 2), abs=1e-3)
    assert torch.allclose(rotate(query, cos[0], sin[0]), query)  # position 0: not turned


@pytest.mark.parametrize("settings", [dict(), dict(positions="learned", conv_width=0)])
@torch.no_grad()
def test_a_sentence_reads_neither_padding_nor_other_rows(settings):
    """Changing the tokens past a sentence's end (padding, or another row's longer
    sentence) leaves its hidden states alone: attention masks those keys and the
    convolution reads them as zeros. (Projections start random here, not at zero as the
    recipe starts them, so attention carries something from the first step.)"""
    model = tiny(zero_init=False, **settings)
    batch = collate(ROWS, VOCAB.pad_id)
    tokens, lengths, _ = model._content(batch)
    hidden = model.denoiser(tokens, lengths)
    changed = tokens.clone()
    positions = torch.arange(tokens.size(1))
    changed[positions[None, :] >= lengths[:, None]] = 7
    again = model.denoiser(changed, lengths)
    inside = positions[None, :] < lengths[:, None]
    assert torch.allclose(hidden[inside], again[inside], atol=1e-6)
    # and a token inside does reach its neighbours
    changed[0, 2] = 9
    assert not torch.allclose(hidden[0, 1], model.denoiser(changed, lengths)[0, 1], atol=1e-6)


def test_the_modern_recipe_builds_the_denoiser_and_splits_its_optimizer():
    """mdlm shares gpt's recipe keys: RMSNorm, QK-norm, squared ReLU and zero-initialised
    projections in the denoiser, and Muon for its block matrices (AdamW for the rest)."""
    import torch

    from gentext.config import TrainConfig

    model = tiny(norm="rmsnorm", qk_norm=True, activation="relu2", zero_init=True,
                 optimizer="muon")
    assert isinstance(model.denoiser.ln_f, torch.nn.RMSNorm)
    assert all(block.attn.c_proj.weight.abs().sum() == 0 for block in model.denoiser.h)
    optimizer = model.make_optimizers(TrainConfig())["model"]
    muon, _ = optimizer.parts
    in_muon = {id(p) for group in muon.param_groups for p in group["params"]}
    assert id(model.denoiser.h[0].mlp.c_fc.weight) in in_muon
    assert id(model.denoiser.wte.weight) not in in_muon  # a lookup: AdamW
    assert len(in_muon) == sum(p.dim() == 2 for p in model.denoiser.h.parameters())

