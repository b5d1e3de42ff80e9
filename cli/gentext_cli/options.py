"""Options several commands share, so each is spelled and documented once."""

import typer

from gentext.errors import GentextError

RUN_ARGUMENT = typer.Argument(..., metavar="RUN", help="A run directory written by `gentext train`.",
                              show_default=False)
DEVICE_OPTION = typer.Option("auto", "--device", help="auto (CUDA when present), cpu or cuda.")
JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON.")


def load_run_on(run, device: str):
    """Load a run and move its model to the chosen device."""
    from gentext.checkpoint import load_run
    from gentext.train import resolve_device

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
