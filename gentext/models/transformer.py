"""Transformer blocks as GPT-2 writes them (Radford et al. 2019), shared by the families that
stack them: pre-LayerNorm, multi-head scaled-dot-product attention, a tanh-GELU MLP, biases.

The pieces later recipes changed are switchable, each on its own so its effect can be
measured: RMSNorm for LayerNorm (Zhang & Sennrich 2019), rotary positions (RoPE, Su et al.
2021), queries and keys RMS-normalised per head (QK-norm, Dehghani et al. 2023; Wortsman et al.
2023), and a squared-ReLU MLP (Primer, So et al. 2021), as the modded-nanogpt speedrun uses them.

Attention is causal for a left-to-right model (gpt) and bidirectional for a denoiser that
reads the whole sequence (mdlm); the parameter names are GPT-2's (``c_attn``, ``c_proj``,
``ln_1``, ...), so a causal stack exports to transformers unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gentext.errors import GentextError


def rotary_tables(length: int, head_width: int, device, base: float = 10000.0):
    """cos and sin tables (length, head_width / 2) of rotary position embeddings (RoPE, Su et
    al. 2021): pair j of a head's channels turns by angle position * base^(-2j / head_width)."""
    frequencies = base ** (-torch.arange(0, head_width, 2, device=device, dtype=torch.float32)
                           / head_width)
    angles = torch.arange(length, device=device, dtype=torch.float32)[:, None] * frequencies
    return angles.cos(), angles.sin()


def register_rotary_tables(module: nn.Module, length: int, head_width: int) -> None:
    """``module.rotary_cos`` and ``module.rotary_sin`` for ``length`` positions, made once (not
    per call: sampling calls a model many times), moved with the module, never saved."""
    cos, sin = rotary_tables(length, head_width, "cpu")
    module.register_buffer("rotary_cos", cos, persistent=False)
    module.register_buffer("rotary_sin", sin, persistent=False)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Queries or keys (B, nh, T, hs) turned by their positions' angles: after it, a query's
    dot product with a key depends on their offset, not on where they sit (RoPE)."""
    first, second = x.float().chunk(2, dim=-1)
    turned = torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)
    return turned.type_as(x)


class SelfAttention(nn.Module):
    """Multi-head self-attention; causal or not, with an optional preallocated KV cache (causal
    decoding) or a key mask (bidirectional: padding is never attended to), and optionally
    rotary positions (the caller passes ``rotary_tables`` to forward)."""

    def __init__(self, width: int, heads: int, dropout: float, bias: bool, causal: bool,
                 qk_norm: bool = False):
        super().__init__()
        self.n_head, self.dropout, self.causal, self.qk_norm = heads, dropout, causal, qk_norm
        self.c_attn = nn.Linear(width, 3 * width, bias=bias)
        self.c_proj = nn.Linear(width, width, bias=bias)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, cache: list | None = None, start: int = 0,
                key_mask: torch.Tensor | None = None, rotary=None) -> torch.Tensor:
        """``x`` (B, T, C); ``cache`` [keys, values] (B, nh, T_max, hs) written at ``start``;
        ``key_mask`` (B, T) bool, True where a key may be attended to; ``rotary`` (cos, sin)
        tables of at least T positions, or None for none."""
        batch, length, width = x.shape
        q, k, v = self.c_attn(x).split(width, dim=2)
        # (B, T, C) -> (B, nh, T, hs)
        q, k, v = (t.view(batch, length, self.n_head, width // self.n_head).transpose(1, 2)
                   for t in (q, k, v))
        if self.qk_norm:  # bounded attention logits: a higher learning rate stays stable
            q, k = F.rms_norm(q, (q.size(-1),)), F.rms_norm(k, (k.size(-1),))
        if rotary is not None:
            cos, sin = (table[start : start + length] for table in rotary)
            q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        if cache is not None:
            if start > 0 and length > 1:
                raise ValueError("extend the cache one token at a time after the prefill")
            # write this step's keys and values into the preallocated cache, attend to all so far
            cache[0][:, :, start : start + length] = k
            cache[1][:, :, start : start + length] = v
            k, v = cache[0][:, :, : start + length], cache[1][:, :, : start + length]
        # a single new query sees every cached key, so only the prefill needs the causal mask
        causal = self.causal and (cache is None or length > 1)
        mask = None if key_mask is None else key_mask[:, None, None, :]
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal,
            dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(batch, length, width)  # (B, T, C)
        return self.resid_dropout(self.c_proj(y))


ACTIVATIONS = {
    "gelu": lambda x: F.gelu(x, approximate="tanh"),  # GPT-2's
    "relu2": lambda x: F.relu(x).square(),  # Primer's squared ReLU
}
NORMS = ("layernorm", "rmsnorm")


def check_choice(key: str, value: str, choices) -> None:
    """A config value among ``choices``, or a one-line error naming them."""
    if value not in choices:
        raise GentextError(f"{key} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def norm_layer(kind: str, width: int, bias: bool) -> nn.Module:
    """LayerNorm (GPT-2's) or RMSNorm (no centring, no bias), both with a learned gain."""
    check_choice("norm", kind, NORMS)
    return nn.LayerNorm(width, bias=bias) if kind == "layernorm" else nn.RMSNorm(width)


class MLP(nn.Module):
    def __init__(self, width: int, dropout: float, bias: bool, activation: str = "gelu"):
        super().__init__()
        check_choice("activation", activation, ACTIVATIONS)
        self.activation = ACTIVATIONS[activation]
        self.c_fc = nn.Linear(width, 4 * width, bias=bias)
        self.c_proj = nn.Linear(4 * width, width, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.activation(self.c_fc(x))))


