"""Scoring a model on a split under the likelihood protocol, and sample metrics."""

from __future__ import annotations

import dataclasses
import math
import numbers
import sys
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import torch

from gentext.evaluation import metrics
from gentext.data.batching import Encoded, encode_split, eval_batches
from gentext.data.splits import texts_sha256
from gentext.distributed import Ranks
from gentext.errors import GentextError
from gentext.models.contract import SamplingOptions, float32

EVAL_BATCH_SIZE = 64


@dataclass
class Evaluation:
    """A likelihood figure with everything needed to read it honestly."""

    split: str
    likelihood: str  # exact, bound, estimate
    tokenizer: str
    examples: int
    tokens: int  # predicted tokens, <eos> included
    bytes: int  # UTF-8 bytes plus one per example
    nats: float  # summed negative log-likelihood (or its bound)
    dropped: int  # examples left out as longer than the model's context
    split_sha256: str
    nll_samples: int | None = None  # k of a stochastic bound (None: not stochastic)
    keeps_99: int | None = None  # the data.max_len under which 99% of the split would fit
    nats_variance: float | None = None  # of ``nats`` under the estimator's draws (None: unknown)
    extra: dict = field(default_factory=dict)  # the model's diagnostics (KL, MI, ...)
    windows: int | None = None  # running text: the windows the examples were cut into

    @property
    def nats_per_token(self) -> float:
        return metrics.nats_per_token(self.nats, self.tokens)

    @property
    def perplexity(self) -> float:
        return metrics.perplexity(self.nats, self.tokens)

    @property
    def bits_per_byte(self) -> float:
        return metrics.bits_per_byte(self.nats, self.bytes)

    @property
    def stderr_nats_per_token(self) -> float | None:
        """The standard error of nats/token over the estimator's draws, where it says it."""
        if self.nats_variance is None:
            return None
        return metrics.nats_per_token(math.sqrt(self.nats_variance), self.tokens)

    @property
    def stderr_bits_per_byte(self) -> float | None:
        if self.nats_variance is None:
            return None
        return metrics.bits_per_byte(math.sqrt(self.nats_variance), self.bytes)

    def as_dict(self) -> dict:
        """Every field and derived figure; the model's diagnostics under "diagnostics", so a
        diagnostic can never overwrite a field of the evaluation."""
        row = asdict(self)
        return {**row, "nats_per_token": self.nats_per_token, "perplexity": self.perplexity,
                "bits_per_byte": self.bits_per_byte,
                "stderr_nats_per_token": self.stderr_nats_per_token,
                "stderr_bits_per_byte": self.stderr_bits_per_byte,
                "diagnostics": row.pop("extra")}


def default_max_new_tokens(max_len: int, prompt: list[int] = ()) -> int:
    """New tokens a sample may take so it fits ``data.max_len`` (which counts ``<bos>`` and
    ``<eos>``)."""
    return max(0, max_len - 2 - len(prompt))


EVAL_SEED = 0  # stochastic estimators draw the same samples every time a split is scored


@contextmanager
def evaluation_mode(model):
    """Eval mode, float32 and a fixed seed, restoring the training RNG after: scoring a split
    is reproducible, never runs in a caller's autocast, and never changes what a training run
    draws next (so resume stays exact)."""
    was_training = model.training
    devices = [model.device] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), float32(model.device.type):
        torch.manual_seed(EVAL_SEED)
        model.eval()
        try:
            yield
        finally:
            model.train(was_training)


def device_batches(model, encoded: Encoded, pad_id: int, batch_size: int = EVAL_BATCH_SIZE,
                   max_tokens: int = 0):
    """A split's evaluation batches, on the model's device."""
    device = model.device
    for batch in eval_batches(encoded, batch_size, pad_id, max_tokens):
        yield {k: v.to(device) for k, v in batch.items()}


@torch.no_grad()
def score(model, encoded: Encoded, pad_id: int, batch_size: int = EVAL_BATCH_SIZE,
          samples: int | None = None, ranks: Ranks = Ranks(),
          max_tokens: int = 0) -> tuple[float, int, float | None]:
    """Summed nats, predicted tokens, and the variance of the summed nats where the
    estimator gives one (else None), over every sequence of a split (each process scores its
    share of the split and the sums are added up)."""
    nats, tokens, variance = 0.0, 0, 0.0
    if ranks.several:
        order = sorted(range(len(encoded.sequences)), key=lambda i: len(encoded.sequences[i]))
        encoded = encoded.subset(order[ranks.rank :: ranks.world])
    with evaluation_mode(model):
        if encoded.sequences:
            for batch in device_batches(model, encoded, pad_id, batch_size, max_tokens):
                batch_nats, batch_tokens, batch_variance = model.nll_with_variance(
                    batch, samples=samples)
                nats += float(batch_nats)
                tokens += batch_tokens
                variance = None if batch_variance is None or variance is None else (
                    variance + float(batch_variance))
    known = variance is not None  # an empty share adds nothing and knows it
    total = ranks.sum(torch.tensor([nats, float(tokens), variance if known else 0.0, float(known)],
                                   dtype=torch.float64))
    every_rank_knows = int(total[3]) == ranks.world
    return float(total[0]), int(total[1]), float(total[2]) if every_rank_knows else None


