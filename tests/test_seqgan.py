"""The seqgan family: its relaxation, its two networks, its two estimators, conditional
generation, resume with two optimizers, and the temperature sweep."""

import contextlib
import json

import pytest
import torch
import torch.nn.functional as F

import gentext_seqgan.model
from gentext.models.autoregressive import trim_at_eos
from gentext.config import TrainConfig
from gentext.data.batching import collate
from gentext.models.contract import Shard, Vocab
from gentext_seqgan.config import SeqGANConfig
from gentext_seqgan.diversity import batch_diversity, token_diversity
from gentext_seqgan.model import SeqGAN, discriminator_loss, generator_loss
from gentext_seqgan.relaxation import KeyedNoise, inverse_temperature, relaxed_one_hot

VOCAB = Vocab(size=30, pad_id=0, bos_id=1, eos_id=2, unk_id=3)


def tiny(**overrides) -> SeqGAN:
    torch.manual_seed(0)
    settings = dict(embedding_dim=16, hidden_dim=32, disc_embedding_dim=8, disc_filters=8,
                    dropout=0.0, disc_dropout=0.0)
    return SeqGAN(SeqGANConfig(**{**settings, **overrides}), VOCAB)


def overrides(*settings):
    return [arg for setting in settings for arg in ("--set", setting)]


@pytest.fixture
def tiny_gan(tiny_overrides):
    """The family's tiny settings (conftest's table)."""
    return tiny_overrides("seqgan")


def test_gumbel_softmax_samples_are_distributions_that_harden_as_temperature_falls():
    torch.manual_seed(0)
    logits = torch.randn(2000, 12)
    sharpness = []
    for beta in (1.0, 10.0, 100.0):
        relaxed, tokens = relaxed_one_hot(logits, beta)
        assert (relaxed >= 0).all()
        assert torch.allclose(relaxed.sum(-1), torch.ones(2000), atol=1e-5)
        assert torch.equal(tokens, relaxed.argmax(-1))
        sharpness.append(float(relaxed.max(-1).values.mean()))
    assert sharpness[0] < sharpness[1] < sharpness[2]
    assert sharpness[2] > 0.95  # nearly one-hot at beta 100
    hard, _ = relaxed_one_hot(logits, 1.0, straight_through=True)
    assert set(hard.unique().tolist()) == {0.0, 1.0}


def test_relaxed_tokens_are_distributed_as_the_softmax():
    torch.manual_seed(0)
    logits = torch.tensor([[2.0, 0.0, -1.0]]).expand(40000, 3)
    _, tokens = relaxed_one_hot(logits, 5.0)
    frequencies = torch.bincount(tokens, minlength=3).float() / len(tokens)
    assert torch.allclose(frequencies, torch.softmax(logits[0], -1), atol=0.01)


def test_inverse_temperature_rises_exponentially_from_one_to_its_maximum():
    assert inverse_temperature(0.0, 100.0) == pytest.approx(1.0)
    assert inverse_temperature(0.5, 100.0) == pytest.approx(10.0)
    assert inverse_temperature(1.0, 100.0) == pytest.approx(100.0)
    assert inverse_temperature(2.0, 100.0) == pytest.approx(100.0)  # capped


def test_relativistic_and_standard_losses_reward_the_right_side():
    confident = torch.tensor([5.0]), torch.tensor([-5.0])  # real looks real, fake looks fake
    for kind in ("rsgan", "standard"):
        assert float(discriminator_loss(*confident, kind)) < 0.02
        assert float(generator_loss(*confident, kind)) > 4.0


def test_gradients_reach_the_generator_through_the_discriminator():
    model = tiny()
    fake = model.generate_for_discriminator(6, 7, None, beta=2.0)
    assert fake.shape == (6, 7, VOCAB.size) and fake.requires_grad
    real = torch.randint(4, VOCAB.size, (6, 7))
    generator_loss(model.discriminator(real).detach(), model.discriminator(fake), "rsgan").backward()
    for name, parameter in model.generator.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_positions_after_the_first_eos_are_dead():
    tokens = torch.tensor([[5, 2, 7, 2], [5, 6, 7, 8], [2, 9, 9, 9]])
    assert model_dead(tokens).tolist() == [[False, False, True, True], [False] * 4,
                                           [False, True, True, True]]


def model_dead(tokens):
    return tiny()._after_eos(tokens)


