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
               "AutoTokenizer.from_pretrained; feed <bos> first, as gentext does)")


def import_(
    folder: Path = typer.Argument(..., metavar="FOLDER", help="A local transformers GPT-2 folder (as `gentext "
                                  "export` writes).", show_default=False),
    out: Path = typer.Option(..., "--out", "-o", help="The run directory to write.",
                             show_default=False),
    fmt: str = FORMAT_OPTION,
    force: bool = FORCE_OPTION,
):
    """Make a gpt run from a local transformers GPT-2 folder, to evaluate, sample or train on."""
    from gentext_gpt.interop import check_format, import_hf

    check_format(fmt)
    import_hf(folder, out, force=force)
    typer.echo(f"imported {folder} -> {out}")
    typer.echo(f"next: gentext eval {out}  |  gentext train --init {out} --out RUN")


def register(app: typer.Typer) -> None:
    """Add `gentext export` and `gentext import` to the CLI."""
    app.command("export")(export)
    app.command("import")(import_)
