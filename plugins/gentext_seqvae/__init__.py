"""The seqvae family: a sentence VAE (Bowman et al. 2016), registered like any plugin."""

from gentext.api import FamilyRecipe, ModelSpec, hookimpl
from gentext_seqvae.config import SeqVAEConfig

__version__ = "0.1.0"


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="seqvae",
            description="sentence VAE: RNN encoder, Gaussian latent, RNN decoder (IW bound)",
            config=SeqVAEConfig,
            model="gentext_seqvae.model:SeqVAE",
            likelihood=likelihood_kind,
            # about 15 minutes on a 2-core CPU (an RNN step costs about what the default gpt's
            # does); the IW bound at validation costs k decoder passes, so validate less often
            train_defaults={"steps": 1600, "eval_every": 400},
            recipe=FamilyRecipe(),
        )
    )


def likelihood_kind(config: SeqVAEConfig) -> str:
    """The importance-weighted bound; with no latent (latent_dim 0) the decoder's exact NLL."""
    return "bound" if config.latent_dim else "exact"
