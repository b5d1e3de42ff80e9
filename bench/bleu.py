"""BLEU and self-BLEU speed: gentext.evaluation.bleu against NLTK's sentence_bleu, the reference it
reproduces exactly (tests/test_bleu.py), measured in the same run.

Samples are test-split sentences of the default corpus with their words shuffled (so n-gram
matches are partial, as with real samples); references are the whole test split. NLTK scores
``--nltk-samples`` of them and its time is scaled to the full count.

    python bench/bleu.py [--samples 1000] [--nltk-samples 20]
"""

from __future__ import annotations

import argparse
import random
import time

from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from gentext.evaluation import bleu
from gentext.config import DataConfig
from gentext.data.pipeline import load_splits

ORDERS = (2, 3, 4, 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--nltk-samples", type=int, default=20)
    args = parser.parse_args()
    references = [e["text"] for e in load_splits(DataConfig()).test]
    rng = random.Random(0)
    samples = []
    for text in rng.sample(references, args.samples):
        words = text.split()
        rng.shuffle(words)
        samples.append(" ".join(words))

    start = time.perf_counter()
    fast = bleu.bleu_scores(samples, references, ORDERS)
    fast_s = time.perf_counter() - start

    tokenized = [bleu.tokenize(t) for t in references]
    smoothing = SmoothingFunction().method1
    start = time.perf_counter()
    for sample in samples[: args.nltk_samples]:
        for n in ORDERS:
            sentence_bleu(tokenized, bleu.tokenize(sample), weights=(1 / n,) * n,
                          smoothing_function=smoothing)
    nltk_s = (time.perf_counter() - start) * args.samples / args.nltk_samples  # BLEU half only

    print(f"{args.samples} samples against {len(references)} test references, BLEU-2..5 "
          f"(and self-BLEU-2..5 for gentext)\n")
    print("| implementation | seconds | ratio |")
    print("|---|---:|---:|")
    print(f"| NLTK sentence_bleu, BLEU only (scaled from {args.nltk_samples} samples) "
          f"| {nltk_s:.1f} | 1.0 |")
    print(f"| gentext.evaluation.bleu, BLEU and self-BLEU | {fast_s:.2f} | {nltk_s / fast_s:.0f}x faster |")
    print(f"\nBLEU-4 {fast['bleu-4']:.4f}, self-BLEU-4 {fast['self-bleu-4']:.4f}")


if __name__ == "__main__":
    main()
