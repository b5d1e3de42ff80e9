"""`gentext bigram-next RUN TEXT`: the most likely next tokens after TEXT."""

from pathlib import Path

import typer

from gentext.api import GentextError


def next_tokens(
    run: Path = typer.Argument(..., metavar="RUN", help="A bigram run directory."),
    text: str = typer.Argument(..., metavar="TEXT", help="The text to continue."),
    top: int = typer.Option(5, "--top", help="How many tokens to show."),
):
    """Show the most likely next tokens after TEXT, by a bigram run."""
    import torch

    from gentext.api import load_run

    loaded = load_run(run)
    if loaded.spec.name != "bigram":
        raise GentextError(f"{str(run)!r} is a {loaded.spec.name!r} run, not a bigram run")
    ids = loaded.tokenizer.encode(text)
    if not ids:
        raise GentextError("give some text to continue")
    with torch.no_grad():  # the logits after the last token of <bos> TEXT
        logits, _ = loaded.model.step(torch.tensor([[loaded.tokenizer.bos_id, *ids]]), None)
        probs = torch.softmax(logits[0, -1].float(), dim=-1)
    values, tokens = probs.topk(min(top, probs.numel()))
    for value, token in zip(values.tolist(), tokens.tolist()):
        typer.echo(f"{loaded.tokenizer.tokenizer.id_to_token(token)!r}\t{value:.3f}")
