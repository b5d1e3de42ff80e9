"""GPT-2's architecture (Radford et al. 2019), written to export to transformers unchanged:
learned absolute positions, pre-LayerNorm blocks with biases (``gentext.models.transformer``, causal),
a final LayerNorm and an output layer tied to the input embedding.

The default recipe (``model.arch = "modern"``, a preset of seven keys) swaps in the pieces of
the modded-nanogpt speedrun (Jordan et al. 2024): rotary positions, RMSNorm, QK-norm, a
squared-ReLU MLP, zero-initialised residual projections, and Muon (Jordan et al. 2024;
``gentext.models.optim.Muon``) for the hidden matrices, the fused query-key-value weight as its
three matrices (the speedrun's untied output layer is ``model.tied_head = false``).
docs/speed.md measures each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from gentext.api import (
    WHOLE_MODEL, AutoregressiveModel, Capabilities, SamplingOptions, Vocab, check_stack_config,
    init_gpt2_weights, norm_layer, register_rotary_tables, stack_blocks, zero_init_projections,
)
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
        prompt=True, windows=True,
        # use_cache=false recomputes the whole prefix each step (the reference for the cache)
        sampling_knobs={"use_cache": True})
    compiled_modules = (WHOLE_MODEL,)
    fsdp_units = ("transformer.h",)

    def __init__(self, config: GPTConfig, vocab: Vocab):
        super().__init__(config, vocab)
        check_stack_config(config)
        multiple = max(1, config.pad_vocab_to)
        self.padded_vocab = math.ceil(vocab.size / multiple) * multiple
        layers = dict(wte=nn.Embedding(self.padded_vocab, config.n_embd))
        if config.positions == "learned":
            layers["wpe"] = nn.Embedding(config.max_len, config.n_embd)
        else:  # turned inside attention
            register_rotary_tables(self, config.max_len, config.n_embd // config.n_head)
        self.transformer = nn.ModuleDict(dict(
            **layers,
            drop=nn.Dropout(config.dropout),
            h=stack_blocks(config, causal=True),
            ln_f=norm_layer(config.norm, config.n_embd, config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, self.padded_vocab, bias=False)
        if config.tied_head:
            self.lm_head.weight = self.transformer.wte.weight  # tied, as GPT-2
        init_gpt2_weights(self, config.n_layer)
        if config.zero_init:  # each block starts as the identity (modded-nanogpt)
            zero_init_projections(self.transformer.h)
            if not config.tied_head:
                nn.init.zeros_(self.lm_head.weight)

    @property
    def max_len(self) -> int:
        return self.config.max_len

    def forward(self, tokens: torch.Tensor, cache: KVCache | None = None,
                start: int = 0, features: bool = False) -> torch.Tensor:
        """Logits (B, T, V) over the real vocabulary (padded rows can never be predicted), or
        with ``features`` the states the output layer reads (B, T, n_embd)."""
        length = tokens.size(1)
        if start + length > self.config.max_len:
            raise ValueError(f"sequence of {start + length} tokens exceeds max_len "
                             f"{self.config.max_len}")
        x = self.transformer.wte(tokens)
        rotary = None
        if "wpe" in self.transformer:
            x = x + self.transformer.wpe(torch.arange(start, start + length, device=tokens.device))
        else:
            rotary = (self.rotary_cos, self.rotary_sin)
        x = self.transformer.drop(x)
        for layer, block in enumerate(self.transformer.h):
            x = block(x, cache[layer] if cache is not None else None, start, rotary=rotary)
        if features:
            return self.transformer.ln_f(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        if self.padded_vocab > self.vocab.size:
            logits[..., self.vocab.size :] = float("-inf")
        return logits

    def make_optimizers(self, train, fused: bool = False) -> dict[str, torch.optim.Optimizer]:
        """AdamW over everything (GPT-2), or Muon for the blocks' matrices and AdamW for the
        embeddings, the output layer and the gains (Muon orthogonalises a matrix's update,
        which suits hidden layers, not lookups)."""
        if self.config.optimizer == "adamw":
            return super().make_optimizers(train, fused)
        from gentext.api import muon_for_blocks

        return {"model": muon_for_blocks(self.parameters(), self.transformer.h, train, fused)}

    def new_cache(self, batch: int, device, dtype) -> KVCache:
        """Preallocated keys and values for ``batch`` sequences of up to max_len tokens."""
        shape = (batch, self.config.n_head, self.config.max_len,
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
