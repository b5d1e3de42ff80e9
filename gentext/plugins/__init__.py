"""The plugin system: the hooks a plugin implements, the specs it registers, and the one
manager that finds plugins through their entry points and keeps a broken one from breaking
the rest. ``new_plugin`` writes a new plugin from ``template/`` for `gentext new-plugin`.

May import: gentext.errors, gentext.config, gentext.models, gentext.deprecation (the
0.1.0 spellings of the manager's names)
"""


def __getattr__(name: str):
    """0.1.0's ``gentext.plugins`` was the manager module: its names still resolve, warning."""
    import importlib

    from gentext.deprecation import deprecated

    manager = importlib.import_module("gentext.plugins.manager")
    if name.startswith("_") or not hasattr(manager, name) or \
            isinstance(getattr(manager, name), type(importlib)):  # a submodule is imported
        raise AttributeError(f"module 'gentext.plugins' has no attribute {name!r}")
    deprecated(f"gentext.plugins.{name}", f"gentext.plugins.manager.{name}")
    return getattr(manager, name)
