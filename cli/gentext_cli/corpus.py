"""`gentext tokenize`: a text file of any size as a tokenised corpus folder for training."""

from __future__ import annotations

from pathlib import Path

import typer

from gentext.errors import GentextError


def tokenize(
    data: Path = typer.Argument(..., metavar="DATA", show_default=False,
                                help="A .txt or .txt.gz file, one example a line."),
    out: Path = typer.Option(..., "--out", "-o", help="The corpus folder to write.",
                             show_default=False),
    tokenizer: str = typer.Option("bpe", "--tokenizer", help="bpe, char or word."),
    vocab_size: int = typer.Option(4096, "--vocab-size", help="BPE or word vocabulary."),
    max_len: int = typer.Option(128, "--max-len",
                                help="Longest example in tokens; longer ones are left out."),
    valid_fraction: float = typer.Option(0.05, "--valid-fraction",
                                         help="Share of lines held out for validation."),
    test_fraction: float = typer.Option(0.05, "--test-fraction",
                                        help="Share of lines held out for test."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split."),
    chunk_lines: int = typer.Option(10_000, "--chunk-lines",
                                    help="Lines tokenised at a time (bounds memory)."),
    unit: str = typer.Option("example", "--unit", help="example: each line is one example "
                             "(longer ones are left out); document: each line is running text, "
                             "cut into windows of --max-len tokens (train with --set "
                             "data.unit=document)."),
):
    """Tokenise a large text file once, into memory-mapped token files: train with --data OUT."""
    from gentext.data.memmap import tokenize_corpus
    from gentext.data.tokenizer import TOKENIZER_KINDS

    if not data.is_file() or not data.name.endswith((".txt", ".txt.gz")):
        raise GentextError(f"{str(data)!r} is not a .txt or .txt.gz file")
    if tokenizer not in TOKENIZER_KINDS:
        raise GentextError(f"unknown tokenizer {tokenizer!r}; choose one of "
                           f"{', '.join(TOKENIZER_KINDS)}")
    for name, fraction in (("--valid-fraction", valid_fraction),
                           ("--test-fraction", test_fraction)):
        if not 0 < fraction < 0.5:
            raise GentextError(f"{name} must be between 0 and 0.5, got {fraction}")
    if unit not in ("example", "document"):
        raise GentextError(f"unknown --unit {unit!r}; choose example or document")
    if max_len < 3 or chunk_lines < 1:
        raise GentextError("--max-len must be at least 3 and --chunk-lines at least 1")
    corpus = tokenize_corpus(data, out, tokenizer, vocab_size, max_len, valid_fraction,
                             test_fraction, seed, chunk_lines, unit=unit)
    rows = "windows" if unit == "document" else "examples"
    typer.echo(f"tokenised {data} -> {out}: {corpus['train_examples']:,} training {rows} "
               f"({corpus['train_tokens']:,} tokens, {corpus['train_dropped']:,} too long), "
               f"{corpus['valid_examples']:,} valid, {corpus['test_examples']:,} test")
    extra = " --set data.unit=document" if unit == "document" else ""
    typer.echo(f"next: gentext train --model gpt --data {out} --set "
               f"data.tokenizer={tokenizer}{extra}")


def register(app: typer.Typer) -> None:
    app.command("tokenize")(tokenize)
