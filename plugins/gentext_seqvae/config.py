"""Sentence-VAE configuration; defaults train a non-collapsed VAE on the default corpus on a CPU."""

from dataclasses import dataclass
from typing import ClassVar

MEASURED = "in 0.2 (docs/seqvae.md, 'The variants tried', shows it did not help)"


@dataclass
class SeqVAEConfig:
    cell: str = "gru"  # "gru" or "lstm", for the encoder and the decoder
    embedding_dim: int = 256  # token embeddings, shared by encoder and decoder
    encoder_hidden: int = 256  # per direction of the bidirectional encoder
    decoder_hidden: int = 512
    latent_dim: int = 32  # size of z; 0 trains the same decoder as a plain language model
    z_init: bool = True  # z sets the decoder's initial state (through a linear layer)
    z_every_step: bool = True  # z is also concatenated to every decoder input
    dropout: float = 0.2  # on embeddings and decoder outputs
    word_dropout: float = 0.0  # decoder inputs replaced by <unk> with this probability; off:
    # free bits keep z alive here and word dropout cost 2.8% likelihood (docs/seqvae.md)
    z_to_output: bool = True  # z also reaches the output layer directly, a skip connection:
    # Dieng et al. 2019, "Avoiding Latent Variable Collapse with Generative Skip Models";
    # a better bound and reconstructions at the same rate (docs/seqvae.md)
    kl_schedule: str = "linear"  # KL weight: "linear", "sigmoid" or "constant"
    kl_anneal_fraction: float = 0.4  # share of training over which the KL weight reaches 1
    autoencoder_fraction: float = 0.25  # share of training first spent as a plain autoencoder,
    # KL weight 0 (Li et al. 2019); the schedule runs over the rest. With free bits at 0.5 it
    # doubles the latent's reconstruction BLEU for 2.4% of bound (docs/seqvae.md)
    free_bits: float = 0.5  # per-dimension KL floor in nats (0 turns it off)
    nll_samples: int = 100  # k of the importance-weighted bound when evaluating

    RENAMED_KEYS: ClassVar[dict] = {"iw_samples": "nll_samples"}  # as mdlm and gentext eval say it
    # each with the value it always has now (a run saved before still loads) and why it went
    REMOVED_KEYS: ClassVar[dict] = {
        "bag_of_words": (0.0, MEASURED), "bn_gamma": (0.0, MEASURED),
        "autoencoder_word_dropout": (0.0, MEASURED),
        "kl_cycles": (4, "in 0.2 with the cyclical KL schedule (docs/seqvae.md, 'The variants "
                         "tried', shows it changed nothing)"),
    }
