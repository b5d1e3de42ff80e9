"""Tokenise a large corpus to memory-mapped token files: throughput and peak memory.

Builds a corpus of --size-mb megabytes from the Austen sentences (shuffled repeats), trains
the default byte-level BPE tokenizer (4,096 tokens) on the first 30,000 lines, then streams
the whole file through `gentext.data.memmap.tokenize_to_disk` a chunk of lines at a time.
Peak memory is the process's maximum resident set size; it is measured for each size in
--sizes, in a fresh process each, so the table shows whether it grows with the corpus.

    python bench/tokenize_corpus.py                      # 100 MB and 1 GB (about 5 minutes on 2 cores)
    python bench/tokenize_corpus.py --sizes 50 --keep    # one small size, keep the files
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def build_corpus(path: Path, size_mb: int, seed: int = 0) -> int:
    from gentext.data.corpus import load_austen

    sentences = [e["text"] for e in load_austen()]
    rng, target, written = random.Random(seed), size_mb * 1_000_000, 0
    with open(path, "w", encoding="utf-8") as handle:
        while written < target:
            rng.shuffle(sentences)
            block = "\n".join(sentences) + "\n"
            handle.write(block)
            written += len(block.encode("utf-8"))
    return written


def measure(size_mb: int, chunk_lines: int, folder: Path) -> dict:
    """Run in a fresh process: build, train the tokenizer, tokenise; report the figures."""
    from gentext.data.memmap import read_lines, tokenize_to_disk
    from gentext.data.tokenizer import train_tokenizer

    corpus = folder / "corpus.txt"
    corpus_bytes = build_corpus(corpus, size_mb)
    sample = [line for _, line in zip(range(30_000), read_lines(corpus))]
    tokenizer = train_tokenizer(sample, "bpe", 4096)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    meta = tokenize_to_disk(read_lines(corpus), tokenizer, folder / "tokens", max_len=128,
                            chunk_lines=chunk_lines)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"size_mb": size_mb, "corpus_bytes": corpus_bytes, "examples": meta["examples"],
            "tokens": meta["tokens"], "seconds": seconds, "tokens_per_s": meta["tokens"] / seconds,
            "mb_per_s": corpus_bytes / 1e6 / seconds, "peak_rss_mb": peak,
            "rss_before_mb": before, "token_file_mb": (folder / "tokens" / "tokens.bin").stat().st_size / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000", help="corpus sizes in MB, comma-separated")
    parser.add_argument("--chunk-lines", type=int, default=10_000, help="lines tokenised at a time")
    parser.add_argument("--workdir", default=None, help="where to build corpora (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the corpora and token files")
    parser.add_argument("--json", default=None, help="also write the table as JSON here")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # worker mode
    args = parser.parse_args()
    root = Path(args.workdir or tempfile.mkdtemp(prefix="gentext-bench-"))
    if args.one is not None:
        print(json.dumps(measure(args.one, args.chunk_lines, root)))
        return
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        folder = root / f"{size}mb"
        folder.mkdir(parents=True, exist_ok=True)
        result = subprocess.run([sys.executable, __file__, "--one", str(size), "--chunk-lines",
                                 str(args.chunk_lines), "--workdir", str(folder)],
                                capture_output=True, text=True, env={**os.environ}, check=True)
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
        if not args.keep:
            shutil.rmtree(folder)
    import torch

    print(f"{os.cpu_count()} CPU cores, torch {torch.__version__}, chunk {args.chunk_lines:,} lines, "
          "byte-level BPE 4,096 tokens, max_len 128")
    print("| corpus | examples | tokens | seconds | tokens/s | MB/s | peak memory (RSS) | token file |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['corpus_bytes'] / 1e6:,.0f} MB | {r['examples']:,} | {r['tokens']:,} | "
              f"{r['seconds']:.1f} | {r['tokens_per_s']:,.0f} | {r['mb_per_s']:.1f} | "
              f"{r['peak_rss_mb']:,.0f} MB | {r['token_file_mb']:,.0f} MB |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    if not args.keep and args.workdir is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