def test_generation_stops_once_every_sample_has_ended_and_pads_like_real_batches():
    model = tiny()
    with torch.no_grad():
        model.generator.head.bias[VOCAB.eos_id] = 50.0  # <eos> first, every time
        tokens = model.generate_for_discriminator(4, 9, None, beta=None)
        relaxed = model.generate_for_discriminator(4, 9, None, beta=3.0)
    assert tokens.shape == (4, 1) and tokens.eq(VOCAB.eos_id).all()
    real = torch.tensor([[5, 6, 7, 2]] * 4)
    same_real, padded = model._same_length(real, relaxed)
    assert torch.equal(same_real, real) and padded.shape == (4, 4, VOCAB.size)
    assert padded[:, 0].argmax(-1).eq(VOCAB.eos_id).all()
    assert padded[:, 1:].argmax(-1).eq(VOCAB.pad_id).all()
    _, padded_tokens = model._same_length(real, tokens)
    assert padded_tokens.tolist() == [[VOCAB.eos_id, 0, 0, 0]] * 4


def test_discriminator_learns_to_separate_real_from_shuffled_text():
    torch.manual_seed(0)
    model = tiny()

    def real_rows(n):  # ascending runs of 6 tokens: order is what tells real from shuffled
        starts = torch.randint(4, VOCAB.size - 6, (n, 1))
        return starts + torch.arange(6)

    def shuffled(rows):
        return torch.stack([row[torch.randperm(len(row))] for row in rows])

    optimizer = torch.optim.Adam(model.discriminator.parameters(), lr=1e-2)
    for _ in range(150):
        rows = real_rows(32)
        loss = discriminator_loss(model.discriminator(rows), model.discriminator(shuffled(rows)),
                                  "standard")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    held_out = real_rows(200)
    with torch.no_grad():
        accuracy = ((model.discriminator(held_out) > 0).float().mean()
                    + (model.discriminator(shuffled(held_out)) < 0).float().mean()) / 2
    assert accuracy > 0.9


def test_reinforce_rewards_roll_outs_and_trains_only_the_generator():
    model = tiny(rollouts=2)
    loss = model.reinforce_loss(5, 6, None)
    assert torch.isfinite(loss)
    loss.backward()
    assert model.generator.head.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.discriminator.parameters())


def test_exact_nll_is_the_teacher_forced_cross_entropy():
    model = tiny().eval()
    batch = collate([[1, 5, 6, 7, 2], [1, 8, 2]], pad_id=0)
    nats, tokens = model.nll(batch)
    with torch.no_grad():
        logits, _ = model.generator(batch["tokens"][:, :-1])
    by_hand = (F.cross_entropy(logits[0], torch.tensor([5, 6, 7, 2]), reduction="sum")
               + F.cross_entropy(logits[1, :2], torch.tensor([8, 2]), reduction="sum"))
    assert tokens == 6
    assert float(nats) == pytest.approx(by_hand.item(), rel=1e-5)


def test_pretraining_schedule_does_not_depend_on_the_adversarial_length():
    """So a run of exactly pretrain_steps is the GAN's MLE starting point."""
    model = tiny(pretrain_steps=6)
    short, long = TrainConfig(steps=6, warmup_steps=2), TrainConfig(steps=50, warmup_steps=2)
    for step in range(6):
        assert model.learning_rates(step, short) == model.learning_rates(step, long)
        assert model.learning_rates(step, long)["discriminator"] == 0.0
    assert model.learning_rates(6, long) == {"generator": 1e-4, "discriminator": 1e-4}


@pytest.mark.parametrize("estimator", ["gumbel", "reinforce"])
def test_a_resumed_gan_run_ends_with_the_same_weights(cli, corpus, tmp_path, estimator, tiny_gan):
    common = ["--model", "seqgan", "--data", corpus, "--quiet",
              *overrides(*tiny_gan, "model.pretrain_steps=3", f"model.estimator={estimator}",
                         "model.rollouts=2", "train.eval_every=100")]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert cli("train", *common, "--out", straight, "--set", "train.steps=7").exit_code == 0
    # stop after the first adversarial step: the temperature schedule spans train.steps, and
    # its first step is the same (beta = 1) whatever the total
    assert cli("train", *common, "--out", split, "--set", "train.steps=4").exit_code == 0
    resumed = cli("train", *common, "--out", split, "--resume", "--set", "train.steps=7")
    assert resumed.exit_code == 0, resumed.stderr
    weights = "model/model.safetensors"
    assert (straight / weights).read_bytes() == (split / weights).read_bytes()
    rows = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    adversarial = [r for r in rows if "d_loss" in r]
    assert [r["step"] for r in adversarial] == [4, 5, 6, 7]
    assert all(r["lr_discriminator"] == 1e-4 for r in adversarial)


@pytest.fixture
def two_class_data(tmp_path):
    """A jsonl corpus whose two classes use disjoint words."""
    import random

    rng = random.Random(0)
    words = {"north": ["snow", "ice", "wolf", "pine"], "south": ["sand", "palm", "sun", "reef"]}
    lines = [json.dumps({"text": " ".join(rng.choice(words[label]) for _ in range(rng.randint(2, 4))),
                         "label": label})
             for label in ("north", "south") for _ in range(60)]
    rng.shuffle(lines)
    path = tmp_path / "classes.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, words


