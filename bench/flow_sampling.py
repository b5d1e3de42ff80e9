"""Sampling throughput of the flow (one parallel pass) against gpt (one token at a time, KV
cache), for the same number of sentences of the same length, measured in the same run.

Both runs should use the same tokenizer, so equal tokens are equal words (the defaults: both
byte-level BPE; for a character flow, train the gpt with `--set data.tokenizer=char`).
Every sentence has exactly --length tokens
(`gentext.comparison.compare.sampling_throughput`: the flow is given the lengths, gpt's end token is not
honoured), so both do the same amount of work. Sentences per second are the median of
--repeats timed batches.

    python bench/flow_sampling.py --flow runs/flow --gpt runs/gpt [--n 256] [--length 64]
"""

from __future__ import annotations

import argparse

import torch


def main() -> None:
    from gentext.runs.checkpoint import load_run
    from gentext.comparison.compare import sampling_throughput

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flow", required=True, help="a flow run directory")
    parser.add_argument("--gpt", required=True, help="a gpt run directory")
    parser.add_argument("--n", type=int, default=256, help="sentences per batch")
    parser.add_argument("--length", type=int, default=64, help="tokens per sentence")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else (
        "cpu" if args.device == "auto" else args.device)
    flow, gpt = (load_run(path).model.to(device) for path in (args.flow, args.gpt))
    rows = {name: (sampling_throughput(model, args.n, args.length, repeats=args.repeats),
                   model.num_parameters())
            for name, model in (("gpt, KV cache (reference)", gpt), ("flow, parallel", flow))}
    reference = rows["gpt, KV cache (reference)"][0]
    threads = torch.get_num_threads() if device == "cpu" else None
    where = f"{device} ({threads} threads)" if threads else torch.cuda.get_device_name()
    print(f"{where}, torch {torch.__version__}: {args.n} sentences x {args.length} tokens, "
          f"median of {args.repeats}")
    print("| model | parameters | seconds | sentences/s | tokens/s | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (per_s, params) in rows.items():
        print(f"| {name} | {params:,} | {args.n / per_s:.2f} | {per_s:,.0f} | "
              f"{per_s * args.length:,.0f} | {per_s / reference:.1f}x |")


if __name__ == "__main__":
    main()
