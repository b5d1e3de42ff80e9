"""Generative perplexity: one run's samples scored under another run's exact likelihood.

Each sample metric rewards something a model can fake: known words are high for a model that
repeats one common sentence, distinct-2 for one that emits noise. Scoring the samples under a
separately trained autoregressive model (the *judge*) adds how likely they are as language;
it is gamed in turn by dull, repetitive text, so it is reported beside the sample metrics,
never alone. The diffusion papers report it this way: MDLM (Sahoo et al. 2024) and SEDD (Lou
et al. 2024) give the generative perplexity of their samples under GPT-2 Large.

The figure is nats per token *of the judge's tokenizer*, of samples, under the judge: not a
likelihood of the data, nor of the run that drew them. Each sample is tokenised by the judge's
tokenizer (the runs may tokenise differently), wrapped as the judge's examples are (``<bos>``
text ``<eos>``; an empty sample still counts its ``<eos>``) and scored by
``gentext.evaluation.evaluate``, the scorer of every split. A sample longer than the judge's
context is cut into windows as running text is (docs/likelihood.md), so every token counts:
leaving long samples out would flatter a run whose long samples are poor.
"""

from __future__ import annotations

from gentext.errors import GentextError
from gentext.evaluation.evaluate import EVAL_BATCH_SIZE, conditioning_labels, evaluate

UNIT = "nats/token of the judge's tokenizer, <eos> included"


def check_judge(name: str, family: str, likelihood: str) -> None:
    """A judge needs an exact likelihood: under a bound, the figure would mix the samples'
    quality with the slack of the judge's estimator."""
    if likelihood != "exact":
        has = {"none": "no likelihood", "bound": "only a bound on its likelihood",
               "estimate": "only an estimate of its likelihood"}.get(likelihood, likelihood)
        raise GentextError(f"judge {name} is a {family} run, which has {has}; a judge needs "
                           "an exact likelihood: an autoregressive run, such as gpt")


def judge_samples(judge, texts: list[str], batch_size: int = EVAL_BATCH_SIZE) -> dict:
    """``texts`` (samples of any run) scored under the loaded run ``judge``: nats/token of the
    judge's tokenizer, perplexity, and the counts behind them, as a report's ``judge_*`` keys."""
    check_judge(str(judge.path), judge.spec.name, judge.likelihood)
    if conditioning_labels(judge.model) is not None:
        raise GentextError(f"judge {judge.path} is a conditional model: its likelihood needs a "
                           "label, which samples do not have; judge with an unconditional run")
    if not texts:
        raise GentextError("there are no samples to judge")
    result = evaluate(judge.model, [{"text": text} for text in texts], judge.tokenizer, "samples",
                      judge.likelihood, judge.config.data.max_len, batch_size, unit="document")
    return {"judge": str(judge.path), "judge_model": judge.spec.name,
            "judge_likelihood": result.likelihood, "judge_tokenizer": result.tokenizer,
            "judge_samples": result.examples, "judge_windows": result.windows,
            "judge_tokens": result.tokens, "judge_nats": result.nats,
            "judge_nats_per_token": result.nats_per_token,
            "judge_perplexity": result.perplexity, "judge_unit": UNIT}


def describe(figures: dict) -> str:
    """The figures of ``judge_samples`` in one line, saying what they are."""
    windows = figures["judge_windows"]
    cut = f" in {windows:,} windows" if windows != figures["judge_samples"] else ""
    return (f"{figures['judge_nats_per_token']:.4f} under {figures['judge_model']} run "
            f"{figures['judge']} ({figures['judge_likelihood']}; {figures['judge_samples']:,} "
            f"samples{cut}, {figures['judge_tokens']:,} tokens of its tokenizer; perplexity "
            f"{figures['judge_perplexity']:.2f})")
