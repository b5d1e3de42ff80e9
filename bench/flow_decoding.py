"""How a flow run's samples read under each way of decoding them: the temperature of the
per-position decoder p(x | z) (0: each token its most likely) and its nucleus (top-p) against
the temperature of the base noise the flow starts from (``base_temperature``, as Glow's),
beside the judge's own samples as the reference, all measured in the same run.

Each row scores --samples sentences of natural length (the length prior's) three ways, since
each alone can be gamed: the share of sampled words found in the training split, distinct-2,
and the judge's exact nats/token on them (generative perplexity; the judge is a gpt run, its
own tokenizer whatever the flow's).

    python bench/flow_decoding.py --flow runs/flow --judge runs/gpt [--temperatures 0,0.7,1]
        [--top-ps 1,0.9] [--base-temperatures 0.7,0.85,1] [--samples 500]
"""

from __future__ import annotations

import argparse
import json

import torch


def floats(text: str) -> list[float]:
    return [float(t) for t in text.split(",") if t.strip()]


def main() -> None:
    from gentext.data.pipeline import load_splits
    from gentext.evaluation.evaluate import default_max_new_tokens, sample_texts
    from gentext.evaluation.generative import judge_samples
    from gentext.evaluation.metrics import distinct_n, known_word_rate
    from gentext.models.contract import SamplingOptions
    from gentext.runs.checkpoint import load_run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flow", required=True, help="a flow run directory")
    parser.add_argument("--judge", required=True, help="a run with an exact likelihood (gpt)")
    parser.add_argument("--temperatures", default="0,0.7,1", help="decoder temperatures")
    parser.add_argument("--top-ps", default="1", help="decoder nucleus sizes (1: all tokens)")
    parser.add_argument("--base-temperatures", default="0.7,0.85,1",
                        help="temperatures of the base noise")
    parser.add_argument("--samples", type=int, default=500, help="sentences scored a row")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    flow, judge = load_run(args.flow), load_run(args.judge)
    train_texts = [e["text"] for e in load_splits(flow.config.data).train]

    def row(run, label: str, options: SamplingOptions) -> dict:
        texts = sample_texts(run.model, run.tokenizer, args.samples,
                             default_max_new_tokens(run.config.data.max_len), options, seed=0)
        judged = judge_samples(judge, texts)
        return {"decoding": label, "known_words": known_word_rate(texts, train_texts),
                "distinct_2": distinct_n(texts, 2),
                "judge_nats_per_token": judged["judge_nats_per_token"], "example": texts[0]}

    rows = [row(judge, "judge's own samples, temperature 1 (reference)",
                SamplingOptions(temperature=1.0))]
    for base in floats(args.base_temperatures):
        for top_p in floats(args.top_ps):
            for temperature in floats(args.temperatures):
                if top_p < 1 and temperature <= 0:
                    continue  # greedy decoding ignores the nucleus: its row is the top-p 1 one
                nucleus = f", top-p {top_p:g}" if top_p < 1 else ""
                rows.append(row(flow, f"decoder T = {temperature:g}{nucleus}, base T = {base:g}",
                                SamplingOptions(temperature=temperature, top_p=top_p,
                                                knobs={"base_temperature": base})))
    print(f"cpu ({torch.get_num_threads()} threads), torch {torch.__version__}: "
          f"{args.samples} samples a row; flow {args.flow} ({flow.tokenizer.name}), judge "
          f"{args.judge} ({judge.tokenizer.name})")
    print("| decoding | known words | distinct-2 | judge nats/token | first sample |")
    print("|---|---:|---:|---:|---|")
    for r in rows:
        example = " ".join(r["example"][:60].split()).replace("|", "\\|")
        print(f"| {r['decoding']} | {100 * r['known_words']:.1f}% | {r['distinct_2']:.3f} | "
              f"{r['judge_nats_per_token']:.3f} | {example} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(rows, out, indent=2)


if __name__ == "__main__":
    main()
