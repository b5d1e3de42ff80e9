"""Diversity of generated token ids (distinct-1/2, mean length): on the host for samples, and
on the batch's device for the figures logged every training step, where a host sync per step
would stall a GPU. Both count the tokens before each row's first <eos>, as ``trim_at_eos``
keeps them, and give the same numbers."""

from __future__ import annotations

import torch

from gentext.api import distinct_n, mean_words

DISTINCT_ORDERS = (1, 2)  # distinct-n reported for these n
NOT_AN_N_GRAM = -1  # the key of an n-gram that reaches past its row's first <eos>


def token_diversity(sequences: list[list[int]], prefix: str) -> dict[str, float]:
    """Distinct-1/2 and mean length of token sequences (the model has no tokenizer)."""
    rows = [" ".join(map(str, s)) for s in sequences]
    return {**{f"{prefix}_distinct_{n}": distinct_n(rows, n) for n in DISTINCT_ORDERS},
            f"{prefix}_mean_tokens": mean_words(rows)}


def batch_diversity(tokens: torch.Tensor, eos_id: int, vocab_size: int,
                    prefix: str) -> dict[str, torch.Tensor]:
    """``token_diversity`` of ``trim_at_eos(tokens)`` for ids (B, L) in [0, vocab_size), as 0-d
    float32 tensors on their device, computed without a host sync."""
    kept = (tokens == eos_id).long().cumsum(dim=1) == 0  # (B, L) before the row's first <eos>
    values = {f"{prefix}_distinct_{n}": _distinct_n(tokens, kept, n, vocab_size)
              for n in DISTINCT_ORDERS}
    rows = max(tokens.size(0), 1)  # mean_words: 0.0 for no rows
    values[f"{prefix}_mean_tokens"] = kept.sum().float() / rows
    return values


def _distinct_n(tokens: torch.Tensor, kept: torch.Tensor, n: int,
                vocab_size: int) -> torch.Tensor:
    """distinct_n on ids: distinct n-grams over all n-grams of the kept prefixes, 0.0
    when there are none. Each n-gram becomes one integer (its ids as digits in base
    ``vocab_size``), so sorting the keys and counting where they change counts distinct ones
    (torch.unique would read its output's size back to the host)."""
    if vocab_size ** n > torch.iinfo(torch.long).max:
        raise ValueError(f"{n}-grams of {vocab_size} ids do not fit a 64-bit key")
    zero = torch.zeros((), device=tokens.device)
    starts = tokens.size(1) - n + 1  # n-grams per row
    if starts <= 0 or tokens.size(0) == 0:
        return zero
    keys = tokens[:, :starts]
    for offset in range(1, n):
        keys = keys * vocab_size + tokens[:, offset : offset + starts]
    # the kept positions are a prefix, so an n-gram is kept when its last token is
    counted = kept[:, n - 1 :]
    keys = keys.masked_fill(~counted, NOT_AN_N_GRAM).flatten().sort().values  # sentinels first
    is_gram = keys >= 0
    new = torch.cat([is_gram[:1], (keys[1:] != keys[:-1]) & is_gram[1:]])
    distinct, total = new.sum().float(), counted.sum().float()
    return torch.where(total > 0, distinct / total.clamp(min=1), zero)