class Block(nn.Module):
    """x + attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, width: int, heads: int, dropout: float = 0.0, bias: bool = True,
                 causal: bool = True, norm: str = "layernorm", qk_norm: bool = False,
                 activation: str = "gelu"):
        super().__init__()
        self.ln_1 = norm_layer(norm, width, bias)
        self.attn = SelfAttention(width, heads, dropout, bias, causal, qk_norm)
        self.ln_2 = norm_layer(norm, width, bias)
        self.mlp = MLP(width, dropout, bias, activation)

    def forward(self, x, cache=None, start=0, key_mask=None, rotary=None):
        x = x + self.attn(self.ln_1(x), cache, start, key_mask, rotary)
        return x + self.mlp(self.ln_2(x))


def init_gpt2_weights(model: nn.Module, n_layer: int) -> None:
    """GPT-2's initialisation: N(0, 0.02) weights and embeddings, zero biases, and residual
    projections scaled by 1/sqrt(2 * n_layer) so the residual stream's variance stays put."""
    def normal(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    model.apply(normal)
    for name, parameter in model.named_parameters():
        if name.endswith("c_proj.weight"):
            nn.init.normal_(parameter, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))


def check_stack_config(config) -> None:
    """A ``TransformerConfig``'s shape and recipe keys among their choices, or a one-line error
    naming them."""
    if config.n_embd % config.n_head:
        raise GentextError(f"model.n_embd ({config.n_embd}) must be divisible by "
                           f"model.n_head ({config.n_head})")
    for key, choices in (("positions", ("learned", "rotary")), ("norm", NORMS),
                         ("activation", tuple(ACTIVATIONS)), ("optimizer", ("adamw", "muon"))):
        check_choice(f"model.{key}", getattr(config, key), choices)


def stack_blocks(config, causal: bool) -> nn.ModuleList:
    """``config.n_layer`` blocks as a ``TransformerConfig`` describes them."""
    return nn.ModuleList(Block(config.n_embd, config.n_head, config.dropout, config.bias, causal,
                               norm=config.norm, qk_norm=config.qk_norm,
                               activation=config.activation)
                         for _ in range(config.n_layer))


def zero_init_projections(blocks: nn.ModuleList) -> None:
    """Each block's residual projections at zero, so it starts as the identity (the recipe's
    ``zero_init``, as modded-nanogpt)."""
    for name, parameter in blocks.named_parameters():
        if name.endswith("c_proj.weight"):
            nn.init.zeros_(parameter)
