"""Masked-diffusion configuration. Defaults are gpt's shape, so the two compare at equal size."""

from dataclasses import dataclass


@dataclass
class MDLMConfig:
    n_layer: int = 4  # Transformer blocks (gpt's, with bidirectional attention)
    n_head: int = 4  # attention heads; n_embd must divide by it
    n_embd: int = 256  # width of the residual stream
    positions: str = "rotary"  # "rotary" (RoPE in every attention, as MDLM's DiT) or "learned" (gpt's)
    conv_width: int = 3  # a convolution over the embeddings: each position sees this many neighbours' tokens before attention (odd; 0: none)
    max_len: int = 128  # longest sequence (positions), <bos> and <eos> included
    dropout: float = 0.0  # on embeddings, attention, residuals (off: better and faster at a CPU budget, docs/mdlm.md)
    bias: bool = True  # biases in Linear and LayerNorm, as gpt
    schedule: str = "loglinear"  # masking schedule: "loglinear" (alpha_t = 1 - t) or "cosine"
    estimator: str = "count"  # draw how many tokens are masked ("count") or the time t ("time")
    antithetic: bool = True  # spread each batch's t evenly over (0, 1] (low-discrepancy draws)
    importance_t: bool = False  # estimator "time": training too draws t = u^2 weighted by 2 sqrt t (evaluation always)
    nll_samples: int = 16  # K: draws of t per sentence that gentext eval averages the bound over
    sampling_steps: int = 64  # S: denoising steps of a sample (gentext sample --steps)
