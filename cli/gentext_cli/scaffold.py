"""`gentext new-plugin`: write a working plugin package to start from."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def new_plugin(
    name: str = typer.Argument(..., metavar="NAME", help="The model family's name, e.g. charrnn.",
                               show_default=False),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="The folder to write.",
                                       show_default="gentext-NAME"),
):
    """Write a plugin package (model, dataset, metric, command, tests) that trains as written."""
    from gentext.plugins.new_plugin import write_plugin

    out = out or Path(f"gentext-{name}")
    write_plugin(name, out)
    typer.echo(f"wrote {out}: pip install -e '{out}[test]', then `gentext train --model {name}` "
               f"and `python -m pytest {out}/tests`")


def register(app: typer.Typer) -> None:
    app.command("new-plugin")(new_plugin)
