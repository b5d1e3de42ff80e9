"""`gentext sample`: draw sentences from a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from gentext.errors import GentextError
from gentext_cli.options import DEVICE_OPTION, JSON_OPTION, RUN_ARGUMENT, load_run_on


def sample(
    run: Path = RUN_ARGUMENT,
    n: int = typer.Option(10, "--n", "-n", help="How many samples."),
    max_len: int = typer.Option(0, "--max-len", help="Most tokens per sample.",
                                 show_default="the run's data.max_len"),
    temperature: Optional[float] = typer.Option(
        None, "--temperature", "-t", help="Softmax temperature; 0 is greedy.",
        show_default="the family's: 1, or 0 for flow (a sampled z, each character its most likely)"),
    top_k: int = typer.Option(0, "--top-k", help="Keep the k most likely tokens (0: all)."),
    top_p: float = typer.Option(1.0, "--top-p", help="Nucleus sampling mass (1: off)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same samples."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="Text every sample starts with."),
    label: Optional[str] = typer.Option(None, "--label", help="Class to generate (conditional "
                                        "models, trained on data with a \"label\" field).",
                                        show_default="a random class each sample"),
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Print samples from a trained model, one a line."""
    if n < 1:
        raise GentextError(f"--n must be at least 1, got {n}")
    if (temperature is not None and temperature < 0) or not 0 < top_p <= 1 or top_k < 0 or max_len < 0:
        raise GentextError("need --temperature >= 0, 0 < --top-p <= 1, --top-k >= 0, --max-len >= 0")
    from gentext.evaluate import one_line, sample_texts

    loaded = load_run_on(run, device)
    sampling = {"top_k": top_k, "top_p": top_p}
    if temperature is not None:
        sampling["temperature"] = temperature
    if prompt:
        if not loaded.model.takes_prompt:
            raise GentextError(f"model {loaded.spec.name!r} does not continue a prompt")
        sampling["prompt"] = loaded.tokenizer.encode(prompt)
    if label is not None:
        sampling["condition"] = label_index(loaded, label)
    texts = sample_texts(loaded.model, loaded.tokenizer, n, max_len or loaded.config.data.max_len,
                         seed=seed, **sampling)
    if as_json:
        import json

        typer.echo(json.dumps({"run": str(run), "samples": texts}, indent=2))
    else:
        for text in texts:
            typer.echo(one_line(text))


def label_index(loaded, label: str) -> int:
    """The index of ``label`` among the classes a conditional run was trained on."""
    if not loaded.model.conditional:
        raise GentextError(f"model {loaded.spec.name!r} in {str(loaded.path)!r} is not conditional "
                           "(it was trained without labels); drop --label")
    labels = loaded.model.vocab.labels
    if label not in labels:
        raise GentextError(f"unknown label {label!r}; this run knows {', '.join(labels)}")
    return labels.index(label)


def register(app: typer.Typer) -> None:
    app.command("sample")(sample)
