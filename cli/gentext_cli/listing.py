"""`gentext models` and `gentext plugins`: what is installed. Neither imports torch."""

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
    from gentext.plugins import registry

    found = registry()
    rows = [(name, found.owner[("model", name)], spec.likelihood_of(spec.config()),
             spec.description)
            for name, spec in sorted(found.models.items())]
    if as_json:
        keys = ("name", "plugin", "likelihood", "description")
        typer.echo(json.dumps([dict(zip(keys, row)) for row in rows], indent=2))
    else:
        typer.echo(_table(rows, ("MODEL", "PLUGIN", "LIKELIHOOD", "DESCRIPTION")))


def plugins(as_json: bool = JSON_OPTION):
    """List loaded plugins with their versions and the hooks they implement."""
    from gentext.plugins import plugins as loaded

    infos = loaded()
    if as_json:
        typer.echo(json.dumps([{"name": p.name, "version": p.version, "hooks": list(p.hooks)}
                               for p in infos], indent=2))
    else:
        rows = [(p.name, p.version, ", ".join(p.hooks)) for p in infos]
        typer.echo(_table(rows, ("PLUGIN", "VERSION", "HOOKS")))


def register(app: typer.Typer) -> None:
    app.command("models")(models)
    app.command("plugins")(plugins)
