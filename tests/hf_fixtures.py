"""Stand-ins for what the Hugging Face hub holds, made locally (no test reaches the network):
a GPT-2-style tokenizer (byte-level BPE whose only special token is ``<|endoftext|>``, as
GPT-2's) and a GPT-2-shaped model with random weights saved by ``save_pretrained``."""

from pathlib import Path

END_OF_TEXT = "<|endoftext|>"


def gpt2_style_tokenizer(texts: list[str], vocab_size: int = 320):
    """A ``GPT2TokenizerFast`` trained on ``texts``: byte-level BPE, ``<|endoftext|>`` its only
    special token and its last id, bos, eos and unk at once (GPT-2's tokenizer_config.json)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import GPT2TokenizerFast

    inner = Tokenizer(models.BPE())
    inner.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    inner.decoder = decoders.ByteLevel()
    inner.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - 1, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    inner.train_from_iterator(texts, trainer=trainer)
    inner.add_special_tokens([END_OF_TEXT])
    return GPT2TokenizerFast(tokenizer_object=inner, bos_token=END_OF_TEXT,
                             eos_token=END_OF_TEXT, unk_token=END_OF_TEXT)


def gpt2_style_folder(folder: Path, texts: list[str], *, n_layer: int = 2, n_embd: int = 32,
                      n_head: int = 2, n_positions: int = 64, std: float = 0.2,
                      seed: int = 0) -> Path:
    """A GPT-2-shaped ``GPT2LMHeadModel`` with random weights (wide enough, ``std``, that its
    predictions are far from uniform) and its tokenizer, as ``save_pretrained`` writes them."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = gpt2_style_tokenizer(texts)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=n_positions, n_embd=n_embd,
                        n_layer=n_layer, n_head=n_head, bos_token_id=tokenizer.bos_token_id,
                        eos_token_id=tokenizer.eos_token_id, initializer_range=std)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # biases and norms away from their 0 / 1 start, so each is tested
        for name, parameter in model.named_parameters():
            if name.endswith(("bias", "ln_1.weight", "ln_2.weight", "ln_f.weight")):
                parameter.add_(0.1 * torch.randn_like(parameter))
    folder = Path(folder)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
