"""Configs: defaults, TOML, --set, and one-line errors that name the valid keys."""

import tomllib

import pytest

from gentext.config import build_config, parse_override, to_toml
from gentext.errors import GentextError
from gentext_gpt.config import GPTConfig


def test_overrides_are_typed():
    config = build_config("gpt", GPTConfig, None, ["train.lr=3e-4", "train.steps=7",
                                                   "model.bias=false", "data.tokenizer=char",
                                                   "train.compile=off"])
    assert config.train.lr == 3e-4 and config.train.steps == 7
    assert config.model.bias is False and config.data.tokenizer == "char"
    assert config.train.compile is False


def test_toml_then_overrides_in_that_order():
    table = {"train": {"steps": 5, "lr": 1}, "model": {"n_layer": 2}}
    config = build_config("gpt", GPTConfig, table, ["train.steps=9"])
    assert (config.train.steps, config.train.lr, config.model.n_layer) == (9, 1.0, 2)


def test_family_defaults_sit_between_the_core_and_the_user():
    family = {"train_defaults": {"steps": 50}, "data_defaults": {"tokenizer": "char"}}
    config = build_config("gpt", GPTConfig, None, [], **family)
    assert (config.train.steps, config.data.tokenizer, config.data.max_len) == (50, "char", 128)
    config = build_config("gpt", GPTConfig, {"data": {"tokenizer": "word"}}, ["train.steps=9"],
                          **family)
    assert (config.train.steps, config.data.tokenizer) == (9, "word")
    with pytest.raises(GentextError, match="data.tokeniser"):
        build_config("gpt", GPTConfig, None, [], data_defaults={"tokeniser": "char"})


def test_resolved_config_round_trips_through_toml():
    config = build_config("gpt", GPTConfig, None, ["model.n_head=8", "data.source=my file.txt"])
    table = tomllib.loads(to_toml(config))
    assert table["run"]["model"] == "gpt"
    assert build_config("gpt", GPTConfig, table) == config


@pytest.mark.parametrize("override,words", [
    ("train.stepz=3", ["train.stepz", "valid keys in [train]", "steps"]),
    ("trian.steps=3", ["[trian]", "valid sections", "train"]),
    ("train.steps=three", ["train.steps", "an integer", "'three'"]),
    ("train.lr=fast", ["train.lr", "a number"]),
    ("model.bias=maybe", ["model.bias", "true or false"]),
    ("steps=3", ["section.key=value"]),
])
def test_bad_overrides_name_the_problem(override, words):
    with pytest.raises(GentextError) as raised:
        build_config("gpt", GPTConfig, None, [override])
    message = str(raised.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_toml_values_are_type_checked_too():
    with pytest.raises(GentextError, match="train.steps expects an integer"):
        build_config("gpt", GPTConfig, {"train": {"steps": "10"}})
    with pytest.raises(GentextError, match="train.steps expects an integer"):
        build_config("gpt", GPTConfig, {"train": {"steps": True}})


def test_parse_override_keeps_equals_signs_in_values():
    assert parse_override("data.source=a=b.txt") == ("data", "source", "a=b.txt")
