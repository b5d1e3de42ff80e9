"""Fast BLEU and self-BLEU of generated samples, computed exactly as Texygen does.

BLEU is Papineni et al. (2002): clipped ("modified") n-gram precisions, their geometric
mean, times a brevity penalty. Texygen (Zhu et al. 2018) uses it to score text generators:
each sample is scored by NLTK's ``sentence_bleu`` against the *whole* reference set (every
test sentence), with uniform weights ``(1/n,) * n`` and ``SmoothingFunction().method1``,
and the scores are averaged over samples. Self-BLEU scores each sample against all the
*other* samples and averages; it measures how alike the samples are (lower = more diverse).

NLTK costs O(number of references) per sample, too slow for a thousand samples against
a test split. The only things NLTK takes from the references are, per n-gram, its largest
count in any single reference (for clipping) and the reference length closest to the
hypothesis length (for the brevity penalty). Both are precomputed here once, so a sample
costs O(its own length). For self-BLEU, "largest count over the others" stays O(1) by
keeping per n-gram the highest count, how many samples hold it, and the second highest.

The result equals NLTK's exactly, edge cases included (see ``_combine``); the tests check it
against ``nltk.translate.bleu_score.sentence_bleu``. Pure Python: NLTK is not needed at run time.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

SMOOTHING = "NLTK SmoothingFunction().method1 (epsilon 0.1)"

# method1 adds this to a zero count of matches: precision 0 / d becomes 0.1 / d.
_EPSILON = 0.1

_TOKEN = re.compile(r"\w+(?:'\w+)?|[^\w\s]")

Ngram = tuple[str, ...]


def tokenize(text: str) -> list[str]:
    """Words (with inner apostrophes) and punctuation marks as separate tokens, case kept.

    Close to ``nltk.word_tokenize`` on plain English, without needing NLTK's data.
    """
    return _TOKEN.findall(text)


def _ngram_counts(tokens: Sequence[str], n: int) -> Counter[Ngram]:
    """Counts of the n-grams of ``tokens`` (empty when there are fewer than n tokens)."""
    return Counter(zip(*(tokens[i:] for i in range(n))))


def _check_order(n: int, max_n: int) -> None:
    if not 1 <= n <= max_n:
        raise ValueError(f"BLEU order must be between 1 and {max_n}, got {n}")


def _nearer(below: int | None, above: int | None, hyp_len: int) -> int:
    """Whichever of two lengths (either may be missing) is closer to ``hyp_len``; ties: shorter."""
    if below is None:
        assert above is not None
        return above
    if above is None or hyp_len - below <= above - hyp_len:
        return below
    return above


def _closest_length(lengths: Sequence[int], hyp_len: int) -> int:
    """The length in sorted, distinct ``lengths`` closest to ``hyp_len``; ties go to the shorter.

    NLTK's ``closest_ref_length``: ``min(lengths, key=lambda r: (abs(r - hyp_len), r))``.
    """
    i = bisect.bisect_left(lengths, hyp_len)
    if i < len(lengths) and lengths[i] == hyp_len:
        return hyp_len
    below = lengths[i - 1] if i > 0 else None
    above = lengths[i] if i < len(lengths) else None
    return _nearer(below, above, hyp_len)


def _combine(
    matches: Sequence[int], totals: Sequence[int], hyp_len: int, ref_len: int, n: int
) -> float:
    """BLEU-n from clipped match counts and n-gram totals of orders 1..n, as NLTK computes it.

    Mirrors ``corpus_bleu`` for one hypothesis: 0 when no unigram matches (which covers the
    empty hypothesis); a zero count of order k becomes ``0.1 / totals[k]`` (method1);
    ``totals`` are at least 1 (NLTK's ``max(1, ...)`` for hypotheses shorter than k);
    ``log(m / d)`` uses exact integer division, as ``float(Fraction(m, d))`` does; the
    weighted logs are summed with ``math.fsum``.
    """
    if matches[0] == 0:
        return 0.0
    weight = 1 / n
    log_mean = math.fsum(
        weight * math.log(m / d if m else _EPSILON / d) for m, d in zip(matches[:n], totals[:n])
    )
    # Brevity penalty: 1 for a hypothesis longer than the closest reference length.
    penalty = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return penalty * math.exp(log_mean)


def _mean(scores: list[float]) -> float:
    return sum(scores) / len(scores)  # Texygen's plain mean


class BleuReferences:
    """A reference set prepared once for fast sentence-level BLEU of any number of hypotheses.

    Holds, for every order 1..max_n, the largest count of each n-gram in any single reference
    (NLTK clips a hypothesis count by it) and the sorted distinct reference lengths (for the
    brevity penalty).
    """

    def __init__(self, references: Sequence[Sequence[str]], max_n: int = 5) -> None:
        if not references:
            raise ValueError("BLEU needs at least one reference")
        if max_n < 1:
            raise ValueError(f"max_n must be at least 1, got {max_n}")
        self.max_n = max_n
        self._max_counts: list[dict[Ngram, int]] = [{} for _ in range(max_n)]
        for reference in references:
            for k, table in enumerate(self._max_counts, start=1):
                for gram, count in _ngram_counts(reference, k).items():
                    if count > table.get(gram, 0):
                        table[gram] = count
        self._lengths = sorted({len(reference) for reference in references})

    def sentence_bleu(self, hypothesis: Sequence[str], n: int) -> float:
        """BLEU-n of ``hypothesis`` against all references.

        Equal to NLTK's ``sentence_bleu(references, hypothesis, weights=(1/n,) * n,
        smoothing_function=SmoothingFunction().method1)``.
        """
        return self.sentence_bleus(hypothesis, (n,))[0]

    def sentence_bleus(self, hypothesis: Sequence[str], orders: Sequence[int]) -> list[float]:
        """BLEU of ``hypothesis`` for each order, counting its n-grams once."""
        top = max(orders)
        for n in orders:
            _check_order(n, self.max_n)
        matches, totals = [], []
        for k in range(1, top + 1):
            counts = _ngram_counts(hypothesis, k)
            table = self._max_counts[k - 1]
            matches.append(sum(min(c, table.get(g, 0)) for g, c in counts.items()))
            totals.append(max(1, len(hypothesis) - k + 1))
        ref_len = _closest_length(self._lengths, len(hypothesis))
        return [_combine(matches, totals, len(hypothesis), ref_len, n) for n in orders]


class _SelfReferences:
    """Samples prepared for self-BLEU: each scored against all the others, in O(its length).

    Per order and n-gram it keeps the highest count over samples, how many samples hold that
    count, and the second-highest count, so the highest count over all samples but one is
    known at once; likewise a Counter of lengths gives the closest length among the others.
    """

    def __init__(self, samples: Sequence[Sequence[str]], max_n: int) -> None:
        if len(samples) < 2:
            raise ValueError(f"self-BLEU needs at least 2 samples, got {len(samples)}")
        if max_n < 1:
            raise ValueError(f"max_n must be at least 1, got {max_n}")
        self.max_n = max_n
        self._samples = samples
        # self._counts[i][k - 1]: sample i's k-gram counts, reused when it is the hypothesis.
        self._counts = [[_ngram_counts(s, k) for k in range(1, max_n + 1)] for s in samples]
        self._first: list[dict[Ngram, int]] = [{} for _ in range(max_n)]
        self._holders: list[dict[Ngram, int]] = [{} for _ in range(max_n)]
        self._second: list[dict[Ngram, int]] = [{} for _ in range(max_n)]
        for sample_counts in self._counts:
            for first, holders, second, counts in zip(
                self._first, self._holders, self._second, sample_counts
            ):
                for gram, count in counts.items():
                    best = first.get(gram, 0)
                    if count > best:
                        if best:
                            second[gram] = best
                        first[gram] = count
                        holders[gram] = 1
                    elif count == best:
                        holders[gram] += 1
                    elif count > second.get(gram, 0):
                        second[gram] = count
        self._length_counts = Counter(len(s) for s in samples)
        self._lengths = sorted(self._length_counts)

    def _max_over_others(self, k: int, gram: Ngram, own: int) -> int:
        """Largest count of ``gram`` (order k) in any sample but one holding it ``own`` times."""
        best = self._first[k - 1][gram]
        if own < best or self._holders[k - 1][gram] > 1:
            return best
        return self._second[k - 1].get(gram, 0)

    def _closest_other_length(self, hyp_len: int) -> int:
        """Closest length to ``hyp_len`` among the other samples (the hypothesis has hyp_len)."""
        if self._length_counts[hyp_len] > 1:
            return hyp_len
        # Only the hypothesis has this length: take the nearest distinct length either side.
        i = bisect.bisect_left(self._lengths, hyp_len)
        below = self._lengths[i - 1] if i > 0 else None
        above = self._lengths[i + 1] if i + 1 < len(self._lengths) else None
        return _nearer(below, above, hyp_len)

    def __len__(self) -> int:
        return len(self._samples)

    def sentence_bleus(self, index: int, orders: Sequence[int]) -> list[float]:
        """BLEU of sample ``index`` against all the other samples, for each order."""
        for n in orders:
            _check_order(n, self.max_n)
        hyp_len = len(self._samples[index])
        matches, totals = [], []
        for k in range(1, max(orders) + 1):
            counts = self._counts[index][k - 1]
            matches.append(sum(min(c, self._max_over_others(k, g, c)) for g, c in counts.items()))
            totals.append(max(1, hyp_len - k + 1))
        ref_len = self._closest_other_length(hyp_len)
        return [_combine(matches, totals, hyp_len, ref_len, n) for n in orders]


def _corpus_bleus(
    hypotheses: Sequence[Sequence[str]], references: BleuReferences, orders: Sequence[int]
) -> list[float]:
    if not hypotheses:
        raise ValueError("BLEU needs at least one sample")
    per_sample = [references.sentence_bleus(h, orders) for h in hypotheses]
    return [_mean([scores[j] for scores in per_sample]) for j in range(len(orders))]


def _self_bleus(table: _SelfReferences, orders: Sequence[int]) -> list[float]:
    per_sample = [table.sentence_bleus(i, orders) for i in range(len(table))]
    return [_mean([scores[j] for scores in per_sample]) for j in range(len(orders))]


def bleu(samples: list[str], references: list[str], n: int = 4) -> float:
    """Mean sentence BLEU-n of each sample against all references (Texygen's BLEU).

    Texts are split with ``tokenize``.
    """
    table = BleuReferences([tokenize(r) for r in references], max_n=n)
    return _corpus_bleus([tokenize(s) for s in samples], table, (n,))[0]


def self_bleu(samples: list[str], n: int = 4) -> float:
    """Mean BLEU-n of each sample against all the other samples (Texygen's self-BLEU).

    Needs at least 2 samples. Higher means the samples repeat each other.
    """
    return _self_bleus(_SelfReferences([tokenize(s) for s in samples], max_n=n), (n,))[0]


def bleu_scores(
    samples: list[str], references: list[str], orders: Iterable[int] = (2, 3, 4, 5)
) -> dict[str, float]:
    """BLEU-n and self-BLEU-n for each order, preparing the n-gram tables once.

    Returns ``{"bleu-2": ..., "bleu-3": ..., "self-bleu-2": ..., ...}``. Needs at least
    2 samples (for self-BLEU).
    """
    orders = tuple(orders)
    if not orders:
        raise ValueError("no BLEU orders given")
    max_n = max(orders)
    hypotheses = [tokenize(s) for s in samples]
    table = BleuReferences([tokenize(r) for r in references], max_n=max_n)
    scores = _corpus_bleus(hypotheses, table, orders)
    own = _self_bleus(_SelfReferences(hypotheses, max_n=max_n), orders)
    return {
        **{f"bleu-{n}": s for n, s in zip(orders, scores)},
        **{f"self-bleu-{n}": s for n, s in zip(orders, own)},
    }
