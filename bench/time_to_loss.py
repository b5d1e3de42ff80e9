"""Time to a target validation loss: transformers' GPT2LMHeadModel, today's gpt and the modern
recipe (with one row per piece turned back to GPT-2's), trained side by side in one run.

Every row is ``gentext train`` on the default corpus with the default budget (its steps and
learning-rate schedule, so only the recipe differs), validated every --every steps. A row's
time is its training seconds (``elapsed_s`` less the validations before it) at the first
validation at or below --target nats/token; the run is stopped there. A row that never gets
there says so with its best figure. GPT2LMHeadModel trains through the same loop, data and
AdamW as gpt (a wrapper family defined here), so its row measures the implementation alone.

    python bench/time_to_loss.py [--target 4.4577] [--rows gpt,modern] [--json FILE]

On a GPU add ``--shape gpt2`` (GPT-2 small: 12 layers, 768 wide) and ``--set train.batch_size=..``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from gentext.models.autoregressive import AutoregressiveModel
from gentext.plugins.hookspecs import hookimpl
from gentext.plugins.specs import ModelSpec

TARGET = 4.4577  # the default gpt's final validation figure (docs/speed.md)
MODERN = ["model.arch=modern"]
ROWS = {  # name: (model, --set overrides)
    "hf-gpt2": ("hf-gpt2", []),
    "gpt": ("gpt", ["model.arch=gpt2"]),
    "modern": ("gpt", MODERN),
    "modern, AdamW (no Muon)": ("gpt", MODERN + ["model.optimizer=adamw"]),
    "modern, learned positions": ("gpt", MODERN + ["model.positions=learned"]),
    "modern, LayerNorm": ("gpt", MODERN + ["model.norm=layernorm"]),
    "modern, no QK-norm": ("gpt", MODERN + ["model.qk_norm=false"]),
    "modern, GELU": ("gpt", MODERN + ["model.activation=gelu"]),
    "modern, untied head": ("gpt", MODERN + ["model.tied_head=false"]),
    "modern, no zero init": ("gpt", MODERN + ["model.zero_init=false"]),
}
SHAPES = {"default": [], "gpt2": ["model.n_layer=12", "model.n_head=12", "model.n_embd=768"]}


@dataclass
class HFGPT2Config:
    """GPT2LMHeadModel's shape, named as gpt's so the same --set applies."""

    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 256
    block_size: int = 128
    dropout: float = 0.1


class HFGPT2(AutoregressiveModel):
    """transformers' GPT2LMHeadModel as a gentext family (teacher forcing only)."""

    def __init__(self, config: HFGPT2Config, vocab):
        super().__init__(config, vocab)
        from transformers import GPT2Config, GPT2LMHeadModel

        self.hf = GPT2LMHeadModel(GPT2Config(
            vocab_size=vocab.size, n_positions=config.block_size, n_embd=config.n_embd,
            n_layer=config.n_layer, n_head=config.n_head, resid_pdrop=config.dropout,
            embd_pdrop=config.dropout, attn_pdrop=config.dropout, bos_token_id=vocab.bos_id,
            eos_token_id=vocab.eos_id))

    @property
    def max_len(self) -> int:
        return self.config.block_size

    def output_features(self, inputs, context=None):
        hidden = self.hf.transformer(input_ids=inputs).last_hidden_state  # after ln_f
        return hidden, self.hf.lm_head.weight, self.vocab.size

    def step(self, inputs, state):
        return self.hf(input_ids=inputs).logits, state


class HFPlugin:
    @hookimpl
    def register_models(self, register):
        register(ModelSpec(name="hf-gpt2", description="transformers' GPT2LMHeadModel",
                           config=HFGPT2Config, model="time_to_loss:HFGPT2",
                           likelihood="exact"))


