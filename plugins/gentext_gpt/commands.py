"""`gentext export` and `gentext import`: a gpt run to and from a transformers folder. The gpt
plugin adds them through ``register_commands``, as any plugin adds its commands."""

from __future__ import annotations

from pathlib import Path

import typer


FORMAT_OPTION = typer.Option("hf", "--format", "-f",
                             help="hf: a transformers GPT2LMHeadModel folder with its tokenizer.")
FORCE_OPTION = typer.Option(False, "--force", help="Replace an existing folder of the same kind.")


RUN_ARGUMENT = typer.Argument(..., metavar="RUN", help="A gpt run directory written by "
                              "`gentext train`.", show_default=False)


def export(
    run: Path = RUN_ARGUMENT,
    out: Path = typer.Argument(..., metavar="OUT", help="The folder to write.", show_default=False),
    fmt: str = FORMAT_OPTION,
    force: bool = FORCE_OPTION,
):
    """Write a gpt run as a transformers model folder (GPT2LMHeadModel + PreTrainedTokenizerFast)."""
    from gentext_gpt.interop import check_format, export_hf

    check_format(fmt)
    export_hf(run, out, force=force)
    typer.echo(f"exported {run} -> {out} (load it with GPT2LMHeadModel.from_pretrained and "
               "AutoTokenizer.from_pretrained; its tokenizer puts the bos first, as gentext does)")


def import_(
    name: str = typer.Argument(..., metavar="NAME_OR_FOLDER", show_default=False,
                               help="A GPT-2 checkpoint: a hub id (gpt2, distilgpt2, gpt2-medium, "
                               "-large, -xl), read from the Hugging Face cache or downloaded "
                               "once when the hub answers, or a local folder in hub layout (as "
                               "`gentext export` writes)."),
    out: Path = typer.Option(..., "--out", "-o", help="The run directory to write.",
                             show_default=False),
    fmt: str = FORMAT_OPTION,
    force: bool = FORCE_OPTION,
):
    """Make a gpt run from a GPT-2 checkpoint, to evaluate, sample or fine-tune."""
    from gentext_gpt.interop import check_format, import_hf

    check_format(fmt)
    import_hf(name, out, force=force)
    typer.echo(f"imported {name} -> {out}")
    typer.echo(f"next: gentext eval {out} --data FILE  |  gentext train --model gpt --init {out} "
               "--data FILE --out RUN")


def register(app: typer.Typer) -> None:
    """Add `gentext export` and `gentext import` to the CLI."""
    app.command("export")(export)
    app.command("import")(import_)
