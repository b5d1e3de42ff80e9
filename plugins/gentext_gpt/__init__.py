"""The gpt family: a decoder-only Transformer LM, a modern recipe or GPT-2's architecture.

Registered through the ``gentext`` entry point like any third-party plugin; this module
stays torch-free so listing models is fast (the model class is named by import string).
"""

from gentext.api import FamilyRecipe, ModelSpec, hookimpl
from gentext_gpt.config import GPTConfig

__version__ = "0.1.0"


def gpt_spec() -> ModelSpec:
    """What the gpt family registers (and what `gentext import` builds a model from)."""
    return ModelSpec(
        name="gpt",
        description="decoder-only Transformer LM (modern recipe, or GPT-2's), KV-cache sampling",
        config=GPTConfig,
        model="gentext_gpt.model:GPT",
        likelihood="exact",
        # the modern recipe's steps cost more than GPT-2's (Muon): 700 fit the time 800 of
        # GPT-2's took (docs/speed.md)
        train_defaults={"steps": 700},
        recipe=FamilyRecipe(),
    )


@hookimpl
def register_models(register):
    register(gpt_spec())


@hookimpl
def register_commands(app):
    """`gentext export` / `gentext import`: to and from transformers' GPT2LMHeadModel."""
    from gentext_gpt.commands import register

    register(app)
