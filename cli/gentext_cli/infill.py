"""`gentext infill`: fill the blanks of a text with a family that can (mdlm)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from gentext.errors import GentextError
from gentext_cli.options import (DEVICE_OPTION, JSON_OPTION, KNOBS_OPTION, RUN_ARGUMENT,
                                 STEPS_OPTION, TOP_K_OPTION, TOP_P_OPTION, load_run_on)
from gentext_cli.sample import parse_knobs, with_steps


def infill(
    run: Path = RUN_ARGUMENT,
    text: str = typer.Argument(..., help="The text, each blank marked ___ (or ___N: N tokens)."),
    n: int = typer.Option(1, "--n", "-n", help="How many fillings."),
    blank_size: int = typer.Option(4, "--blank-size", help="Tokens a plain ___ holds."),
    temperature: Optional[float] = typer.Option(
        None, "--temperature", "-t", help="Softmax temperature; 0 is greedy.",
        show_default="the family's"),
    top_k: int = TOP_K_OPTION,
    top_p: float = TOP_P_OPTION,
    steps: Optional[int] = STEPS_OPTION,
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same fillings."),
    knobs: List[str] = KNOBS_OPTION,
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Fill each blank of TEXT; the given words never change. One filling a line."""
    if n < 1:
        raise GentextError(f"--n must be at least 1, got {n}")
    from gentext.evaluation.infill import infill_texts
    from gentext.models.contract import SamplingOptions

    loaded = load_run_on(run, device)
    options = SamplingOptions(temperature=temperature, top_k=top_k, top_p=top_p,
                              knobs=with_steps(parse_knobs(knobs), steps))
    texts = infill_texts(loaded.model, loaded.tokenizer, text, n, options, blank_size, seed)
    if as_json:
        import json

        typer.echo(json.dumps({"run": str(run), "text": text, "fillings": texts}, indent=2))
    else:
        for filled in texts:
            typer.echo(" ".join(filled.splitlines()))


def register(app: typer.Typer) -> None:
    app.command("infill")(infill)
