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


def _encode(loaded, sentences: list[str]):
    import math

    from gentext.data.batching import collate, encode_split

    # in the given order (evaluation batches would sort by length)
    encoded = encode_split([{"text": s} for s in sentences], loaded.tokenizer, max_len=math.inf)
    batch = collate(encoded.sequences, loaded.tokenizer.pad_id)
    device = loaded.model.device
    return loaded.model.encode({k: v.to(device) for k, v in batch.items()})


def _decode(loaded, z, max_new_tokens: int | None, temperature: float, seed: int) -> list[str]:
    from gentext.evaluate import default_max_new_tokens, one_line
    from gentext.model import SamplingOptions

    if max_new_tokens is None:
        max_new_tokens = default_max_new_tokens(loaded.config.data.max_len)
    if max_new_tokens < 0:
        raise GentextError(f"--max-new-tokens must be 0 or more, got {max_new_tokens}")
    rows = loaded.model.decode(z, SamplingOptions(temperature=temperature, seed=seed),
                               max_new_tokens=max_new_tokens)
    return [one_line(loaded.tokenizer.decode(row)) for row in rows]


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
    loaded = _latent_run(run, device, "reconstruct")
    outputs = _decode(loaded, _encode(loaded, sentences), max_new_tokens, temperature, seed)
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
    import torch

    loaded = _latent_run(run, device, "interpolate")
    ends = _encode(loaded, [first, second])
    times = torch.linspace(0, 1, steps, device=ends.device)
    weights = times.view(-1, *[1] * (ends.dim() - 1))  # codes may be vectors or sequences of them
    z = (1 - weights) * ends[0] + weights * ends[1]
    outputs = _decode(loaded, z, max_new_tokens, temperature, seed)
    if as_json:
        typer.echo(json.dumps([{"t": t, "output": o} for t, o in zip(times.tolist(), outputs)],
                              indent=2))
        return
    for t, output in zip(times.tolist(), outputs):
        typer.echo(f"{t:.2f}  {output}")


def register(app: typer.Typer) -> None:
    app.command("reconstruct")(reconstruct)
    app.command("interpolate")(interpolate)
