"""`gentext sample`: draw sentences from a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from gentext.errors import GentextError
from gentext_cli.options import (DEVICE_OPTION, JSON_OPTION, KNOBS_OPTION, MAX_NEW_TOKENS_OPTION,
                                 OLD_STEPS_OPTION, RUN_ARGUMENT, SEED_OPTION, TEMPERATURE_OPTION,
                                 TOP_K_OPTION, TOP_P_OPTION, count_option, load_run_on,
                                 parse_knobs, steps_knob)


def sample(
    run: Path = RUN_ARGUMENT,
    n: int = count_option(10, "How many samples."),
    max_new_tokens: Optional[int] = MAX_NEW_TOKENS_OPTION,
    temperature: Optional[float] = TEMPERATURE_OPTION,
    top_k: int = TOP_K_OPTION,
    top_p: float = TOP_P_OPTION,
    seed: int = SEED_OPTION,
    prompt: Optional[str] = typer.Option(None, "--prompt", help="Text every sample starts with."),
    label: Optional[str] = typer.Option(None, "--label", help="Class to generate (conditional "
                                        "models, trained on data with a \"label\" field).",
                                        show_default="a random class each sample"),
    knobs: List[str] = KNOBS_OPTION,
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
    old_steps: Optional[int] = OLD_STEPS_OPTION,
):
    """Print samples from a trained model, one a line."""
    from gentext.evaluation.evaluate import default_max_new_tokens, one_line, sample_texts
    from gentext.models.contract import SamplingOptions

    options = SamplingOptions(temperature=temperature, top_k=top_k, top_p=top_p,
                              knobs=parse_knobs(steps_knob(old_steps, knobs)))
    loaded = load_run_on(run, device)
    ids = loaded.tokenizer.encode(prompt) if prompt else []
    lost = loaded.tokenizer.unknown_warning(prompt) if prompt else None
    if lost:
        typer.echo(f"gentext: warning: {lost}", err=True)
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


def label_index(loaded, label: str) -> int:
    """The index of ``label`` among the classes a conditional run was trained on."""
    if not loaded.model.capabilities.condition:
        raise GentextError(f"model {loaded.spec.name!r} in {str(loaded.path)!r} is not "
                           "conditional (it was trained without labels); drop --label")
    labels = loaded.model.vocab.labels
    if label not in labels:
        raise GentextError(f"unknown label {label!r}; this run knows {', '.join(labels)}")
    return labels.index(label)


def register(app: typer.Typer) -> None:
    app.command("sample")(sample)
