"""`gentext sweep`, deprecated for one release: `gentext compare --temperatures` measures the
same quality-diversity sweep beside the comparison table. Hidden from --help; it works as it
did (its own defaults, --plot and --save) and says, in one line, what to use instead."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from gentext.deprecation import deprecated
from gentext.errors import GentextError
from gentext_cli.options import (DEVICE_OPTION, JSON_OPTION, SEED_OPTION, count_option,
                                 load_run_on, parse_temperatures)


def sweep(
    runs: List[Path] = typer.Argument(..., metavar="RUN", show_default=False,
                                      help="Run directories trained on the same data."),
    temperatures: str = typer.Option("0.7,0.85,1.0,1.15", "--temperatures",
                                     help="Sampling temperatures, comma-separated."),
    n: int = count_option(1000, "Samples per run and temperature.", least=None),
    seed: int = SEED_OPTION,
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write the BLEU-4 / self-BLEU-4 "
                                        "plane as a PNG here."),
    save: Optional[Path] = typer.Option(None, "--save", help="Write every figure as JSON here."),
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Deprecated: use `gentext compare --temperatures`."""
    from gentext.comparison.sweep import check_sweep, markdown_table, temperature_sweep, write_json
    from gentext.runs.plots import plot_sweep

    deprecated("gentext sweep", "gentext compare --temperatures")
    values = parse_temperatures(temperatures)
    check_sweep(values, n)
    for path in (plot, save):
        if path is not None and not Path(path).parent.is_dir():
            raise GentextError(f"cannot write {str(path)!r}: its folder does not exist")
    loaded = [load_run_on(run, device) for run in runs]
    rows = temperature_sweep(loaded, values, n, seed)
    if save is not None:
        write_json(rows, save)
    if plot is not None:
        plot_sweep(rows, plot)
    if as_json:
        import json

        typer.echo(json.dumps(rows, indent=2))
    else:
        typer.echo(markdown_table(rows))
        typer.echo(f"\n{n} samples per row; BLEU against the test split, NLTK method1 smoothing, "
                   "Texygen's protocol")


def register(app: typer.Typer) -> None:
    app.command("sweep", hidden=True)(sweep)
