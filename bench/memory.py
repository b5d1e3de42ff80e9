"""Resident memory of a training run: the import baseline, the peak by an early step, the peak
by the last step, and their ratio (peak memory must not grow with steps).

    python bench/memory.py                      # the default gpt run, 800 steps, peak at 50 too
    python bench/memory.py --model mdlm --steps 300 --at 50

Each figure is the resident set (RSS) of a fresh process, sampled every 50 ms with psutil
(children included); the run is the real `gentext train` on the default corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

IMPORTS = "import torch, datasets, tokenizers, accelerate, gentext.training.trainer"


def resident(process: psutil.Process) -> int:
    """Bytes resident in the process and its children."""
    total = 0
    for each in [process, *process.children(recursive=True)]:
        try:
            total += each.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def last_step(metrics: Path) -> int:
    try:
        lines = metrics.read_text().splitlines()
    except FileNotFoundError:
        return 0
    for line in reversed(lines):
        try:
            return int(json.loads(line)["step"])
        except (ValueError, KeyError):
            continue
    return 0


def watch(command: list[str], metrics: Path | None = None, at: int = 0, env: dict | None = None,
          measure=resident) -> tuple[int, int, float]:
    """Run ``command`` (with ``env`` added to the environment); (peak of ``measure`` up to the
    first metrics row at step ``at`` or later, peak overall, seconds). ``measure``: bytes of
    the launched process, by default its RSS with its children's."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                                  **(env or {})})
    process = psutil.Process(child.pid)
    early = peak = 0
    while child.poll() is None:
        try:
            now = measure(process)
        except psutil.NoSuchProcess:
            break
        peak = max(peak, now)
        if metrics is not None and not early and last_step(metrics) >= at:
            early = peak
        time.sleep(0.05)
    if child.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{child.stderr.read().decode()[-2000:]}")
    return early or peak, peak, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gpt")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--at", type=int, default=50, help="the early step to compare against")
    parser.add_argument("--set", action="append", default=[], help="more train settings")
    parser.add_argument("--json", help="also write the table here")
    args = parser.parse_args()

    _, baseline, _ = watch([sys.executable, "-c", IMPORTS])
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        command = [sys.executable, "-m", "gentext", "train", "--model", args.model, "--quiet",
                   "--out", str(out), "--set", f"train.steps={args.steps}",
                   "--set", "train.samples=0"]
        for setting in args.set:
            command += ["--set", setting]
        early, peak, seconds = watch(command, out / "metrics.jsonl", args.at)

    mb = 1 / 2**20
    rows = [("imports (" + IMPORTS.replace("import ", "") + ")", baseline * mb),
            (f"{args.model} train, peak by step {args.at}", early * mb),
            (f"{args.model} train, peak by step {args.steps}", peak * mb)]
    print(f"| what | resident MB |\n|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value:,.0f} |")
    print(f"| growth, step {args.at} to {args.steps} | {peak / early:.3f}x |")
    print(f"\n{args.steps} steps in {seconds:.0f} s (training, validation, checkpoints)")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "model": args.model, "steps": args.steps, "at": args.at, "settings": args.set,
            "imports_mb": baseline * mb, "early_mb": early * mb, "peak_mb": peak * mb,
            "seconds": seconds}, indent=2))


if __name__ == "__main__":
    main()