@torch.no_grad()
def diagnostics(model, encoded: Encoded, pad_id: int, batch_size: int = EVAL_BATCH_SIZE,
                max_tokens: int = 0) -> dict:
    """The model's own figures over a split (KL, mutual information, ...), if it has any."""
    with evaluation_mode(model):
        return model.diagnostics(device_batches(model, encoded, pad_id, batch_size, max_tokens))


def evaluate(model, examples: list[dict], tokenizer, split: str, likelihood: str,
             max_len: int, batch_size: int = EVAL_BATCH_SIZE,
             samples: int | None = None, unit: str = "example") -> Evaluation:
    """Score every example of a split that fits the model's context (for running text,
    ``unit="document"``, every window of every document)."""
    encoded = encode_split(examples, tokenizer, max_len, conditioning_labels(model), unit)
    return evaluate_encoded(model, encoded, tokenizer, split, likelihood, batch_size, samples)


def conditioning_labels(model) -> tuple[str, ...] | None:
    """The labels a conditional model reads from each batch; None for other models."""
    return model.vocab.labels if model.capabilities.condition else None


def evaluate_encoded(model, encoded: Encoded, tokenizer, split: str, likelihood: str,
                     batch_size: int = EVAL_BATCH_SIZE, samples: int | None = None,
                     ranks: Ranks = Ranks(), max_tokens: int = 0) -> Evaluation:
    """`evaluate` for a split already encoded (the training loop encodes once, and bounds
    the batches by its micro-batch budget, ``max_tokens``)."""
    if not encoded.sequences:
        raise GentextError(f"no example of the {split} split fits the model's context")
    nats, tokens, variance = score(model, encoded, tokenizer.pad_id, batch_size, samples, ranks,
                                   max_tokens)
    if not math.isfinite(nats):
        raise GentextError(f"the model gave a non-finite likelihood on the {split} split")
    stochastic = model.capabilities.nll_samples is not None
    return Evaluation(split=split, likelihood=likelihood,
                      tokenizer=tokenizer.name, examples=len(encoded.scored_texts), tokens=tokens,
                      windows=None if encoded.documents is None else len(encoded.sequences),
                      bytes=metrics.utf8_bytes(encoded.scored_texts), nats=nats,
                      dropped=encoded.dropped, split_sha256=texts_sha256(encoded.scored_texts),
                      keeps_99=encoded.keeps_99, nats_variance=variance,
                      nll_samples=(samples or model.capabilities.nll_samples) if stochastic else None,
                      extra=diagnostics(model, encoded, tokenizer.pad_id, batch_size, max_tokens)
                      if ranks.main else {})


def sample_texts(model, tokenizer, n: int, max_new_tokens: int,
                 options: SamplingOptions | None = None, seed: int = 0, batch_size: int = 100,
                 prompt: list[int] | None = None, condition: int | None = None) -> list[str]:
    """Draw ``n`` samples in eval mode and detokenise them (batched; one generator seeded
    with ``seed`` for all batches unless ``options`` brings one)."""
    options = options or SamplingOptions()
    if options.generator is None:
        generator = torch.Generator(device=model.device).manual_seed(seed)
        options = dataclasses.replace(options, generator=generator)
    texts = []
    with evaluation_mode(model):
        while len(texts) < n:
            count = min(batch_size, n - len(texts))
            rows = model.sample(count, options, max_new_tokens=max_new_tokens, prompt=prompt,
                                condition=condition)
            texts += [tokenizer.decode(row) for row in rows]
    return texts


def one_line(text: str) -> str:
    """A sample as one printable line: any line break it holds becomes a space."""
    return " ".join(text.splitlines())


def sample_metrics(samples: list[str], references: dict[str, list[str]], specs: dict,
                   owners: dict | None = None) -> dict:
    """Every registered sample metric, each against the split it names. A metric that raises
    or gives something other than a number loses its own row, with one warning line naming
    its plugin (``owners``: name -> plugin); the other metrics are kept."""
    figures = {}
    for name, spec in specs.items():
        where = f"metric {name!r} (plugin {(owners or {}).get(name, 'unknown')!r})"
        try:
            value = spec.compute(samples, references[spec.references])
        except Exception as exc:  # noqa: BLE001 - a plugin's failure costs its row only
            print(f"gentext: warning: {where} failed: {type(exc).__name__}: {exc} (left out)",
                  file=sys.stderr)
            continue
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            print(f"gentext: warning: {where} gave {type(value).__name__} {value!r:.40}, not a "
                  "number (left out)", file=sys.stderr)
            continue
        figures[name] = float(value)
    return figures
