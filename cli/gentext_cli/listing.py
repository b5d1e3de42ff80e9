"""`gentext models`, `datasets`, `metrics` and `plugins`: what is installed. None imports
torch."""

from __future__ import annotations

import json

import typer

from gentext_cli.options import JSON_OPTION


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
             for row in [header, *rows]]
    return "\n".join(lines)


def models(as_json: bool = JSON_OPTION):
    """List every model family: name, plugin, likelihood kind, description."""
    from gentext.plugins.manager import registry

    found = registry()
    rows = [(name, found.owner[("model", name)], spec.likelihood_of(spec.config()),
             spec.description)
            for name, spec in sorted(found.models.items())]
    if as_json:
        keys = ("name", "plugin", "likelihood", "description")
        typer.echo(json.dumps([dict(zip(keys, row)) for row in rows], indent=2))
    else:
        typer.echo(_table(rows, ("MODEL", "PLUGIN", "LIKELIHOOD", "DESCRIPTION")))


def _listing(kind: str, as_json: bool) -> None:
    """Name, plugin and description of every registered dataset or metric."""
    from gentext.plugins.manager import registry

    found = registry()
    table = found.datasets if kind == "dataset" else found.metrics
    rows = [(name, found.owner[(kind, name)], spec.description)
            for name, spec in sorted(table.items())]
    if as_json:
        typer.echo(json.dumps([dict(zip(("name", "plugin", "description"), row))
                               for row in rows], indent=2))
    else:
        typer.echo(_table(rows, (kind.upper(), "PLUGIN", "DESCRIPTION")))


def datasets(as_json: bool = JSON_OPTION):
    """List every named corpus `--data` takes: name, plugin, description."""
    _listing("dataset", as_json)


def metrics(as_json: bool = JSON_OPTION):
    """List every sample metric `gentext eval --n` reports: name, plugin, description."""
    _listing("metric", as_json)


def plugins(as_json: bool = JSON_OPTION):
    """List loaded plugins: version, hooks, and what each registered (models, datasets,
    metrics, commands)."""
    from gentext.plugins.manager import command_owners, plugins as loaded, registry

    from gentext_cli.app import app

    infos, found = loaded(), registry()
    registered = {p.name: {"model": [], "dataset": [], "metric": [], "command": []} for p in infos}
    owners = {**found.owner, **{("command", name): plugin for name, plugin in
                                command_owners(app).items() if plugin != "gentext"}}
    for (kind, name), plugin in sorted(owners.items()):
        if plugin in registered:
            registered[plugin][kind].append(name)
    if as_json:
        typer.echo(json.dumps([{"name": p.name, "version": p.version, "hooks": list(p.hooks),
                                **{f"{kind}s": names
                                   for kind, names in registered[p.name].items()}}
                               for p in infos], indent=2))
    else:
        rows = [(p.name, p.version, ", ".join(p.hooks),
                 "; ".join(f"{kind}s: {', '.join(names)}"
                           for kind, names in registered[p.name].items() if names) or "-")
                for p in infos]
        typer.echo(_table(rows, ("PLUGIN", "VERSION", "HOOKS", "REGISTERED")))


def register(app: typer.Typer) -> None:
    app.command("models")(models)
    app.command("datasets")(datasets)
    app.command("metrics")(metrics)
    app.command("plugins")(plugins)
