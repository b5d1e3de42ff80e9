"""gentext-bigram: registers the model "bigram", the dataset "bigram-greetings", the
metric "bigram-questions" and the command `gentext bigram-next`.

This module is what the entry point names, so gentext imports it to list models: it stays
free of torch (the model class is named by an import string and imported only to train).
"""

from gentext.api import DatasetSpec, MetricSpec, ModelSpec, hookimpl
from gentext_bigram.config import BigramConfig

__version__ = "0.1.0"


@hookimpl
def register_models(register):
    register(ModelSpec(
        name="bigram",
        description="next-token logits from the previous token only",
        config=BigramConfig,
        model="gentext_bigram.model:Bigram",
        likelihood="exact",  # its likelihood factorises left to right: nll is exact
        train_defaults={"steps": 200, "lr": 0.05, "warmup_steps": 10},
        data_defaults={"tokenizer": "char"},
    ))


@hookimpl
def register_datasets(register):
    register(DatasetSpec(
        name="bigram-greetings",
        description="a handful of greetings (replace with your corpus)",
        load=lambda: [{"text": text} for text in GREETINGS],
    ))


@hookimpl
def register_metrics(register):
    register(MetricSpec(
        name="bigram-questions",
        description="share of samples ending in '?'",
        compute=lambda samples, references: sum(s.endswith("?") for s in samples) / len(samples),
        references="test",
        higher_is_better=None,
    ))


@hookimpl
def register_commands(app):
    from gentext_bigram.command import next_tokens

    app.command("bigram-next")(next_tokens)


GREETINGS = ["Hello there.", "Good morning!", "How do you do?", "Nice to meet you.",
             "Good evening.", "How are you today?", "Welcome back.", "Hi!"] * 8
