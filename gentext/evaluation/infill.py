"""Infilling: a text with blanks, as the token template a family that can fill blanks takes.

A blank is three or more underscores; ``___`` holds ``blank_size`` tokens and ``___7`` holds
7. A blank takes the whitespace before it ("a truth ___ acknowledged" asks for " <words>"
after "truth"), because a byte-level BPE starts a word with its space.
"""

from __future__ import annotations

import re

from gentext.errors import GentextError

BLANK = re.compile(r"_{3,}(\d+)?")


def check_template(text: str, blank_size: int) -> None:
    """Refuse, in one line, a text with no blank or a blank of no tokens (no tokenizer needed,
    so the CLI checks before it loads a model)."""
    if blank_size < 1:
        raise GentextError(f"a blank holds at least 1 token, got {blank_size}")
    blanks = list(BLANK.finditer(text))
    for match in blanks:
        if match.group(1) and int(match.group(1)) < 1:
            raise GentextError(f"a blank holds at least 1 token: {match.group(0)!r}")
    if not blanks:
        raise GentextError("the text has no blank to fill: mark each with ___ (or ___N for N "
                           "tokens)")


def parse_template(text: str, tokenizer, blank_size: int) -> list[int | None]:
    """Token ids of the given text, None at each position a blank holds."""
    check_template(text, blank_size)
    template: list[int | None] = []
    start = 0
    for match in BLANK.finditer(text):
        before = text[start : match.start()]
        template += tokenizer.encode(before.rstrip()) if before.strip() else []
        template += [None] * (int(match.group(1)) if match.group(1) else blank_size)
        start = match.end()
    template += tokenizer.encode(text[start:]) if text[start:] else []
    return template


def infill_texts(model, tokenizer, text: str, n: int = 1, options=None,
                 blank_size: int = 4, seed: int = 0) -> list[str]:
    """``n`` fillings of ``text``'s blanks, as texts (every given token kept as it is)."""
    import dataclasses

    import torch

    from gentext.evaluation.evaluate import evaluation_mode
    from gentext.models.contract import SamplingOptions

    if not model.capabilities.infill:
        model.infill([None])  # the family's own one-line refusal
    options = options or SamplingOptions()
    if options.generator is None:
        generator = torch.Generator(device=model.device).manual_seed(seed)
        options = dataclasses.replace(options, generator=generator)
    template = parse_template(text, tokenizer, blank_size)
    with evaluation_mode(model):
        rows = model.infill(template, n, options)
    return [tokenizer.decode(row) for row in rows]
