"""`gentext compare`: runs of any families measured side by side on one test split.

Every figure is computed the same way for every run: the likelihood by the family's own
honest estimator (``gentext eval``'s), on the test sentences that *every* run can score (a
character model's context drops long sentences a BPE model keeps, and figures over different
sentences do not compare); sample metrics on samples at temperature 1, and with a judge those
samples' nats/token under it (``gentext.evaluation.generative``); sampling speed at one batch
size and one length for all. Runs trained on different test splits are refused.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

import torch

from gentext.evaluation import bleu

from gentext.evaluation import metrics
from gentext.data.batching import encode_split
from gentext.errors import GentextError
from gentext.runs.checkpoint import METRICS_FILE
from gentext.evaluation.evaluate import conditioning_labels, default_max_new_tokens, evaluate, sample_texts
from gentext.evaluation.generative import judge_samples
from gentext.evaluation.latent_space import PAIRS, STEPS, measure_split
from gentext.runs.metrics_log import TRAIN, VALID, MetricsLog
from gentext.models.contract import SamplingOptions
from gentext.comparison.sweep import check_samples, test_references

THROUGHPUT_BATCH = 64
THROUGHPUT_LENGTH = 64
# the diagnostics worth a row, for any model whose diagnostics() reports them: how much of a
# latent model's bound is its KL, and how many of its latent dimensions it uses
DIAGNOSTICS = ("kl_per_token", "active_units", "latent_dim")


def common_test_examples(runs, references: list[str]) -> list[dict]:
    """The test sentences that fit every run's ``data.max_len`` under its own tokenizer."""
    keep = None
    for run in runs:
        encoded = encode_split([{"text": t} for t in references], run.tokenizer,
                               run.config.data.max_len, conditioning_labels(run.model),
                               run.config.data.unit)
        fits = set(encoded.texts)
        keep = fits if keep is None else keep & fits
    examples = [{"text": t} for t in references if t in keep]
    if not examples:
        raise GentextError("no test sentence fits every run's data.max_len")
    return examples


def _log(run_path: Path) -> MetricsLog:
    return MetricsLog(Path(run_path) / METRICS_FILE)


def training_figures(run_path: Path) -> dict:
    """Training minutes and mean tokens/s, read from the run's metrics.jsonl."""
    train_rows = _log(run_path).rows(TRAIN)
    if not train_rows:
        return {"train_minutes": float("nan"), "train_tokens_per_s": float("nan")}
    return {"train_minutes": train_rows[-1]["elapsed_s"] / 60,
            "train_tokens_per_s": statistics.fmean(r["tokens_per_s"] for r in train_rows)}


@torch.no_grad()
def sampling_throughput(model, batch: int, length: int, seed: int = 0, repeats: int = 1,
                        knobs: dict | None = None) -> float:
    """Sentences per second (the median of ``repeats`` timed batches, after one warm-up) when
    every one of ``batch`` sentences is ``length`` tokens long (rows may not stop at ``<eos>``),
    so all families do the same amount of work. Every family draws at temperature 1, with its
    own sampling ``knobs`` (e.g. {"steps": 32}) or its defaults."""
    device = model.device
    options = SamplingOptions(temperature=1.0, stop_at_eos=False, knobs=dict(knobs or {}),
                              generator=torch.Generator(device=device).manual_seed(seed))

    def draw():
        rows = model.sample(batch, options, max_new_tokens=length)
        if any(len(row) != length for row in rows):
            raise GentextError(f"{type(model).__name__} cannot sample {length} tokens a "
                               "sentence (its context is shorter)")

    draw()  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        draw()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def compare_runs(runs, samples: int = 1000, seed: int = 0, nll_samples: int | None = None,
                 throughput_batch: int = THROUGHPUT_BATCH,
                 throughput_length: int = THROUGHPUT_LENGTH, judge=None) -> list[dict]:
    """One row of figures per run (see the module docstring for how each is measured); with
    ``judge`` (a loaded run of exact likelihood), each run's samples scored under it too."""
    check_samples(samples)
    references = test_references(runs)
    examples = common_test_examples(runs, references)
    # every run samples the same length: the shortest any model can (<bos>/<eos> excluded)
    length = min([throughput_length] + [run.model.max_len - 2 for run in runs
                                        if run.model.max_len is not None])
    rows = []
    for run in runs:
        # DIAGNOSTICS, or those a 0.1.0 family still names in Capabilities(diagnostics=...)
        shown = run.model.capabilities.honour_moved("diagnostics", ()) or DIAGNOSTICS
        result = evaluate(run.model, examples, run.tokenizer, "test", run.likelihood,
                          run.config.data.max_len, samples=nll_samples,
                          unit=run.config.data.unit)
        texts = sample_texts(run.model, run.tokenizer, samples,
                             default_max_new_tokens(run.config.data.max_len),
                             SamplingOptions(temperature=1.0), seed=seed)  # each family's own distribution
        lengths = [len(t.split()) for t in texts]
        row = {"run": str(run.path), "model": run.spec.name,
               "parameters": run.model.num_parameters(), **training_figures(run.path),
               "likelihood": result.likelihood, "nll_samples": result.nll_samples,
               "tokenizer": result.tokenizer, "test_examples": result.examples,
               "test_sha256": result.split_sha256, "nats_per_token": result.nats_per_token,
               "bits_per_byte": result.bits_per_byte,
               "bleu-4": bleu.bleu(texts, references, 4),
               "self-bleu-4": bleu.self_bleu(texts, 4),
               "distinct-2": metrics.distinct_n(texts, 2),
               "mean_words": statistics.fmean(lengths), "sd_words": statistics.pstdev(lengths),
               "samples": samples,
               "sentences_per_s": sampling_throughput(run.model, throughput_batch, length, seed),
               "throughput_batch": throughput_batch, "throughput_length": length,
               "diagnostics": {name: result.extra[name] for name in shown
                               if name in result.extra},
               **latent_figures(run, examples),
               **({} if judge is None else judge_samples(judge, texts))}
        rows.append(row)
    hashes = {row["test_sha256"] for row in rows}
    if len(hashes) != 1:  # cannot happen with common_test_examples; never mix silently
        raise GentextError("the runs were scored on different test sentences")
    return rows


