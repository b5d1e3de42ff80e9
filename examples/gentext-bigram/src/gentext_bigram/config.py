"""The bigram model's settings: a dataclass with a default for every field. Its fields
are the [model] section of a run's config.toml; `--set model.uniform_start=false` sets one."""

from dataclasses import dataclass


@dataclass
class BigramConfig:
    uniform_start: bool = True  # start from uniform next-token probabilities (else random logits)
