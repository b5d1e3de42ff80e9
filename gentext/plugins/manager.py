"""The plugin manager: pluggy's, with entry points in the group ``gentext`` loaded one at a time
and each plugin's hooks called on their own.

The core's own registrations (gentext.builtin) and the built-in families are entry points too,
so they load exactly like third-party plugins. A plugin that fails to import, raises in a hook
or registers something other than a spec costs one warning line naming it, never the whole
tool (an error under GENTEXT_STRICT_PLUGINS=1); two plugins claiming one name is an error
naming both.
"""

from __future__ import annotations

import functools
import os
import sys
import weakref
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import pluggy

from gentext.errors import GentextError
from gentext.plugins import hookspecs
from gentext.plugins.specs import DatasetSpec, MetricSpec, ModelSpec

ENTRY_POINT_GROUP = "gentext"
STRICT_ENV = "GENTEXT_STRICT_PLUGINS"
CORE_PLUGIN = "gentext"
SPEC_TYPES = {"model": ModelSpec, "dataset": DatasetSpec, "metric": MetricSpec}


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin as `gentext plugins` shows it."""

    name: str
    version: str
    hooks: tuple[str, ...]


class Registry:
    """Everything the plugins registered, keyed by name, with the plugin that owns it."""

    def __init__(self):
        self.models: dict[str, ModelSpec] = {}
        self.datasets: dict[str, DatasetSpec] = {}
        self.metrics: dict[str, MetricSpec] = {}
        self.owner: dict[tuple[str, str], str] = {}  # (kind, name) -> plugin name

    def add(self, kind: str, spec, plugin: str) -> None:
        key = (kind, spec.name)
        if key in self.owner:
            raise GentextError(
                f"{kind} {spec.name!r} is registered by both plugin {self.owner[key]!r} "
                f"and plugin {plugin!r}; uninstall one of them"
            )
        self.owner[key] = plugin
        getattr(self, f"{kind}s")[spec.name] = spec


_versions: dict[str, str] = {}
_registry: tuple[list, Registry] = ([], Registry())  # the plugins it was made from, and it


def _warn(message: str, failure: Exception | None = None) -> None:
    """One warning line about a plugin (an error under GENTEXT_STRICT_PLUGINS=1); a
    ``failure`` cost the plugin its part, and the line says so."""
    if os.environ.get(STRICT_ENV, "").strip() not in ("", "0", "false", "no"):
        raise GentextError(message) from failure
    print(f"gentext: warning: {message}{' (skipped)' if failure else ''}", file=sys.stderr)


def _isolated(doing: str, call, **arguments):
    """``call(**arguments)``, or None when it raises: then one warning line, "plugin 'p'
    ``doing``: the error", so one broken plugin never takes the others down."""
    try:
        return call(**arguments)
    except Exception as exc:  # noqa: BLE001 - any failure of a plugin is reported the same way
        _warn(f"{doing}: {type(exc).__name__}: {exc}", exc)
        return None


