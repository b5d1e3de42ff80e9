"""How a run ends: a finished run draws its samples and plots its losses; an interrupted or
diverged one stops with a one-line error saying what was kept and what to do next."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gentext.config import RunConfig
from gentext.distributed import Ranks
from gentext.errors import GentextError
from gentext.evaluation.evaluate import Evaluation, default_max_new_tokens, one_line, sample_texts
from gentext.models.contract import TextModel
from gentext.runs.atomic import write_atomic
from gentext.runs.checkpoint import METRICS_FILE
from gentext.runs.plots import plot_losses
from gentext.runs.training_state import saved_step

INTERRUPTED_EXIT_CODE = 130


@dataclass
class TrainResult:
    run_dir: Path
    step: int  # optimizer steps completed
    seconds: float  # training wall-clock time, resumed sessions included
    valid: Evaluation | None
    status: str  # "finished", "interrupted" or "diverged"
    main: bool = True  # False in the helper processes of a multi-process run (they stay quiet)


def finish(status: str, step: int, seconds: float, valid, model, tokenizer, config: RunConfig,
           out: Path, ranks: Ranks = Ranks()) -> TrainResult:
    """Samples and plots for a finished run; a one-line error for a stopped one."""
    if not ranks.main:  # the main process reports; the others end with the same status
        if status == "diverged":
            raise GentextError("the loss became NaN or infinite (see the main process)")
        if status == "interrupted":
            raise GentextError("interrupted", exit_code=INTERRUPTED_EXIT_CODE)
        return TrainResult(out, step, seconds, valid, status, main=False)
    if status == "diverged":
        saved = saved_step(out)
        raise GentextError(
            f"the loss became NaN or infinite before step {step}; stopped without saving. "
            f"The last good checkpoint (step {'none' if saved is None else saved}) is kept in "
            f"{str(out)!r}: lower train.lr or raise train.warmup_steps, then --resume or --force")
    if status == "finished":
        _write_samples(model, tokenizer, config, out)
    metrics_path = out / METRICS_FILE
    if metrics_path.is_file():
        plot_losses(metrics_path, out / "loss.png")
    if status == "interrupted":
        raise GentextError(f"interrupted: checkpoint saved at step {step} in {str(out)!r}; "
                           f"continue with `gentext train --resume --out {out}`",
                           exit_code=INTERRUPTED_EXIT_CODE)
    return TrainResult(out, step, seconds, valid, status)


def _write_samples(model: TextModel, tokenizer, config: RunConfig, out: Path) -> None:
    if config.train.samples <= 0:
        return
    texts = sample_texts(model, tokenizer, config.train.samples,
                         default_max_new_tokens(config.data.max_len), seed=config.train.seed)
    write_atomic(out / "samples.txt", "".join(one_line(t) + "\n" for t in texts))
