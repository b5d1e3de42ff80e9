"""Sentence-VAE configuration; defaults train a non-collapsed VAE on the default corpus on a CPU."""

from dataclasses import dataclass


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
    autoencoder_word_dropout: float = 0.0  # word dropout during the autoencoder phase only:
    # the decoder learns to read z while its inputs are unreliable, then trains without it
    z_to_output: bool = True  # z also reaches the output layer directly, a skip connection:
    # Dieng et al. 2019, "Avoiding Latent Variable Collapse with Generative Skip Models";
    # a better bound and reconstructions at the same rate (docs/seqvae.md)
    kl_schedule: str = "linear"  # KL weight: "linear", "sigmoid", "cyclical" or "constant"
    kl_anneal_fraction: float = 0.4  # share of training over which the KL weight reaches 1
    kl_cycles: int = 4  # cycles of the "cyclical" schedule
    autoencoder_fraction: float = 0.25  # share of training first spent as a plain autoencoder
    # (KL weight 0, Li et al. 2019); the schedule runs over the rest. With free bits at 0.5 it
    # doubles the latent's reconstruction BLEU for 2.4% of bound (docs/seqvae.md)
    bn_gamma: float = 0.0  # BN-VAE (Zhu et al. 2020): posterior means batch-normalised to this
    # fixed scale, which keeps the expected KL of each dimension >= bn_gamma**2 / 2 (0: off)
    free_bits: float = 0.5  # per-dimension KL floor in nats (0 turns it off)
    bag_of_words: float = 0.0  # weight of an auxiliary loss predicting the sentence's tokens,
    # in any order, from z alone (Zhao et al. 2017): makes z carry the words; not in the bound
    iw_samples: int = 100  # k of the importance-weighted bound when evaluating
