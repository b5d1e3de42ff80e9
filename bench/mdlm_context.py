"""Does an mdlm denoiser use context? Cross-entropy of the masked tokens of a split with a
growing share of each sentence masked, beside the training split's unigram entropy.

A denoiser that reads its context predicts a token better when most of the sentence around
it is given (5% masked) than when none is (100% masked); one stuck at the unigram plateau
scores the same at every share, about the unigram entropy. The masks are drawn by count
(exactly ceil(share * T) of a sentence's T tokens), from a fixed seed, so runs compare on the
same masks.

    python bench/mdlm_context.py runs/mdlm [more runs] [--split valid] [--json rows.json]
"""

from __future__ import annotations

import argparse
import collections
import json
import math

import torch
import torch.nn.functional as F

SHARES = (0.05, 0.15, 0.5, 1.0)


def unigram_entropy(encoded) -> float:
    """Nats per token of the split's own unigram distribution over its sentences' tokens."""
    counts = collections.Counter(token for sequence in encoded.sequences
                                 for token in sequence[1:-1])
    total = sum(counts.values())
    return -sum(c / total * math.log(c / total) for c in counts.values())


@torch.no_grad()
def masked_cross_entropy(model, batches: list[dict], share: float) -> float:
    """Mean nats of the masked tokens when ``share`` of each sentence is masked."""
    from gentext_mdlm.schedules import masks_by_count

    generator = torch.Generator().manual_seed(0)
    nats, count = 0.0, 0
    for batch in batches:
        tokens, lengths, content = model._content(batch)
        masked, _ = masks_by_count(content, torch.full((tokens.size(0),), share), generator)
        hidden = model.denoiser(tokens.masked_fill(masked, model.mask_id), lengths)[masked]
        nats += float(F.cross_entropy(model.logits(hidden), tokens[masked], reduction="sum"))
        count += int(masked.sum())
    return nats / count


def main() -> None:
    from gentext.runs.checkpoint import load_run
    from gentext.data.batching import encode_split
    from gentext.data.pipeline import load_splits
    from gentext.evaluation.evaluate import device_batches

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="mdlm run directories")
    parser.add_argument("--split", default="valid", choices=("valid", "test"))
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    rows, reference = [], None
    for path in args.runs:
        run = load_run(path)
        splits = load_splits(run.config.data)
        encoded = encode_split(getattr(splits, args.split), run.tokenizer, run.model.max_len)
        if reference is None:
            reference = unigram_entropy(encode_split(splits.train, run.tokenizer, 10**6))
        batches = list(device_batches(run.model, encoded, run.tokenizer.pad_id))
        model = run.config.model
        rows.append({"run": str(path), "positions": model.positions,
                     "conv_width": model.conv_width, "steps": run.meta.get("step"),
                     **{f"{share:g}": masked_cross_entropy(run.model, batches, share)
                        for share in SHARES}})
    print(f"nats per masked {args.split} token, by the share of each sentence masked; "
          f"the training split's unigram entropy is {reference:.3f}")
    print("| run | positions | conv_width | steps | " + " | ".join(f"{s:.0%} masked" for s in SHARES)
          + " |")
    print("|---|---|---:|---:|" + "---:|" * len(SHARES))
    for row in rows:
        print(f"| {row['run']} | {row['positions']} | {row['conv_width']} | {row['steps']} | "
              + " | ".join(f"{row[f'{s:g}']:.3f}" for s in SHARES) + " |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"unigram_entropy": reference, "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
