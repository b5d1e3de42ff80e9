"""Tokenizers (HF ``tokenizers``): byte-level BPE trained on the training split, characters,
or whitespace-separated words (the most frequent ``vocab_size``, the rest ``<unk>``). Trained
once per (content, kind, size) and cached; saved as ``tokenizer.json``.

Special tokens come first and are the same for every kind: ``<pad>``=0, ``<bos>``=1, ``<eos>``=2,
``<unk>``=3. Examples are wrapped as ``<bos>`` text ``<eos>`` by the data pipeline, not here.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from gentext.errors import GentextError

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(len(SPECIAL_TOKENS))
TOKENIZER_KINDS = ("bpe", "char", "word")
MIN_BPE_VOCAB = 256 + len(SPECIAL_TOKENS)  # every byte, plus the specials


def cache_dir() -> Path:
    """Where trained tokenizers are kept ($GENTEXT_CACHE, default ~/.cache/gentext)."""
    root = os.environ.get("GENTEXT_CACHE") or Path.home() / ".cache" / "gentext"
    return Path(root) / "tokenizers"


class TextTokenizer:
    """A thin wrapper that knows gentext's special tokens and names itself in reports."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        for token_id, token in enumerate(SPECIAL_TOKENS):
            if tokenizer.token_to_id(token) != token_id:
                raise GentextError(f"tokenizer is not a gentext tokenizer: {token} is not id {token_id}")

    pad_id, bos_id, eos_id, unk_id = PAD_ID, BOS_ID, EOS_ID, UNK_ID

    @property
    def kind(self) -> str:
        if not isinstance(self.tokenizer.model, models.WordLevel):
            return "bpe"
        return "word" if isinstance(self.tokenizer.pre_tokenizer, pre_tokenizers.WhitespaceSplit) else "char"

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    @property
    def name(self) -> str:
        """How perplexity figures name their tokenizer, e.g. "byte-level BPE, 4096 tokens"."""
        label = {"char": "characters", "word": "words", "bpe": "byte-level BPE"}[self.kind]
        return f"{label}, {self.vocab_size} tokens"

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def unknown_pieces(self, text: str) -> list[str]:
        """The words (or characters) of ``text`` this tokenizer cannot represent: each encodes
        as ``<unk>``, which decodes to nothing. Byte-level BPE represents everything."""
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        return [text[start:end] for token, (start, end) in zip(encoding.ids, encoding.offsets)
                if token == UNK_ID]

    def unknown_warning(self, text: str, what: str = "the prompt") -> str | None:
        """One line naming what of ``text`` is lost to ``<unk>``, or None when nothing is."""
        unknown = list(dict.fromkeys(self.unknown_pieces(text)))
        if not unknown:
            return None
        shown = ", ".join(repr(piece) for piece in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        return (f"{what} has {len(unknown)} {'word' if self.kind == 'word' else 'character'}"
                f"{'s' if len(unknown) > 1 else ''} the run's tokenizer ({self.name}) cannot "
                f"represent: {shown}; each became <unk>, which the model reads as an unknown "
                "token and which prints as nothing")

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode([i for i in ids if i >= len(SPECIAL_TOKENS)],
                                     skip_special_tokens=True)

    def save(self, path: Path) -> None:
        self.tokenizer.save(str(path))

    @classmethod
    def load(cls, path: Path) -> "TextTokenizer":
        try:
            return cls(Tokenizer.from_file(str(path)))
        except Exception as exc:  # noqa: BLE001 - the Rust side raises a bare Exception
            raise GentextError(f"{str(path)!r} is not a readable tokenizer: {exc}") from exc


def _train_bpe(texts: list[str], vocab_size: int) -> Tokenizer:
    if vocab_size < MIN_BPE_VOCAB:
        raise GentextError(f"data.vocab_size must be at least {MIN_BPE_VOCAB} for BPE, got {vocab_size}")
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def _train_char(texts: list[str]) -> Tokenizer:
    characters = sorted(set("".join(texts)))
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for character in characters:
        vocab.setdefault(character, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("(?m)."), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    return tokenizer


def _train_word(texts: list[str], vocab_size: int) -> Tokenizer:
    if vocab_size <= len(SPECIAL_TOKENS):
        raise GentextError(f"data.vocab_size must be above {len(SPECIAL_TOKENS)} for words, got {vocab_size}")
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                        show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def train_tokenizer(texts: list[str], kind: str = "bpe", vocab_size: int = 4096) -> TextTokenizer:
    """Train (or fetch from the cache) a tokenizer on ``texts``."""
    if kind not in TOKENIZER_KINDS:
        raise GentextError(f"unknown tokenizer {kind!r}; choose one of {', '.join(TOKENIZER_KINDS)}")
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8") + b"\n")
    size_tag = "all" if kind == "char" else vocab_size
    cached = cache_dir() / f"{kind}-{size_tag}-{digest.hexdigest()[:32]}.json"
    if cached.is_file():
        try:
            return TextTokenizer.load(cached)
        except GentextError:
            cached.unlink(missing_ok=True)  # a damaged cache entry is simply retrained
    trained = {"bpe": lambda: _train_bpe(texts, vocab_size), "char": lambda: _train_char(texts),
               "word": lambda: _train_word(texts, vocab_size)}[kind]()
    tokenizer = TextTokenizer(trained)
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    tokenizer.save(partial)
    os.replace(partial, cached)
    return tokenizer