def test_conditional_gan_samples_the_label_asked_for(cli, tmp_path, two_class_data, tiny_gan):
    data, words = two_class_data
    out = tmp_path / "cgan"
    result = cli("train", "--model", "seqgan", "--data", data, "--out", out, "--quiet",
                 *overrides(*tiny_gan, "data.tokenizer=word", "data.vocab_size=20",
                            "train.lr=0.01", "train.steps=160", "model.pretrain_steps=150",
                            "train.eval_every=80"))
    assert result.exit_code == 0, result.stderr
    assert json.loads((out / "labels.json").read_text()) == ["north", "south"]
    for label, own in words.items():
        sampled = cli("sample", out, "--label", label, "-n", "30", "--json")
        assert sampled.exit_code == 0, sampled.stderr
        found = [w for text in json.loads(sampled.stdout)["samples"] for w in text.split()]
        assert found and sum(w in own for w in found) / len(found) > 0.95
    unknown = cli("sample", out, "--label", "east")
    assert unknown.exit_code == 1 and unknown.error_lines == [
        "gentext: error: unknown label 'east'; this run knows north, south"]
    evaluated = cli("eval", out, "--json")
    assert evaluated.exit_code == 0 and json.loads(evaluated.stdout)["likelihood"] == "exact"


def test_labels_missing_on_some_lines_is_a_one_line_error(cli, tmp_path, tiny_gan):
    data = tmp_path / "mixed.jsonl"
    lines = [{"text": f"line {i}", "label": "a" if i % 2 else "b"} for i in range(30)]
    lines[7] = {"text": "no label here"}
    data.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    result = cli("train", "--model", "seqgan", "--data", data, "--out", tmp_path / "r",
                 "--quiet", *overrides(*tiny_gan, "train.steps=2"))
    assert result.exit_code == 1
    assert len(result.error_lines) == 1 and "has no label" in result.error_lines[0]
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_label_on_an_unconditional_run_is_refused(cli, trained_gpt):
    result = cli("sample", trained_gpt, "--label", "x")
    assert result.exit_code == 1 and "is not conditional" in result.error_lines[0]


def test_sweep_reports_quality_and_diversity_per_temperature(cli, corpus, tmp_path, tiny_gan):
    run = tmp_path / "gan"
    assert cli("train", "--model", "seqgan", "--data", corpus, "--out", run, "--quiet",
               *overrides(*tiny_gan, "train.steps=4", "model.pretrain_steps=2")).exit_code == 0
    report = tmp_path / "sweep.md"
    result = cli("compare", run, "--temperatures", "0.5,1.5", "-n", "12", "--report", report,
                 "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)[0]["sweep"]
    assert [r["temperature"] for r in rows] == [0.5, 1.5]
    for row in rows:
        assert all(0 <= row[f"{kind}-{n}"] <= 1 for kind in ("bleu", "self-bleu") for n in (2, 3, 4, 5))
    assert "| self-BLEU-4 |" in report.read_text()
    assert (tmp_path / "sweep-quality-diversity.png").stat().st_size > 1000


def test_sweep_refuses_runs_with_different_test_splits(cli, corpus, tmp_path, tiny_gan):
    other = tmp_path / "other.txt"
    other.write_text("".join(f"another sentence number {i}.\n" for i in range(40)), encoding="utf-8")
    runs = []
    for name, data in (("a", corpus), ("b", other)):
        runs.append(tmp_path / name)
        assert cli("train", "--model", "seqgan", "--data", data, "--out", runs[-1], "--quiet",
                   *overrides(*tiny_gan, "train.steps=2", "model.pretrain_steps=2")).exit_code == 0
    result = cli("compare", *runs, "-n", "4", "--temperatures", "1")
    assert result.exit_code == 1 and "different test splits" in result.error_lines[0]


def test_batch_diversity_on_the_device_matches_token_diversity_on_the_host():
    rng = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, 6, (5, 9), generator=rng) for _ in range(20)]  # many repeats
    batches += [torch.randint(0, VOCAB.size, (7, 12), generator=rng) for _ in range(20)]
    ends_at_once = torch.randint(0, VOCAB.size, (4, 6), generator=rng)
    ends_at_once[:, 0] = VOCAB.eos_id  # every row empty: no n-grams at all
    one_row_empty = torch.randint(4, VOCAB.size, (3, 5), generator=rng)
    one_row_empty[1, 0] = VOCAB.eos_id
    batches += [ends_at_once, one_row_empty, torch.tensor([[7], [2]]), torch.zeros(0, 4).long()]
    for tokens in batches:
        eos_at = torch.randint(0, tokens.size(1) + 3, (tokens.size(0),), generator=rng)
        placed = tokens.clone()
        for row, at in enumerate(eos_at.tolist()):  # some past the end: no <eos>
            if at < tokens.size(1):
                placed[row, at] = VOCAB.eos_id
        for batch in (tokens, placed):
            host = token_diversity(trim_at_eos(batch, VOCAB.eos_id), "fake")
            device = batch_diversity(batch, VOCAB.eos_id, VOCAB.size, "fake")
            assert device.keys() == host.keys()
            for name, value in device.items():
                assert value.shape == () and value.dtype == torch.float32
                assert value.item() == torch.tensor(host[name], dtype=torch.float32).item(), name


