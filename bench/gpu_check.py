"""`make gpu-check`: every family trains, evaluates and samples right on this machine's GPU.

One command, under 10 minutes on one H100, that says whether gentext works on a GPU.

For each family it trains a short run with the family's defaults on the default corpus
(`gentext train --device cuda`: bf16 autocast where the GPU has it, torch.compile on), then
checks, each a row of one table:

- train: every logged training loss is finite, and the loss falls (the mean of the last
  quarter of logged losses is below the mean of the first; seqgan: within MLE pre-training);
- eval: `gentext eval RUN --split valid --json` (float32) gives the run's last logged
  validation figure: within 1e-3 relative for an exact likelihood, within 3 standard errors or
  2% for a stochastic bound (scored with the same k);
- sample: `gentext sample RUN --n 8 --seed 0` prints 8 non-empty lines.

Then `bench/gpu_gpt.py`, short (its headline ratio in the table), and, with two GPUs or more,
the two-GPU DDP and FSDP tests of tests/test_gpu.py (with one GPU a skip, not a failure).
Prints the table in markdown, writes it to --out, and exits 1 if any check failed. New checks
stop after --budget-minutes; the rest are marked "skipped: out of time".

    python bench/gpu_check.py                       # on CUDA: every family, about 10 minutes
    python bench/gpu_check.py --quick 0.3 --families gpt,mdlm
    python bench/gpu_check.py --device cpu --tiny   # the same checks, tiny models on the CPU

Without a CUDA device (and without --device cpu) it prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from tiny_runs import TINY, made_up_sentences  # noqa: E402 - the tests' tiny settings, shared
FAMILIES = ("gpt", "seqvae", "seqgan", "flow", "mdlm")
NO_CUDA = "gpu-check: no CUDA device: this check needs a GPU (torch sees none)"
NO_CUDA_EXIT = 2

# Training steps of each family's run: about a minute each on one H100, torch.compile's warm-up
# included (estimated: not yet measured on a GPU). seqgan's first SEQGAN_PRETRAIN steps are
# MLE, the rest adversarial, so both phases run.
STEPS = {"gpt": 300, "seqvae": 400, "seqgan": 200, "flow": 400, "mdlm": 600}
SEQGAN_PRETRAIN = 150
# --tiny: a few seconds of training each on a CPU, on TINY_CORPUS_LINES made-up sentences
TINY_STEPS = {"gpt": 30, "seqvae": 30, "seqgan": 30, "flow": 40, "mdlm": 40}
TINY_SEQGAN_PRETRAIN = 20
TINY_CORPUS_LINES = 400
MIN_STEPS = 8  # --quick never scales a run below this (its quarters must hold rows)
EXACT_TOLERANCE = 1e-3  # relative: float32 evaluation of an exact likelihood, batched alike
BOUND_STANDARD_ERRORS = 3.0  # a stochastic bound may differ by this many standard errors ...
BOUND_TOLERANCE = 0.02  # ... or by this much, relative
SAMPLES = 8
GRACE_S = 60  # a command started before the budget ran out may run this long past it
PASS, FAIL, SKIP = "pass", "fail", "skip"


@dataclass
class Row:
    check: str
    result: str
    seconds: float
    detail: str


class Failed(Exception):
    """A check failed; the message is the table's detail."""


class Skipped(Exception):
    """A check did not apply; the message is the table's detail."""


@dataclass
class Run:
    """One family's training run, as the checks after training read it."""

    family: str
    out: Path
    steps: int
    trained: bool = False


