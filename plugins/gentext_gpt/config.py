"""GPT configuration. Defaults are sized to train on the default corpus in minutes on a CPU.

``arch`` picks a recipe; each of its pieces is a key of its own, left unset (none) to take the
recipe's value, or set to measure one piece's effect (``--set model.qk_norm=false``).
"""

from dataclasses import dataclass

ARCHS = {
    # GPT-2 exactly (Radford et al. 2019): what exports to transformers' GPT2LMHeadModel
    "gpt2": dict(positions="learned", norm="layernorm", qk_norm=False, activation="gelu",
                 tied_head=True, zero_init=False, optimizer="adamw"),
    # the modded-nanogpt speedrun's pieces, measured one by one in docs/speed.md; its untied
    # output layer is left out: tied, this small model gets there in 0.78x the time
    "modern": dict(positions="rotary", norm="rmsnorm", qk_norm=True, activation="relu2",
                   tied_head=True, zero_init=True, optimizer="muon"),
}
RECIPE_KEYS = tuple(ARCHS["gpt2"])


@dataclass
class GPTConfig:
    n_layer: int = 4  # Transformer blocks
    n_head: int = 4  # attention heads; n_embd must divide by it
    n_embd: int = 256  # width of the residual stream
    block_size: int = 128  # longest sequence (positions), <bos> and <eos> included
    dropout: float = 0.1  # on embeddings, attention weights, residual branches
    bias: bool = True  # biases in Linear and LayerNorm, as GPT-2
    pad_vocab_to: int = 64  # pad the embedding rows to a multiple of this (faster matmuls)
    arch: str = "modern"  # recipe: "modern" (faster to a given loss) or "gpt2" (GPT-2 exactly; exports to transformers)
    positions: str | None = None  # "learned" (GPT-2) or "rotary" (RoPE); none: as arch
    norm: str | None = None  # "layernorm" (GPT-2) or "rmsnorm"; none: as arch
    qk_norm: bool | None = None  # RMS-normalise queries and keys per head; none: as arch
    activation: str | None = None  # MLP: "gelu" (GPT-2, tanh) or "relu2" (squared ReLU); none: as arch
    tied_head: bool | None = None  # output layer shares the input embedding (GPT-2); none: as arch
    zero_init: bool | None = None  # residual projections (and an untied head) start at zero; none: as arch
    optimizer: str | None = None  # "adamw", or "muon" for hidden matrices (AdamW for the rest); none: as arch

    def recipe(self, key: str):
        """A recipe key's value: as set, else as ``arch`` says."""
        value = getattr(self, key)
        return ARCHS[self.arch][key] if value is None else value

    def unlike_gpt2(self) -> dict:
        """The pieces of the computed function that are not GPT-2's, with their values (the
        optimizer is left out: it changes training, not the function)."""
        return {key: self.recipe(key) for key in RECIPE_KEYS
                if key != "optimizer" and self.recipe(key) != ARCHS["gpt2"][key]}
