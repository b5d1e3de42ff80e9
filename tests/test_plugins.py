"""The plugin system: fixture plugins, broken and duplicate entry points, strict mode, and a
start-up that never imports torch."""

import json
import subprocess
import sys
from importlib.metadata import EntryPoint

import pytest

from gentext.plugins import manager as plugins
from gentext.errors import GentextError
from gentext.plugins.hookspecs import hookimpl
from gentext.plugins.specs import ModelSpec


@pytest.fixture
def fresh_plugins(monkeypatch):
    """Load plugins from scratch with extra (fake) entry points added to the real ones."""
    from importlib import metadata

    real = metadata.entry_points
    extra: list[EntryPoint] = []

    def entry_points(**kwargs):
        found = list(real(**kwargs))
        return found + [ep for ep in extra if ep.group == kwargs.get("group")]

    monkeypatch.setattr(plugins, "entry_points", entry_points)
    plugins.plugin_manager.cache_clear()  # the next call loads every entry point afresh
    yield extra
    plugins.plugin_manager.cache_clear()


class Duplicate:
    @hookimpl
    def register_models(self, register):
        from toy_plugin import ToyConfig

        register(ModelSpec(name="gpt", description="a second gpt", config=ToyConfig,
                           model="x:Y", likelihood="exact"))


duplicate_plugin = Duplicate()


def test_fixture_plugin_appears_in_models_and_trains(cli, toy_plugin, corpus, tmp_path, tiny_args):
    listed = {row["name"]: row for row in json.loads(cli("models", "--json").stdout)}
    assert listed["toy"]["plugin"] == "toy-plugin" and listed["toy"]["likelihood"] == "exact"
    assert "gpt" in listed
    result = cli(*tiny_args("toy", corpus, tmp_path / "r"))
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "r/model/model.safetensors").is_file()
    assert cli("sample", tmp_path / "r", "--n", 3).exit_code == 0


def test_fixture_plugin_adds_a_command(cli, toy_plugin):
    assert "toy-hello" in cli("--help").stdout
    assert cli("toy-hello").stdout.strip() == "hello from toy"


def test_plugins_lists_versions_and_hooks(cli, toy_plugin):
    rows = {row["name"]: row for row in json.loads(cli("plugins", "--json").stdout)}
    assert rows["toy-plugin"]["version"] == "9.9"
    assert rows["toy-plugin"]["hooks"] == ["register_commands", "register_models"]
    assert "register_models" in rows["gentext_gpt"]["hooks"]
    assert rows["gentext"]["hooks"] == ["register_datasets", "register_metrics"]


def test_broken_entry_point_warns_and_the_rest_works(fresh_plugins, capsys):
    fresh_plugins.append(EntryPoint(name="broken", value="no_such_module_xyz", group="gentext"))
    models = plugins.registry().models
    warning = capsys.readouterr().err
    assert "gpt" in models
    assert warning.count("\n") == 1 and "plugin 'broken'" in warning and "warning" in warning


def test_strict_mode_makes_a_broken_plugin_an_error(fresh_plugins, monkeypatch):
    fresh_plugins.append(EntryPoint(name="broken", value="no_such_module_xyz", group="gentext"))
    monkeypatch.setenv("GENTEXT_STRICT_PLUGINS", "1")
    with pytest.raises(GentextError, match="plugin 'broken'"):
        plugins.registry()


def test_two_plugins_with_one_model_name_is_an_error_naming_both(fresh_plugins):
    fresh_plugins.append(EntryPoint(name="copycat", value="test_plugins:duplicate_plugin",
                                    group="gentext"))
    with pytest.raises(GentextError, match="'gpt' is registered by both plugin 'gentext_gpt' "
                                           "and plugin 'copycat'"):
        plugins.registry()


def test_broken_plugin_in_the_cli_is_one_warning_line(tmp_path):
    """End to end, in a real process: a broken installed plugin costs one stderr line."""
    dist = tmp_path / "broken_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[gentext]\nbroken = no_such_module_xyz\n")
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    code = "from gentext_cli.app import main; main()"
    ok = subprocess.run([sys.executable, "-c", code, "models"], capture_output=True, text=True,
                        env=env)
    assert ok.returncode == 0 and "gpt" in ok.stdout
    assert len(ok.stderr.strip().splitlines()) == 1 and "broken" in ok.stderr
    strict = subprocess.run([sys.executable, "-c", code, "models"], capture_output=True,
                            text=True, env={**env, "GENTEXT_STRICT_PLUGINS": "1"})
    assert strict.returncode != 0 and "error" in strict.stderr and "Traceback" not in strict.stderr


@pytest.mark.parametrize("args", [["--help"], ["models"], ["plugins"]])
def test_listing_commands_do_not_import_torch(args):
    code = ("import sys; from gentext_cli.app import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_python_dash_m_gentext_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "gentext", "models"], capture_output=True,
                            text=True)
    assert result.returncode == 0 and "gpt" in result.stdout
