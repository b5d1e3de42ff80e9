"""`gentext eval`: the likelihood of a split under a trained run, in honest units."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from gentext.errors import GentextError
from gentext_cli.options import (DEVICE_OPTION, JSON_OPTION, JUDGE_OPTION, KNOBS_OPTION,
                                 NLL_SAMPLES_OPTION, OLD_SAMPLES_OPTION, RUN_ARGUMENT,
                                 check_judge_option, count_option, load_judge, load_run_on,
                                 parse_knobs, renamed)

KIND_WORDING = {
    "exact": "exact (the model's own likelihood)",
    "bound": "an upper bound on -log p (the true figure is lower)",
    "estimate": "a stochastic estimate",
}


def evaluate(
    run: Path = RUN_ARGUMENT,
    data: Optional[str] = typer.Option(None, "--data",
                                       help="Score this corpus or file instead of the run's."),
    split: str = typer.Option("test", "--split", help="train, valid, test, or all; or the "
                              "dataset's own name of a split (validation)."),
    n: int = count_option(0, "Also draw N samples and score them with every registered sample "
                          "metric.", least=0),
    temperature: Optional[float] = typer.Option(
        None, "--temperature", "-t", help="Temperature of those samples; 0 is greedy.",
        show_default="the family's, as `gentext sample`"),
    knobs: List[str] = KNOBS_OPTION,
    judge: Optional[Path] = JUDGE_OPTION,
    overrides: List[str] = typer.Option([], "--set", metavar="data.KEY=VALUE", help="Read the "
                                        "data another way: a [data] key other than the run's "
                                        "tokenizer (repeatable; e.g. data.hf_config=..., "
                                        "data.unit=document)."),
    nll_samples: int = NLL_SAMPLES_OPTION,
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Examples per forward pass."),
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
    old_samples: Optional[int] = OLD_SAMPLES_OPTION,
):
    """Score a split: nats/token, perplexity, bits per byte, and what kind of figure it is."""
    from gentext.data.pipeline import load_splits
    from gentext.models.contract import SamplingOptions
    from gentext.runs.checkpoint import write_atomic

    n = renamed("--samples", "--n", old_samples, n)
    # every option before the model loads
    options = SamplingOptions(temperature=temperature, knobs=parse_knobs(knobs))
    check_judge_option(judge, n)
    loaded = reading_data(load_run_on(run, device), overrides)
    judge_run = load_judge(judge, [loaded], device)
    if loaded.likelihood == "none":
        raise GentextError(f"model {loaded.spec.name!r} has no likelihood to evaluate")
    splits = load_splits(loaded.config.data, source=data)
    examples, split = splits.get(split), splits.name_of(split)  # the dataset's own name of it
    report, result = score(loaded, examples, split, nll_samples, batch_size)
    report = {"run": str(run), "model": loaded.spec.name, "step": loaded.meta.get("step"),
              "data": data or loaded.config.data.source, **report}
    if n > 0:
        report.update(score_samples(loaded, splits, n, options, judge_run))
    if data is None and not overrides:
        write_atomic(Path(run) / f"eval-{split}.json", json.dumps(report, indent=2) + "\n")
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        print_report(report, result, loaded, n)


def reading_data(loaded, overrides: list[str]):
    """``loaded`` with its [data] settings changed by ``--set`` (how the data is read: source,
    hf_config, columns, unit, max_len, split); the tokenizer stays the run's."""
    import dataclasses

    from gentext.config import build_config, parse_override
    from gentext.training.prepare import check_data_fits_model

    if not overrides:
        return loaded
    for section, key, _ in map(parse_override, overrides):
        if section != "data" or key in ("tokenizer", "vocab_size"):
            raise GentextError(f"eval --set changes how the data is read, not the run: "
                               f"{section}.{key} cannot change (a [data] key other than "
                               "tokenizer and vocab_size can)")
    table = {k: v for k, v in dataclasses.asdict(loaded.config).items() if k != "run"}
    config = build_config(loaded.spec.name, loaded.spec.config, table, overrides)
    check_data_fits_model(config, loaded.model, loaded.spec.name)
    return dataclasses.replace(loaded, config=config)


def score(loaded, examples: list[dict], split: str, nll_samples: int, batch_size: int):
    """The split's likelihood figures, as a dict (with the latent figures of a model with a
    latent space) and as they came."""
    from dataclasses import asdict

    from gentext.evaluation.evaluate import evaluate as score_split
    from gentext.evaluation.latent_space import measure_split

    result = score_split(loaded.model, examples, loaded.tokenizer, split, loaded.likelihood,
                         loaded.config.data.max_len, batch_size, samples=nll_samples or None,
                         unit=loaded.config.data.unit)
    report = result.as_dict()
    latent = measure_split(loaded.model, loaded.tokenizer, examples,
                           loaded.config.data.max_len, loaded.config.data.unit)
    if latent is not None:
        report["latent_space"] = asdict(latent)
    return report, result


