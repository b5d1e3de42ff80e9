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
            # the 25-minute cap, not the step count, bounds a slow machine (under 30 in all)
            # its default run is capped by time: micro-batches of 512 characters would cost it steps
            train_defaults={"steps": 5000, "eval_every": 1000, "max_minutes": 25.0,
                            "micro_batch_tokens": -1},
            # flows on text are compared in bits per character; 288 characters keep 99% of
            # the default corpus's sentences (128, the BPE families' length, keeps 69%)
            data_defaults={"tokenizer": "char", "max_len": 288},
            recipe=FamilyRecipe(),
        )
    )
