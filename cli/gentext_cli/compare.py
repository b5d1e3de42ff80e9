"""`gentext compare`: runs of any families in one table, quality against diversity over
sampling temperatures (`--temperatures`), plots and a report file; and `--recipe families`,
which trains the built-in families on matched budgets first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from gentext.errors import GentextError
from gentext_cli.options import (DEVICE_OPTION, JUDGE_OPTION, JSON_OPTION, NLL_SAMPLES_OPTION,
                                 OLD_SAMPLES_OPTION, RUNS_ARGUMENT, SEED_OPTION,
                                 check_judge_option, count_option, load_judge, load_run_on,
                                 parse_temperatures, renamed)

RECIPES = ("families",)
REPORT_TEMPERATURES = "0.7,1.0,1.3"  # the report's quality-diversity plane, unless told


def compare(
    runs: Optional[List[Path]] = RUNS_ARGUMENT,
    n: int = count_option(1000, "Samples per run (and per temperature) for BLEU, self-BLEU, "
                          "distinct-2 and lengths.", least=None),
    temperatures: Optional[str] = typer.Option(
        None, "--temperatures", help="Also sweep these sampling temperatures, comma-separated: "
        "BLEU-2..5 against the test split and self-BLEU-2..5 among the samples, per run and "
        "temperature (the report's quality-diversity plane).",
        show_default=f"{REPORT_TEMPERATURES} with --report, else no sweep"),
    judge: Optional[Path] = JUDGE_OPTION,
    nll_samples: int = NLL_SAMPLES_OPTION,
    seed: int = SEED_OPTION,
    report: Optional[Path] = typer.Option(None, "--report", help="Write a .md or .html report "
                                          "with plots here.",
                                          show_default="OUT/report.md with --recipe"),
    recipe: Optional[str] = typer.Option(None, "--recipe", help="Train runs first: 'families' "
                                         "trains every family that joins it (the built-in five "
                                         "and any plugin's) on matched budgets."),
    minutes: float = typer.Option(10.0, "--minutes",
                                  help="Training minutes per family (--recipe)."),
    out: Path = typer.Option(Path("runs/families"), "--out", "-o",
                             help="Where --recipe trains its runs and writes its report."),
    data: str = typer.Option("austen", "--data", help="Corpus for --recipe."),
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
    old_samples: Optional[int] = OLD_SAMPLES_OPTION,
):
    """Measure runs of any families side by side on the same test sentences (and, with
    --temperatures, quality against diversity at each temperature)."""
    from gentext.comparison.compare import compare_runs, write_report
    from gentext.comparison.sweep import temperature_sweep

    n = renamed("--samples", "--n", old_samples, n)
    if temperatures is None and (report is not None or recipe is not None):
        temperatures = REPORT_TEMPERATURES
    values = check_options(runs, recipe, report, n, temperatures)
    check_judge_option(judge, n)
    if recipe is not None:
        from gentext.comparison.recipes import train_families

        runs = train_families(out, minutes, data)
        report = report or out / "report.md"
    loaded = [load_run_on(run, device) for run in runs]
    judge_run = load_judge(judge, loaded, device)
    rows = compare_runs(loaded, n, seed, nll_samples or None, judge=judge_run)
    sweep_rows = temperature_sweep(loaded, values, n, seed) if values else []
    if report is not None:
        note = (f"Recipe 'families': each family trained for {minutes:g} minutes on {data}."
                if recipe else "")
        written = write_report(rows, sweep_rows, report, note)
        typer.echo("wrote " + ", ".join(str(p) for p in written), err=True)
    print_comparison(rows, sweep_rows, as_json)


def check_options(runs, recipe: str | None, report: Path | None, n: int,
                  temperatures: str | None) -> list[float]:
    """Every option, before a run trains or loads; the temperatures to sweep (none: [])."""
    from gentext.comparison.compare import check_report
    from gentext.comparison.sweep import check_samples, check_sweep

    if recipe is not None and recipe not in RECIPES:
        raise GentextError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    if recipe is not None and runs:
        raise GentextError("give run directories or --recipe, not both")
    if recipe is None and not runs:
        raise GentextError("give at least one run directory (or --recipe families)")
    check_samples(n)
    values = parse_temperatures(temperatures) if temperatures is not None else []
    check_sweep(values, n)
    if report is not None:
        check_report(report)
    return values


def print_comparison(rows: list[dict], sweep_rows: list[dict], as_json: bool) -> None:
    """The table and its footnote, then the sweep's table (in JSON: each run's row holds its
    sweep)."""
    from gentext.comparison.compare import footnote, markdown_table
    from gentext.comparison.sweep import markdown_table as sweep_table

    if as_json:
        if sweep_rows:
            for row in rows:
                row["sweep"] = [r for r in sweep_rows if r["run"] == row["run"]]
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(markdown_table(rows))
    typer.echo("\n" + footnote(rows))
    if sweep_rows:
        typer.echo("\n" + sweep_table(sweep_rows))
        typer.echo(f"\n{rows[0]['samples']:,} samples per run and temperature; BLEU against the "
                   "test split, self-BLEU among the samples (Texygen's protocol)")


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)