class GpuCheck:
    """Runs checks one after another against a deadline, keeping one table row each."""

    def __init__(self, args: argparse.Namespace, work: Path):
        self.args, self.work = args, work
        self.deadline = time.monotonic() + args.budget_minutes * 60
        self.rows: list[Row] = []
        self.env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
        self.gentext = gentext_command(self.env)

    def check(self, name: str, body) -> Row:
        """Run ``body()`` (which returns the detail, or raises Failed or Skipped) as one row;
        past the deadline, the row is a skip and ``body`` never runs."""
        started = time.monotonic()
        if started >= self.deadline:
            row = Row(name, SKIP, 0.0, "skipped: out of time")
        else:
            try:
                row = Row(name, PASS, 0.0, body())
            except Failed as failure:
                row = Row(name, FAIL, 0.0, str(failure))
            except Skipped as skip:
                row = Row(name, SKIP, 0.0, str(skip))
            except subprocess.TimeoutExpired as timeout:
                row = Row(name, FAIL, 0.0, f"timed out after {timeout.timeout:.0f} s")
            except Exception as error:  # noqa: BLE001 - a broken check costs its own row
                row = Row(name, FAIL, 0.0, shorten(f"{type(error).__name__}: {error}", 160))
            row.seconds = time.monotonic() - started
        self.rows.append(row)
        print(f"gpu-check: {row.check}: {row.result} ({row.seconds:.1f} s) {row.detail}",
              file=sys.stderr, flush=True)
        return row

    def command(self, args: list, cwd: Path | None = None,
                env: dict | None = None) -> subprocess.CompletedProcess:
        """Run a command to its end, or to the deadline plus GRACE_S (TimeoutExpired)."""
        timeout = max(1.0, self.deadline - time.monotonic()) + GRACE_S
        return subprocess.run([str(a) for a in args], cwd=cwd or self.work,
                              env={**self.env, **(env or {})},
                              capture_output=True, text=True, encoding="utf-8",
                              errors="replace", timeout=timeout)

    def run_gentext(self, *args) -> subprocess.CompletedProcess:
        """`gentext ARGS...` in a subprocess; Failed with its last error line if it fails."""
        result = self.command([*self.gentext, *args])
        if result.returncode != 0:
            raise Failed(f"`gentext {args[0]}` exited {result.returncode}: "
                         f"{last_line(result.stderr or result.stdout)}")
        return result

    # -- the checks ------------------------------------------------------------------------

    def train(self, run: Run) -> str:
        args = ["train", "--model", run.family, "--out", run.out, "--quiet", "--force",
                "--device", self.args.device]
        if self.args.tiny:
            args += ["--data", self.work / "corpus.txt"]
        settings = list(TINY[run.family]) if self.args.tiny else []
        settings += [f"train.steps={run.steps}", f"train.eval_every={run.steps}"]
        pretrain = self.seqgan_pretrain(run.steps) if run.family == "seqgan" else None
        if pretrain is not None:
            settings.append(f"model.pretrain_steps={pretrain}")
        for setting in settings:
            args += ["--set", setting]
        self.run_gentext(*args)
        run.trained = True
        rows = [r for r in read_metrics(run.out) if "tokens_per_s" in r]
        losses = [r["loss"] for r in rows]
        if not losses:
            raise Failed("no training row in metrics.jsonl")
        bad = [r["step"] for r in rows if not math.isfinite(r["loss"])]
        if bad:
            raise Failed(f"non-finite training loss at step {bad[0]}")
        phase = losses if pretrain is None else [r["loss"] for r in rows if r["step"] <= pretrain]
        first, last = quarter_means(phase)
        where = "" if pretrain is None else f" (MLE phase, {pretrain} steps)"
        detail = (f"{run.steps} steps; final loss {losses[-1]:.4f}; first/last quarter "
                  f"{first:.4f} / {last:.4f}{where}; {rows[-1]['tokens_per_s']:,.0f} tok/s")
        if not last < first:
            raise Failed(f"the loss did not fall: {detail}")
        return detail

    def seqgan_pretrain(self, steps: int) -> int:
        """seqgan's MLE steps: the option scaled like the run, always below the run's length."""
        chosen = self.args.seqgan_pretrain
        if chosen is not None:
            if not 0 < chosen < steps:
                raise Failed(f"--seqgan-pretrain {chosen} must be between 0 and the run's "
                             f"{steps} steps, so that the adversarial phase runs")
            return chosen
        default = TINY_SEQGAN_PRETRAIN if self.args.tiny else SEQGAN_PRETRAIN
        return max(1, min(scaled(default, self.args.quick, 4), steps - 2))

    def evaluate(self, run: Run) -> str:
        if not run.trained:
            raise Skipped("skipped: training failed")
        valid = [r for r in read_metrics(run.out) if r.get("kind") == "valid" or "split" in r]
        if not valid:
            raise Failed("no validation row in metrics.jsonl")
        logged = valid[-1]
        args = ["eval", run.out, "--split", "valid", "--json", "--device", self.args.device]
        if logged.get("nll_samples"):  # a stochastic bound: the same k as at validation
            args += ["--nll-samples", logged["nll_samples"]]
        report = json.loads(self.run_gentext(*args).stdout)
        return compare_evaluations(report, logged)

    def sample(self, run: Run) -> str:
        if not run.trained:
            raise Skipped("skipped: training failed")
        result = self.run_gentext("sample", run.out, "--n", SAMPLES, "--seed", 0,
                                  "--device", self.args.device)
        lines = result.stdout.rstrip("\n").split("\n")
        empty = sum(1 for line in lines if not line.strip())
        if len(lines) != SAMPLES or empty:
            raise Failed(f"{len(lines)} lines ({empty} empty), not {SAMPLES} non-empty")
        return f"{SAMPLES} non-empty lines; the first: {shorten(lines[0])}"

    def two_gpus(self) -> str:
        import torch

        if not self.args.device.startswith("cuda"):
            raise Skipped("skipped: not on CUDA")
        if torch.cuda.device_count() < 2:
            raise Skipped("skipped: one GPU")
        try:
            import pytest  # noqa: F401 - the tests need it
        except ImportError:
            raise Failed("pytest is not installed (pip install gentext[test])") from None
        result = self.command([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "tests/test_gpu.py", "-k", "two_gpus"], cwd=ROOT)
        summary = last_line(result.stdout)
        if result.returncode != 0 or "passed" not in summary or "skipped" in summary:
            raise Failed(f"pytest exited {result.returncode}: {summary}")
        return f"DDP and FSDP on 2 of {torch.cuda.device_count()} GPUs: {summary}"

    def bench(self) -> str:
        table = self.work / "gpu_gpt.json"
        # the benchmark knows "cuda", not "cuda:N": it sees GPU N alone instead
        device, env = self.args.device, {}
        if device.startswith("cuda:"):
            device, env = "cuda", {"CUDA_VISIBLE_DEVICES": device.split(":", 1)[1]}
        args = [sys.executable, ROOT / "bench" / "gpu_gpt.py", "--device", device,
                "--json", table]
        args += (["--steps", 1, "--warmup", 1, "--repeats", 1, "--batches", 1] if self.args.tiny
                 else ["--steps", 5, "--warmup", 2, "--repeats", 1])
        if self.args.bench_shape:
            args += ["--shape", self.args.bench_shape]
        result = self.command(args, env=env)
        if result.returncode != 0:
            raise Failed(f"exited {result.returncode}: {last_line(result.stderr or result.stdout)}")
        return bench_headline(json.loads(table.read_text(encoding="utf-8"))["rows"])


