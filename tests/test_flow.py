"""The flow family: coupling layers invert and their log-determinants are exact (conditioners
randomised, since a fresh one is the identity); the dequantisations, the length prior, the
bounds, parallel sampling, and the CLI's train, sample, eval, reconstruct and interpolate."""

import json

import pytest
import torch
from gentext.models.contract import SamplingOptions

from gentext_flow.couplings import Coupling, CouplingStack, coupling_mask


def randomised(module, seed=0):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype) * 0.5)
    return module


@pytest.mark.parametrize("coupling", ["affine", "additive", "spline"])
@pytest.mark.parametrize("mask", ["channel", "position"])
@pytest.mark.parametrize("parity", [0, 1])
def test_every_layer_inverts_in_float64(coupling, mask, parity):
    layer = randomised(Coupling(6, 16, coupling, mask, parity)).double()
    x = torch.randn(4, 7, 6, dtype=torch.float64)
    valid = torch.arange(7)[None, :] < torch.tensor([7, 5, 3, 1])[:, None]
    y, _ = layer(x, valid)
    assert not torch.allclose(y, x)  # it does transform something
    assert torch.allclose(layer.inverse(y, valid), x, atol=1e-6, rtol=0)


@pytest.mark.parametrize("dilated", [False, True])
def test_a_stack_inverts_in_float64(dilated):
    stack = randomised(CouplingStack(4, 8, layers=6, dilated=dilated)).double()
    x = torch.randn(3, 5, 4, dtype=torch.float64)
    valid = torch.ones(3, 5, dtype=torch.bool)
    z, _ = stack(x, valid)
    assert torch.allclose(stack.inverse(z, valid), x, atol=1e-6, rtol=0)


def test_dilated_conditioners_read_twice_as_far_every_two_layers():
    """Layers 0-1 read 2 neighbours each side a conditioner (two convolutions of width 3),
    layers 4-5 positions up to 8 away (every fourth; the layers before fill the gaps): a change
    8 positions away reaches layer 4's conditioner, not layer 0's."""
    stack = randomised(CouplingStack(2, 8, layers=6, coupling="additive", dilated=True)).double()
    assert [layer.conditioner.net.convs[0].dilation[0] for layer in stack.layers] == [1, 1, 2, 2,
                                                                                      4, 4]
    x = torch.randn(1, 16, 2, dtype=torch.float64)
    valid = torch.ones(1, 16, dtype=torch.bool)
    moved = x.clone()
    moved[0, 0] += 1.0
    for index, reaches in ((0, False), (4, True)):
        conditioner = stack.layers[index].conditioner
        near = conditioner(x, valid)[0, 8] - conditioner(moved, valid)[0, 8]
        assert bool(near.abs().max() > 0) == reaches


@pytest.mark.parametrize("coupling", ["affine", "spline"])
@pytest.mark.parametrize("mask", ["channel", "position"])
def test_log_determinant_equals_the_autograd_jacobian(coupling, mask):
    layer = randomised(Coupling(2, 8, coupling, mask, parity=1)).double()
    x = torch.randn(1, 3, 2, dtype=torch.float64)
    valid = torch.ones(1, 3, dtype=torch.bool)
    jacobian = torch.autograd.functional.jacobian(
        lambda flat: layer(flat.view(1, 3, 2), valid)[0].reshape(-1), x.reshape(-1))
    _, log_det = layer(x, valid)
    log_det = log_det.detach()
    assert float(log_det) == pytest.approx(float(torch.linalg.slogdet(jacobian).logabsdet), abs=1e-9)
    assert abs(float(log_det)) > 1e-3  # a non-trivial case


@pytest.mark.parametrize("coupling", ["affine", "spline"])
def test_stack_log_determinant_equals_the_autograd_jacobian(coupling):
    stack = randomised(CouplingStack(2, 8, layers=4, coupling=coupling)).double()
    x = torch.randn(1, 3, 2, dtype=torch.float64)
    valid = torch.ones(1, 3, dtype=torch.bool)
    jacobian = torch.autograd.functional.jacobian(
        lambda flat: stack(flat.view(1, 3, 2), valid)[0].reshape(-1), x.reshape(-1))
    assert float(stack(x, valid)[1].detach()) == pytest.approx(
        float(torch.linalg.slogdet(jacobian).logabsdet), abs=1e-9)


