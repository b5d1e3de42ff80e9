"""The bigram model's settings: a dataclass with a default for every field."""

from dataclasses import dataclass


@dataclass
class BigramConfig:
    smoothing: float = 0.0  # label smoothing of the training loss (0: plain maximum likelihood)
