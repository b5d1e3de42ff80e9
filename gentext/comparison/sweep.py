"""Quality against diversity across sampling temperatures: BLEU-n of samples against the test
split (quality) and self-BLEU-n among them (lower is more diverse), for several runs at once.

Caccia et al. (2020, "Language GANs Falling Short") showed that one temperature says little:
lowering it trades diversity for quality, so a model is judged by its whole curve, and they
found maximum likelihood's curve above the GANs'. This measures that curve for any runs.
"""

from __future__ import annotations

import json
from pathlib import Path

from gentext.evaluation import bleu

from gentext.evaluation import metrics
from gentext.data.pipeline import load_splits
from gentext.data.splits import texts_sha256
from gentext.errors import GentextError
from gentext.evaluation.evaluate import default_max_new_tokens, sample_texts
from gentext.models.contract import SamplingOptions

ORDERS = (2, 3, 4, 5)


def test_references(runs) -> list[str]:
    """The test split every run was measured on; runs with different test splits are refused."""
    references, first = None, None
    for run in runs:
        texts = [e["text"] for e in load_splits(run.config.data).test]
        if references is None:
            references, first = texts, run
        elif texts_sha256(texts) != texts_sha256(references):
            raise GentextError(f"runs {str(first.path)!r} and {str(run.path)!r} have different "
                               "test splits; give runs trained on the same data and split")
    return references


def check_samples(n: int) -> None:
    """Self-BLEU compares samples with each other: a run needs at least 2 (compare, sweep)."""
    if n < 2:
        raise GentextError(f"self-BLEU needs at least 2 samples per run and temperature, got {n}")


def check_sweep(temperatures: list[float], n: int) -> None:
    """What ``temperature_sweep`` takes, checked before any run loads (by the CLI too)."""
    check_samples(n)
    if any(t <= 0 for t in temperatures):
        raise GentextError("sweep temperatures must be above 0 (0 is greedy: one sample)")


def temperature_sweep(runs, temperatures: list[float], n: int = 1000, seed: int = 0) -> list[dict]:
    """One row per (run, temperature): BLEU-2..5, self-BLEU-2..5, distinct-2, mean words."""
    check_sweep(temperatures, n)
    references = test_references(runs)
    rows = []
    for run in runs:
        for temperature in temperatures:
            samples = sample_texts(run.model, run.tokenizer, n,
                                   default_max_new_tokens(run.config.data.max_len),
                                   SamplingOptions(temperature=temperature), seed=seed)
            rows.append({"run": str(run.path), "model": run.spec.name, "temperature": temperature,
                         "samples": n, **bleu.bleu_scores(samples, references, ORDERS),
                         "distinct-2": metrics.distinct_n(samples, 2),
                         "mean-words": metrics.mean_words(samples)})
    return rows


def markdown_table(rows: list[dict], n: int = 4) -> str:
    """The sweep as a markdown table (BLEU-n and self-BLEU-n; the JSON has every order)."""
    header = ["run", "model", "temperature", f"BLEU-{n}", f"self-BLEU-{n}", "BLEU-2", "self-BLEU-2",
              "distinct-2", "mean words"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append(f"| {r['run']} | {r['model']} | {r['temperature']:g} | {r[f'bleu-{n}']:.4f} | "
                     f"{r[f'self-bleu-{n}']:.4f} | {r['bleu-2']:.4f} | {r['self-bleu-2']:.4f} | "
                     f"{r['distinct-2']:.4f} | {r['mean-words']:.1f} |")
    return "\n".join(lines)


def write_json(rows: list[dict], out: Path) -> None:
    from gentext.runs.checkpoint import write_atomic

    write_atomic(Path(out), json.dumps(rows, indent=2) + "\n")
