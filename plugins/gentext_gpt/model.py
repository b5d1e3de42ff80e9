"""GPT-2's architecture (Radford et al. 2019), written to export to transformers unchanged:
learned absolute positions, pre-LayerNorm blocks with biases (``gentext.transformer``, causal),
a final LayerNorm and an output layer tied to the input embedding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from gentext.autoregressive import AutoregressiveModel
from gentext.errors import GentextError
from gentext.model import WHOLE_MODEL, Capabilities, SamplingOptions, Vocab
from gentext.transformer import Block, init_gpt2_weights
from gentext_gpt.config import GPTConfig

KVCache = list  # per layer: [keys (B, nh, T_max, hs), values (B, nh, T_max, hs)]


@dataclass
class DecodingState:
    """Where generation stands: the KV cache and the next position, or (without a cache)
    every token so far, which each step feeds again."""

    cache: KVCache | None
    position: int = 0
    tokens: torch.Tensor | None = None


class GPT(AutoregressiveModel):
    """Decoder-only Transformer LM; its ``nll`` is exact."""

    capabilities = Capabilities(
        prompt=True, compile=(WHOLE_MODEL,), windows=True,
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
            h=nn.ModuleList(Block(config.n_embd, config.n_head, config.dropout, config.bias)
                            for _ in range(config.n_layer)),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, self.padded_vocab, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied, as GPT-2
        init_gpt2_weights(self, config.n_layer)

    @property
    def max_len(self) -> int:
        return self.config.block_size

    def forward(self, tokens: torch.Tensor, cache: KVCache | None = None,
                start: int = 0, features: bool = False) -> torch.Tensor:
        """Logits (B, T, V) over the real vocabulary (padded rows can never be predicted), or
        with ``features`` the states the output layer reads (B, T, n_embd)."""
        length = tokens.size(1)
        if start + length > self.config.block_size:
            raise ValueError(f"sequence of {start + length} tokens exceeds block_size "
                             f"{self.config.block_size}")
        positions = torch.arange(start, start + length, device=tokens.device)
        x = self.transformer.drop(self.transformer.wte(tokens) + self.transformer.wpe(positions))
        for layer, block in enumerate(self.transformer.h):
            x = block(x, cache[layer] if cache is not None else None, start)
        if features:
            return self.transformer.ln_f(x)
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

    def output_features(self, inputs: torch.Tensor, context=None):
        """Teacher forcing through the (compiled) forward up to the tied output layer."""
        return self(inputs, features=True), self.lm_head.weight, self.vocab.size

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
