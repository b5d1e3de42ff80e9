"""gentext-bigram: registers the model "bigram" and the command `gentext bigram-next`.

This module is what the entry point names, so gentext imports it to list models: it stays
free of torch (the model class is named by an import string and imported only to train).
"""

from gentext.api import ModelSpec, hookimpl
from gentext_bigram.config import BigramConfig

__version__ = "0.1.0"


@hookimpl
def register_models(register):
    register(ModelSpec(
        name="bigram",
        description="bigram LM: the next token depends on the previous one only",
        config=BigramConfig,
        model="gentext_bigram.model:Bigram",
        likelihood="exact",
        train_defaults={"steps": 200, "lr": 0.05, "warmup_steps": 10},
        data_defaults={"tokenizer": "char"},
    ))


@hookimpl
def register_commands(app):
    from gentext_bigram.command import bigram_next

    app.command("bigram-next")(bigram_next)