def test_keyed_noise_draws_on_the_cpu_what_it_always_drew():
    noise = KeyedNoise(key=1234, rows=5, vocab=7, rank=1, world=2)
    old = torch.Generator().manual_seed(1234)  # the generator it used to make up front
    for _ in range(3):
        expected = torch.rand(6, 7, generator=old)[1::2][:2]
        assert torch.equal(noise(2, "cpu"), expected)


def test_keyed_noise_is_drawn_on_the_device_asked_for():
    drawn = KeyedNoise(key=7, rows=4, vocab=9)(3, torch.device("meta"))
    assert drawn.device.type == "meta" and drawn.shape == (3, 9)


def test_every_value_of_an_adversarial_step_is_a_tensor_on_the_batch_device():
    model = tiny(pretrain_steps=0, adversarial_batch_size=2, max_generated_len=5)

    class Context:  # the trainer's StepContext, reduced to one process and one micro-batch
        step, total_steps, seed = 0, 4, 0

        def autocast(self):
            return torch.autocast("cpu", enabled=False)

        def whole_model(self):
            return contextlib.nullcontext()

        def optimize(self, name, objective, batch):
            outputs = dict(objective(batch, Shard(0, 1)))
            outputs.pop("count")
            outputs["loss"].backward()
            return outputs

    batch = collate([[1, 5, 6, 7, 2], [1, 8, 2], [1, 9, 9, 2]], pad_id=0)
    outputs = model.training_step(batch, Context())
    assert {"loss", "g_loss", "d_loss", "inverse_temperature", "fake_distinct_1",
            "fake_distinct_2", "fake_mean_tokens"} <= outputs.keys()
    for name, value in outputs.items():
        assert isinstance(value, torch.Tensor) and value.shape == (), name
        assert value.device == batch["tokens"].device, name


def sixteen_at_a_time(monkeypatch):
    """Ask whether every row has ended only every 16 tokens, as on a GPU."""
    monkeypatch.setattr(gentext_seqgan.model, "finished_check_every", lambda device: 16)


def only_pad_columns_added(every_token, every_16, pad) -> None:
    """Checking every 16 tokens gave the every-token rows, then 16 columns in all of ``pad``."""
    width = every_token.size(1)
    assert width < every_16.size(1) == 16
    assert torch.equal(every_16[:, :width], every_token)
    assert (every_16[:, width:] == pad).all()


@pytest.mark.parametrize("beta", [None, 3.0])
def test_checking_for_the_end_every_16_tokens_only_adds_pad_columns(monkeypatch, beta):
    model = tiny()
    with torch.no_grad():
        model.generator.head.bias[VOCAB.eos_id] = 3.0  # rows end after a few tokens

    def generate():
        return model.generate_for_discriminator(5, 40, None, beta, KeyedNoise(11, 5, VOCAB.size))

    every_token = generate()
    sixteen_at_a_time(monkeypatch)
    pad_one_hot = F.one_hot(torch.tensor(VOCAB.pad_id), VOCAB.size).float()
    only_pad_columns_added(every_token, generate(), VOCAB.pad_id if beta is None else pad_one_hot)


def test_reinforce_samples_the_same_tokens_and_pads_the_extra_columns(monkeypatch):
    model = tiny(rollouts=2)
    with torch.no_grad():
        model.generator.head.bias[VOCAB.eos_id] = 3.0
    scored = []
    discriminator = model.discriminator.forward
    model.discriminator.forward = lambda tokens, labels=None: (scored.append(tokens),
                                                                discriminator(tokens, labels))[1]

    def last_scored():
        torch.manual_seed(5)
        loss = model.reinforce_loss(5, 40, None)
        assert torch.isfinite(loss)
        loss.backward()
        return scored[-1]  # the whole samples, <pad> after <eos>, as the last reward reads them

    every_token = last_scored()
    sixteen_at_a_time(monkeypatch)
    only_pad_columns_added(every_token, last_scored(), VOCAB.pad_id)