@functools.cache
def plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with every entry point loaded on its own (pluggy's
    load_setuptools_entrypoints would let one plugin's ImportError stop them all)."""
    manager = pluggy.PluginManager("gentext")
    manager.add_hookspecs(hookspecs)
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if manager.has_plugin(entry_point.name):
            continue  # the same distribution seen twice on sys.path
        _isolated(f"plugin {entry_point.name!r} ({entry_point.value}) failed to load",
                  lambda: manager.register(entry_point.load(), name=entry_point.name))
        dist = getattr(entry_point, "dist", None)
        _versions[entry_point.name] = dist.version if dist is not None else "unknown"
    manager.check_pending()
    return manager


def register_plugin(plugin, name: str, version: str = "unknown") -> None:
    """Register a plugin object by hand (tests, notebooks, benchmarks)."""
    plugin_manager().register(plugin, name=name)
    plugin_manager().check_pending()
    _versions[name] = version


def _each_plugin(hook: str):
    """For each plugin implementing ``hook``: its name, and its hook alone to call (pluggy's
    caller with the other plugins left out), which returns the hook's results, or None if it
    raised (one warning line)."""
    manager = plugin_manager()
    for impl in getattr(manager.hook, hook).get_hookimpls():
        others = [plugin for plugin in manager.get_plugins() if plugin is not impl.plugin]
        name = manager.get_name(impl.plugin)
        yield name, functools.partial(_isolated, f"plugin {name!r} failed in {hook}",
                                      manager.subset_hook_caller(hook, remove_plugins=others))


def _offer(expected: type, offered: list, spec) -> None:
    """The ``register`` callback a register hook gets: keeps ``spec``, an ``expected``."""
    if not isinstance(spec, expected):
        raise TypeError(f"register() takes a {expected.__name__}, got {type(spec).__name__}")
    offered.append(spec)


def registry() -> Registry:
    """What the register hooks of every plugin registered, made again when the plugins change.
    A plugin's registrations count all or none: none if its hook raised."""
    global _registry
    loaded = [plugin_manager(), *plugin_manager().list_name_plugin()]
    if _registry[0] != loaded:
        found = Registry()
        for kind, expected in SPEC_TYPES.items():
            hook = f"register_{kind}s"
            for plugin, call in _each_plugin(hook):
                offered: list = []
                returned = call(register=functools.partial(_offer, expected, offered))
                if returned is None:
                    continue  # it raised: none of its registrations count
                if returned and not offered:  # `return spec`, not register(spec)
                    _warn(f"plugin {plugin!r}: {hook} registered nothing; call "
                          f"register({expected.__name__}(...)) rather than returning it")
                for spec in offered:
                    found.add(kind, spec, plugin)
        _registry = (loaded, found)
    return _registry[1]


def get_model(name: str) -> ModelSpec:
    """The spec of model ``name``, or an error listing the known ones."""
    models = registry().models
    if name not in models:
        known = ", ".join(sorted(models)) or "none (no plugin registered a model)"
        raise GentextError(f"unknown model {name!r}; known models: {known}")
    return models[name]


def model_owner(name: str) -> str:
    """The plugin that registered model ``name``."""
    return registry().owner[("model", name)]


def plugins() -> list[PluginInfo]:
    """Every loaded plugin with its version and the hooks it implements."""
    manager = plugin_manager()
    listed = [PluginInfo(name, _versions.get(name, "unknown"), tuple(sorted(
        caller.name for caller in manager.get_hookcallers(plugin) or ())))
        for name, plugin in manager.list_name_plugin()]
    return sorted(listed, key=lambda info: (info.name != CORE_PLUGIN, info.name))


@dataclass
class _AppCommands:
    """What ``add_commands`` has done to one CLI app: the plugins whose commands it holds,
    and who owns each command name ("gentext" for a built-in one)."""

    plugins: set = field(default_factory=set)
    owners: dict = field(default_factory=dict)


_apps: "weakref.WeakKeyDictionary[object, _AppCommands]" = weakref.WeakKeyDictionary()


def command_owners(app) -> dict[str, str]:
    """Each command name of ``app`` and the plugin that registered it ("gentext": built in)."""
    return dict(_apps.setdefault(app, _AppCommands()).owners)


def add_commands(app) -> None:
    """Let each plugin add its commands to the CLI app, once per plugin and app. A command
    name already taken (a built-in one, or another plugin's) is an error naming both; a
    plugin command that raises is one line naming the plugin."""
    state = _apps.setdefault(app, _AppCommands())
    owners = state.owners
    for info in app.registered_commands:
        owners.setdefault(_command_name(info), CORE_PLUGIN)
    for plugin, call in _each_plugin("register_commands"):
        if plugin in state.plugins:
            continue
        before = len(app.registered_commands)
        call(app=app)
        state.plugins.add(plugin)
        for info in app.registered_commands[before:]:
            command = _command_name(info)
            if command in owners:
                del app.registered_commands[before:]
                raise GentextError(f"command {command!r} is registered by both plugin "
                                   f"{owners[command]!r} and plugin {plugin!r}; uninstall one "
                                   "of them" + (" (built-in commands cannot be replaced)"
                                                if owners[command] == CORE_PLUGIN else ""))
            owners[command] = plugin
            info.callback = _failing_in_one_line(info.callback, plugin, command)


def _command_name(info) -> str:
    """The name a Typer command is called by."""
    return info.name or info.callback.__name__.lower().replace("_", "-")


def _failing_in_one_line(callback, plugin: str, command: str):
    """A plugin command whose unexpected exceptions become one line naming the plugin."""

    @functools.wraps(callback)
    def run(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except (GentextError, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - click's own exits pass through below
            if type(exc).__module__.startswith(("click", "typer")):
                raise
            raise GentextError(f"command {command!r} of plugin {plugin!r} failed: "
                               f"{type(exc).__name__}: {exc}") from exc

    return run
