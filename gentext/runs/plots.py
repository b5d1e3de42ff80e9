"""The PNG plots gentext writes: loss curves of a run, the quality-diversity plane of a
temperature sweep, and validation curves against time for a comparison. matplotlib is
imported only when a plot is drawn."""

from __future__ import annotations

from pathlib import Path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(figure, out: Path) -> None:
    """Write ``figure`` to ``out`` through a temporary name, so a reader never sees half a PNG."""
    out = Path(out)
    partial = out.with_name(f".{out.name}.partial.png")
    figure.tight_layout()
    figure.savefig(partial, dpi=100)
    _pyplot().close(figure)
    partial.replace(out)


def plot_losses(metrics_path: Path, out: Path) -> None:
    """Training and validation loss (nats/token) against steps, as a PNG."""
    from gentext.runs.metrics_log import TRAIN, VALID, MetricsLog

    plt = _pyplot()
    log = MetricsLog(metrics_path)
    train_rows, valid_rows = log.rows(TRAIN), log.rows(VALID)
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot([r["step"] for r in train_rows], [r["loss"] for r in train_rows], label="train loss")
    axes.plot([r["step"] for r in valid_rows], [r["nats_per_token"] for r in valid_rows],
              "o-", label="valid nats/token")
    axes.set_xlabel("step")
    axes.set_ylabel("nats per token")
    axes.legend()
    axes.grid(alpha=0.3)
    save_png(figure, out)


def plot_sweep(rows: list[dict], out: Path, n: int = 4) -> None:
    """BLEU-n (quality, up) against self-BLEU-n (diversity, left is more diverse), one curve a
    run, each point labelled with its temperature, as a PNG."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 4.5))
    for run in dict.fromkeys(r["run"] for r in rows):
        points = [r for r in rows if r["run"] == run]
        xs, ys = [r[f"self-bleu-{n}"] for r in points], [r[f"bleu-{n}"] for r in points]
        axes.plot(xs, ys, "o-", label=f"{Path(run).name} ({points[0]['model']})")
        for r, x, y in zip(points, xs, ys):
            axes.annotate(f"T={r['temperature']:g}", (x, y), textcoords="offset points",
                          xytext=(4, 4), fontsize=7)
    axes.set_xlabel(f"self-BLEU-{n} (lower: more diverse)")
    axes.set_ylabel(f"BLEU-{n} against the test split (higher: closer to real text)")
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    save_png(figure, out)


def plot_validation_curves(curves: dict[str, list[tuple[float, float]]], out: Path) -> None:
    """Validation bits per byte (comparable across tokenizers) against training minutes, one
    line a run, as a PNG."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 4))
    for run, points in curves.items():
        axes.plot([m for m, _ in points], [b for _, b in points], "o-", label=Path(run).name)
    axes.set_xlabel("training time, minutes")
    axes.set_ylabel("validation bits per byte (bounds for bound models)")
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    save_png(figure, out)