def score_samples(loaded, splits, n: int, options, judge=None) -> dict:
    """``n`` samples scored by every registered sample metric, each against its split, and
    under the loaded run ``judge`` where one is given (generative perplexity)."""
    from gentext.evaluation.evaluate import default_max_new_tokens, sample_metrics, sample_texts
    from gentext.evaluation.generative import judge_samples
    from gentext.plugins.manager import registry

    resolved = loaded.model.resolve_options(options)  # the family's defaults filled in
    texts = sample_texts(loaded.model, loaded.tokenizer, n,
                         default_max_new_tokens(loaded.config.data.max_len), options)
    references = {"train": [e["text"] for e in splits.train],
                  "test": [e["text"] for e in splits.test]}
    found = registry()
    owners = {name: found.owner[("metric", name)] for name in found.metrics}
    return {"sample_temperature": resolved.temperature,
            "sample_options": {k: resolved.knobs[k] for k in options.knobs},  # the ones given
            "sample_metrics": sample_metrics(texts, references, found.metrics, owners),
            **({} if judge is None else judge_samples(judge, texts))}


def print_report(report: dict, result, loaded, n: int) -> None:
    """The report in words, one figure a line."""
    from gentext.data.batching import left_out_warning

    max_len = loaded.config.data.max_len
    typer.echo(f"run:         {report['run']} ({loaded.spec.name}, step {report['step']})")
    cut = "" if result.windows is None else f" in {result.windows:,} windows"
    typer.echo(f"split:       {result.split} of {report['data']}: {result.examples:,} examples"
               f"{cut}, {result.tokens:,} tokens, {result.bytes:,} bytes (sha256 "
               f"{result.split_sha256[:12]})")
    warning = left_out_warning(result.examples, result.dropped, result.split, max_len,
                               result.keeps_99)
    if warning:
        typer.echo(f"gentext: warning: {warning}", err=True)
    if result.dropped:
        typer.echo(f"left out:    {result.dropped} examples longer than {max_len} tokens")
    kind = KIND_WORDING.get(result.likelihood, result.likelihood)
    if result.likelihood != "exact" and result.nll_samples:
        words = loaded.spec.nll_estimator_of(loaded.config.model)
        words = loaded.model.capabilities.honour_moved("nll_estimator", words)
        kind += f", {words} with k={result.nll_samples}"
    typer.echo(f"likelihood:  {kind}")
    spread = ""
    if result.stderr_nats_per_token is not None:
        spread = f" ± {result.stderr_nats_per_token:.4f} (standard error over the k draws)"
    typer.echo(f"nats/token:  {result.nats_per_token:.4f}{spread}")
    typer.echo(f"perplexity:  {result.perplexity:.2f} (tokenizer: {result.tokenizer})")
    spread = ("" if result.stderr_bits_per_byte is None
              else f" ± {result.stderr_bits_per_byte:.4f}")
    typer.echo(f"bits/byte:   {result.bits_per_byte:.4f}{spread} (UTF-8 bytes, one more per "
               "example)")
    for name, value in result.extra.items():
        typer.echo(f"{name + ':':<24} {value:.4f}" if isinstance(value, float) else
                   f"{name + ':':<24} {value}")
    if "latent_space" in report:
        _print_latent(report["latent_space"])
    knobs = "".join(f", {k} {v}" for k, v in report.get("sample_options", {}).items())
    for name, value in report.get("sample_metrics", {}).items():
        typer.echo(f"{name + ':':<12} {value:.4f} (on {n} samples, temperature "
                   f"{report['sample_temperature']:g}{knobs})")
    if "judge" in report:
        from gentext.evaluation.generative import describe

        typer.echo(f"gen. nats/token: {describe(report)}")


def _print_latent(figures: dict) -> None:
    def profile(values):
        return " ".join(f"{v:.2f}" for v in values)

    drawn = "" if figures["bleu4_draw"] is None else (
        f"; BLEU-4 {figures['bleu4_draw']:.4f}, exact {figures['exact_draw']:.1%} from a draw "
        "of q(z | x)")
    typer.echo(f"reconstruction (greedy, {figures['sentences']:,} sentences): BLEU-4 "
               f"{figures['bleu4_mean']:.4f}, exact {figures['exact_mean']:.1%} from the "
               f"posterior mean{drawn}")
    steps = figures["steps"]
    typer.echo(f"interpolation ({figures['pairs']} pairs, {steps} points): "
               f"{figures['distinct_per_path']:.2f} distinct sentences a path, "
               f"{figures['paths_nearly_distinct']:.0%} of paths with {steps - 1}+; BLEU-4 to the "
               f"first {profile(figures['bleu4_to_first'])}, to the second "
               f"{profile(figures['bleu4_to_second'])}; {figures['paths_monotone']:.0%} of paths "
               "monotone in both")


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate)
