"""gentext.models.optim: optimizers stepped as one keep torch's state-dict format and resume exactly;
gentext's Muon does torch.optim.Muon's maths, block by block, sharded or not."""

import copy
import socket

import torch

from gentext.config import TrainConfig
from gentext.models.optim import Muon, muon_with_adamw


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


def _muon_steps(optimizer, parameters, gradients):
    """Step ``optimizer`` once per entry of ``gradients`` (one tensor per parameter each)."""
    for step in gradients:
        for parameter, gradient in zip(parameters, step):
            parameter.grad = gradient.clone()
        optimizer.step()


def _gradients(shapes, steps=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [[torch.randn(shape, generator=generator) for shape in shapes] for _ in range(steps)]


def test_muon_with_one_block_steps_as_torch_muon():
    shapes = [(8, 8), (12, 4), (4, 12)]  # square, tall (transposed for the iterations), wide
    starts = [torch.randn(shape, generator=torch.Generator().manual_seed(1)) for shape in shapes]
    for adjust_lr_fn in (None, "match_rms_adamw"):
        ours = [torch.nn.Parameter(w.clone()) for w in starts]
        torchs = [torch.nn.Parameter(w.clone()) for w in starts]
        settings = dict(lr=0.02, weight_decay=0.1, adjust_lr_fn=adjust_lr_fn)
        _muon_steps(Muon(ours, **settings), ours, _gradients(shapes))
        _muon_steps(torch.optim.Muon(torchs, **settings), torchs, _gradients(shapes))
        for mine, reference in zip(ours, torchs):
            torch.testing.assert_close(mine, reference, rtol=0, atol=1e-6)


def test_muon_steps_a_fused_matrix_as_its_row_blocks_apart():
    width = 8
    start = torch.randn(3 * width, width, generator=torch.Generator().manual_seed(1))
    fused = torch.nn.Parameter(start.clone())
    apart = [torch.nn.Parameter(w.clone()) for w in start.split(width)]
    settings = dict(lr=0.02, adjust_lr_fn="match_rms_adamw")
    gradients = _gradients([(3 * width, width)])
    _muon_steps(Muon([fused], blocks={fused: 3}, **settings), [fused], gradients)
    _muon_steps(torch.optim.Muon(apart, **settings), apart,
                [list(step[0].split(width)) for step in gradients])
    torch.testing.assert_close(fused, torch.cat(apart), rtol=0, atol=1e-6)
    whole = torch.nn.Parameter(start.clone())  # as one 3C x C matrix, the step differs
    _muon_steps(Muon([whole], **settings), [whole], gradients)
    assert not torch.allclose(whole, fused, atol=1e-3)


def test_a_restored_muon_takes_the_same_step():
    shapes = [(12, 4), (6, 6)]
    gradients = _gradients(shapes)
    straight = [torch.nn.Parameter(torch.ones(shape)) for shape in shapes]
    optimizer = Muon(straight, lr=0.02, blocks={straight[0]: 3})
    _muon_steps(optimizer, straight, gradients[:2])
    saved = copy.deepcopy(optimizer.state_dict())
    assert sorted(saved["state"]) == [0, 1] and set(saved["state"][0]) == {"momentum_buffer"}
    resumed = [torch.nn.Parameter(p.detach().clone()) for p in straight]
    again = Muon(resumed, lr=0.02, blocks={resumed[0]: 3})
    again.load_state_dict(saved)
    _muon_steps(optimizer, straight, gradients[2:])
    _muon_steps(again, resumed, gradients[2:])
    for mine, reference in zip(resumed, straight):
        assert torch.equal(mine, reference)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_muon_steps_a_sharded_parameter_as_a_whole_one():
    """A one-process gloo group: the DTensor path (gather, orthogonalise, keep this shard)
    runs on CPU; that it cuts several processes' shards rightly rests on distribute_tensor."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, Shard, distribute_tensor

    torch.distributed.init_process_group("gloo", rank=0, world_size=1,
                                         init_method=f"tcp://127.0.0.1:{_free_port()}")
    try:
        mesh = init_device_mesh("cpu", (1,))
        start = torch.randn(12, 4, generator=torch.Generator().manual_seed(1))
        plain = torch.nn.Parameter(start.clone())
        sharded = torch.nn.Parameter(distribute_tensor(start.clone(), mesh, [Shard(0)]))
        gradients = _gradients([(12, 4)])
        _muon_steps(Muon([plain], lr=0.02, blocks={plain: 3}), [plain], gradients)
        optimizer = Muon([sharded], lr=0.02, blocks={sharded: 3})
        _muon_steps(optimizer, [sharded], [[distribute_tensor(g, mesh, [Shard(0)]) for g in step]
                                           for step in gradients])
        assert isinstance(optimizer.state[sharded]["momentum_buffer"], DTensor)
        torch.testing.assert_close(sharded.full_tensor(), plain.detach(), rtol=0, atol=1e-6)
    finally:
        torch.distributed.destroy_process_group()
