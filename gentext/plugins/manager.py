"""The plugin manager: entry points in the group ``gentext`` loaded one at a time.

The core's own registrations (gentext.builtin) and the built-in families are entry points too,
so they load exactly like third-party plugins. A
plugin that fails to import costs one warning line, never the whole tool (unless
GENTEXT_STRICT_PLUGINS=1); two plugins claiming one name is an error naming both.
"""

from __future__ import annotations

import os
import sys
import weakref
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import pluggy

from gentext.plugins import hookspecs
from gentext.errors import GentextError
from gentext.plugins.specs import DatasetSpec, MetricSpec, ModelSpec

ENTRY_POINT_GROUP = "gentext"
STRICT_ENV = "GENTEXT_STRICT_PLUGINS"
CORE_PLUGIN = "gentext"


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

    def add(self, kind: str, table: dict, spec, plugin: str) -> None:
        key = (kind, spec.name)
        if key in self.owner:
            raise GentextError(
                f"{kind} {spec.name!r} is registered by both plugin {self.owner[key]!r} "
                f"and plugin {plugin!r}; uninstall one of them"
            )
        self.owner[key] = plugin
        table[spec.name] = spec


_manager: pluggy.PluginManager | None = None
_versions: dict[str, str] = {}
_registry: Registry | None = None


def _strict() -> bool:
    return os.environ.get(STRICT_ENV, "").strip() not in ("", "0", "false", "no")


def _load_entry_points(manager: pluggy.PluginManager) -> None:
    """Import each entry point on its own so one broken plugin cannot take the rest down."""
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if manager.has_plugin(entry_point.name):
            continue  # the same distribution seen twice on sys.path
        try:
            plugin = entry_point.load()
            manager.register(plugin, name=entry_point.name)
        except Exception as exc:  # noqa: BLE001 - any failure of a plugin is reported the same way
            message = (
                f"plugin {entry_point.name!r} ({entry_point.value}) failed to load: "
                f"{type(exc).__name__}: {exc}"
            )
            if _strict():
                raise GentextError(message) from exc
            print(f"gentext: warning: {message} (skipped)", file=sys.stderr)
            continue
        dist = getattr(entry_point, "dist", None)
        _versions[entry_point.name] = dist.version if dist is not None else "unknown"


def plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with the core and every entry point loaded."""
    global _manager
    if _manager is None:
        manager = pluggy.PluginManager("gentext")
        manager.add_hookspecs(hookspecs)
        _load_entry_points(manager)
        manager.check_pending()
        _manager = manager
    return _manager


def register_plugin(plugin, name: str, version: str = "unknown") -> None:
    """Register a plugin object by hand (tests, notebooks); clears the cached registry."""
    global _registry
    plugin_manager().register(plugin, name=name)
    plugin_manager().check_pending()
    _versions[name] = version
    _registry = None


def unregister_plugin(name: str) -> None:
    """Undo `register_plugin`."""
    global _registry
    plugin_manager().unregister(name=name)
    _versions.pop(name, None)
    _registry = None


def reset() -> None:
    """Forget every loaded plugin; the next call loads them afresh (used by tests)."""
    global _manager, _registry
    _manager = None
    _registry = None
    _versions.clear()


def registry() -> Registry:
    """Call the register hooks of every plugin once and return what they registered."""
    global _registry
    if _registry is None:
        manager = plugin_manager()
        found = Registry()
        tables = {"model": found.models, "dataset": found.datasets, "metric": found.metrics}
        for kind, table in tables.items():
            hook = getattr(manager.hook, f"register_{kind}s")
            for impl in hook.get_hookimpls():
                plugin = manager.get_name(impl.plugin)
                offered: list = []

                def register(spec, offered=offered, kind=kind):
                    expected = SPEC_TYPES[kind]
                    if not isinstance(spec, expected):
                        raise TypeError(f"register() takes a {expected.__name__}, got "
                                        f"{type(spec).__name__}")
                    offered.append(spec)

                hook_name, returned = f"register_{kind}s", []
                if not _call_hook(plugin, hook_name, lambda **kw: returned.append(
                        impl.function(**kw)), register=register):
                    continue
                if returned[0] is not None and not offered:  # `return spec`, not register(spec)
                    _warn(f"plugin {plugin!r}: {hook_name} registered nothing; call "
                          f"register({SPEC_TYPES[kind].__name__}(...)) rather than returning it")
                for spec in offered:  # all of a plugin's registrations, or none if it raised
                    found.add(kind, table, spec, plugin)
        _registry = found
    return _registry


SPEC_TYPES = {"model": ModelSpec, "dataset": DatasetSpec, "metric": MetricSpec}


def _warn(message: str) -> None:
    """One warning line about a plugin (an error under GENTEXT_STRICT_PLUGINS=1)."""
    if _strict():
        raise GentextError(message)
    print(f"gentext: warning: {message}", file=sys.stderr)


def _call_hook(plugin: str, hook: str, function, **arguments) -> bool:
    """Call one plugin's hook; if it raises, warn in one line (or fail under strict mode) and
    carry on, so one broken plugin never takes the other models down."""
    try:
        function(**arguments)
        return True
    except GentextError:
        raise  # e.g. two plugins claiming one name: the user must choose
    except Exception as exc:  # noqa: BLE001 - any failure of a plugin is reported the same way
        message = f"plugin {plugin!r} failed in {hook}: {type(exc).__name__}: {exc}"
        if _strict():
            raise GentextError(message) from exc
        print(f"gentext: warning: {message} (skipped)", file=sys.stderr)
        return False


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
    listed = []
    for name, plugin in manager.list_name_plugin():
        hooks = tuple(sorted(caller.name for caller in manager.get_hookcallers(plugin) or ()))
        listed.append(PluginInfo(name=name, version=_versions.get(name, "unknown"), hooks=hooks))
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
    manager = plugin_manager()
    state = _apps.setdefault(app, _AppCommands())
    done, owners = state.plugins, state.owners
    for info in app.registered_commands:
        owners.setdefault(_command_name(info), "gentext")
    for impl in manager.hook.register_commands.get_hookimpls():
        name = manager.get_name(impl.plugin)
        if name in done:
            continue
        before = len(app.registered_commands)
        _call_hook(name, "register_commands", impl.function, app=app)
        done.add(name)
        added = app.registered_commands[before:]
        for info in added:
            command = _command_name(info)
            if command in owners:
                del app.registered_commands[before:]
                raise GentextError(f"command {command!r} is registered by both plugin "
                                   f"{owners[command]!r} and plugin {name!r}; uninstall one "
                                   "of them" + (" (built-in commands cannot be replaced)"
                                                if owners[command] == "gentext" else ""))
            owners[command] = name
            info.callback = _isolated(info.callback, name, command)


def _command_name(info) -> str:
    """The name a Typer command is called by."""
    return info.name or info.callback.__name__.lower().replace("_", "-")


def _isolated(callback, plugin: str, command: str):
    """A plugin command whose unexpected exceptions become one line naming the plugin."""
    import functools

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
