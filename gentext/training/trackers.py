"""Where a run's figures go besides ``metrics.jsonl``: TensorBoard, or W&B offline, through
accelerate's trackers (``train.log_with``). The same scalars as the metrics rows, the
validation figures, and the run's config as hyper-parameters; the main process writes."""

from __future__ import annotations

import numbers
import os
from pathlib import Path

from gentext.errors import GentextError

TRACKERS = ("", "tensorboard", "wandb")
TENSORBOARD_DIR = "tensorboard"  # inside the run directory: `tensorboard --logdir RUN/tensorboard`


def make_trackers(log_with: str, out: Path) -> list:
    """accelerate tracker objects for ``train.log_with`` ("" for none); a tracker whose
    library is not installed is a one-line error naming the package to install."""
    if not log_with:
        return []
    if log_with == "tensorboard":
        try:
            import tensorboard  # noqa: F401  (torch.utils.tensorboard writes through it)
        except ImportError:
            raise GentextError("train.log_with = \"tensorboard\" needs TensorBoard: "
                               "pip install 'gentext[tensorboard]'") from None
        from accelerate.tracking import TensorBoardTracker

        return [TensorBoardTracker(TENSORBOARD_DIR, str(out))]
    if log_with == "wandb":
        try:
            import wandb  # noqa: F401
        except ImportError:
            raise GentextError("train.log_with = \"wandb\" needs wandb: "
                               "pip install wandb") from None
        from accelerate.tracking import WandBTracker

        os.environ.setdefault("WANDB_MODE", "offline")  # nothing leaves the machine unless asked
        os.environ.setdefault("WANDB_DIR", str(out))
        return [WandBTracker(Path(out).name)]
    raise GentextError(f"unknown train.log_with {log_with!r}; choose one of "
                       f"{', '.join(repr(t) for t in TRACKERS)}")


def scalars(values: dict, prefix: str) -> dict[str, float]:
    """The numbers of a metrics row (not its strings or nested dicts, but one level of
    diagnostics), named ``prefix/name``."""
    out = {}
    for name, value in values.items():
        if isinstance(value, dict):
            out.update(scalars(value, f"{prefix}/{name}"))
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            out[f"{prefix}/{name}"] = float(value)
    return out


def hyperparameters(sections: dict) -> dict:
    """The run config flattened to ``section.key`` -> a number, bool or string (what
    TensorBoard's hparams and W&B's config take)."""
    import dataclasses

    flat = {}
    for section, values in sections.items():
        if values is None:
            continue
        for key, value in dataclasses.asdict(values).items():
            flat[f"{section}.{key}"] = value if isinstance(value, (int, float, str, bool)) \
                else str(value)
    return flat
