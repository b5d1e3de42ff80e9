"""A plugin author's mistakes each end in one line naming the plugin and what is wrong, at
registration or before a run directory is made: never a traceback, never after training."""

import dataclasses
import json

import pytest
import typer

from gentext.plugins import manager as plugins
from gentext.errors import GentextError
from gentext.plugins.hookspecs import hookimpl
from gentext.plugins.specs import DatasetSpec, MetricSpec, ModelSpec


@pytest.fixture
def plugin(register_plugin):
    """plugin(name, **hooks): register a plugin object whose hooks are the given functions."""

    def make(name, **hooks):
        namespace = {hook: hookimpl(staticmethod(function)) for hook, function in hooks.items()}
        register_plugin(type("Plugin", (), namespace)(), name=name)

    return make


def spec(**changes):
    from toy_plugin import ToyConfig

    fields = dict(name="oops", description="a mistake", config=ToyConfig,
                  model="toy_plugin:ToyBigram", likelihood="exact")
    return ModelSpec(**{**fields, **changes})


@dataclasses.dataclass
class NoDefault:
    width: int


@pytest.mark.parametrize("changes, says", [
    ({"model": "toy_plugin.ToyBigram"}, "must be an import string 'package.module:Class'"),
    ({"model": "CLASS"}, "must be an import string"),
    ({"config": NoDefault}, "config field(s) width of NoDefault need a default"),
    ({"config": {"width": 4}}, "config must be a dataclass class"),
    ({"likelihood": "perfect"}, "likelihood must be one of exact, bound, estimate, none"),
])
def test_a_bad_spec_is_one_warning_line_at_registration(cli, plugin, changes, says):
    if changes.get("model") == "CLASS":
        from toy_plugin import ToyBigram

        changes = {"model": ToyBigram}
    plugin("careless", register_models=lambda register: register(spec(**changes)))
    listed = cli("models", "--json")
    assert listed.exit_code == 0 and "oops" not in {r["name"] for r in json.loads(listed.stdout)}
    warnings = [line for line in listed.stderr.splitlines() if "careless" in line]
    assert len(warnings) == 1 and says in warnings[0], listed.stderr


def test_returning_the_spec_instead_of_registering_it_is_named(cli, plugin):
    plugin("forgetful", register_models=lambda register: spec())
    listed = cli("models")
    assert "plugin 'forgetful': register_models registered nothing; call register(ModelSpec" \
        in listed.stderr


def test_registering_something_else_than_a_spec_is_named(cli, plugin):
    plugin("dicty", register_models=lambda register: register({"name": "oops"}))
    assert "register() takes a ModelSpec, got dict" in cli("models").stderr


@pytest.mark.parametrize("model, says", [
    ("toy_plugin:NoSuchModel", "has no 'NoSuchModel'"),
    ("no_such_module:Model", "No module named 'no_such_module'"),
    ("toy_plugin:ToyConfig", "not a subclass of gentext.models.contract.TextModel"),
    ("test_plugin_mistakes:Stepless", "does not implement step()"),
    ("test_plugin_mistakes:Hollow", "does not implement loss(), nll(), generate()"),
])
def test_a_bad_model_class_fails_before_the_run_directory_is_made(
        cli, plugin, corpus, tmp_path, assert_one_line_error, model, says):
    plugin("careless", register_models=lambda register: register(spec(model=model)))
    out = tmp_path / "run"
    assert_one_line_error(cli("train", "--model", "oops", "--data", corpus, "--out", out,
                              "--quiet"), "model 'oops'", says)
    assert not out.exists()


from gentext.models.autoregressive import AutoregressiveModel  # noqa: E402
from gentext.models.contract import TextModel  # noqa: E402


class Stepless(AutoregressiveModel):
    """Forgot to write step()."""


class Hollow(TextModel):
    """Forgot everything."""