def latent_figures(run, examples: list[dict]) -> dict:
    """Reconstruction and interpolation figures (``gentext.evaluation.latent_space``) of a model with a
    latent space, on the same test sentences; None for the others."""
    keys = ("reconstruction_bleu4", "reconstruction_exact", "interpolation_distinct",
            "interpolation_nearly_distinct")
    figures = measure_split(run.model, run.tokenizer, examples, run.config.data.max_len,
                            run.config.data.unit)
    if figures is None:
        return dict.fromkeys(keys)
    return dict(zip(keys, (figures.bleu4_mean, figures.exact_mean, figures.distinct_per_path,
                           figures.paths_nearly_distinct)))


def _figure(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return format(value, spec)


def markdown_table(rows: list[dict]) -> str:
    """The comparison as a markdown table, one column per run."""
    fields = [
        ("model", "model", "s"), ("parameters", "parameters", ",d"),
        ("training minutes", "train_minutes", ".1f"),
        ("training tokens/s", "train_tokens_per_s", ",.0f"),
        ("likelihood", "likelihood", "s"), ("tokenizer", "tokenizer", "s"),
        ("test nats/token", "nats_per_token", ".4f"), ("test bits/byte", "bits_per_byte", ".4f"),
        ("BLEU-4 vs test", "bleu-4", ".4f"), ("self-BLEU-4", "self-bleu-4", ".4f"),
        ("distinct-2", "distinct-2", ".4f"), ("mean words", "mean_words", ".1f"),
        ("sd words", "sd_words", ".1f"),
        ("gen. nats/token (judge)", "judge_nats_per_token", ".4f"),
        ("sentences/s", "sentences_per_s", ",.1f"),
        ("reconstruction BLEU-4", "reconstruction_bleu4", ".4f"),
        ("reconstructed exactly", "reconstruction_exact", ".1%"),
        ("interpolation: distinct of 5", "interpolation_distinct", ".2f"),
        ("paths with 4+ of 5 distinct", "interpolation_nearly_distinct", ".0%"),
    ]
    names = [Path(r["run"]).name for r in rows]
    lines = ["| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(rows)]
    for label, key, spec in fields:
        if all(_figure(row.get(key), "") == "—" for row in rows):
            continue  # a row no run fills (the latent space of runs without one) is left out
        cells = []
        for row in rows:
            value = row.get(key)
            if key == "likelihood" and value != "exact" and row.get("nll_samples"):
                value = f"{value} (k={row['nll_samples']})"
            cells.append(_figure(value, spec))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    reported = dict.fromkeys(name for row in rows for name in row["diagnostics"])
    for name in reported:  # DIAGNOSTICS that any of the models reports (KL, active units, ...)
        cells = [_diagnostic(row["diagnostics"].get(name)) for row in rows]
        lines.append(f"| {name.replace('_', ' ')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _diagnostic(value) -> str:
    return _figure(value, ".4f" if isinstance(value, float) else "")


def footnote(rows: list[dict]) -> str:
    first = rows[0]
    return (f"Test split: the {first['test_examples']:,} test sentences every run can score "
            f"(SHA-256 {first['test_sha256'][:12]}). Nats/token depend on the tokenizer; "
            "bits/byte do not. Bounds are upper bounds on -log p (importance-weighted with k "
            f"draws). BLEU-4 (Texygen's protocol) and self-BLEU-4 on {first['samples']:,} "
            f"samples at temperature 1; sentences/s for {first['throughput_batch']} sentences "
            f"of {first['throughput_length']} tokens each. Reconstruction (models with a latent "
            "space): each test sentence encoded to its posterior mean and decoded greedily, BLEU-4 "
            f"against itself; interpolation: {PAIRS} pairs of test sentences, {STEPS} points each "
            "(docs/likelihood.md)." + _judge_note(first))


def _judge_note(row: dict) -> str:
    if row.get("judge") is None:
        return ""
    return (f" Gen. nats/token (judge): the same samples scored under {row['judge_model']} run "
            f"{row['judge']} ({row['judge_likelihood']}), per token of its tokenizer "
            f"({row['judge_tokenizer']}): lower is likelier to the judge, as dull, repeated text "
            "also is, so read it beside distinct-2.")


def validation_curves(run_paths) -> dict[str, list[tuple[float, float]]]:
    """Per run, (training minutes, validation bits/byte) at each validation."""
    curves = {}
    for path in run_paths:
        log = _log(path)
        elapsed = {r["step"]: r["elapsed_s"] for r in log.rows(TRAIN)}
        points = []
        for row in log.rows(VALID):
            before = [s for s in elapsed if s <= row["step"]]
            if before:
                points.append((elapsed[max(before)] / 60, row["bits_per_byte"]))
        curves[str(path)] = points
    return curves


def check_report(out: Path) -> None:
    """A report is a .md or .html file in a folder that exists (checked before runs load)."""
    if Path(out).suffix not in (".md", ".html"):
        raise GentextError(f"the report must be a .md or .html file, got {str(out)!r}")
    if not Path(out).parent.is_dir():
        raise GentextError(f"cannot write {str(out)!r}: its folder does not exist")


def write_report(rows: list[dict], sweep_rows: list[dict], out: Path, note: str = "") -> list[Path]:
    """The table and its two plots as a markdown (``.md``) or self-contained HTML (``.html``)
    report; the PNGs are written beside it. Returns the files written."""
    import base64

    from gentext.runs.checkpoint import write_atomic
    from gentext.runs.plots import plot_sweep, plot_validation_curves
    from gentext.comparison.sweep import markdown_table as sweep_table

    out = Path(out)
    check_report(out)
    curves_png = out.with_name(out.stem + "-validation.png")
    plane_png = out.with_name(out.stem + "-quality-diversity.png")
    plot_validation_curves(validation_curves([r["run"] for r in rows]), curves_png)
    plot_sweep(sweep_rows, plane_png)
    sections = [("The families side by side", markdown_table(rows) + "\n\n" + footnote(rows)),
                ("Validation loss against training time", curves_png),
                ("Quality against diversity", plane_png),
                ("The sweep behind the plane", sweep_table(sweep_rows))]
    if out.suffix == ".md":
        parts = ["# gentext compare", note]
        for title, body in sections:
            parts.append(f"## {title}")
            parts.append(f"![{title}]({body.name})" if isinstance(body, Path) else body)
        write_atomic(out, "\n\n".join(p for p in parts if p) + "\n")
    else:
        import html

        parts = ["<!doctype html><meta charset='utf-8'><title>gentext compare</title>",
                 "<style>body{font-family:sans-serif;max-width:70em;margin:auto}"
                 "td,th{padding:2px 8px;text-align:right}</style><h1>gentext compare</h1>",
                 f"<p>{html.escape(note)}</p>" if note else ""]
        for title, body in sections:
            parts.append(f"<h2>{html.escape(title)}</h2>")
            if isinstance(body, Path):
                data = base64.b64encode(body.read_bytes()).decode()
                parts.append(f"<img alt='{html.escape(title)}' src='data:image/png;base64,{data}'>")
            else:
                parts.append(_markdown_to_html(body))
        write_atomic(out, "\n".join(parts) + "\n")
    return [out, curves_png, plane_png]


def _markdown_to_html(text: str) -> str:
    """The tables and paragraphs this module writes, as HTML (no markdown library needed)."""
    import html

    out, table = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            if not set(line) <= set("|-: "):
                table.append([html.escape(c.strip()) for c in line.strip("|").split("|")])
            continue
        if table:
            head, *body = table
            out.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in head) + "</tr>" +
                       "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in body)
                       + "</table>")
            table = []
        if line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    return "\n".join(out)
