"""Options several commands share, so each is spelled and documented once."""

import typer

from gentext.errors import GentextError

RUN_ARGUMENT = typer.Argument(..., metavar="RUN", help="A run directory written by `gentext train`.",
                              show_default=False)
DEVICE_OPTION = typer.Option("auto", "--device", help="auto (CUDA, else Apple MPS, when present), cpu, cuda, cuda:N or mps.")
JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON.")
# how to draw: `gentext sample` and `gentext infill`
TOP_K_OPTION = typer.Option(0, "--top-k", help="Keep the k most likely tokens (0: all).")
TOP_P_OPTION = typer.Option(1.0, "--top-p", help="Nucleus sampling mass (1: off).")
STEPS_OPTION = typer.Option(None, "--steps", help="Denoising steps of a family that samples in "
                            "steps (mdlm); the same as --option steps=N.",
                            show_default="the model's")
KNOBS_OPTION = typer.Option([], "--option", help="A family's own sampling option, name=value "
                            "(repeatable; e.g. use_cache=false for gpt).")


def load_run_on(run, device: str):
    """Load a run and move its model to the chosen device."""
    from gentext.runs.checkpoint import load_run
    from gentext.training.devices import resolve_device

    loaded = load_run(run)
    loaded.model.to(resolve_device(device))
    return loaded


def parse_temperatures(text: str) -> list[float]:
    """Parse "0.7,1.0" into [0.7, 1.0]; anything else is a one-line error."""
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise GentextError(f"--temperatures must be numbers separated by commas, got {text!r}") from None
    if not values:
        raise GentextError("--temperatures needs at least one value")
    return values