def test_spline_couplings_start_as_the_identity_and_invert_past_their_bound():
    layer = Coupling(2, 8, "spline", "channel", parity=0).double()
    x = torch.randn(2, 5, 2, dtype=torch.float64) * 4  # some entries beyond the bound of 4
    valid = torch.ones(2, 5, dtype=torch.bool)
    y, log_det = layer(x, valid)
    assert torch.allclose(y, x, atol=1e-9) and torch.allclose(log_det, torch.zeros(2, dtype=torch.float64), atol=1e-9)
    layer = randomised(layer)
    y, _ = layer(x, valid)
    assert not torch.allclose(y, x)
    assert torch.allclose(layer.inverse(y, valid), x, atol=1e-6, rtol=0)


def test_additive_couplings_preserve_volume_exactly():
    layer = randomised(Coupling(4, 8, "additive", "channel"))
    _, log_det = layer(torch.randn(3, 5, 4), torch.ones(3, 5, dtype=torch.bool))
    assert torch.equal(log_det, torch.zeros(3))


def test_padding_passes_through_and_adds_no_volume():
    layer = randomised(Coupling(4, 8, "affine", "position", parity=0)).requires_grad_(False)
    x = torch.randn(2, 6, 4)
    valid = torch.arange(6)[None, :] < torch.tensor([6, 3])[:, None]
    y, log_det = layer(x, valid)
    assert torch.equal(y[1, 3:], x[1, 3:])
    alone, alone_log_det = layer(x[1:, :3], valid[1:, :3])  # the sentence in a batch of its length
    assert torch.allclose(y[1, :3], alone[0], atol=1e-6)
    assert float(log_det[1]) == pytest.approx(float(alone_log_det[0]), abs=1e-5)


def test_masks_split_channels_and_positions_by_parity():
    assert coupling_mask("channel", 0, 2, 4).tolist() == [[1, 0, 1, 0]] * 2
    assert coupling_mask("position", 1, 3, 2).tolist() == [[0, 0], [1, 1], [0, 0]]


def test_categorical_decoder_is_a_distribution_that_recovers_separated_tokens():
    from gentext_flow.dequantization import CategoricalEncoding

    torch.manual_seed(0)
    encoding = CategoricalEncoding(vocab_size=6, dim=4)
    with torch.no_grad():
        encoding.mean.weight.copy_(torch.eye(6, 4) * 20)  # tokens 0-3 on the axes, far apart
        encoding.mean.weight[4:] = torch.tensor([[-20.0, 0, 0, 0], [0, -20.0, 0, 0]])
        encoding.log_scale.weight.fill_(-2.0)
    tokens = torch.tensor([[0, 1, 2, 3, 4, 5]])
    z, log_q = encoding.sample(tokens)
    log_decoder = encoding.log_decoder(z)
    assert torch.allclose(log_decoder.exp().sum(-1), torch.ones(1, 6), atol=1e-5)
    assert torch.equal(log_decoder.argmax(-1), tokens)
    # log q is the Gaussian density of the drawn z
    normal = torch.distributions.Normal(encoding.mean(tokens), encoding.log_scale(tokens).exp())
    assert torch.allclose(log_q, normal.log_prob(z).sum(-1), atol=1e-5)


