"""`gentext infill`: fill the blanks of a text with a family that can (mdlm)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from gentext_cli.options import (DEVICE_OPTION, JSON_OPTION, KNOBS_OPTION, OLD_STEPS_OPTION,
                                 RUN_ARGUMENT, SEED_OPTION, TEMPERATURE_OPTION, TOP_K_OPTION,
                                 TOP_P_OPTION, count_option, load_run_on, parse_knobs, steps_knob)


def infill(
    run: Path = RUN_ARGUMENT,
    text: str = typer.Argument(..., help="The text, each blank marked ___ (or ___N: N tokens)."),
    n: int = count_option(1, "How many fillings."),
    blank_size: int = typer.Option(4, "--blank-size", help="Tokens a plain ___ holds."),
    temperature: Optional[float] = TEMPERATURE_OPTION,
    top_k: int = TOP_K_OPTION,
    top_p: float = TOP_P_OPTION,
    seed: int = SEED_OPTION,
    knobs: List[str] = KNOBS_OPTION,
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
    old_steps: Optional[int] = OLD_STEPS_OPTION,
):
    """Fill each blank of TEXT; the given words never change. One filling a line."""
    from gentext.evaluation.infill import check_template, infill_texts
    from gentext.models.contract import SamplingOptions

    check_template(text, blank_size)
    options = SamplingOptions(temperature=temperature, top_k=top_k, top_p=top_p,
                              knobs=parse_knobs(steps_knob(old_steps, knobs)))
    loaded = load_run_on(run, device)
    texts = infill_texts(loaded.model, loaded.tokenizer, text, n, options, blank_size, seed)
    if as_json:
        import json

        typer.echo(json.dumps({"run": str(run), "text": text, "fillings": texts}, indent=2))
    else:
        for filled in texts:
            typer.echo(" ".join(filled.splitlines()))


def register(app: typer.Typer) -> None:
    app.command("infill")(infill)
