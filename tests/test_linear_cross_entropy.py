"""The chunked output layer + cross-entropy gives autograd's loss and gradients exactly (to
float32 rounding), with padding ignored, a padded head masked, and chunks smaller than the
batch; gpt's loss through it equals its loss through the whole logits."""

import pytest
import torch
import torch.nn.functional as F

from gentext.models.linear_cross_entropy import linear_cross_entropy
from gentext.models.contract import IGNORE_INDEX


def reference(hidden, weight, targets, vocab):
    logits = hidden @ weight.t()
    logits = torch.cat([logits[..., :vocab], torch.full_like(logits[..., vocab:], -torch.inf)], -1)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1),
                           ignore_index=IGNORE_INDEX, reduction="sum")


@pytest.mark.parametrize("chunk", [7, 1024])
def test_nats_and_gradients_equal_autograds(chunk):
    torch.manual_seed(0)
    hidden = torch.randn(3, 11, 16, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(40, 16, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 37, (3, 11))
    targets[0, 8:] = IGNORE_INDEX  # padding
    targets[2, 4:] = IGNORE_INDEX
    nats, count = linear_cross_entropy(hidden, weight, targets, vocab=37, chunk=chunk)
    assert int(count) == 33 - 3 - 7
    (2.5 * nats).backward()  # a scaled loss: the gradient is scaled too
    got = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None
    expected = reference(hidden, weight, targets, 37)
    (2.5 * expected).backward()
    assert float(nats) == pytest.approx(float(expected), rel=1e-6)
    assert torch.allclose(got[0], hidden.grad, atol=1e-6)
    assert torch.allclose(got[1], weight.grad, atol=1e-6)
    assert got[1][37:].abs().max() == 0  # the padded head's rows are never predicted


def test_without_gradients_it_only_scores():
    hidden, weight = torch.randn(2, 5, 8), torch.randn(12, 8)
    targets = torch.randint(0, 12, (2, 5))
    with torch.no_grad():
        nats, count = linear_cross_entropy(hidden, weight, targets, chunk=3)
    assert int(count) == 10
    assert float(nats) == pytest.approx(float(reference(hidden, weight, targets, 12)), rel=1e-5)


def test_gpts_loss_through_the_chunks_equals_its_loss_through_the_whole_logits():
    from gentext.models.autoregressive import shifted_targets
    from gentext.data.batching import collate
    from gentext.models.contract import Vocab
    from gentext_gpt.config import GPTConfig
    from gentext_gpt.model import GPT

    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=32, max_len=32, dropout=0.0),
                Vocab(size=50, pad_id=0, bos_id=1, eos_id=2))
    batch = collate([[1, 5, 9, 13, 2], [1, 7, 2], [1, 4, 4, 4, 4, 4, 2]], pad_id=0)
    loss = model.loss(batch)["loss"]
    loss.backward()
    chunked = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    inputs, targets = shifted_targets(batch)
    whole = model.sequence_nats(inputs, targets).sum() / (targets != IGNORE_INDEX).sum()
    whole.backward()
    assert float(loss) == pytest.approx(float(whole), rel=1e-6)
    for name, p in model.named_parameters():
        assert torch.allclose(chunked[name], p.grad, atol=1e-6), name