def test_length_prior_never_samples_empty_sentences_and_learns_the_lengths():
    from gentext.models.length_prior import LengthPrior

    prior = LengthPrior(max_len=8)
    lengths = torch.tensor([3, 3, 3, 5])
    optimizer = torch.optim.Adam(prior.parameters(), lr=0.1)
    for _ in range(300):
        loss = -prior.log_prob(lengths).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(prior.log_prob(torch.tensor([3])).exp()) == pytest.approx(0.75, abs=0.02)
    drawn = prior.sample(2000, torch.Generator().manual_seed(0))
    assert drawn.min() >= 1
    assert (drawn == 3).float().mean() == pytest.approx(0.75, abs=0.05)
    # conditioned on a range: only lengths inside it, in the prior's proportions
    ranged = prior.sample(2000, torch.Generator().manual_seed(0), shortest=4, longest=6)
    assert set(ranged.tolist()) <= {4, 5, 6} and (ranged == 5).float().mean() > 0.8


DEQUANTIZATIONS = ["argmax", "categorical", "contextual", "uniform"]


def tiny_flow(dequantization="contextual"):
    from gentext.models.contract import Vocab
    from gentext_flow.config import FlowConfig
    from gentext_flow.model import TextFlow

    torch.manual_seed(0)
    config = FlowConfig(dequantization=dequantization, dim=4, hidden=16, layers=4, max_len=10,
                        nll_samples=8)
    return TextFlow(config, Vocab(size=12, pad_id=0, bos_id=1, eos_id=2))


def test_uniform_dequantisation_puts_each_token_in_its_own_unit_cube():
    from gentext_flow.dequantization import UniformDequantization

    encoding = UniformDequantization(vocab_size=5, unk_id=3)  # codes 0-4 in 3 bits
    assert encoding.dim == 3
    tokens = torch.arange(5).repeat(40)[None, :]
    z, log_q = encoding.sample(tokens, generator=torch.Generator().manual_seed(0))
    assert torch.equal(log_q, torch.zeros_like(log_q))  # uniform on a volume-1 cube
    assert ((z - encoding.bits(tokens) >= 0) & (z - encoding.bits(tokens) < 1)).all()
    log_decoder = encoding.log_decoder(z)
    assert torch.equal(log_decoder.argmax(-1), tokens)
    assert torch.equal(log_decoder.exp().sum(-1), torch.ones_like(log_q))  # one-hot: exact
    # a point in no token's cube (code 7 >= 5, or outside [0, 2)) decodes to <unk>
    off = torch.tensor([[[1.5, 1.5, 1.5], [-0.5, 0.5, 0.5]]])
    assert encoding.log_decoder(off).argmax(-1).tolist() == [[3, 3]]


def test_argmax_dequantisation_puts_each_token_in_its_own_orthant():
    from gentext_flow.dequantization import ArgmaxEncoding

    encoding = randomised(ArgmaxEncoding(vocab_size=5, unk_id=3, hidden=8))  # codes 0-4 in 3 bits
    with torch.no_grad():
        encoding.encoder.last.weight.mul_(0.1)  # |u| of a few units, where slopes do not underflow
    assert encoding.dim == 3
    tokens = torch.arange(5).repeat(8)[None, :]
    torch.manual_seed(0)
    z, log_q = encoding.sample(tokens)
    signs = torch.tensor([[(t >> d) & 1 for d in range(3)] for t in range(5)]).repeat(8, 1)
    assert torch.equal((z[0] > 0).long(), signs)  # the signs spell the index in binary
    log_decoder = encoding.log_decoder(z)
    assert torch.equal(log_decoder.argmax(-1), tokens)
    assert torch.equal(log_decoder.exp().sum(-1), torch.ones_like(log_q))  # one-hot: exact
    # log q(z | x) is the Gaussian's density of u over |dz/du|, u the same draw before the map
    mean, log_scale = encoding._posterior(tokens, None)
    torch.manual_seed(0)
    u = (mean + torch.randn(mean.shape) * log_scale.exp()).double().detach().requires_grad_()
    assert torch.allclose(z.abs().double(), torch.nn.functional.softplus(u) + encoding.margin)
    slope = torch.autograd.grad(torch.nn.functional.softplus(u).sum(), u)[0]
    gaussian = torch.distributions.Normal(mean.double(), log_scale.double().exp())
    expected = (gaussian.log_prob(u) - slope.log()).sum(-1)
    assert torch.allclose(log_q.double(), expected, atol=1e-4)
    # codes 5-7 belong to no token: they read as <unk>
    off = torch.tensor([[[1.0, -1.0, 2.0], [1.0, 1.0, 1.0]]])
    assert encoding.log_decoder(off).argmax(-1).tolist() == [[3, 3]]


