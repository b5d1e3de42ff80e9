"""GPT configuration. Defaults are sized to train on the default corpus in minutes on a CPU."""

from dataclasses import dataclass


@dataclass
class GPTConfig:
    n_layer: int = 4  # Transformer blocks
    n_head: int = 4  # attention heads; n_embd must divide by it
    n_embd: int = 256  # width of the residual stream
    block_size: int = 128  # longest sequence (positions), <bos> and <eos> included
    dropout: float = 0.1  # on embeddings, attention weights, residual branches
    bias: bool = True  # biases in Linear and LayerNorm, as GPT-2
    pad_vocab_to: int = 64  # pad the embedding rows to a multiple of this (faster matmuls)
