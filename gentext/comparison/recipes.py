"""`gentext compare --recipe families`: train every family that joins the recipe (its
``ModelSpec.recipe`` says so) on one corpus with the same wall-clock budget each, so a
comparison measures the families, not their budgets.

Each family's step costs differ, so the recipe first times a short probe of each, then sets
``train.steps`` so that the learning-rate schedule ends near the budget, and caps the run at
the budget with ``train.max_minutes``. A family with two phases of different cost (a GAN's
MLE, then adversarial steps) names the knob of its first phase; its probe times both and its
phases keep their default proportion.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from gentext.runs.checkpoint import METRICS_FILE
from gentext.config import build_config
from gentext.errors import GentextError
from gentext.runs.metrics_log import TRAIN, MetricsLog
from gentext.plugins.manager import get_model, registry

PROBE_STEPS = 16
BUDGET_SHARE = 0.85  # of the budget for optimizer steps; validations and start-up take the rest
VALIDATIONS = 4  # per run, for the validation-against-time curve
VALID_EXAMPLES = 400  # scored at each validation (the final comparison scores the whole test split)


def recipe_families() -> list[str]:
    """The registered families that join the recipe, in registration order."""
    return [name for name, spec in registry().models.items() if spec.recipe is not None]


def _config(model: str, data: str, overrides: list[str]):
    spec = get_model(model)
    return build_config(spec.name, spec.config, None, [f"data.source={data}", *overrides],
                        spec.train_defaults, spec.data_defaults)


def _step_seconds(run_dir: Path) -> list[float]:
    elapsed = [r["elapsed_s"] for r in MetricsLog(run_dir / METRICS_FILE).rows(TRAIN)]
    return [b - a for a, b in zip(elapsed, elapsed[1:])]  # the first step (warm-up) dropped


def plan_steps(model: str, data: str, minutes: float, out: Path, console,
               extra: list[str] = ()) -> dict[str, int]:
    """Time a short probe run of ``model`` and return the step settings that fill the budget."""
    from gentext.training.trainer import train

    probe = out / f".probe-{model}"
    spec = get_model(model)
    phase_knob = spec.recipe.first_phase if spec.recipe else None
    overrides = [f"train.steps={PROBE_STEPS}", f"train.eval_every={PROBE_STEPS}",
                 "train.eval_examples=8", "train.log_every=1", "train.samples=0", *extra]
    if phase_knob:
        overrides.append(f"model.{phase_knob}={PROBE_STEPS // 2}")
    train(_config(model, data, overrides), probe, force=True, console=console, progress=False)
    seconds = _step_seconds(probe)
    shutil.rmtree(probe)
    budget = minutes * 60 * BUDGET_SHARE
    if not phase_knob:
        return {"steps": max(1, int(budget / (sum(seconds) / len(seconds))))}
    half = PROBE_STEPS // 2 - 1  # deltas before the switch
    first, second = sum(seconds[:half]) / half, sum(seconds[half + 1:]) / len(seconds[half + 1:])
    share = getattr(spec.config(), phase_knob) / spec.train_defaults["steps"]
    steps = max(2, int(budget / (share * first + (1 - share) * second)))
    return {"steps": steps, phase_knob: max(1, int(steps * share))}


def train_families(out: Path, minutes: float, data: str = "austen", console=None,
                   families=None, overrides: dict[str, list[str]] | None = None) -> list[Path]:
    """Train each family (by default every one that joins the recipe) into ``out/<family>``
    with ``minutes`` of training each. A family
    whose run already finished with this budget is kept, so an interrupted recipe resumes.
    ``overrides`` adds ``--set`` values per family (the tests shrink the models with it)."""
    from rich.console import Console

    from gentext.training.trainer import train

    if minutes <= 0:
        raise GentextError(f"--minutes must be above 0, got {minutes}")
    console = console or Console(stderr=True)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    for model in families or recipe_families():
        run_dir = out / model
        done = run_dir / "recipe.json"
        if done.is_file() and json.loads(done.read_text()).get("minutes") == minutes:
            console.print(f"gentext: {model} already trained for {minutes:g} minutes in {run_dir}")
            runs.append(run_dir)
            continue
        extra = (overrides or {}).get(model, [])
        plan = plan_steps(model, data, minutes, out, console, extra)
        console.print(f"gentext: {model}: {plan['steps']:,} steps fit about {minutes:g} minutes")
        settings = [f"train.steps={plan['steps']}", f"train.max_minutes={minutes}",
                     f"train.eval_every={max(1, plan['steps'] // VALIDATIONS)}",
                     f"train.eval_examples={VALID_EXAMPLES}", *extra]
        settings += [f"model.{knob}={value}" for knob, value in plan.items() if knob != "steps"]
        train(_config(model, data, settings), run_dir, force=True, console=console, progress=False)
        done.write_text(json.dumps({"minutes": minutes, "plan": plan}) + "\n")
        runs.append(run_dir)
    return runs
