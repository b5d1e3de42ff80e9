"""FSDP's plan as the launcher states it, and its refusals; the training itself is in
tests/test_distributed.py (two processes, gloo) and tests/test_gpu.py (two GPUs)."""

import os

import pytest
from torch import nn

from gentext.training import sharding
from gentext.errors import GentextError


def test_no_fsdp_asked_means_no_plan(monkeypatch):
    monkeypatch.delenv(sharding.USE_FSDP, raising=False)
    assert sharding.requested() is None
    monkeypatch.setenv(sharding.USE_FSDP, "false")
    assert sharding.requested() is None


@pytest.mark.parametrize("value,reshard", [("true", True), ("false", False),
                                           ("FULL_SHARD", True), ("SHARD_GRAD_OP", False)])
def test_the_plan_follows_accelerates_reshard_setting(monkeypatch, value, reshard):
    monkeypatch.setenv(sharding.USE_FSDP, "true")
    monkeypatch.setenv("FSDP_RESHARD_AFTER_FORWARD", value)
    monkeypatch.setenv("FSDP_OFFLOAD_PARAMS", "true")
    assert sharding.requested() == sharding.ShardingPlan(reshard, offload_params=True)


def test_an_unknown_reshard_setting_is_one_line(monkeypatch):
    monkeypatch.setenv(sharding.USE_FSDP, "true")
    monkeypatch.setenv("FSDP_RESHARD_AFTER_FORWARD", "HYBRID_SHARD")
    with pytest.raises(GentextError, match="fsdp_reshard_after_forward 'hybrid_shard' is not"):
        sharding.requested()


def test_fp16_under_fsdp_is_refused_and_bf16_is_not():
    plan = sharding.ShardingPlan()
    with pytest.raises(GentextError, match="train.precision auto means fp16 here"):
        sharding.check_precision(plan, "fp16", "auto")
    sharding.check_precision(plan, "bf16", "auto")
    sharding.check_precision(None, "fp16", "fp16")  # no FSDP: accelerate scales the loss


def test_accelerate_is_set_up_without_the_fsdp_request_which_comes_back(monkeypatch):
    monkeypatch.setenv(sharding.USE_FSDP, "true")
    with sharding.accelerate_without_fsdp():
        assert sharding.USE_FSDP not in os.environ
    assert os.environ[sharding.USE_FSDP] == "true"


def test_units_expand_a_module_list_and_name_a_missing_one():
    model = nn.Module()
    model.blocks = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
    model.head = nn.Linear(2, 2)
    assert sharding.units(model, ("blocks", "head")) == [*model.blocks, model.head]
    with pytest.raises(GentextError, match="fsdp_units names 'body', which Module does not"):
        sharding.units(model, ("body",))


def test_built_in_transformers_name_their_blocks_as_units():
    from gentext.models.contract import Vocab
    from gentext_gpt.config import GPTConfig
    from gentext_gpt.model import GPT

    model = GPT(GPTConfig(n_layer=3, n_head=2, n_embd=16, max_len=16),
                Vocab(size=30, pad_id=0, bos_id=1, eos_id=2))
    assert sharding.units(model, model.fsdp_units) == list(model.transformer.h)
