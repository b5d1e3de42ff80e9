"""mdlm's speed-quality curve: sentences per second and sample quality against the number of
denoising steps S, beside gpt's KV-cache sampler, measured in the same run.

Speed: --n sentences of exactly --length tokens (`gentext.comparison.compare.sampling_throughput`), the
median of --repeats timed batches. Quality, on --samples sentences of natural length (the
length prior's; gpt: until <eos>), temperature 1: the gpt run's exact nats/token on the
samples (lower: more like what gpt learnt), the share of sampled words found in the training
split, and distinct-2 (so low diversity cannot pass as quality).

    python bench/mdlm_sampling.py --mdlm runs/mdlm --gpt runs/gpt [--steps 8,16,32,64,128]
"""

from __future__ import annotations

import argparse
import json

import torch


def main() -> None:
    from gentext.runs.checkpoint import load_run
    from gentext.comparison.compare import sampling_throughput
    from gentext.data.pipeline import load_splits
    from gentext.evaluation.evaluate import evaluate, sample_texts
    from gentext.evaluation.metrics import distinct_n, known_word_rate
    from gentext.models.contract import SamplingOptions

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mdlm", required=True, help="an mdlm run directory")
    parser.add_argument("--gpt", required=True, help="a gpt run directory (same tokenizer)")
    parser.add_argument("--steps", default="8,16,32,64,128", help="S values, comma-separated")
    parser.add_argument("--n", type=int, default=64, help="sentences per timed batch")
    parser.add_argument("--length", type=int, default=64, help="tokens per timed sentence")
    parser.add_argument("--samples", type=int, default=300, help="sentences scored for quality")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    mdlm, gpt = load_run(args.mdlm), load_run(args.gpt)
    splits = load_splits(gpt.config.data)
    train_texts = [e["text"] for e in splits.train]
    max_new = gpt.config.data.max_len - 2

    def quality(run, knobs: dict) -> dict:
        texts = sample_texts(run.model, run.tokenizer, args.samples, max_new,
                             SamplingOptions(temperature=1.0, knobs=knobs), seed=0)
        scored = evaluate(gpt.model, [{"text": t} for t in texts if t.strip()], gpt.tokenizer,
                          "samples", "exact", gpt.config.data.max_len)
        return {"gpt_nats_per_token": scored.nats_per_token,
                "known_words": known_word_rate(texts, train_texts),
                "distinct_2": distinct_n(texts, 2)}

    rows = [{"model": "gpt, KV cache (reference)", "steps": None,
             "sentences_per_s": sampling_throughput(gpt.model, args.n, args.length,
                                                    repeats=args.repeats),
             **quality(gpt, {})}]
    for steps in (int(s) for s in args.steps.split(",")):
        knobs = {"steps": steps}
        rows.append({"model": "mdlm", "steps": steps,
                     "sentences_per_s": sampling_throughput(mdlm.model, args.n, args.length,
                                                            repeats=args.repeats, knobs=knobs),
                     **quality(mdlm, knobs)})
    reference = rows[0]["sentences_per_s"]
    print(f"cpu ({torch.get_num_threads()} threads), torch {torch.__version__}: speed on "
          f"{args.n} sentences x {args.length} tokens (median of {args.repeats}); quality on "
          f"{args.samples} samples of natural length, temperature 1")
    print("| model | steps S | sentences/s | vs gpt | gpt nats/token of samples | "
          "known words | distinct-2 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['model']} | {row['steps'] or '-'} | {row['sentences_per_s']:,.1f} | "
              f"{row['sentences_per_s'] / reference:.2f}x | {row['gpt_nats_per_token']:.3f} | "
              f"{100 * row['known_words']:.1f}% | {row['distinct_2']:.3f} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(rows, out, indent=2)


if __name__ == "__main__":
    main()
