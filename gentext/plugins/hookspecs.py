"""The plugin hooks. Each receives a callback (or the app) and registers what it offers."""

import pluggy

hookspec = pluggy.HookspecMarker("gentext")
hookimpl = pluggy.HookimplMarker("gentext")


@hookspec
def register_models(register):
    """Register model families: call ``register(ModelSpec(...))`` once per model."""


@hookspec
def register_datasets(register):
    """Register named corpora: call ``register(DatasetSpec(...))`` once per dataset."""


@hookspec
def register_metrics(register):
    """Register sample metrics: call ``register(MetricSpec(...))`` once per metric."""


@hookspec
def register_commands(app):
    """Add commands to the Typer ``app`` of the ``gentext`` CLI."""
