"""What a run reports while it trains: the figures of the steps since the last log row (kept
on the device), the progress bar, and the lines it prints. Only the main process prints."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from gentext.distributed import Ranks


class Window:
    """The scalars a model's steps returned since the last log row, summed on the device
    (read only at log steps: no host sync every step), and the tokens trained on."""

    def __init__(self, device):
        self.nonfinite = torch.zeros((), dtype=torch.bool, device=device)  # ever, not per window
        self.device = device
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.tokens, self.steps, self.start = 0, 0, time.perf_counter()

    def add(self, outputs: dict, tokens: int) -> None:
        for name, value in outputs.items():  # on this device, whatever a family returned
            value = torch.as_tensor(value, device=self.device).detach().float()
            self.nonfinite |= ~torch.isfinite(value)
            self.sums[name] = self.sums[name] + value if name in self.sums else value
        self.tokens += tokens
        self.steps += 1

    def totals(self, ranks: Ranks) -> torch.Tensor:
        """The sums (in name order) and the tokens, over all processes, on the device."""
        names = sorted(self.sums)
        return ranks.sum(torch.stack([self.sums[n] for n in names] + [
            torch.tensor(float(self.tokens), device=self.device)]))

    def means(self, ranks: Ranks) -> tuple[dict[str, float], float]:
        """Each scalar's mean per step and process, and tokens per second, over all processes
        (the one read from the device in a window)."""
        totals = self.totals(ranks).tolist()
        means = {name: total / self.steps / ranks.world
                 for name, total in zip(sorted(self.sums), totals[:-1])}
        return means, totals[-1] / (time.perf_counter() - self.start)


def console_for(console, ranks: Ranks):
    """The console the run prints to: the caller's, or stderr; silent but in the main
    process, so a multi-process run prints each line once."""
    from rich.console import Console

    if console and ranks.main:
        return console
    return Console(stderr=True, quiet=not ranks.main)


def progress_bar(console, enabled: bool):
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    return Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[stats]}"),
                    console=console, disable=not enabled, transient=False)


def announce(console, model: str, where: str, data, splits: dict, tokenizer: str,
             out: Path) -> None:
    """The run's first line: what trains where, on what, into which folder; then a warning
    for each split that leaves out many examples. ``data``: the run's DataConfig;
    ``splits``: "training" and "validation" -> their encoded examples."""
    train_data, max_len = splits["training"], data.max_len
    rows = len(train_data.sequences)
    what = (f"{rows:,} training windows of up to {max_len} tokens" if data.unit == "document"
            else f"{rows:,} training examples ({train_data.dropped} longer than {max_len} "
                 "tokens left out)")
    console.print(f"gentext: training {model} on {where}, {what}, tokenizer {tokenizer} "
                  f"-> {out}")
    for split, encoded in splits.items():
        warning = encoded.length_warning(split, max_len) \
            if hasattr(encoded, "length_warning") else None
        if warning:
            console.print(f"gentext: warning: {warning}", markup=False,
                          soft_wrap=True)  # one line, however narrow the terminal


def print_validation(console, step: int, valid) -> None:
    console.print(f"step {step}: valid {valid.nats_per_token:.4f} nats/token, "
                  f"{valid.bits_per_byte:.4f} bits/byte")
