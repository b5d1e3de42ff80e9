"""GPT-2's architecture (Radford et al. 2019), written to export to transformers unchanged:
learned absolute positions, pre-LayerNorm blocks with biases, causal scaled-dot-product
attention, tanh-GELU MLP, a final LayerNorm and an output layer tied to the input embedding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gentext.autoregressive import AutoregressiveModel
from gentext.errors import GentextError
from gentext.model import WHOLE_MODEL, Capabilities, SamplingOptions, Vocab
from gentext_gpt.config import GPTConfig

KVCache = list  # per layer: [keys (B, nh, T_max, hs), values (B, nh, T_max, hs)]


@dataclass
class DecodingState:
    """Where generation stands: the KV cache and the next position, or (without a cache)
    every token so far, which each step feeds again."""

    cache: KVCache | None
    position: int = 0
    tokens: torch.Tensor | None = None


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head, self.dropout = config.n_head, config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, cache: list | None = None, start: int = 0) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = self.c_attn(x).split(width, dim=2)
        # (B, T, C) -> (B, nh, T, hs)
        q, k, v = (t.view(batch, length, self.n_head, width // self.n_head).transpose(1, 2)
                   for t in (q, k, v))
        if cache is not None:
            # write this step's keys and values into the preallocated cache, attend to all so far
            cache[0][:, :, start : start + length] = k
            cache[1][:, :, start : start + length] = v
            k, v = cache[0][:, :, : start + length], cache[1][:, :, : start + length]
        # a single new query sees every cached key, so only the prefill needs the causal mask
        causal = cache is None or length > 1
        if cache is not None and start > 0 and length > 1:
            raise ValueError("extend the cache one token at a time after the prefill")
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=causal, dropout_p=self.dropout if self.training else 0.0
        )
        y = y.transpose(1, 2).contiguous().view(batch, length, width)  # (B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, cache=None, start=0):
        x = x + self.attn(self.ln_1(x), cache, start)
        return x + self.mlp(self.ln_2(x))


class GPT(AutoregressiveModel):
    """Decoder-only Transformer LM; its ``nll`` is exact."""

    capabilities = Capabilities(
        prompt=True, compile=(WHOLE_MODEL,),
        # use_cache=false recomputes the whole prefix each step (the reference for the cache)
        sampling_knobs={"use_cache": True})

    def __init__(self, config: GPTConfig, vocab: Vocab):
        super().__init__(config, vocab)
        if config.n_embd % config.n_head:
            raise GentextError(f"model.n_embd ({config.n_embd}) must be divisible by "
                               f"model.n_head ({config.n_head})")
        multiple = max(1, config.pad_vocab_to)
        self.padded_vocab = math.ceil(vocab.size / multiple) * multiple
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(self.padded_vocab, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList(Block(config) for _ in range(config.n_layer)),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, self.padded_vocab, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied, as GPT-2
        self.apply(self._init_weights)
        # GPT-2: scale the residual projections by 1/sqrt(2 * n_layer)
        for name, parameter in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(parameter, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    @property
    def max_len(self) -> int:
        return self.config.block_size

    def forward(self, tokens: torch.Tensor, cache: KVCache | None = None,
                start: int = 0) -> torch.Tensor:
        """Logits (B, T, V) over the real vocabulary; padded rows can never be predicted."""
        length = tokens.size(1)
        if start + length > self.config.block_size:
            raise ValueError(f"sequence of {start + length} tokens exceeds block_size "
                             f"{self.config.block_size}")
        positions = torch.arange(start, start + length, device=tokens.device)
        x = self.transformer.drop(self.transformer.wte(tokens) + self.transformer.wpe(positions))
        for layer, block in enumerate(self.transformer.h):
            x = block(x, cache[layer] if cache is not None else None, start)
        logits = self.lm_head(self.transformer.ln_f(x))
        if self.padded_vocab > self.vocab.size:
            logits[..., self.vocab.size :] = float("-inf")
        return logits

    def new_cache(self, batch: int, device, dtype) -> KVCache:
        """Preallocated keys and values for ``batch`` sequences of up to block_size tokens."""
        shape = (batch, self.config.n_head, self.config.block_size,
                 self.config.n_embd // self.config.n_head)
        return [[torch.empty(shape, device=device, dtype=dtype) for _ in range(2)]
                for _ in self.transformer.h]

    def start(self, rows: int, context, options: SamplingOptions | None) -> DecodingState | None:
        """No state for teacher forcing; a KV cache for sampling unless asked not to."""
        if options is None:
            return None
        if not options.knobs.get("use_cache", True):
            return DecodingState(cache=None)
        weight = self.transformer.wte.weight
        return DecodingState(self.new_cache(rows, weight.device, weight.dtype))

    def step(self, inputs: torch.Tensor, state: DecodingState | None):
        """Logits after each input; through the cache (one token at a time after the prompt)."""
        if state is None:
            return self(inputs), None
        if state.cache is None:
            state.tokens = inputs if state.tokens is None else torch.cat([state.tokens, inputs], 1)
            return self(state.tokens)[:, -inputs.size(1):], state
        logits = self(inputs, state.cache, state.position)
        state.position += inputs.size(1)
        return logits, state
