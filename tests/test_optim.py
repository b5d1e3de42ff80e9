"""gentext.optim: optimizers stepped as one keep torch's state-dict format and resume exactly."""

import copy

import torch

from gentext.config import TrainConfig
from gentext.optim import muon_with_adamw


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Embedding(10, 8), torch.nn.Linear(8, 8),
                               torch.nn.LayerNorm(8), torch.nn.Linear(8, 10))


def _step(model, optimizer, seed):
    torch.manual_seed(seed)
    tokens = torch.randint(0, 10, (4, 5))
    loss = torch.nn.functional.cross_entropy(model(tokens).flatten(0, 1), tokens.flatten())
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def test_a_restored_combined_optimizer_takes_the_same_steps():
    train = TrainConfig(lr=0.01)
    straight = _model()
    optimizer = muon_with_adamw(straight.parameters(), [straight[1].weight], train)
    for seed in range(3):
        _step(straight, optimizer, seed)
    saved_weights = {k: v.clone() for k, v in straight.state_dict().items()}
    saved = copy.deepcopy(optimizer.state_dict())  # torch hands out the live tensors
    assert sorted(saved["state"]) == list(range(len(list(straight.parameters()))))
    for seed in range(3, 6):
        _step(straight, optimizer, seed)

    resumed = _model()
    resumed.load_state_dict(saved_weights)
    again = muon_with_adamw(resumed.parameters(), [resumed[1].weight], train)
    again.load_state_dict(saved)
    for seed in range(3, 6):
        _step(resumed, again, seed)
    for name, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


def test_one_learning_rate_reaches_every_part():
    model = _model()
    optimizer = muon_with_adamw(model.parameters(), [model[1].weight], TrainConfig())
    for group in optimizer.param_groups:
        group["lr"] = 0.123
    assert all(g["lr"] == 0.123 for part in optimizer.parts for g in part.param_groups)
