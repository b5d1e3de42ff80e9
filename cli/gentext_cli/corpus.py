"""`gentext tokenize`: a text file or hub dataset of any size as a tokenised corpus folder."""

from __future__ import annotations

from pathlib import Path

import typer

from gentext.errors import GentextError


def tokenize(
    data: str = typer.Argument(..., metavar="DATA", show_default=False,
                               help="A .txt or .txt.gz file, one example a line; or hf:NAME, a "
                               "hub dataset or a local folder in hub layout, read a chunk at a "
                               "time (its own valid and test splits are kept)."),
    out: Path = typer.Option(..., "--out", "-o", help="The corpus folder to write.",
                             show_default=False),
    tokenizer: str = typer.Option("bpe", "--tokenizer", help="As data.tokenizer: bpe, char, "
                                  "word, hf:NAME or the path of a tokenizer.json."),
    vocab_size: int = typer.Option(4096, "--vocab-size", help="BPE or word vocabulary."),
    max_len: int = typer.Option(128, "--max-len",
                                help="Longest example in tokens; longer ones are left out."),
    valid_fraction: float = typer.Option(0.05, "--valid-fraction",
                                         help="Share of lines held out for validation."),
    test_fraction: float = typer.Option(0.05, "--test-fraction",
                                        help="Share of lines held out for test."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split."),
    hf_config: str = typer.Option("", "--hf-config", help="An hf: dataset's configuration "
                                  "(data.hf_config), e.g. wikitext-2-raw-v1."),
    text_column: str = typer.Option("text", "--text-column",
                                    help="An hf: dataset's text column (data.text_column)."),
    chunk_lines: int = typer.Option(10_000, "--chunk-lines",
                                    help="Lines tokenised at a time (bounds memory)."),
    unit: str = typer.Option("example", "--unit", help="example: each line is one example "
                             "(longer ones are left out); document: each line is running text, "
                             "cut into windows of --max-len tokens (train with --set "
                             "data.unit=document)."),
):
    """Tokenise a large text file or hub dataset once, into memory-mapped token files: train
    with --data OUT."""
    from gentext.data.hub import hub_name
    from gentext.data.memmap import tokenize_corpus

    if hub_name(data) is None and (not Path(data).is_file()
                                   or not data.endswith((".txt", ".txt.gz"))):
        raise GentextError(f"{data!r} is not a .txt or .txt.gz file (a hub dataset is written "
                           "hf:NAME)")
    for name, fraction in (("--valid-fraction", valid_fraction),
                           ("--test-fraction", test_fraction)):
        if not 0 < fraction < 0.5:
            raise GentextError(f"{name} must be between 0 and 0.5, got {fraction}")
    if unit not in ("example", "document"):
        raise GentextError(f"unknown --unit {unit!r}; choose example or document")
    if max_len < 3 or chunk_lines < 1:
        raise GentextError("--max-len must be at least 3 and --chunk-lines at least 1")
    corpus = tokenize_corpus(data, out, tokenizer, vocab_size, max_len, valid_fraction,
                             test_fraction, seed, chunk_lines, unit=unit, hf_config=hf_config,
                             text_column=text_column)
    rows = "windows" if unit == "document" else "examples"
    names = corpus.get("split_names", {})  # a dataset's own held-out splits, by its names
    typer.echo(f"tokenised {data} -> {out}: {corpus['train_examples']:,} training {rows} "
               f"({corpus['train_tokens']:,} tokens, {corpus['train_dropped']:,} too long), "
               f"{corpus['valid_examples']:,} {names.get('valid', 'valid')}, "
               f"{corpus['test_examples']:,} {names.get('test', 'test')}")
    extra = " --set data.unit=document" if unit == "document" else ""
    typer.echo(f"next: gentext train --model gpt --data {out} --set "
               f"data.tokenizer={tokenizer}{extra}")


def register(app: typer.Typer) -> None:
    app.command("tokenize")(tokenize)
