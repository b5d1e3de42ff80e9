"""Sampling throughput of the flow (one parallel pass) against gpt (one token at a time, KV
cache), for the same number of sentences of the same length, measured in the same run.

Both runs should use the same tokenizer (the flow's default is characters; train the gpt
with `--set data.tokenizer=char`). Every sentence has exactly --length tokens: the flow is
given the lengths, and gpt's end token is not honoured, so both do the same amount of work.
Sentences per second are the median of --repeats timed batches.

    python bench/flow_sampling.py --flow runs/flow --gpt runs/gpt-char [--n 256] [--length 100]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch


def seconds(fn, device: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    from gentext.checkpoint import load_run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flow", required=True, help="a flow run directory")
    parser.add_argument("--gpt", required=True, help="a gpt run directory")
    parser.add_argument("--n", type=int, default=256, help="sentences per batch")
    parser.add_argument("--length", type=int, default=100, help="tokens per sentence")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else (
        "cpu" if args.device == "auto" else args.device)
    flow, gpt = (load_run(path).model.to(device) for path in (args.flow, args.gpt))
    gpt.vocab = dataclasses.replace(gpt.vocab, eos_id=-1)  # never stop early: exactly --length
    lengths = torch.full((args.n,), args.length, device=device)
    generator = torch.Generator(device=device).manual_seed(0)

    def sample_flow():
        out = flow.sample_lengths(lengths, generator=generator)
        assert all(len(s) == args.length for s in out)

    def sample_gpt():
        out = gpt.sample(args.n, args.length, generator=generator)
        assert all(len(s) == args.length for s in out)

    rows = {}
    for name, fn, model in (("gpt, KV cache (reference)", sample_gpt, gpt),
                            ("flow, parallel", sample_flow, flow)):
        fn()  # warm-up
        rows[name] = (seconds(fn, device, args.repeats), model.num_parameters())
    reference = rows["gpt, KV cache (reference)"][0]
    threads = torch.get_num_threads() if device == "cpu" else None
    where = f"{device} ({threads} threads)" if threads else torch.cuda.get_device_name()
    print(f"{where}, torch {torch.__version__}: {args.n} sentences x {args.length} tokens, "
          f"median of {args.repeats}")
    print("| model | parameters | seconds | sentences/s | tokens/s | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (secs, params) in rows.items():
        print(f"| {name} | {params:,} | {secs:.2f} | {args.n / secs:,.0f} | "
              f"{args.n * args.length / secs:,.0f} | {reference / secs:.1f}x |")


if __name__ == "__main__":
    main()