def gentext_command(env: dict) -> list[str]:
    """`python -m gentext` where it works, else the `gentext` script beside this Python."""
    probe = subprocess.run([sys.executable, "-m", "gentext", "--help"], env=env,
                           capture_output=True, text=True)
    if probe.returncode == 0:
        return [sys.executable, "-m", "gentext"]
    return [str(Path(sys.executable).parent / "gentext")]


def read_metrics(out: Path) -> list[dict]:
    """Every row of a run's metrics.jsonl (none if it has none)."""
    path = out / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def quarter_means(losses: list[float]) -> tuple[float, float]:
    """The mean of the first quarter of ``losses`` and of the last (at least one each)."""
    quarter = max(1, len(losses) // 4)
    return sum(losses[:quarter]) / quarter, sum(losses[-quarter:]) / quarter


def compare_evaluations(report: dict, logged: dict) -> str:
    """The detail of the eval row: `gentext eval --json`'s ``report`` against the run's last
    validation row ``logged``; Failed when they differ by more than the kind allows."""
    ours, theirs = report["nats_per_token"], logged["nats_per_token"]
    difference = abs(ours - theirs)
    relative = difference / max(abs(theirs), 1e-12)
    kind = report["likelihood"]
    if kind == "exact":
        within = relative <= EXACT_TOLERANCE
        allowed = f"tolerance {EXACT_TOLERANCE:g} relative"
    else:
        errors = [e for e in (report.get("stderr_nats_per_token"),
                              logged.get("stderr_nats_per_token")) if e is not None]
        spread = math.sqrt(sum(e * e for e in errors)) if errors else None
        within = relative <= BOUND_TOLERANCE or (
            spread is not None and difference <= BOUND_STANDARD_ERRORS * spread)
        allowed = f"tolerance {BOUND_TOLERANCE:.0%} relative" + (
            "" if spread is None else f" or {BOUND_STANDARD_ERRORS:g} x {spread:.2g}")
        kind += f", k={report.get('nll_samples')}"
    detail = (f"eval {ours:.4f} vs logged {theirs:.4f} nats/token at step {logged['step']} "
              f"({kind}; difference {relative:.1e} relative, {allowed})")
    if not within:
        raise Failed(detail)
    if report.get("step") is not None and report["step"] != logged["step"]:
        raise Failed(f"the saved model is step {report['step']}, the last validation step "
                     f"{logged['step']}: {detail}")
    return detail


def bench_headline(rows: list[dict]) -> str:
    """bench/gpu_gpt.py's headline: gentext's training and sampling against transformers."""
    training = next(r for r in rows if r["task"] == "training" and r["model"].startswith("gentext"))
    parts = [f"training {training['ratio']:.2f}x transformers ({training['tokens_per_s']:,.0f} tok/s)"]
    for row in rows:
        if row["task"].startswith("sampling") and row["model"].startswith("gentext"):
            parts.append(f"{row['task']} {row['ratio']:.2f}x")
    return "; ".join(parts)


def last_line(text: str) -> str:
    """A command's last non-empty output line, as a table cell: what its error said."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return shorten(lines[-1], 160) if lines else "(no output)"


def shorten(text: str, width: int = 60) -> str:
    """``text`` as one markdown-safe table cell of at most ``width`` characters."""
    text = "".join(c if c.isprintable() else "?" for c in text).replace("|", "/")
    return text if len(text) <= width else text[: width - 3] + "..."


def scaled(steps: int, factor: float, least: int = MIN_STEPS) -> int:
    """A default step count times --quick, never below ``least``."""
    return max(least, round(steps * factor))


def write_corpus(path: Path) -> None:
    """The tiny mode's corpus: short made-up sentences, one a line (as the tests' corpus)."""
    path.write_text("\n".join(made_up_sentences(TINY_CORPUS_LINES)) + "\n", encoding="utf-8")


def markdown(rows: list[Row]) -> str:
    """The table: one row per check, as printed and as written to --out."""
    lines = ["| check | result | seconds | detail |", "|---|---|---:|---|"]
    lines += [f"| {r.check} | {r.result} | {r.seconds:.1f} | {r.detail} |" for r in rows]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked (unknown families and a --quick of 0 are usage errors)."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="--device cpu --tiny runs the same checks with tiny models on a small made-up "
               "corpus, on the CPU in about a minute a family: the test suite checks the "
               "script itself that way.")
    parser.add_argument("--device", default="cuda",
                        help="cuda (default), cuda:N, or cpu (with --tiny, for testing the check)")
    parser.add_argument("--tiny", action="store_true",
                        help="tiny models, a small made-up corpus and short runs (for the CPU)")
    parser.add_argument("--families", default=",".join(FAMILIES),
                        help="comma-separated families to train (default: all five)")
    for family in FAMILIES:
        parser.add_argument(f"--{family}-steps", type=int, default=None,
                            help=f"training steps of {family} (default {STEPS[family]}; "
                                 f"--tiny: {TINY_STEPS[family]})")
    parser.add_argument("--seqgan-pretrain", type=int, default=None,
                        help=f"seqgan's MLE pre-training steps, below --seqgan-steps so the "
                             f"adversarial phase runs (default {SEQGAN_PRETRAIN}; --tiny: "
                             f"{TINY_SEQGAN_PRETRAIN})")
    parser.add_argument("--quick", type=float, default=1.0,
                        help="scale every default step count by this factor (e.g. 0.3; "
                             f"never below {MIN_STEPS} steps)")
    parser.add_argument("--budget-minutes", type=float, default=9.0,
                        help="start no check after this many minutes; the rest are skipped "
                             "(a running command may take one minute more)")
    parser.add_argument("--no-bench", dest="bench", action="store_false",
                        help="leave out bench/gpu_gpt.py")
    parser.add_argument("--bench-shape", choices=["small", "gpt2"], default=None,
                        help="bench/gpu_gpt.py's --shape (default: its own, gpt2 on CUDA)")
    parser.add_argument("--runs", type=Path, default=None,
                        help="keep the runs in this folder (default: a temporary one, removed)")
    parser.add_argument("--out", type=Path, default=Path("gpu-check.md"),
                        help="write the table here as markdown (default gpu-check.md)")
    args = parser.parse_args(argv)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        parser.error(f"--families: unknown family {unknown[0] if unknown else '(none)'}; "
                     f"choose from {', '.join(FAMILIES)}")
    args.families = families
    if args.quick <= 0:
        parser.error("--quick must be above 0")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run every check; the exit status: 0 all passed or skipped, 1 a failure, 2 no CUDA."""
    args = parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(NO_CUDA)
        return NO_CUDA_EXIT
    started = time.monotonic()
    work = args.runs or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.tiny:
            write_corpus(work / "corpus.txt")
        checker = GpuCheck(args, work)
        for family in args.families:
            chosen = getattr(args, f"{family}_steps")
            steps = chosen or scaled((TINY_STEPS if args.tiny else STEPS)[family], args.quick)
            run = Run(family, work / family, steps)
            checker.check(f"{family}: train", lambda: checker.train(run))
            checker.check(f"{family}: eval vs logged", lambda: checker.evaluate(run))
            checker.check(f"{family}: sample", lambda: checker.sample(run))
        if args.bench:
            checker.check("bench/gpu_gpt.py", checker.bench)
        checker.check("two GPUs: DDP, FSDP", checker.two_gpus)
    finally:
        if args.runs is None:
            shutil.rmtree(work, ignore_errors=True)

    rows = checker.rows
    if args.device.startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(args.device))
        where = f"{name} x {torch.cuda.device_count()}"
    else:
        where = "CPU"
    header = (f"gpu-check on {where} ({args.device}{', tiny models' if args.tiny else ''}), "
              f"torch {torch.__version__}, {time.monotonic() - started:.0f} s")
    table = markdown(rows)
    print(header)
    print(table, end="")
    counts = {result: sum(r.result == result for r in rows) for result in (PASS, FAIL, SKIP)}
    print(f"gpu-check: {counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIP]} skipped; "
          f"table written to {args.out}")
    args.out.write_text(header + "\n\n" + table, encoding="utf-8")
    return 1 if counts[FAIL] else 0


if __name__ == "__main__":
    sys.exit(main())
