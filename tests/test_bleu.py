"""Fast BLEU and self-BLEU against NLTK's sentence_bleu, the definition Texygen uses."""

import math
import random

import pytest
from nltk.translate.bleu_score import SmoothingFunction
from nltk.translate.bleu_score import sentence_bleu as nltk_sentence_bleu

from gentext.evaluation.bleu import BleuReferences, bleu, bleu_scores, self_bleu, tokenize

VOCABULARY = ["a", "b", "c", "d", "e"]  # small, so that n-grams of random sentences overlap


def reference_bleu(references: list[list[str]], hypothesis: list[str], n: int) -> float:
    """Texygen's per-sample BLEU: NLTK, uniform weights, method1 smoothing."""
    return nltk_sentence_bleu(
        references, hypothesis, (1 / n,) * n, smoothing_function=SmoothingFunction().method1
    )


def random_sentence(rng: random.Random, shortest: int, longest: int) -> list[str]:
    return [rng.choice(VOCABULARY) for _ in range(rng.randint(shortest, longest))]


def test_tokenize_splits_punctuation_and_keeps_case_and_contractions():
    assert tokenize("Emma's here, isn't she?") == ["Emma's", "here", ",", "isn't", "she", "?"]
    assert tokenize("  ") == []


def test_hypothesis_equal_to_a_reference_scores_one():
    references = BleuReferences([["the", "cat", "sat", "on", "the", "mat"], ["a", "dog"]])
    for n in range(1, 6):
        assert references.sentence_bleu(["the", "cat", "sat", "on", "the", "mat"], n) == 1.0


def test_hand_computed_precisions_and_brevity_penalty():
    # Hypothesis "the the cat sat" against "the cat sat on the mat":
    #   unigrams the x2, cat, sat; the reference has "the" twice, so 4/4 match;
    #   bigrams (the the), (the cat), (cat sat): 2/3 match;
    #   brevity penalty exp(1 - 6/4) = exp(-0.5).
    # BLEU-2 = exp(-0.5) * sqrt(1 * 2/3).
    hypothesis = ["the", "the", "cat", "sat"]
    one = BleuReferences([["the", "cat", "sat", "on", "the", "mat"]])
    assert one.sentence_bleu(hypothesis, 2) == pytest.approx(math.exp(-0.5) * math.sqrt(2 / 3))
    # Adding "a cat" (length 2) ties with length 6 at distance 2 from 4; NLTK takes the
    # shorter, 2 < 4, so no penalty. The counts clip against "the cat sat ..." as before.
    two = BleuReferences([["the", "cat", "sat", "on", "the", "mat"], ["a", "cat"]])
    assert two.sentence_bleu(hypothesis, 2) == pytest.approx(math.sqrt(2 / 3))


def test_clipping_uses_the_largest_count_in_one_reference_not_the_sum():
    # "the" occurs once in each reference: 1/3 unigrams match, not 2/3. No bigram matches,
    # so method1 gives 0.1 / 2. Both references have length 2 < 3: no penalty.
    references = BleuReferences([["the", "cat"], ["the", "dog"]])
    assert references.sentence_bleu(["the", "the", "the"], 2) == pytest.approx(
        math.sqrt(1 / 3 * 0.1 / 2)
    )


def test_hypothesis_shorter_than_n_gets_epsilon_precisions():
    # One word: 1/1 unigrams; orders 2..4 have no n-grams, so 0.1 / max(1, 0) each;
    # brevity penalty exp(1 - 6/1).
    references = BleuReferences([["the", "cat", "sat", "on", "the", "mat"]])
    expected = math.exp(-5) * (1 * 0.1**3) ** (1 / 4)
    assert references.sentence_bleu(["cat"], 4) == pytest.approx(expected)


def test_no_unigram_match_and_empty_hypothesis_score_zero():
    references = BleuReferences([["the", "cat", "sat"]])
    assert references.sentence_bleu(["a", "dog", "ran"], 2) == 0.0
    assert references.sentence_bleu([], 2) == 0.0


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_sentence_bleu_equals_nltk_on_random_cases(n):
    rng = random.Random(n)
    for _ in range(300):
        references = [random_sentence(rng, 0, 12) for _ in range(rng.randint(1, 6))]
        hypothesis = random_sentence(rng, 0, 10)
        fast = BleuReferences(references, max_n=n).sentence_bleu(hypothesis, n)
        assert fast == pytest.approx(reference_bleu(references, hypothesis, n), abs=1e-12, rel=0)