def test_latent_encoding_reads_neighbours_but_never_padding():
    from gentext_flow.dequantization import ContextualEncoding

    encoding = randomised(ContextualEncoding(vocab_size=9, dim=3, hidden=8))
    short = torch.tensor([[4, 5, 6]])
    padded = torch.tensor([[4, 5, 6, 0, 0], [7, 8, 4, 5, 6]])
    valid = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    alone = encoding.center(short, torch.ones(1, 3, dtype=torch.bool))
    assert torch.allclose(encoding.center(padded, valid)[0, :3], alone, atol=1e-6)
    assert not torch.allclose(encoding.center(padded, valid)[1, 2:], alone[0], atol=1e-3)  # context
    log_decoder = encoding.log_decoder(torch.randn(2, 5, 3), valid)
    assert torch.allclose(log_decoder.exp().sum(-1), torch.ones(2, 5), atol=1e-5)


@pytest.mark.parametrize("dequantization", DEQUANTIZATIONS)
def test_importance_weighted_bound_is_never_looser_than_the_single_sample_one(dequantization):
    from gentext.data.batching import collate

    model = tiny_flow(dequantization).eval()
    batch = collate([[1, 5, 6, 7, 2], [1, 8, 2], [1, 9, 9, 10, 11, 4, 2]], pad_id=0)
    for seed in range(3):
        torch.manual_seed(seed)
        bound, tokens = model.nll(batch, samples=8)
        torch.manual_seed(seed)
        single = -model.log_weights(batch, k=8).detach().mean(dim=1).sum()
        assert tokens == 4 + 2 + 6
        assert float(bound) <= float(single) + 1e-5


@pytest.mark.parametrize("dequantization", DEQUANTIZATIONS)
def test_samples_come_out_in_one_pass_with_lengths_from_the_prior(dequantization):
    model = tiny_flow(dequantization).eval()
    samples = model.sample(50, SamplingOptions(seed=0), max_new_tokens=5)
    assert len(samples) == 50
    assert all(1 <= len(s) <= 5 for s in samples)
    full = model.sample(4, SamplingOptions(seed=0, stop_at_eos=False), max_new_tokens=5)
    assert [len(s) for s in full] == [5] * 4  # rows that may not stop are full length
    assert all(0 <= t < 12 for s in samples for t in s)
    assert len({len(s) for s in samples}) > 1  # varied lengths, not fixed chunks


def test_base_temperature_scales_the_noise_a_sample_starts_from(monkeypatch):
    """tau = 0 starts every sample at the base's mode (the same sentence for one length, when
    each position is decoded to its most likely token); tau = 1 is the default draw; tau
    scales u exactly."""
    from gentext.errors import GentextError

    model = tiny_flow().eval()
    lengths = torch.full((6,), 5)
    mode = model.sample_lengths(lengths, SamplingOptions(seed=0, temperature=0,
                                                         knobs={"base_temperature": 0.0}))
    assert all(row == mode[0] for row in mode)
    default = model.sample_lengths(lengths, SamplingOptions(seed=1))
    same = model.sample_lengths(lengths, SamplingOptions(seed=1, knobs={"base_temperature": 1.0}))
    assert default == same and len({tuple(row) for row in default}) > 1
    seen = []
    inverse = model.flow.inverse
    monkeypatch.setattr(model.flow, "inverse", lambda u, valid: seen.append(u) or inverse(u, valid))
    for tau in (1.0, 0.5):
        model.sample_lengths(lengths, SamplingOptions(seed=2, knobs={"base_temperature": tau}))
    assert torch.allclose(seen[1], 0.5 * seen[0])
    with pytest.raises(GentextError, match="base_temperature must be"):
        model.sample_lengths(lengths, SamplingOptions(knobs={"base_temperature": -1.0}))


