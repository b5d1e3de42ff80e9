"""Text-GAN configuration; defaults train on the default corpus on a 2-core CPU in minutes."""

from dataclasses import dataclass


@dataclass
class SeqGANConfig:
    # generator: an LSTM language model (SeqGAN, Yu et al. 2017)
    embedding_dim: int = 128
    hidden_dim: int = 384
    dropout: float = 0.1  # on the generator's embeddings and outputs
    # discriminator: a CNN over (relaxed) one-hots, max-pooled over time, highway, dropout
    disc_embedding_dim: int = 64
    disc_min_width: int = 2  # filter widths run from this ...
    disc_max_width: int = 5  # ... to this, in tokens
    disc_filters: int = 64  # feature maps per filter width
    disc_dropout: float = 0.25
    # training: MLE pre-training first, then adversarial steps until train.steps
    pretrain_steps: int = 1500  # the first steps are MLE; the rest of train.steps adversarial
    estimator: str = "gumbel"  # "gumbel" (back-propagate through Gumbel-softmax) or "reinforce"
    loss: str = "rsgan"  # "rsgan" (relativistic standard, RelGAN's) or "standard" (non-saturating)
    max_inverse_temperature: float = 100.0  # Gumbel-softmax beta grows exponentially to this (RelGAN)
    straight_through: bool = False  # hard one-hots forward, soft gradients backward
    generator_lr: float = 1e-4  # adversarial phase, constant (RelGAN); pre-training uses train.lr
    discriminator_lr: float = 1e-4
    discriminator_steps: int = 1  # discriminator updates per generator update
    max_generated_len: int = 64  # adversarial samples run until <eos> or this many tokens
    adversarial_batch_size: int = 32  # real and generated sentences per adversarial step
    rollouts: int = 4  # Monte-Carlo roll-outs per position (REINFORCE only)
    # conditional GAN: used when the data has a "label" field
    conditional: bool = True  # condition generator and discriminator on the label
    label_dim: int = 32  # size of the label embedding fed to the generator
    monitor_samples: int = 200  # samples scored for diversity at each validation (0: none)
