"""`gentext train`: build the config from defaults, a TOML file and --set, then train."""

from __future__ import annotations

import dataclasses

from pathlib import Path
from typing import List, Optional

import typer

from gentext.errors import GentextError


def train(
    model: Optional[str] = typer.Option(None, "--model", "-m",
                                        help="Model family (see `gentext models`)."),
    data: Optional[str] = typer.Option(
        None, "--data", help="Corpus name, .txt/.txt.gz/.jsonl file or datasets folder.",
        show_default="austen"),
    config: Optional[Path] = typer.Option(None, "--config", help="A TOML config file."),
    overrides: List[str] = typer.Option([], "--set", help="Override one key: section.key=value "
                                                          "(repeatable)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory.",
                                         show_default="runs/MODEL"),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out exactly."),
    force: bool = typer.Option(False, "--force", help="Replace an existing run directory."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu or cuda.",
                                          show_default="auto"),
    compile: Optional[bool] = typer.Option(None, "--compile/--no-compile",
                                           help="torch.compile on CUDA.", show_default="on"),
    init: Optional[Path] = typer.Option(None, "--init", help="Start from this run's weights and "
                                        "tokenizer (its model settings too), e.g. one made by "
                                        "`gentext import`."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
):
    """Train a model on the default corpus or your data, into a run directory."""
    from gentext.checkpoint import CONFIG_FILE
    from gentext.config import build_config, model_name_of, read_toml
    from gentext.plugins import get_model, registry

    if resume and force:
        raise GentextError("--resume and --force contradict each other; choose one")
    table = read_toml(config) if config else {}
    if init is not None:
        if resume:
            raise GentextError("--init starts a new run; --resume continues one: choose one")
        table = _start_from(init, table)
    if resume:
        if out is None:
            if model is None:
                raise GentextError("--resume needs --out RUN (or --model, for runs/MODEL)")
            out = Path("runs") / model
        if (out / CONFIG_FILE).is_file():
            saved = read_toml(out / CONFIG_FILE)
            table = {**saved, **{k: {**saved.get(k, {}), **v} for k, v in table.items()}}
    name = model or model_name_of(table)
    if name is None:
        known = ", ".join(sorted(registry().models))
        raise GentextError(f"choose a model with --model (known models: {known})")
    if resume and model_name_of(table) not in (None, name):
        raise GentextError(f"{str(out)!r} is a {model_name_of(table)!r} run, not {name!r}")
    spec = get_model(name)
    extra = list(overrides)
    if data is not None:
        extra.append(f"data.source={data}")
    if device is not None:
        extra.append(f"train.device={device}")
    if compile is not None:
        extra.append(f"train.compile={compile}")
    run_config = build_config(spec.name, spec.config, table, extra, spec.train_defaults,
                              spec.data_defaults)
    out = out or Path("runs") / spec.name

    from gentext.train import train as run_training

    result = run_training(run_config, out, resume=resume, force=force, progress=not quiet)
    if not result.main:
        return
    typer.echo(f"trained {spec.name} for {result.step} steps in {result.seconds / 60:.1f} min -> {out}")
    if result.valid is not None:
        v = result.valid
        typer.echo(f"valid: {v.nats_per_token:.4f} nats/token, perplexity {v.perplexity:.2f} "
                   f"({v.tokenizer}), {v.bits_per_byte:.4f} bits/byte ({v.likelihood})")
    typer.echo(f"next: gentext sample {out}  |  gentext eval {out}")


def _start_from(init: Path, table: dict) -> dict:
    """The config of a run started from ``init``: its model and tokenizer, then ``table``."""
    from gentext.checkpoint import read_run_config

    saved = read_run_config(init)
    base = {"run": {"model": saved.run.model}, "model": dataclasses.asdict(saved.model),
            "data": {"tokenizer": saved.data.tokenizer, "vocab_size": saved.data.vocab_size,
                     "max_len": saved.data.max_len},
            "train": {"init": str(init)}}
    return {k: {**base.get(k, {}), **table.get(k, {})} for k in {*base, *table}}


def register(app: typer.Typer) -> None:
    app.command("train")(train)
