"""Flow configuration."""

from dataclasses import dataclass
from typing import ClassVar


@dataclass
class FlowConfig:
    # "contextual": q(z | x) and p(x | z) read their neighbours; "categorical": one learned
    # Gaussian per token, Bayes decoder (Lippe & Gavves 2021); "argmax": contextual q into the
    # token's binary orthant, exact decoder (Hoogeboom et al. 2021); "uniform": binary unit cubes
    dequantization: str = "contextual"
    dim: int = 2  # size of each token's continuous vector (argmax, uniform: ceil(log2 V), set for you)
    hidden: int = 128  # conditioner width
    codec_hidden: int = 128  # width of the contextual dequantiser q(z | x) and decoder p(x | z)
    kernel: int = 3  # positions each conditioner convolution reads (odd)
    dilated: bool = False  # conditioners' convolutions dilated 1, 1, 2, 2, 4, 4, ... by layer, so the last couplings read the whole sentence
    layers: int = 8  # coupling layers (alternating channel and position masks)
    coupling: str = "affine"  # "affine" (Real NVP), "additive" (NICE, volume-preserving) or "spline"
    bins: int = 8  # spline couplings: bins of each rational-quadratic spline
    max_len: int = 288  # longest sequence the length prior covers, in tokens (288 characters keep 99% of Austen)
    nll_samples: int = 16  # k of the importance-weighted bound when evaluating

    RENAMED_KEYS: ClassVar[dict] = {"iw_samples": "nll_samples"}  # as mdlm and gentext eval say it
    # with the value it always has now (a run saved before still loads) and why it went
    REMOVED_KEYS: ClassVar[dict] = {
        "kl_warmup": (0.0, "in 0.2 (docs/flow.md, 'What was tried', shows it did not help)")}