def test_the_training_loss_is_the_single_draw_bound_per_token():
    """No weight on any term (the KL warm-up went in 0.2: docs/flow.md measured no help)."""
    from gentext.data.batching import collate

    model = tiny_flow()
    batch = collate([[1, 5, 6, 7, 2], [1, 8, 2]], pad_id=0)
    torch.manual_seed(0)
    loss = float(model.loss(batch)["loss"])
    torch.manual_seed(0)
    terms = model.bound_terms(batch)
    tokens = 3 + 1 + 2  # predicted tokens: content and <eos>
    assert loss == pytest.approx(-float(sum(terms.values()).sum()) / tokens, abs=1e-5)


@pytest.mark.parametrize("dequantization", ["argmax", "categorical", "contextual"])
def test_bound_approaches_the_entropy_of_a_toy_categorical(dequantization):
    """One-token sentences with token probabilities 1/2, 1/4, 1/8, 1/8: entropy 1.75 bits.
    After training, the importance-weighted bound per sentence (length included) must be
    within 0.05 bits of it."""
    import math

    from gentext.data.batching import collate
    from gentext.models.contract import Vocab
    from gentext_flow.config import FlowConfig
    from gentext_flow.model import TextFlow

    torch.manual_seed(0)
    probs = torch.tensor([0.5, 0.25, 0.125, 0.125])
    config = FlowConfig(dequantization=dequantization, dim=4, hidden=32, layers=4, max_len=4)
    model = TextFlow(config,
                     Vocab(size=8, pad_id=0, bos_id=1, eos_id=2))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, 800)
    for _ in range(800):
        tokens = torch.multinomial(probs, 128, replacement=True) + 4
        loss = model.loss(collate([[1, int(t), 2] for t in tokens], 0))["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    model.eval()
    counts = [2000, 1000, 500, 500]  # exactly the distribution, so its entropy is exact
    held_out = [[1, 4 + token, 2] for token, count in enumerate(counts) for _ in range(count)]
    nats, _ = model.nll(collate(held_out, 0), samples=64)
    bits_per_sentence = float(nats) / len(held_out) / math.log(2)
    assert 1.75 - 0.01 < bits_per_sentence < 1.75 + 0.05


@pytest.mark.parametrize("dequantization", ["argmax", "categorical", "uniform"])
def test_decoding_an_encoding_gives_the_sentence_back(dequantization):
    """The flow is invertible, so decode(encode(x)) is x wherever the dequantisation's own
    decoder is exact: always for uniform cubes and argmax orthants, and for a fresh categorical encoding (equal
    scales and prior, so each token's mean is nearest its own Gaussian)."""
    from gentext.data.batching import collate

    model = tiny_flow(dequantization)
    model.flow = randomised(model.flow, seed=1)  # a non-trivial flow
    sentences = [[1, 5, 6, 7, 2], [1, 8, 2], [1, 9, 9, 10, 11, 4, 2]]
    codes = model.eval().encode(collate(sentences, pad_id=0))
    assert codes.shape == (3, 5, model.dim + 1)
    assert codes[..., -1].tolist() == [[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1] * 5]  # where it ends
    assert model.decode(codes, max_new_tokens=10) == [s[1:-1] for s in sentences]


@pytest.mark.parametrize("dequantization", ["argmax", "uniform"])
def test_an_exact_decoder_names_its_token_at_any_temperature(dequantization):
    """An exact decoder leaves nothing to draw: a sample is the same at temperature 0 and 1,
    and a code no token owns decodes to <unk> even where <unk> is a special (lent by <eos>)."""
    model = tiny_flow(dequantization).eval()
    lengths = torch.full((8,), 5)
    greedy = model.sample_lengths(lengths, SamplingOptions(seed=3, temperature=0))
    drawn = model.sample_lengths(lengths, SamplingOptions(seed=3, temperature=1))
    assert greedy == drawn
    # uniform: outside every cube; argmax: the signs spell 12 in binary, and V = 12
    off = -3.0 if dequantization == "uniform" else torch.tensor([-1.0, -1.0, 1.0, 1.0])
    codes = torch.zeros(1, 5, model.dim) + off
    assert model.encoding.unk_id == 2 == model.vocab.eos_id
    assert model.encoding.decode_tokens(codes).tolist() == [[2] * 5]


def test_train_sample_and_eval_through_the_cli(cli, corpus, tmp_path, tiny_args):
    trained = cli(*tiny_args("flow", corpus, tmp_path / "flow"))
    assert trained.exit_code == 0, trained.stderr
    config = (tmp_path / "flow" / "config.toml").read_text()
    assert 'tokenizer = "bpe"' in config  # the family's data default
    result = json.loads(cli("eval", tmp_path / "flow", "--json").stdout)
    assert result["likelihood"] == "bound" and result["nll_samples"] == 16
    assert result["bits_per_byte"] == pytest.approx(result["nats"] / 0.6931471805599453
                                                    / result["bytes"], rel=1e-9)
    sampled = cli("sample", tmp_path / "flow", "--n", 4, "--seed", 1)
    assert sampled.exit_code == 0 and len(sampled.stdout.splitlines()) == 4
    assert sampled.stdout == cli("sample", tmp_path / "flow", "--n", 4, "--seed", 1).stdout
    # the family's default draws each position's token from p(x | z) at temperature 0.8
    default = cli("sample", tmp_path / "flow", "--n", 4, "--seed", 1, "--temperature", 0.8).stdout
    greedy = cli("sample", tmp_path / "flow", "--n", 4, "--seed", 1, "--temperature", 0).stdout
    assert sampled.stdout == default != greedy
    scored = json.loads(cli("eval", tmp_path / "flow", "--json", "--n", 3).stdout)
    assert scored["sample_temperature"] == 0.8


def test_characters_are_an_option(cli, corpus, tmp_path, tiny_args):
    """Characters in place of byte-level BPE (the tokenizer of the flows in the papers): a
    token is a byte here, the bound is still reported per byte, and samples are whole
    sentences."""
    trained = cli(*tiny_args("flow", corpus, tmp_path / "flow", "--set", "data.tokenizer=char"))
    assert trained.exit_code == 0, trained.stderr
    assert 'tokenizer = "char"' in (tmp_path / "flow" / "config.toml").read_text()
    result = json.loads(cli("eval", tmp_path / "flow", "--json").stdout)
    assert result["likelihood"] == "bound" and result["bytes"] == result["tokens"]
    assert result["bits_per_byte"] == pytest.approx(result["nats"] / 0.6931471805599453
                                                    / result["bytes"], rel=1e-9)
    sampled = cli("sample", tmp_path / "flow", "--n", 3, "--seed", 0)
    assert sampled.exit_code == 0 and len(sampled.stdout.splitlines()) == 3


def test_interpolation_walks_between_two_sentences_in_base_space(cli, corpus, tmp_path, tiny_args,
                                                                 nouns):
    """With uniform dequantisation decoding is exact, so the walk starts and ends on the
    given sentences whatever the (barely trained) flow."""
    first, second = f"{nouns[0]} saw the letter.", "Harriet forgot."
    trained = cli(*tiny_args("flow", corpus, tmp_path / "flow",
                             "--set", "model.dequantization=uniform"))
    assert trained.exit_code == 0, trained.stderr
    walk = json.loads(cli("interpolate", tmp_path / "flow", first, second, "--points", 5,
                          "--json").stdout)
    assert [p["t"] for p in walk] == pytest.approx([0, 0.25, 0.5, 0.75, 1])
    assert walk[0]["output"] == first and walk[-1]["output"] == second
    rebuilt = cli("reconstruct", tmp_path / "flow", second).stdout.splitlines()
    assert rebuilt == [f"> {second}", f"= {second}"]
