"""Options several commands share, so each concept is spelled, documented and bounded once.

One word a concept: ``RUN`` is a run directory, ``--n`` a count of samples to draw,
``--nll-samples`` the k of a stochastic bound, ``--option name=value`` a family's own sampling
option. A bound on a number (``min=``) is checked by the parser, before any model loads; a rule
of the core's (sampling options, a report's name) is the core's, called before loading.
"""

from __future__ import annotations

from pathlib import Path

import typer

from gentext.deprecation import deprecated
from gentext.errors import GentextError

RUN_ARGUMENT = typer.Argument(..., metavar="RUN", show_default=False,
                              help="A run directory written by `gentext train`.")
RUNS_ARGUMENT = typer.Argument(None, metavar="RUN", help="Run directories trained on the same "
                               "data (any families).", show_default=False)
DEVICE_HELP = "auto (CUDA, else Apple MPS, when present), cpu, cuda, cuda:N or mps."
DEVICE_OPTION = typer.Option("auto", "--device", help=DEVICE_HELP)
JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON.")
SEED_OPTION = typer.Option(0, "--seed", help="Random seed: the same seed, the same output.")
NLL_SAMPLES_OPTION = typer.Option(0, "--nll-samples", min=0, help="k of a stochastic bound "
                                  "(importance samples per example); exact models ignore it.",
                                  show_default="the model's")
MAX_NEW_TOKENS_OPTION = typer.Option(None, "--max-new-tokens", min=0, help="Most new tokens a "
                                     "sentence gains, after any prompt (the end token not "
                                     "counted).",
                                     show_default="what fits the run's data.max_len")
# how to draw: `gentext sample` and `gentext infill`
TEMPERATURE_OPTION = typer.Option(None, "--temperature", "-t", help="Softmax temperature; 0 is "
                                  "greedy.", show_default="the family's: 1, or 0.8 for flow "
                                  "(a sampled z, each token drawn from p(x | z))")
TOP_K_OPTION = typer.Option(0, "--top-k", help="Keep the k most likely tokens (0: all).")
TOP_P_OPTION = typer.Option(1.0, "--top-p", help="Nucleus sampling mass (1: off).")
KNOBS_OPTION = typer.Option([], "--option", help="A family's own sampling option, name=value "
                            "(repeatable; e.g. steps=32 for mdlm, use_cache=false for gpt, "
                            "base_temperature=0.7 for flow).")
# generative perplexity: `gentext eval` and `gentext compare`
JUDGE_OPTION = typer.Option(None, "--judge", metavar="JUDGE_RUN", show_default=False,
                            help="Also score the samples under this run's exact likelihood (an "
                            "autoregressive run, such as gpt): generative perplexity, in "
                            "nats/token of its tokenizer.")
# Old spellings, kept for one release (0.2) and hidden from --help and the docs, each warning
# in one line; with `gentext sweep` (sweep.py), every old spelling of the command line.
OLD_SAMPLES_OPTION = typer.Option(None, "--samples", hidden=True)  # eval, compare: --n
OLD_STEPS_OPTION = typer.Option(None, "--steps", min=1, hidden=True)  # sample, infill: --option
OLD_POINTS_OPTION = typer.Option(None, "--steps", min=2, hidden=True)  # interpolate: --points


def count_option(default: int, help: str, least: int | None = 1):
    """``--n``: how many samples (or fillings) to draw, at least ``least`` (None: a rule of the
    core's, which the command calls before it loads a model)."""
    return typer.Option(default, "--n", "-n", min=least, help=help)


def renamed(old: str, new: str, given, value):
    """The value of an old spelling, with its one-line warning, when it was given; else
    ``value``, the new spelling's."""
    if given is None:
        return value
    deprecated(old, new)
    return given


def steps_knob(steps: int | None, knobs: list[str]) -> list[str]:
    """The old ``--steps N`` of sample and infill as ``--option steps=N`` (it wins, as it did)."""
    if steps is None:
        return knobs
    deprecated("--steps", f"--option steps={steps}")
    return [*knobs, f"steps={steps}"]


def parse_knobs(pairs: list[str]) -> dict[str, str]:
    """``["steps=64"]`` as ``{"steps": "64"}``; the model types and checks each value."""
    knobs = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise GentextError(f"--option expects name=value, got {pair!r}")
        knobs[name.strip()] = value.strip()
    return knobs


def parse_temperatures(text: str) -> list[float]:
    """Parse "0.7,1.0" into [0.7, 1.0]; anything else is a one-line error."""
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise GentextError(f"--temperatures must be numbers separated by commas, got "
                           f"{text!r}") from None
    if not values:
        raise GentextError("--temperatures needs at least one value")
    return values


def check_judge_option(judge, n: int) -> None:
    """``--judge``: samples to score (``--n`` > 0; no default is implied, drawing them costs
    time) and a judge with an exact likelihood, read from its config before any model loads."""
    if judge is None:
        return
    if n <= 0:
        raise GentextError("--judge scores samples: give --n N too (e.g. --n 100)")
    from gentext.evaluation.generative import check_judge
    from gentext.runs.checkpoint import read_run_likelihood

    check_judge(str(judge), *read_run_likelihood(judge))


def load_run_on(run, device: str):
    """Load a run and move its model to the chosen device."""
    from gentext.runs.checkpoint import load_run
    from gentext.training.devices import resolve_device

    loaded = load_run(run)
    loaded.model.to(resolve_device(device))
    return loaded


def load_judge(judge, loaded: list, device: str):
    """The ``--judge`` run (None without one) on the runs' device: one of ``loaded`` when it
    is the same directory, else loaded once more."""
    if judge is None:
        return None
    same = [run for run in loaded if Path(run.path).resolve() == Path(judge).resolve()]
    return same[0] if same else load_run_on(judge, device)
