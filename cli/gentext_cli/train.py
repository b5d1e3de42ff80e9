"""`gentext train`: build the config from defaults, a TOML file and --set, then train."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from gentext.errors import GentextError
from gentext_cli.options import DEVICE_HELP


def train(
    model: Optional[str] = typer.Option(None, "--model", "-m",
                                        help="Model family (see `gentext models`)."),
    data: Optional[str] = typer.Option(
        None, "--data", help="Corpus name, .txt/.txt.gz/.jsonl file or datasets folder.",
        show_default="austen"),
    config: Optional[Path] = typer.Option(None, "--config", help="A TOML config file."),
    overrides: List[str] = typer.Option([], "--set", help="Override one key: section.key=value "
                                                          "(repeatable)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", metavar="RUN", help="Run directory.",
                                       show_default="runs/MODEL"),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out exactly."),
    force: bool = typer.Option(False, "--force", help="Replace an existing run directory."),
    device: Optional[str] = typer.Option(None, "--device", help=DEVICE_HELP + " Sets "
                                         "train.device.", show_default="auto"),
    compile: Optional[bool] = typer.Option(None, "--compile/--no-compile",
                                           help="torch.compile on CUDA.", show_default="on"),
    init: Optional[Path] = typer.Option(None, "--init", metavar="RUN", help="Start from this "
                                        "run's weights and tokenizer (its model settings too), "
                                        "e.g. one made by `gentext import`."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
):
    """Train a model on the default corpus or your data, into a run directory."""
    from gentext.config import read_toml
    from gentext.training.prepare import assemble_config

    if resume and force:
        raise GentextError("--resume and --force contradict each other; choose one")
    if resume and out is None:
        if model is None:
            raise GentextError("--resume needs --out RUN (or --model, for runs/MODEL)")
        out = Path("runs") / model
    extra = list(overrides)
    if data is not None:
        extra.append(f"data.source={data}")
    if device is not None:
        extra.append(f"train.device={device}")
    if compile is not None:
        extra.append(f"train.compile={compile}")
    run_config = assemble_config(model, table=read_toml(config) if config else None,
                                 overrides=extra, resume=out if resume else None, init=init)
    name = run_config.run.model
    out = out or Path("runs") / name

    from gentext.training.trainer import train as run_training

    result = run_training(run_config, out, resume=resume, force=force, progress=not quiet)
    if not result.main:
        return
    typer.echo(f"trained {name} for {result.step} steps in {result.seconds / 60:.1f} min -> {out}")
    if result.valid is not None:
        v = result.valid
        typer.echo(f"valid: {v.nats_per_token:.4f} nats/token, perplexity {v.perplexity:.2f} "
                   f"({v.tokenizer}), {v.bits_per_byte:.4f} bits/byte ({v.likelihood})")
    typer.echo(f"next: gentext sample {out}  |  gentext eval {out}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
