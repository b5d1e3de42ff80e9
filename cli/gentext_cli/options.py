"""Options several commands share, so each is spelled and documented once."""

import typer

RUN_ARGUMENT = typer.Argument(..., help="A run directory written by `gentext train`.",
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
