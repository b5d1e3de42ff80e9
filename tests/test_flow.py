"""Pieces of the (coming) flow family: coupling layers invert and their log-determinants are
exact (conditioners randomised, since a fresh one is the identity); the categorical
encoding's decoder and the length prior behave."""

import pytest
import torch

from gentext_flow.couplings import Coupling, CouplingStack, coupling_mask


def randomised(module, seed=0):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype) * 0.5)
    return module


@pytest.mark.parametrize("coupling", ["affine", "additive"])
@pytest.mark.parametrize("mask", ["channel", "position"])
@pytest.mark.parametrize("parity", [0, 1])
def test_every_layer_inverts_in_float64(coupling, mask, parity):
    layer = randomised(Coupling(6, 16, coupling, mask, parity)).double()
    x = torch.randn(4, 7, 6, dtype=torch.float64)
    valid = torch.arange(7)[None, :] < torch.tensor([7, 5, 3, 1])[:, None]
    y, _ = layer(x, valid)
    assert not torch.allclose(y, x)  # it does transform something
    assert torch.allclose(layer.inverse(y, valid), x, atol=1e-6, rtol=0)


def test_a_stack_inverts_in_float64():
    stack = randomised(CouplingStack(4, 8, layers=6)).double()
    x = torch.randn(3, 5, 4, dtype=torch.float64)
    valid = torch.ones(3, 5, dtype=torch.bool)
    z, _ = stack(x, valid)
    assert torch.allclose(stack.inverse(z, valid), x, atol=1e-6, rtol=0)


@pytest.mark.parametrize("mask", ["channel", "position"])
def test_log_determinant_equals_the_autograd_jacobian(mask):
    layer = randomised(Coupling(2, 8, "affine", mask, parity=1)).double()
    x = torch.randn(1, 3, 2, dtype=torch.float64)
    valid = torch.ones(1, 3, dtype=torch.bool)
    jacobian = torch.autograd.functional.jacobian(
        lambda flat: layer(flat.view(1, 3, 2), valid)[0].reshape(-1), x.reshape(-1))
    _, log_det = layer(x, valid)
    log_det = log_det.detach()
    assert float(log_det) == pytest.approx(float(torch.linalg.slogdet(jacobian).logabsdet), abs=1e-9)
    assert abs(float(log_det)) > 1e-3  # a non-trivial case


def test_stack_log_determinant_equals_the_autograd_jacobian():
    stack = randomised(CouplingStack(2, 8, layers=4)).double()
    x = torch.randn(1, 3, 2, dtype=torch.float64)
    valid = torch.ones(1, 3, dtype=torch.bool)
    jacobian = torch.autograd.functional.jacobian(
        lambda flat: stack(flat.view(1, 3, 2), valid)[0].reshape(-1), x.reshape(-1))
    assert float(stack(x, valid)[1].detach()) == pytest.approx(
        float(torch.linalg.slogdet(jacobian).logabsdet), abs=1e-9)


def test_additive_couplings_preserve_volume_exactly():
    layer = randomised(Coupling(4, 8, "additive", "channel"))
    _, log_det = layer(torch.randn(3, 5, 4), torch.ones(3, 5, dtype=torch.bool))
    assert torch.equal(log_det, torch.zeros(3))


def test_padding_passes_through_and_adds_no_volume():
    layer = randomised(Coupling(4, 8, "affine", "position", parity=0))
    x = torch.randn(2, 6, 4)
    valid = torch.arange(6)[None, :] < torch.tensor([6, 2])[:, None]
    y, log_det = layer(x, valid)
    assert torch.equal(y[1, 2:], x[1, 2:])
    _, alone = layer(x[1:, :2], valid[1:, :2])  # the same sentence in a batch of its length
    assert float(log_det[1]) == pytest.approx(float(alone[0]), abs=1e-5)


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
    from gentext_flow.dequantization import LengthPrior

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


def tiny_flow():
    from gentext.model import Vocab
    from gentext_flow.config import FlowConfig
    from gentext_flow.model import TextFlow

    torch.manual_seed(0)
    return TextFlow(FlowConfig(dim=4, hidden=16, layers=4, max_len=10, iw_samples=8),
                    Vocab(size=12, pad_id=0, bos_id=1, eos_id=2))


def test_importance_weighted_bound_is_never_looser_than_the_single_sample_one():
    from gentext.data.batching import collate

    model = tiny_flow().eval()
    batch = collate([[1, 5, 6, 7, 2], [1, 8, 2], [1, 9, 9, 10, 11, 4, 2]], pad_id=0)
    for seed in range(3):
        torch.manual_seed(seed)
        bound, tokens = model.nll(batch, samples=8)
        torch.manual_seed(seed)
        single = -model.log_weights(batch, k=8).detach().mean(dim=1).sum()
        assert tokens == 4 + 2 + 6
        assert float(bound) <= float(single) + 1e-5


def test_samples_come_out_in_one_pass_with_lengths_from_the_prior():
    model = tiny_flow().eval()
    samples = model.sample(50, max_len=7, generator=torch.Generator().manual_seed(0))
    assert len(samples) == 50
    assert all(1 <= len(s) <= 5 for s in samples)  # at most max_len minus <bos>/<eos>
    assert all(0 <= t < 12 for s in samples for t in s)
    assert len({len(s) for s in samples}) > 1  # varied lengths, not fixed chunks


def test_bound_approaches_the_entropy_of_a_toy_categorical():
    """One-token sentences with token probabilities 1/2, 1/4, 1/8, 1/8: entropy 1.75 bits.
    After training, the importance-weighted bound per sentence (length included) must be
    within 0.05 bits of it."""
    import math

    from gentext.data.batching import collate
    from gentext.model import Vocab
    from gentext_flow.config import FlowConfig
    from gentext_flow.model import TextFlow

    torch.manual_seed(0)
    probs = torch.tensor([0.5, 0.25, 0.125, 0.125])
    model = TextFlow(FlowConfig(dim=4, hidden=32, layers=4, max_len=4, iw_samples=16),
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
