"""Units and sample metrics."""

import math

import pytest

from gentext.evaluation import metrics


def test_bits_per_byte_counts_one_end_byte_per_example():
    texts = ["abc", "é"]  # 3 + 2 bytes, plus one each
    assert metrics.utf8_bytes(texts) == 7
    assert metrics.bits_per_byte(7 * math.log(2), 7) == pytest.approx(1.0)


def test_perplexity_is_exp_of_nats_per_token():
    assert metrics.perplexity(10 * math.log(5), 10) == pytest.approx(5.0)


def test_distinct_n():
    assert metrics.distinct_n(["a b a b"], 1) == 0.5
    assert metrics.distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert metrics.distinct_n(["a"], 2) == 0.0


def test_known_word_rate_counts_invented_words():
    references = ["Emma saw the letter.", "It's a truth."]
    assert metrics.known_word_rate(["emma saw it's truth"], references) == 1.0
    assert metrics.known_word_rate(["Emma saw a flurbish"], references) == 0.75
