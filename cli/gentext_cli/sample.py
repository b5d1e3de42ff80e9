"""`gentext sample`: draw sentences from a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from gentext.errors import GentextError
from gentext_cli.options import (DEVICE_OPTION, JSON_OPTION, KNOBS_OPTION, RUN_ARGUMENT,
                                 STEPS_OPTION, TOP_K_OPTION, TOP_P_OPTION, load_run_on)


def sample(
    run: Path = RUN_ARGUMENT,
    n: int = typer.Option(10, "--n", "-n", help="How many samples."),
    max_new_tokens: Optional[int] = typer.Option(
        None, "--max-new-tokens", help="Most tokens each sample gains after the prompt (the end "
        "token not counted).", show_default="what fits the run's data.max_len"),
    temperature: Optional[float] = typer.Option(
        None, "--temperature", "-t", help="Softmax temperature; 0 is greedy.",
        show_default="the family's: 1, or 0 for flow (a sampled z, each character its most likely)"),
    top_k: int = TOP_K_OPTION,
    top_p: float = TOP_P_OPTION,
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same samples."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="Text every sample starts with."),
    label: Optional[str] = typer.Option(None, "--label", help="Class to generate (conditional "
                                        "models, trained on data with a \"label\" field).",
                                        show_default="a random class each sample"),
    steps: Optional[int] = STEPS_OPTION,
    knobs: List[str] = KNOBS_OPTION,
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Print samples from a trained model, one a line."""
    if n < 1:
        raise GentextError(f"--n must be at least 1, got {n}")
    if (temperature is not None and temperature < 0) or not 0 < top_p <= 1 or top_k < 0 \
            or (max_new_tokens is not None and max_new_tokens < 0):
        raise GentextError("need --temperature >= 0, 0 < --top-p <= 1, --top-k >= 0, "
                           "--max-new-tokens >= 0")
    from gentext.evaluation.evaluate import default_max_new_tokens, one_line, sample_texts
    from gentext.models.contract import SamplingOptions

    loaded = load_run_on(run, device)
    options = SamplingOptions(temperature=temperature, top_k=top_k, top_p=top_p,
                              knobs=with_steps(parse_knobs(knobs), steps))
    ids = loaded.tokenizer.encode(prompt) if prompt else []
    if max_new_tokens is None:
        max_new_tokens = default_max_new_tokens(loaded.config.data.max_len, ids)
    condition = label_index(loaded, label) if label is not None else None
    texts = sample_texts(loaded.model, loaded.tokenizer, n, max_new_tokens, options, seed=seed,
                         prompt=ids, condition=condition)
    if as_json:
        import json

        typer.echo(json.dumps({"run": str(run), "samples": texts}, indent=2))
    else:
        for text in texts:
            typer.echo(one_line(text))


def parse_knobs(pairs: list[str]) -> dict[str, str]:
    """``["steps=64"]`` as ``{"steps": "64"}``; the model types and checks each value."""
    knobs = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise GentextError(f"--option expects name=value, got {pair!r}")
        knobs[name.strip()] = value.strip()
    return knobs


def with_steps(knobs: dict, steps: int | None) -> dict:
    """``--steps N`` is the family knob ``steps`` (a model without it refuses in one line)."""
    if steps is not None:
        if steps < 1:
            raise GentextError(f"--steps must be at least 1, got {steps}")
        knobs = {**knobs, "steps": str(steps)}
    return knobs


def label_index(loaded, label: str) -> int:
    """The index of ``label`` among the classes a conditional run was trained on."""
    if not loaded.model.capabilities.condition:
        raise GentextError(f"model {loaded.spec.name!r} in {str(loaded.path)!r} is not conditional "
                           "(it was trained without labels); drop --label")
    labels = loaded.model.vocab.labels
    if label not in labels:
        raise GentextError(f"unknown label {label!r}; this run knows {', '.join(labels)}")
    return labels.index(label)


def register(app: typer.Typer) -> None:
    app.command("sample")(sample)
