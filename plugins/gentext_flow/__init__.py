"""The flow family: a normalizing flow for text (variational dequantisation, Real NVP or NICE
couplings, a length prior), registered like any plugin."""

from gentext.api import FamilyRecipe, ModelSpec, hookimpl
from gentext_flow.config import FlowConfig

__version__ = "0.1.0"


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="flow",
            description="normalizing flow: dequantised tokens, Real NVP/NICE couplings, "
                        "parallel sampling (IW bound)",
            config=FlowConfig,
            model="gentext_flow.model:TextFlow",
            likelihood="bound",
            # 9,000 steps take 22 minutes on a 2-core CPU; the 25-minute cap, not the step
            # count, bounds a slower machine (under 30 in all); micro-batches of 512 tokens
            # would cost it steps
            train_defaults={"steps": 9000, "eval_every": 1000, "max_minutes": 25.0,
                            "micro_batch_tokens": -1},
            # byte-level BPE: every token a piece of a word, so a sampled word is one draw,
            # not a spelling letter by letter (docs/flow.md); 69 tokens keep 99% of the
            # default corpus's sentences, and short sequences keep its steps cheap
            data_defaults={"tokenizer": "bpe", "max_len": 69},
            recipe=FamilyRecipe(),
        )
    )
