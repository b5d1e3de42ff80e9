"""`gentext reconstruct` and `gentext interpolate`: commands for any model with a latent space
(one that implements ``encode`` and ``decode``); other models refuse them in one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from gentext.errors import GentextError
from gentext_cli.options import DEVICE_OPTION, JSON_OPTION, RUN_ARGUMENT, load_run_on

TEMPERATURE_OPTION = typer.Option(0.0, "--temperature", "-t",
                                  help="0 decodes greedily; above 0 samples at that temperature.")
SEED_OPTION = typer.Option(0, "--seed", help="Random seed for sampled decoding.")
MAX_NEW_TOKENS_OPTION = typer.Option(None, "--max-new-tokens", help="Most tokens per sentence.",
                                     show_default="what fits the run's data.max_len")


def _latent_run(run: Path, device: str, command: str):
    loaded = load_run_on(run, device)
    if not loaded.model.capabilities.latent:
        raise GentextError(f"model {loaded.spec.name!r} has no latent space; {command} needs a "
                           "model that encodes and decodes (see `gentext models`)")
    return loaded


def _max_new_tokens(loaded, max_new_tokens: int | None) -> int:
    from gentext.evaluation.evaluate import default_max_new_tokens

    if max_new_tokens is None:
        return default_max_new_tokens(loaded.config.data.max_len)
    if max_new_tokens < 0:
        raise GentextError(f"--max-new-tokens must be 0 or more, got {max_new_tokens}")
    return max_new_tokens


def _decode(loaded, z, max_new_tokens: int | None, temperature: float, seed: int) -> list[str]:
    from gentext.evaluation.latent_space import decode_codes
    from gentext.models.contract import SamplingOptions

    return decode_codes(loaded.model, loaded.tokenizer, z, _max_new_tokens(loaded, max_new_tokens),
                        SamplingOptions(temperature=temperature, seed=seed))


def reconstruct(
    run: Path = RUN_ARGUMENT,
    sentences: List[str] = typer.Argument(..., metavar="SENTENCE", help="One or more sentences to encode and decode.",
                                          show_default=False),
    temperature: float = TEMPERATURE_OPTION,
    seed: int = SEED_OPTION,
    max_new_tokens: Optional[int] = MAX_NEW_TOKENS_OPTION,
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Encode each sentence to its posterior mean and decode it back."""
    from gentext.evaluation.latent_space import encode_texts

    loaded = _latent_run(run, device, "reconstruct")
    outputs = _decode(loaded, encode_texts(loaded.model, loaded.tokenizer, sentences),
                      max_new_tokens, temperature, seed)
    if as_json:
        typer.echo(json.dumps([{"input": s, "output": o} for s, o in zip(sentences, outputs)], indent=2))
        return
    for sentence, output in zip(sentences, outputs):
        typer.echo(f"> {sentence}\n= {output}")


def interpolate(
    run: Path = RUN_ARGUMENT,
    first: str = typer.Argument(..., metavar="FIRST", help="The sentence to start from.", show_default=False),
    second: str = typer.Argument(..., metavar="SECOND", help="The sentence to end at.", show_default=False),
    steps: int = typer.Option(5, "--steps", help="Points on the line, both ends included."),
    temperature: float = TEMPERATURE_OPTION,
    seed: int = SEED_OPTION,
    max_new_tokens: Optional[int] = MAX_NEW_TOKENS_OPTION,
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Walk in a straight line between two sentences' posterior means, decoding each point."""
    if steps < 2:
        raise GentextError(f"--steps must be at least 2 (both ends), got {steps}")
    from gentext.evaluation.latent_space import encode_texts, path

    loaded = _latent_run(run, device, "interpolate")
    outputs = _decode(loaded, path(encode_texts(loaded.model, loaded.tokenizer, [first, second]), steps),
                      max_new_tokens, temperature, seed)
    times = [i / (steps - 1) for i in range(steps)]
    if as_json:
        typer.echo(json.dumps([{"t": t, "output": o} for t, o in zip(times, outputs)],
                              indent=2))
        return
    for t, output in zip(times, outputs):
        typer.echo(f"{t:.2f}  {output}")


def register(app: typer.Typer) -> None:
    app.command("reconstruct")(reconstruct)
    app.command("interpolate")(interpolate)
