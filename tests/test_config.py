"""Configs: defaults, TOML, --set, and one-line errors that name the valid keys."""

import dataclasses
import tomllib
import typing

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


# Names a section takes that are not its keys: presets, renamed keys and removed keys.

@dataclasses.dataclass
class Shape:
    width: int = 8  # a key
    depth: int = 2  # another
    PRESETS: typing.ClassVar[dict] = {"size": {"small": {"width": 4, "depth": 1},
                                               "large": {"width": 64, "depth": 6}}}
    RENAMED_KEYS: typing.ClassVar[dict] = {"n_width": "width"}
    REMOVED_KEYS: typing.ClassVar[dict] = {"trick": (0.0, "in 0.2 (it did not help)")}


def test_a_renamed_key_still_works_with_a_one_line_deprecation_warning():
    from gentext.deprecation import GentextDeprecationWarning

    for layer in ({"table": {"model": {"n_width": 16}}}, {"overrides": ["model.n_width=16"]}):
        with pytest.warns(GentextDeprecationWarning) as caught:
            config = build_config("shape", Shape, **layer)
        assert config.model.width == 16
        (message,) = [str(w.message) for w in caught]
        assert message == ("config key model.n_width is deprecated and goes in gentext 0.3: "
                           "use model.width")


def test_a_removed_key_is_a_one_line_error_saying_when_and_why():
    for layer in ({"table": {"model": {"trick": 0.5}}}, {"overrides": ["model.trick=0.5"]}):
        with pytest.raises(GentextError) as raised:
            build_config("shape", Shape, **layer)
        assert str(raised.value) == ("config key model.trick was removed in 0.2 (it did not "
                                     "help); leave it out")


def test_a_removed_key_at_the_value_now_built_in_is_ignored_so_saved_runs_load():
    assert build_config("shape", Shape, {"model": {"trick": 0}}, ["model.trick=0.0"]) == \
        build_config("shape", Shape)


def test_a_preset_sets_its_keys_and_a_key_beside_it_wins_whatever_the_order():
    assert build_config("shape", Shape, None, ["model.size=large"]).model == Shape(64, 6)
    for overrides in (["model.size=large", "model.depth=3"], ["model.depth=3", "model.size=large"]):
        assert build_config("shape", Shape, None, overrides).model == Shape(64, 3)
    table = {"model": {"depth": 3, "size": "small"}}
    assert build_config("shape", Shape, table).model == Shape(4, 3)
    # a later layer's preset sets its keys over an earlier layer's
    assert build_config("shape", Shape, table, ["model.size=large"]).model == Shape(64, 6)
    with pytest.raises(GentextError, match="model.size must be one of 'small', 'large', got 'x'"):
        build_config("shape", Shape, None, ["model.size=x"])


def test_transformer_families_share_one_declaration_of_the_stacks_keys():
    from gentext.config import TransformerConfig
    from gentext_mdlm.config import MDLMConfig

    shared = [field.name for field in dataclasses.fields(TransformerConfig)]
    for family in (GPTConfig, MDLMConfig):
        assert issubclass(family, TransformerConfig)
        assert [field.name for field in dataclasses.fields(family)][: len(shared)] == shared
    assert (GPTConfig().dropout, MDLMConfig().dropout) == (0.1, 0.0)  # each family's default


def test_every_familys_old_keys_and_presets_name_its_real_keys():
    from gentext.plugins.manager import registry

    for name, spec in registry().models.items():
        fields = {field.name for field in dataclasses.fields(spec.config)}
        renamed = getattr(spec.config, "RENAMED_KEYS", {})
        assert not set(renamed) & fields and set(renamed.values()) <= fields, name
        assert not set(getattr(spec.config, "REMOVED_KEYS", {})) & fields, name
        for preset, choices in getattr(spec.config, "PRESETS", {}).items():
            for choice in choices:  # each preset builds, and sets only real keys
                build_config(name, spec.config, None, [f"model.{preset}={choice}"])