def test_one_table_serves_every_order_up_to_max_n():
    rng = random.Random(7)
    references = [random_sentence(rng, 1, 12) for _ in range(5)]
    table = BleuReferences(references, max_n=5)
    hypothesis = random_sentence(rng, 1, 10)
    scores = table.sentence_bleus(hypothesis, (2, 3, 4, 5))
    assert scores == [table.sentence_bleu(hypothesis, n) for n in (2, 3, 4, 5)]
    with pytest.raises(ValueError):
        table.sentence_bleu(hypothesis, 6)


def slow_self_bleu(samples: list[str], n: int) -> float:
    """The definition: each sample against all the others, by NLTK, then the mean."""
    tokens = [tokenize(s) for s in samples]
    scores = [reference_bleu(tokens[:i] + tokens[i + 1 :], h, n) for i, h in enumerate(tokens)]
    return sum(scores) / len(scores)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_self_bleu_equals_the_slow_definition_with_duplicates(n):
    rng = random.Random(100 + n)
    for _ in range(60):
        samples = [" ".join(random_sentence(rng, 0, 9)) for _ in range(rng.randint(2, 7))]
        for _ in range(rng.randint(0, 3)):  # duplicates: a twin still counts as another sample
            samples.insert(rng.randrange(len(samples) + 1), rng.choice(samples))
        assert self_bleu(samples, n) == pytest.approx(slow_self_bleu(samples, n), abs=1e-12, rel=0)


def test_self_bleu_excludes_only_the_sample_itself():
    # The twins match each other fully (1.0 each); the third shares no word with them (0).
    assert self_bleu(["a b c d", "a b c d", "e f g h"], 4) == pytest.approx(2 / 3)
    # With the twin gone there is nothing left to match: excluding itself matters.
    assert self_bleu(["a b c d", "e f g h"], 4) == 0.0


def test_self_bleu_length_exclusion_picks_the_closest_other_length():
    # Lengths 1, 3, 5: the 3-word sample's own length is excluded, so the closest others
    # are 1 and 5 (tie at distance 2, NLTK takes 1, so no penalty), unlike length 3 itself.
    samples = ["a", "a b c", "a b c d e"]
    assert self_bleu(samples, 2) == pytest.approx(slow_self_bleu(samples, 2), abs=1e-12, rel=0)


def test_bleu_of_copied_references_is_one_and_of_unrelated_words_is_zero():
    references = ["It is a truth universally acknowledged.", "Emma Woodhouse, handsome."]
    assert bleu(references, references + ["Another line entirely."], n=4) == 1.0
    assert bleu(["zebra quantum xylophone"], references, n=4) == 0.0
    assert bleu(["It zebra quantum xylophone galaxy nebula"], references, n=4) < 0.05


def test_bleu_equals_mean_of_nltk_against_all_references():
    rng = random.Random(11)
    references = [" ".join(random_sentence(rng, 1, 12)) for _ in range(20)]
    samples = [" ".join(random_sentence(rng, 0, 10)) for _ in range(30)]
    tokens = [tokenize(r) for r in references]
    expected = sum(reference_bleu(tokens, tokenize(s), 3) for s in samples) / len(samples)
    assert bleu(samples, references, n=3) == pytest.approx(expected, abs=1e-12, rel=0)


def test_self_bleu_of_identical_samples_is_one():
    assert self_bleu(["the cat sat on the mat ."] * 3, n=4) == 1.0


def test_self_bleu_needs_two_samples():
    with pytest.raises(ValueError):
        self_bleu(["only one sample"])
    with pytest.raises(ValueError):
        self_bleu([])


def test_bleu_scores_match_the_single_order_functions():
    rng = random.Random(3)
    references = [" ".join(random_sentence(rng, 1, 12)) for _ in range(15)]
    samples = [" ".join(random_sentence(rng, 1, 10)) for _ in range(12)]
    scores = bleu_scores(samples, references, orders=(2, 3, 4, 5))
    assert list(scores) == [f"bleu-{n}" for n in (2, 3, 4, 5)] + [
        f"self-bleu-{n}" for n in (2, 3, 4, 5)
    ]
    for n in (2, 3, 4, 5):
        assert scores[f"bleu-{n}"] == bleu(samples, references, n)
        assert scores[f"self-bleu-{n}"] == self_bleu(samples, n)
