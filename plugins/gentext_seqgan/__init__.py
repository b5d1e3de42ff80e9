"""The seqgan family: a text GAN trained through a Gumbel-softmax relaxation, registered like
any plugin."""

from gentext.api import FamilyRecipe, ModelSpec, hookimpl
from gentext_seqgan.config import SeqGANConfig

__version__ = "0.1.0"


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="seqgan",
            description="text GAN: LSTM generator (MLE, then Gumbel-softmax or REINFORCE), CNN discriminator",
            config=SeqGANConfig,
            model="gentext_seqgan.model:SeqGAN",
            likelihood="exact",  # the generator is autoregressive: its test NLL is exact
            # MLE pre-training takes the first model.pretrain_steps; the rest are adversarial
            train_defaults={"steps": 1700, "eval_every": 300, "batch_size": 64},
            recipe=FamilyRecipe(first_phase="pretrain_steps"),
        )
    )
