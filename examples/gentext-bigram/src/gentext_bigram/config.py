"""The bigram model's settings: a dataclass with a default for every field."""

from dataclasses import dataclass


@dataclass
class BigramConfig:
    uniform_start: bool = True  # start from uniform next-token probabilities (else random logits)
