"""What the core itself registers, through the same hooks as every plugin: the default
corpus and the sample metrics."""

from gentext.plugins.hookspecs import hookimpl
from gentext.plugins.specs import DatasetSpec, MetricSpec


@hookimpl
def register_datasets(register):
    from gentext.data.corpus import load_austen

    register(DatasetSpec(
        name="austen",
        description="Jane Austen's six novels, ~27,600 sentences of 4-50 words (public domain)",
        load=load_austen,
    ))


@hookimpl
def register_metrics(register):
    from gentext.evaluation import metrics

    register(MetricSpec("distinct-1", "distinct unigrams / all unigrams in the samples",
                        lambda samples, refs: metrics.distinct_n(samples, 1), "test", True))
    register(MetricSpec("distinct-2", "distinct bigrams / all bigrams in the samples",
                        lambda samples, refs: metrics.distinct_n(samples, 2), "test", True))
    register(MetricSpec("known-words", "share of sampled words found in the training split",
                        metrics.known_word_rate, "train", True))
    register(MetricSpec("mean-words", "mean sample length in words", metrics.mean_words,
                        "test", None))
    for n in (2, 3, 4, 5):
        register(MetricSpec(f"bleu-{n}", f"BLEU-{n} of each sample against the whole test split "
                            "(Texygen's protocol), averaged", _bleu(n), "test", True))
    for n in (2, 3, 4, 5):
        register(MetricSpec(f"self-bleu-{n}", f"BLEU-{n} of each sample against the other "
                            "samples (lower is more diverse)", _self_bleu(n), "test", False))


def _bleu(n: int):
    from gentext.evaluation import bleu

    return lambda samples, refs: bleu.bleu(samples, refs, n)


def _self_bleu(n: int):
    from gentext.evaluation import bleu

    return lambda samples, refs: bleu.self_bleu(samples, n) if len(samples) > 1 else float("nan")
