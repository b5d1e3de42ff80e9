"""Memory per process of a two-process run, data-parallel (DDP: each process holds the whole
model, its gradients and AdamW's two moments) against sharded (FSDP: each holds half), with one
process as the reference.

    python bench/fsdp_memory.py                 # gpt, 8 layers x 512 wide, 20 steps
    python bench/fsdp_memory.py --set model.n_layer=12

Each process's resident set (RSS) is sampled every 50 ms with psutil, with glibc's mmap
threshold fixed at 128 KB in every row (see ALLOCATOR). "training" is the peak
up to the log row at step ``--at``, before the first validation and checkpoint; "overall"
includes the final validation, checkpoint and samples, for which FSDP gathers the model whole
(and the main process the optimizer state, in CPU memory). On the CPU (gloo) RSS holds
everything; on GPUs the same split applies to GPU memory, and the gathered checkpoint to host
memory. The run is the real `gentext train` on the default corpus.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from memory import IMPORTS, watch  # noqa: E402

MODEL = ["model.n_layer=8", "model.n_embd=512", "model.n_head=8", "model.dropout=0"]
# glibc keeps freed heap memory resident (its mmap threshold grows to 32 MB once a large block
# is freed), so RSS would show the allocator's high-water mark, which FSDP's gathered units,
# made and freed every step, raise. Every block of 128 KB or more its own mapping, returned
# when freed: RSS then follows the memory in use, the way a GPU's allocator statistics do.
ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": "131072"}


def largest_worker(launcher: psutil.Process) -> int:
    """RSS of the largest training process: the launcher's python children (torchrun), or the
    launcher itself for one process. Its peak over time is the largest per-process peak."""
    sizes = []
    for worker in launcher.children(recursive=True) or [launcher]:
        try:
            sizes.append(worker.memory_info().rss)
        except psutil.NoSuchProcess:
            pass
    return max(sizes, default=0)


def run(processes: int, engine: str, settings: list[str], at: int) -> tuple[float, float, float]:
    """(largest per-process peak RSS by step ``at``, overall, seconds) of one training run."""
    environment = {"OMP_NUM_THREADS": "1", **ALLOCATOR}
    if engine == "FSDP":
        environment["ACCELERATE_USE_FSDP"] = "true"
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone",
                 "--nproc_per_node", str(processes)] if processes > 1 else [sys.executable])
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        command = [*launcher, "-m", "gentext", "train", "--model", "gpt", "--quiet",
                   "--out", str(out)]
        for setting in settings:
            command += ["--set", setting]
        return watch(command, out / "metrics.jsonl", at, environment, largest_worker)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--at", type=int, default=10, help="the step training peaks are read at")
    parser.add_argument("--set", action="append", default=[], help="more settings")
    args = parser.parse_args()
    settings = [*MODEL, f"train.steps={args.steps}", f"train.eval_every={args.steps}",
                f"train.log_every={args.at}", "train.samples=2", *args.set]

    _, baseline, _ = watch([sys.executable, "-c", IMPORTS], env=ALLOCATOR)  # the same allocator
    mb = 1 / 2**20
    rows = [(1, "none"), (2, "DDP"), (2, "FSDP")]
    results = {row: run(*row, settings, args.at) for row in rows}
    reference = results[(2, "DDP")][0] - baseline
    print("| processes | engine | training peak per process, MB | less imports, MB | "
          "vs DDP | overall peak per process, MB | seconds |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for (processes, engine), (training, overall, seconds) in results.items():
        print(f"| {processes} | {engine} | {training * mb:,.0f} | {(training - baseline) * mb:,.0f}"
              f" | {(training - baseline) / reference:.2f}x | {overall * mb:,.0f} | {seconds:.0f} |")
    print(f"\nimports ({IMPORTS.replace('import ', '')}): {baseline * mb:,.0f} MB; "
          f"gpt {' '.join(MODEL + args.set)}, {args.steps} steps")


if __name__ == "__main__":
    main()
