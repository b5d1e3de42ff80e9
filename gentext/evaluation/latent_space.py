"""Does a latent space keep a sentence, and move through sentences? Figures for any family
with ``capabilities.latent`` (one that implements ``encode`` and ``decode``).

The case for a latent-variable model of text is its continuous code: a sentence's code
decodes back to the sentence, and the points between two codes decode to sentences between
them (Bowman et al. 2016, section 5). Two figures test that on a split:

- **Reconstruction**: each sentence is encoded (to its posterior mean, and once to a draw
  from q(z | x)), decoded greedily, and scored against itself: sentence BLEU-4 (NLTK's
  smoothing, as ``gentext.evaluation.bleu``) and the share reproduced exactly (same words and marks).
- **Interpolation**: for pairs of sentences, the straight line between their codes is decoded
  at ``steps`` evenly spaced points, both ends included: how many distinct sentences a path
  holds, and the mean BLEU-4 of each point to the first and to the second sentence (a path
  that moves through the space falls in the one and rises in the other).

Pairs are drawn with a fixed seed and every decoding is greedy, so a run gives the same figures
every time. The draw-from-q row uses the evaluation seed (``gentext.evaluation.evaluate.EVAL_SEED``).
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass

import torch

from gentext.evaluation import bleu
from gentext.data.batching import Encoded, collate, encode_split
from gentext.models.contract import SamplingOptions

PAIRS = 100  # sentence pairs whose paths are decoded
STEPS = 5  # points on each path, both ends included
PAIR_SEED = 0
BATCH = 64  # sentences encoded or decoded at once


@dataclass
class LatentFigures:
    """Reconstruction and interpolation figures of one split (see the module docstring)."""

    sentences: int  # sentences reconstructed
    bleu4_mean: float  # reconstruction BLEU-4, z = the posterior mean
    exact_mean: float  # share reproduced exactly, z = the posterior mean
    bleu4_draw: float | None  # the same with z drawn from q(z | x) (None: encode cannot draw)
    exact_draw: float | None
    pairs: int  # interpolation paths
    steps: int  # points per path, both ends included
    distinct_per_path: float  # mean number of distinct sentences on a path
    paths_nearly_distinct: float  # share of paths with at least steps - 1 distinct sentences
    bleu4_to_first: list[float]  # mean BLEU-4 to the first sentence at each point
    bleu4_to_second: list[float]  # mean BLEU-4 to the second sentence at each point
    paths_monotone: float  # share of paths whose BLEU to the first never rises and to the second never falls


def sentence_bleu4(hypothesis: str, reference: str) -> float:
    """BLEU-4 of one sentence against one reference (NLTK's ``sentence_bleu``, method1)."""
    return bleu.BleuReferences([bleu.tokenize(reference)], max_n=4).sentence_bleu(
        bleu.tokenize(hypothesis), 4)


def same_words(a: str, b: str) -> bool:
    """The same words and marks in the same order (spacing aside)."""
    return bleu.tokenize(a) == bleu.tokenize(b)


def encode_texts(model, tokenizer, texts: list[str], draw: bool = False) -> torch.Tensor:
    """Codes of ``texts`` in the given order, encoded as one batch (so codes that are
    sequences, like the flow's, share one width and can be mixed)."""
    encoded = encode_split([{"text": t} for t in texts], tokenizer, max_len=math.inf)
    return encode_sequences(model, encoded.sequences, tokenizer.pad_id, draw)


def encode_sequences(model, sequences: list[list[int]], pad_id: int, draw: bool = False) -> torch.Tensor:
    """Codes of token sequences (``<bos>`` ... ``<eos>``), padded into one batch."""
    batch = {k: v.to(model.device) for k, v in collate(sequences, pad_id).items()}
    return model.encode(batch, draw=True) if draw else model.encode(batch)


def decode_codes(model, tokenizer, z: torch.Tensor, max_new_tokens: int,
                 options: SamplingOptions | None = None) -> list[str]:
    """One line of text per code (greedy unless ``options`` say otherwise)."""
    from gentext.evaluation.evaluate import one_line

    options = options or SamplingOptions(temperature=0.0)
    if options.generator is None and options.seed is not None:  # one stream across the chunks
        generator = torch.Generator(device=model.device).manual_seed(options.seed)
        options = dataclasses.replace(options, generator=generator)
    texts = []
    for start in range(0, z.size(0), BATCH):
        rows = model.decode(z[start : start + BATCH], options, max_new_tokens=max_new_tokens)
        texts += [one_line(tokenizer.decode(row)) for row in rows]
    return texts


def path(ends: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` evenly spaced points from ``ends[0]`` to ``ends[1]`` (codes of any shape)."""
    times = torch.linspace(0, 1, steps, device=ends.device, dtype=ends.dtype)
    weights = times.view(-1, *[1] * (ends.dim() - 1))
    return (1 - weights) * ends[0] + weights * ends[1]


def reconstructions(model, tokenizer, encoded: Encoded, max_new_tokens: int,
                    draw: bool = False) -> list[str]:
    """Each sentence of ``encoded`` encoded and decoded greedily, in the split's order."""
    order = sorted(range(len(encoded.sequences)), key=lambda i: len(encoded.sequences[i]))
    out: list[str] = [""] * len(order)
    for start in range(0, len(order), BATCH):
        chunk = order[start : start + BATCH]
        z = encode_sequences(model, [encoded.sequences[i] for i in chunk], tokenizer.pad_id, draw)
        for i, text in zip(chunk, decode_codes(model, tokenizer, z, max_new_tokens)):
            out[i] = text
    return out


def interpolations(model, tokenizer, firsts: list[list[int]], seconds: list[list[int]],
                   steps: int, max_new_tokens: int) -> list[list[str]]:
    """The decoded path between each pair of encoded sentences, ``steps`` points each."""
    codes = encode_sequences(model, firsts + seconds, tokenizer.pad_id)
    pairs = len(firsts)
    points = torch.cat([path(torch.stack([codes[i], codes[pairs + i]]), steps)
                        for i in range(pairs)])
    texts = decode_codes(model, tokenizer, points, max_new_tokens)
    return [texts[i * steps : (i + 1) * steps] for i in range(pairs)]


def measure(model, tokenizer, encoded: Encoded, max_new_tokens: int, pairs: int = PAIRS,
            steps: int = STEPS) -> LatentFigures:
    """Reconstruction and interpolation figures over a split (in evaluation mode, seeded)."""
    from gentext.evaluation.evaluate import evaluation_mode

    texts = encoded.texts
    with evaluation_mode(model), torch.no_grad():
        by_mean = reconstructions(model, tokenizer, encoded, max_new_tokens)
        by_draw = reconstructions(model, tokenizer, encoded, max_new_tokens, draw=True)
        chosen = random.Random(PAIR_SEED).sample(range(len(texts)), min(2 * pairs, len(texts) // 2 * 2))
        firsts, seconds = chosen[0::2], chosen[1::2]
        paths = interpolations(model, tokenizer, [encoded.sequences[i] for i in firsts],
                               [encoded.sequences[i] for i in seconds], steps, max_new_tokens)
    to_first = [[sentence_bleu4(p, texts[a]) for p in points] for a, points in zip(firsts, paths)]
    to_second = [[sentence_bleu4(p, texts[b]) for p in points] for b, points in zip(seconds, paths)]
    distinct = [len(set(points)) for points in paths]
    monotone = [all(x >= y for x, y in zip(f, f[1:])) and all(x <= y for x, y in zip(s, s[1:]))
                for f, s in zip(to_first, to_second)]
    count = max(1, len(paths))
    return LatentFigures(
        sentences=len(texts),
        **_scores("mean", by_mean, texts), **_scores("draw", by_draw, texts),
        pairs=len(paths), steps=steps,
        distinct_per_path=sum(distinct) / count,
        paths_nearly_distinct=sum(d >= steps - 1 for d in distinct) / count,
        bleu4_to_first=[sum(column) / count for column in zip(*to_first)],
        bleu4_to_second=[sum(column) / count for column in zip(*to_second)],
        paths_monotone=sum(monotone) / count)


def measure_split(model, tokenizer, examples: list[dict], max_len: int,
                  unit: str = "example") -> LatentFigures | None:
    """``measure`` over a split's examples as ``gentext eval`` and ``gentext compare`` score
    them (those within ``max_len``); None for a model without a latent space, or for running
    text cut into windows, which are not sentences to reconstruct."""
    from gentext.evaluation.evaluate import default_max_new_tokens

    if not model.capabilities.latent or unit != "example":
        return None
    encoded = encode_split(examples, tokenizer, max_len)
    return measure(model, tokenizer, encoded, default_max_new_tokens(max_len))


def _scores(name: str, outputs: list[str], texts: list[str]) -> dict:
    """Mean BLEU-4 and exact-match share of reconstructions against their inputs."""
    return {f"bleu4_{name}": _mean(sentence_bleu4(o, t) for o, t in zip(outputs, texts)),
            f"exact_{name}": _mean(same_words(o, t) for o, t in zip(outputs, texts))}


def _mean(values) -> float:
    values = [float(v) for v in values]
    return sum(values) / max(1, len(values))
