"""`gentext compare`: runs of any families in one table, with plots and a report file; and
`--recipe families`, which trains the four built-in families on matched budgets first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from gentext.errors import GentextError
from gentext_cli.options import DEVICE_OPTION, JSON_OPTION, load_run_on, parse_temperatures

RECIPES = ("families",)


def compare(
    runs: Optional[List[Path]] = typer.Argument(None, metavar="RUN", help="Run directories trained on the same "
                                                "data (any families).", show_default=False),
    recipe: Optional[str] = typer.Option(None, "--recipe", help="Train runs first: 'families' "
                                         "trains every family that joins it (the built-in five "
                                         "and any plugin's) on matched budgets."),
    minutes: float = typer.Option(10.0, "--minutes", help="Training minutes per family (--recipe)."),
    out: Path = typer.Option(Path("runs/families"), "--out", "-o",
                             help="Where --recipe trains its runs and writes its report."),
    data: str = typer.Option("austen", "--data", help="Corpus for --recipe."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write a .md or .html report "
                                          "with plots here.", show_default="OUT/report.md with --recipe"),
    samples: int = typer.Option(1000, "--samples", help="Samples per run for BLEU, self-BLEU, "
                                "distinct-2 and lengths."),
    temperatures: str = typer.Option("0.7,1.0,1.3", "--temperatures",
                                     help="Temperatures of the quality-diversity plane (report)."),
    nll_samples: int = typer.Option(0, "--nll-samples", help="k of stochastic bounds.",
                                    show_default="each model's"),
    seed: int = typer.Option(0, "--seed", help="Random seed for sampling."),
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Measure runs of any families side by side on the same test sentences."""
    from gentext.comparison.compare import compare_runs, footnote, markdown_table, write_report

    if recipe is not None:
        if recipe not in RECIPES:
            raise GentextError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
        if runs:
            raise GentextError("give run directories or --recipe, not both")
        from gentext.comparison.recipes import train_families

        runs = train_families(out, minutes, data)
        report = report or out / "report.md"
    if not runs:
        raise GentextError("give at least one run directory (or --recipe families)")
    if nll_samples < 0:
        raise GentextError(f"--nll-samples must be positive, got {nll_samples}")
    values = parse_temperatures(temperatures)
    if report is not None and report.suffix not in (".md", ".html"):
        raise GentextError(f"--report must end in .md or .html, got {str(report)!r}")
    if report is not None and not report.parent.is_dir():
        raise GentextError(f"cannot write {str(report)!r}: its folder does not exist")
    loaded = [load_run_on(run, device) for run in runs]
    rows = compare_runs(loaded, samples, seed, nll_samples or None)
    if report is not None:
        from gentext.comparison.sweep import temperature_sweep

        sweep_rows = temperature_sweep(loaded, values, samples, seed)
        note = (f"Recipe 'families': each family trained for {minutes:g} minutes on {data}."
                if recipe else "")
        written = write_report(rows, sweep_rows, report, note)
        typer.echo("wrote " + ", ".join(str(p) for p in written), err=True)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(markdown_table(rows))
    typer.echo("\n" + footnote(rows))


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)
