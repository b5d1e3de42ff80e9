"""`gentext reconstruct` and `gentext interpolate`: commands for any model with a latent space
(one that implements ``encode`` and ``decode``); other models refuse them in one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from gentext.errors import GentextError
from gentext_cli.options import (DEVICE_OPTION, JSON_OPTION, MAX_NEW_TOKENS_OPTION,
                                 OLD_POINTS_OPTION, RUN_ARGUMENT, SEED_OPTION, load_run_on,
                                 renamed)

TEMPERATURE_OPTION = typer.Option(0.0, "--temperature", "-t",
                                  help="0 decodes greedily; above 0 samples at that temperature.")


def _latent_run(run: Path, device: str, command: str, temperature: float, seed: int):
    """The loaded run, and how to decode (checked before the run loads)."""
    from gentext.models.contract import SamplingOptions

    options = SamplingOptions(temperature=temperature, seed=seed)
    loaded = load_run_on(run, device)
    if not loaded.model.capabilities.latent:
        raise GentextError(f"model {loaded.spec.name!r} has no latent space; {command} needs a "
                           "model that encodes and decodes (see `gentext models`)")
    return loaded, options


def _decode(loaded, z, max_new_tokens: int | None, options) -> list[str]:
    from gentext.evaluation.evaluate import default_max_new_tokens
    from gentext.evaluation.latent_space import decode_codes

    if max_new_tokens is None:
        max_new_tokens = default_max_new_tokens(loaded.config.data.max_len)
    return decode_codes(loaded.model, loaded.tokenizer, z, max_new_tokens, options)


def reconstruct(
    run: Path = RUN_ARGUMENT,
    sentences: List[str] = typer.Argument(..., metavar="SENTENCE", show_default=False,
                                          help="One or more sentences to encode and decode."),
    temperature: float = TEMPERATURE_OPTION,
    seed: int = SEED_OPTION,
    max_new_tokens: Optional[int] = MAX_NEW_TOKENS_OPTION,
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Encode each sentence to its posterior mean and decode it back."""
    from gentext.evaluation.latent_space import encode_texts

    loaded, options = _latent_run(run, device, "reconstruct", temperature, seed)
    outputs = _decode(loaded, encode_texts(loaded.model, loaded.tokenizer, sentences),
                      max_new_tokens, options)
    if as_json:
        typer.echo(json.dumps([{"input": s, "output": o} for s, o in zip(sentences, outputs)],
                              indent=2))
        return
    for sentence, output in zip(sentences, outputs):
        typer.echo(f"> {sentence}\n= {output}")


def interpolate(
    run: Path = RUN_ARGUMENT,
    first: str = typer.Argument(..., metavar="FIRST", help="The sentence to start from.",
                                show_default=False),
    second: str = typer.Argument(..., metavar="SECOND", help="The sentence to end at.",
                                 show_default=False),
    points: int = typer.Option(5, "--points", min=2, help="Points on the line, both ends "
                               "included."),
    temperature: float = TEMPERATURE_OPTION,
    seed: int = SEED_OPTION,
    max_new_tokens: Optional[int] = MAX_NEW_TOKENS_OPTION,
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
    old_steps: Optional[int] = OLD_POINTS_OPTION,
):
    """Walk in a straight line between two sentences' posterior means, decoding each point."""
    from gentext.evaluation.latent_space import encode_texts, path

    points = renamed("--steps", "--points", old_steps, points)
    loaded, options = _latent_run(run, device, "interpolate", temperature, seed)
    ends = encode_texts(loaded.model, loaded.tokenizer, [first, second])
    outputs = _decode(loaded, path(ends, points), max_new_tokens, options)
    times = [i / (points - 1) for i in range(points)]
    if as_json:
        typer.echo(json.dumps([{"t": t, "output": o} for t, o in zip(times, outputs)],
                              indent=2))
        return
    for t, output in zip(times, outputs):
        typer.echo(f"{t:.2f}  {output}")


def register(app: typer.Typer) -> None:
    app.command("reconstruct")(reconstruct)
    app.command("interpolate")(interpolate)
