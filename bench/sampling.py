"""Sampling speed of gpt: KV cache against recomputing the whole prefix at every step.

Prints a table of sentences per second and tokens per second for a run (or a freshly
initialised default-sized model), with the KV cache and without it (the reference,
measured in the same run), on the CPU or CUDA.

    python bench/sampling.py [--run runs/gpt] [--n 64] [--max-len 64] [--device auto]
"""

from __future__ import annotations

import argparse
import time

import torch


def load_model(run: str | None, device: str):
    if run:
        from gentext.runs.checkpoint import load_run

        return load_run(run).model.to(device)
    from gentext.models.contract import Vocab
    from gentext_gpt.config import ARCHS, GPTConfig
    from gentext_gpt.model import GPT

    torch.manual_seed(0)
    return GPT(GPTConfig(**ARCHS["gpt2"]), Vocab(4096, 0, 1, 2)).to(device).eval()


def timed(model, n: int, max_len: int, use_cache: bool, device: str) -> tuple[float, int]:
    """Seconds and tokens for one batch. Both samplers draw the same tokens from the same seed
    (tests/test_gpt.py checks it), so they stop at the same places and do the same work."""
    from gentext.models.contract import SamplingOptions

    options = SamplingOptions(seed=0, knobs={"use_cache": use_cache})
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    samples = model.sample(n, options, max_new_tokens=max_len)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, sum(len(s) for s in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=None, help="a gpt run directory (default: untrained model)")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--max-len", type=int, default=64)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else (
        "cpu" if args.device == "auto" else args.device)
    model = load_model(args.run, device)
    timed(model, 2, 4, True, device)  # warm-up
    rows = {name: timed(model, args.n, args.max_len, cache, device)
            for name, cache in (("recompute prefix (reference)", False), ("KV cache", True))}
    reference = rows["recompute prefix (reference)"][0]
    print(f"device {device}, {args.n} sentences x {args.max_len} tokens")
    print("| sampler | seconds | sentences/s | tokens/s | speed-up |")
    print("|---|---:|---:|---:|---:|")
    for name, (seconds, tokens) in rows.items():
        print(f"| {name} | {seconds:.2f} | {args.n / seconds:.1f} | {tokens / seconds:,.0f} | "
              f"{reference / seconds:.1f}x |")


if __name__ == "__main__":
    main()
