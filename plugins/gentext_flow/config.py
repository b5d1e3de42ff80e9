"""Flow configuration."""

from dataclasses import dataclass


@dataclass
class FlowConfig:
    dim: int = 8  # size of each token's continuous vector
    hidden: int = 128  # conditioner width
    layers: int = 8  # coupling layers (alternating channel and position masks)
    coupling: str = "affine"  # "affine" (Real NVP) or "additive" (NICE, volume-preserving)
    max_len: int = 128  # longest sequence the length prior covers, in tokens
    iw_samples: int = 16  # k of the importance-weighted bound when evaluating