def worker(arguments: list[str]) -> None:
    """``gentext`` with the GPT2LMHeadModel family registered (a row's process)."""
    from gentext.plugins import manager as plugins
    from gentext_cli.app import main as gentext

    plugins.register_plugin(HFPlugin(), name="time-to-loss", version="bench")
    sys.argv = ["gentext", *arguments]
    gentext()


def crossing(metrics: Path, target: float):
    """(step, training seconds, figure) of the first validation at or below ``target``, the
    best (step, seconds, figure) so far, from a metrics.jsonl being written."""
    if not metrics.is_file():
        return None, None
    paused, best = 0.0, None
    for line in metrics.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a line being written
            continue
        if row.get("kind") != "valid":
            continue
        figure = row["nats"] / row["tokens"]
        point = (row["step"], row["elapsed_s"] - paused, figure)
        paused += row["eval_s"]
        if best is None or figure < best[2]:
            best = point
        if figure <= target:
            return point, best
    return None, best


def run_row(name: str, model: str, sets: list[str], args, folder: Path) -> dict:
    out = folder / name.replace(" ", "_").replace(",", "").replace("(", "").replace(")", "")
    command = [sys.executable, __file__, "--worker", "train", "--model", model, "--out", str(out),
               "--set", f"train.steps={args.steps}", "--set", f"train.eval_every={args.every}",
               "--set", "train.samples=0",
               "--set", "train.log_every=10"]
    for setting in [*SHAPES[args.shape], *args.set, *sets]:
        command += ["--set", setting]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    reached, best = None, None
    while process.poll() is None:
        time.sleep(1.0)
        reached, best = crossing(out / "metrics.jsonl", args.target)
        if reached:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            break
    if process.returncode not in (0, -signal.SIGKILL):
        sys.exit(f"row {name!r} failed: {process.stderr.read().decode()[-2000:]}")
    if not reached:
        reached, best = crossing(out / "metrics.jsonl", args.target)
    row = {"row": name, "model": model, "sets": sets, "reached": reached is not None,
           "wall_s": time.perf_counter() - started}
    step, seconds, figure = reached or best
    row.update(step=step, seconds=seconds, valid_nats_per_token=figure)
    print(f"  {name}: {'reached' if reached else 'did not reach'} {args.target} "
          f"(step {step}, {seconds:.0f} s, {figure:.4f})", file=sys.stderr, flush=True)
    return row


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        return worker(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=TARGET, help="validation nats/token")
    parser.add_argument("--rows", default="all",
                        help=f"comma-separated, of: {', '.join(ROWS)} (all: every row)")
    parser.add_argument("--every", type=int, default=25, help="validate every N steps")
    parser.add_argument("--steps", type=int, default=800,
                        help="each row's schedule: the steps of the GPT-2 recipe's default run")
    parser.add_argument("--shape", choices=tuple(SHAPES), default="default")
    parser.add_argument("--set", action="append", default=[], help="extra --set for every row")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    names = list(ROWS) if args.rows == "all" else [n.strip() for n in args.rows.split(",")]
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        sys.exit(f"unknown rows {unknown}; choose from {', '.join(ROWS)}")
    with tempfile.TemporaryDirectory(prefix="time_to_loss_") as folder:
        rows = [run_row(name, *ROWS[name], args, Path(folder)) for name in names]
    reference = next((r for r in rows if r["row"] == "gpt" and r["reached"]), None)
    device = "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    print(f"{device}, torch {torch.__version__}: time to validation {args.target} nats/token, "
          f"shape {args.shape}, validated every {args.every} steps")
    print("| recipe | reached | step | training s | vs gpt | best valid nats/token |")
    print("|---|---|---:|---:|---:|---:|")
    for row in rows:
        ratio = (f"{row['seconds'] / reference['seconds']:.2f}x"
                 if reference and row["reached"] else "-")
        print(f"| {row['row']} | {'yes' if row['reached'] else 'no'} | {row['step']} | "
              f"{row['seconds']:.0f} | {ratio} | {row['valid_nats_per_token']:.4f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