@pytest.mark.parametrize("load, says", [
    (lambda: 1 / 0, "failed to load: ZeroDivisionError"),
    (lambda: ["a sentence", "another"], "example 1 is a str, not a {\"text\": ...} dict"),
    (lambda: None, "gave NoneType, not a list"),
])
def test_a_broken_dataset_is_one_line_naming_its_plugin(cli, plugin, tmp_path,
                                                        assert_one_line_error, load, says):
    plugin("shaky", register_datasets=lambda register: register(
        DatasetSpec("shaky-data", "a dataset with a bug", load)))
    assert_one_line_error(cli("train", "--model", "gpt", "--data", "shaky-data",
                              "--out", tmp_path / "r", "--quiet"),
                          "dataset 'shaky-data' (plugin 'shaky')", says)


def test_a_failing_metric_loses_only_its_own_row(cli, plugin, trained_gpt):
    plugin("metrics-with-bugs", register_metrics=lambda register: [
        register(MetricSpec("raises", "a bug", lambda s, r: 1 / 0)),
        register(MetricSpec("wordy", "not a number", lambda s, r: "high"))])
    result = cli("eval", trained_gpt, "--n", 4, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["nats_per_token"] > 0 and "distinct-2" in report["sample_metrics"]
    assert "raises" not in report["sample_metrics"] and "wordy" not in report["sample_metrics"]
    assert "metric 'raises' (plugin 'metrics-with-bugs') failed: ZeroDivisionError" in result.stderr
    assert "metric 'wordy' (plugin 'metrics-with-bugs') gave str 'high', not a number" in result.stderr


def test_a_plugin_command_that_raises_is_one_line_naming_the_plugin(cli, plugin,
                                                                     assert_one_line_error):
    def add(app):
        @app.command("explode-now")
        def explode():
            """A command with a bug."""
            raise ValueError("bad value")

    plugin("explosive", register_commands=add)
    assert_one_line_error(cli("explode-now"), "command 'explode-now' of plugin 'explosive' "
                          "failed: ValueError: bad value")


def test_a_command_name_already_taken_is_an_error_naming_both(plugin):
    app = typer.Typer()
    app.command("train")(lambda: None)

    def add_train(app):
        app.command("train")(lambda: None)

    def add_hello(app):
        app.command("hello-twice")(lambda: None)

    plugin("usurper", register_commands=add_train)
    with pytest.raises(GentextError, match="command 'train' is registered by both plugin "
                                           "'gentext' and plugin 'usurper'.*built-in"):
        plugins.add_commands(app)
    plugins.plugin_manager().unregister(name="usurper")
    app = typer.Typer()
    plugin("first", register_commands=add_hello)
    plugin("second", register_commands=add_hello)
    with pytest.raises(GentextError, match="'hello-twice' is registered by both plugin 'first' "
                                           "and plugin 'second'"):
        plugins.add_commands(app)


def test_a_run_whose_plugin_is_missing_names_the_plugin(cli, trained_gpt,
                                                        assert_one_line_error):
    config = trained_gpt / "config.toml"
    config.write_text(config.read_text().replace('model = "gpt"', 'model = "charrnn"'))
    meta = trained_gpt / "model" / "gentext.json"
    record = json.loads(meta.read_text())
    meta.write_text(json.dumps({**record, "plugin": "gentext_charrnn", "plugin_version": "0.3.1"}))
    assert_one_line_error(cli("eval", trained_gpt), "'charrnn' run made with plugin "
                          "'gentext_charrnn' 0.3.1, which is not installed")


def test_listings_name_each_datasets_and_metrics_plugin(cli, plugin):
    plugin("extras", register_datasets=lambda register: register(
        DatasetSpec("greetings", "three greetings", lambda: [{"text": "Hello."}])))
    datasets = json.loads(cli("datasets", "--json").stdout)
    assert {"name": "greetings", "plugin": "extras", "description": "three greetings"} in datasets
    metrics = {r["name"]: r["plugin"] for r in json.loads(cli("metrics", "--json").stdout)}
    assert metrics["bleu-4"] == "gentext"
    listed = {p["name"]: p for p in json.loads(cli("plugins", "--json").stdout)}
    assert listed["extras"]["datasets"] == ["greetings"]
    assert listed["gentext_gpt"]["models"] == ["gpt"]
    assert listed["gentext_gpt"]["commands"] == ["export", "import"]
