"""Masked-diffusion configuration. Defaults are gpt's shape, so the two compare at equal size."""

from dataclasses import dataclass

from gentext.api import TransformerConfig


@dataclass
class MDLMConfig(TransformerConfig):
    """TransformerConfig's keys (gpt's stack and its modern recipe, with bidirectional
    attention; measured for mdlm in docs/mdlm.md), then mdlm's own."""

    dropout: float = 0.0  # on embeddings, attention, residuals (off: better and faster at a CPU budget, docs/mdlm.md)
    conv_width: int = 3  # a convolution over the embeddings: each position sees this many neighbours' tokens before attention (odd; 0: none)
    schedule: str = "loglinear"  # masking schedule: "loglinear" (alpha_t = 1 - t) or "cosine"
    estimator: str = "count"  # draw how many tokens are masked ("count") or the time t ("time")
    antithetic: bool = True  # spread each batch's t evenly over (0, 1] (low-discrepancy draws)
    importance_t: bool = False  # estimator "time": training too draws t = u^2 weighted by 2 sqrt t (evaluation always)
    nll_samples: int = 16  # K: draws of t per sentence that gentext eval averages the bound over
    sampling_steps: int = 64  # S: denoising steps of a sample (gentext sample --option steps=S)
