"""Every family trains and samples on this machine's accelerator: a few steps each, on CUDA in
bf16 when there is a GPU (else on the CPU), with the training throughput and sampling rate.

    python bench/gpu_smoke.py [--steps 30] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="training steps per family")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--families", default="gpt,seqvae,seqgan,flow", help="comma-separated")
    args = parser.parse_args()

    import torch
    from rich.console import Console

    from gentext.runs.checkpoint import load_run
    from gentext.config import build_config
    from gentext.training.devices import resolve_device
    from gentext.evaluation.evaluate import sample_texts
    from gentext.plugins.manager import get_model
    from gentext.training.trainer import train

    device = resolve_device(args.device)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for family in args.families.split(","):
            spec = get_model(family)
            overrides = [f"train.steps={args.steps}", f"train.eval_every={args.steps}",
                         f"train.log_every={max(1, args.steps // 3)}", "train.samples=0",
                         f"train.device={device}", "train.eval_examples=256"]
            if family == "seqgan":  # half MLE, half adversarial
                overrides.append(f"model.pretrain_steps={args.steps // 2}")
            config = build_config(family, spec.config, {}, overrides, spec.train_defaults,
                                  spec.data_defaults)
            out = Path(folder) / family
            train(config, out, progress=False, console=Console(quiet=True))
            metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
            speed = [r["tokens_per_s"] for r in metrics if "tokens_per_s" in r][-1]
            run = load_run(out)
            run.model.to(device)
            start = time.perf_counter()
            texts = sample_texts(run.model, run.tokenizer, 64, 64)
            if device == "cuda":
                torch.cuda.synchronize()
            rate = len(texts) / (time.perf_counter() - start)
            rows.append((family, speed, rate))
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print(f"{name} ({device}{', bf16 autocast' if device == 'cuda' else ''}), torch "
          f"{torch.__version__}, {args.steps} steps per family on the default corpus")
    print("| family | training tokens/s | sentences sampled/s (64, up to 64 tokens) |")
    print("|---|---:|---:|")
    for family, speed, rate in rows:
        print(f"| {family} | {speed:,.0f} | {rate:,.1f} |")


if __name__ == "__main__":
    main()
