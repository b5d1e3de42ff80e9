"""Tokenizers (HF ``tokenizers``): byte-level BPE trained on the training split, characters,
or whitespace-separated words (the most frequent ``vocab_size``, the rest ``<unk>``), trained
once per (content, kind, size) and cached; or a pretrained one (``hf:NAME``, a hub id or a
folder in hub layout, or the path of a ``tokenizer.json``), shared across families.

A vocabulary names its special tokens by role, not by fixed id: ``pad``, ``bos``, ``eos``,
``unk`` and ``mask``, read from the tokenizer's own files (``tokenizer_config.json``, then
``special_tokens_map.json``, then the usual names among its special tokens). A role the
tokenizer lacks is lent by another, so no id moves and no pretrained embedding changes:
``bos`` by ``eos`` (GPT-2's ``<|endoftext|>`` is both), ``pad`` by ``eos`` (padding is masked
by length and never read), and ``unk`` by ``eos`` (a byte-level tokenizer never produces an
unknown token). Only ``eos`` is required. gentext's own tokenizers hold ``<pad>``, ``<bos>``,
``<eos>``, ``<unk>`` first. Examples are wrapped as ``<bos>`` text ``<eos>`` by the data
pipeline, not here. A tokenizer is saved as ``tokenizer.json`` with its roles beside it in
``tokenizer_config.json``, so a run folder is also a tokenizer folder transformers reads.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from gentext.errors import GentextError

ROLES = ("pad", "bos", "eos", "unk", "mask")
GENTEXT_SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")  # what gentext's own tokenizers start with
TOKENIZER_KINDS = ("bpe", "char", "word")
MIN_BPE_VOCAB = 256 + len(GENTEXT_SPECIALS)  # every byte, plus the specials
TOKENIZER_FILE, ROLES_FILE, SPECIALS_MAP_FILE = ("tokenizer.json", "tokenizer_config.json",
                                                 "special_tokens_map.json")
# The usual names of each role among a tokenizer's special tokens, when no file names them.
USUAL_NAMES = {
    "pad": ("<pad>", "[PAD]", "<|pad|>", "<|padding|>"),
    "bos": ("<bos>", "<s>", "[CLS]", "<|begin_of_text|>", "<|endoftext|>"),
    "eos": ("<eos>", "</s>", "[SEP]", "<|end_of_text|>", "<|endoftext|>"),
    "unk": ("<unk>", "[UNK]", "<|unk|>"),
    "mask": ("<mask>", "[MASK]", "<|mask|>"),
}
LENT_BY = {"bos": "eos", "pad": "eos", "unk": "eos"}  # a missing role, and which role lends it


def cache_dir() -> Path:
    """Where trained tokenizers are kept ($GENTEXT_CACHE, default ~/.cache/gentext)."""
    root = os.environ.get("GENTEXT_CACHE") or Path.home() / ".cache" / "gentext"
    return Path(root) / "tokenizers"


def _token_text(value) -> str | None:
    """A special token as ``tokenizer_config.json`` writes it: a string or an AddedToken dict."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) and value else None


def _files_beside(folder: Path) -> list[dict]:
    """``tokenizer_config.json`` and ``special_tokens_map.json`` of ``folder``, those that are
    there, in that order (the first wins where both name a role)."""
    tables = []
    for name in (ROLES_FILE, SPECIALS_MAP_FILE):
        path = folder / name
        if not path.is_file():
            continue
        try:
            table = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise GentextError(f"{str(path)!r} is not valid JSON: {exc}") from exc
        tables.append(table if isinstance(table, dict) else {})
    return tables


def _roles_in(tables: list[dict]) -> dict[str, str]:
    """The roles the tables name, the first table winning."""
    found: dict[str, str] = {}
    for table in tables:
        for role in ROLES:
            token = _token_text(table.get(f"{role}_token"))
            if token is not None:
                found.setdefault(role, token)
    return found


def _roles_by_usual_names(tokenizer: Tokenizer) -> dict[str, str]:
    """Roles recognised by name among the tokenizer's added special tokens."""
    specials = {t.content for t in tokenizer.get_added_tokens_decoder().values() if t.special}
    specials |= {n for n in GENTEXT_SPECIALS if tokenizer.token_to_id(n) is not None}  # char
    found = {}
    for role, names in USUAL_NAMES.items():
        name = next((n for n in names if n in specials), None)
        if name is not None:
            found[role] = name
    return found


class TextTokenizer:
    """A tokenizer that knows its special tokens by role and names itself in reports.

    ``roles`` maps a role to its token's text (None: read by usual names); ``source`` is what
    ``data.tokenizer`` said for a pretrained tokenizer ("" for one gentext trained)."""

    def __init__(self, tokenizer: Tokenizer, roles: dict[str, str] | None = None,
                 source: str = ""):
        self.tokenizer, self.source = tokenizer, source
        named = {**_roles_by_usual_names(tokenizer), **(roles or {})}
        self.role_ids: dict[str, int] = {}
        for role, token in named.items():
            token_id = tokenizer.token_to_id(token)
            if token_id is None:
                raise GentextError(f"the tokenizer names {token!r} as its {role} token, but "
                                   "its vocabulary has no such token")
            self.role_ids[role] = token_id
        if "eos" not in self.role_ids:
            raise GentextError("the tokenizer names no end-of-text token: give it an eos_token "
                               f"in {ROLES_FILE} (e.g. \"eos_token\": \"</s>\")")
        self.lent = tuple(role for role in LENT_BY if role not in self.role_ids)

    def _role(self, role: str) -> int:
        return self.role_ids.get(role, self.role_ids.get(LENT_BY.get(role, "eos")))

    @property
    def pad_id(self) -> int:
        return self._role("pad")

    @property
    def bos_id(self) -> int:
        return self._role("bos")

    @property
    def eos_id(self) -> int:
        return self.role_ids["eos"]

    @property
    def unk_id(self) -> int:
        """The unknown token, or (for a tokenizer that never produces one) its eos."""
        return self._role("unk")

    @property
    def mask_id(self) -> int | None:
        """The tokenizer's own mask token, if it has one (a family may add its own instead)."""
        return self.role_ids.get("mask")

    @property
    def special_ids(self) -> frozenset[int]:
        """Every id holding a role: never printed in decoded text."""
        return frozenset(self.role_ids.values())

    @property
    def kind(self) -> str:
        """bpe, char or word for a tokenizer gentext trained; "hf" for a pretrained one."""
        if self.source:
            return "hf"
        if not isinstance(self.tokenizer.model, models.WordLevel):
            return "bpe"
        return "word" if isinstance(self.tokenizer.pre_tokenizer, pre_tokenizers.WhitespaceSplit) else "char"

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    @property
    def name(self) -> str:
        """How perplexity figures name their tokenizer, e.g. "byte-level BPE, 4096 tokens"."""
        if self.source:
            return f"{self.source.removeprefix('hf:')} ({self._model_label()}), {self.vocab_size} tokens"
        label = {"char": "characters", "word": "words", "bpe": "byte-level BPE"}[self.kind]
        return f"{label}, {self.vocab_size} tokens"

    def _model_label(self) -> str:
        model = type(self.tokenizer.model).__name__
        if model == "BPE" and isinstance(self.tokenizer.pre_tokenizer, pre_tokenizers.ByteLevel):
            return "byte-level BPE"
        return {"WordLevel": "words", "WordPiece": "WordPiece", "Unigram": "Unigram"}.get(model, model)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def unknown_pieces(self, text: str) -> list[str]:
        """The words (or characters) of ``text`` this tokenizer cannot represent: each encodes
        as ``<unk>``, which decodes to nothing. Byte-level BPE represents everything."""
        unk = self.role_ids.get("unk")
        if unk is None:
            return []
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        return [text[start:end] for token, (start, end) in zip(encoding.ids, encoding.offsets)
                if token == unk]

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
        specials = self.special_ids
        return self.tokenizer.decode([i for i in ids if i not in specials],
                                     skip_special_tokens=True)

    def roles_table(self) -> dict:
        """The roles as ``tokenizer_config.json`` holds them (transformers reads this file)."""
        content = lambda i: self.tokenizer.id_to_token(i)  # noqa: E731
        table = {f"{role}_token": content(i) for role, i in self.role_ids.items()}
        table["tokenizer_class"] = "PreTrainedTokenizerFast"
        if self.source:
            table["gentext_source"] = self.source
        return table

    def save(self, path: Path) -> None:
        """Write the tokenizer to ``path`` and its roles to ``tokenizer_config.json`` beside it."""
        path = Path(path)
        self.tokenizer.save(str(path))
        (path.parent / ROLES_FILE).write_text(json.dumps(self.roles_table(), indent=2) + "\n",
                                              encoding="utf-8")

    @classmethod
    def load(cls, path: Path, source: str | None = None) -> "TextTokenizer":
        """A tokenizer from a ``tokenizer.json`` (its roles read from the files beside it) or
        a folder in hub layout."""
        path = Path(path)
        folder, file = (path, path / TOKENIZER_FILE) if path.is_dir() else (path.parent, path)
        tables = _files_beside(folder) if file.name == TOKENIZER_FILE else []
        roles = _roles_in(tables)
        if source is None:  # what data.tokenizer said, as the run saved it
            source = str(tables[0].get("gentext_source", "")) if tables else ""
        if not file.is_file() and path.is_dir():
            return cls(_converted(folder), roles, source)
        try:
            tokenizer = Tokenizer.from_file(str(file))
        except Exception as exc:  # noqa: BLE001 - the Rust side raises a bare Exception
            raise GentextError(f"{str(file)!r} is not a readable tokenizer: {exc}") from exc
        return cls(tokenizer, roles, source)


def _converted(folder: Path) -> Tokenizer:
    """A folder's tokenizer without a ``tokenizer.json`` (GPT-2's vocab.json and merges.txt),
    converted by transformers to the fast form."""
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True,
                                             use_fast=True).backend_tokenizer
    except Exception as exc:  # noqa: BLE001 - whatever is missing, it is one message
        raise GentextError(f"{str(folder)!r} holds no tokenizer gentext can read (no "
                           f"{TOKENIZER_FILE}, and transformers could not build one: "
                           f"{type(exc).__name__})") from exc


def pretrained_tokenizer(spec: str) -> TextTokenizer:
    """``hf:NAME`` (a hub id or a folder in hub layout) or the path of a ``tokenizer.json``."""
    from gentext.data import hub

    name = hub.hub_name(spec)
    if name is None:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise GentextError(f"data.tokenizer {spec!r} is not bpe, char, word, hf:NAME or the "
                               "path of a tokenizer.json")
        return TextTokenizer.load(path, source=spec)
    folder = hub.hub_model_folder(name, files=("tokenizer*.json", SPECIALS_MAP_FILE, "vocab.json",
                                           "merges.txt", "config.json"))
    return TextTokenizer.load(folder, source=spec)


def make_tokenizer(spec: str, texts: list[str], vocab_size: int = 4096) -> TextTokenizer:
    """What ``data.tokenizer`` names: trained on ``texts`` (bpe, char, word; cached), or a
    pretrained one, which ignores ``texts`` and ``vocab_size``."""
    if spec in TOKENIZER_KINDS:
        return train_tokenizer(texts, spec, vocab_size)
    return pretrained_tokenizer(spec)


def _train_bpe(texts: list[str], vocab_size: int) -> Tokenizer:
    if vocab_size < MIN_BPE_VOCAB:
        raise GentextError(f"data.vocab_size must be at least {MIN_BPE_VOCAB} for BPE, got {vocab_size}")
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(GENTEXT_SPECIALS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def _train_char(texts: list[str]) -> Tokenizer:
    characters = sorted(set("".join(texts)))
    vocab = {token: i for i, token in enumerate(GENTEXT_SPECIALS)}
    for character in characters:
        vocab.setdefault(character, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("(?m)."), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    return tokenizer


def _train_word(texts: list[str], vocab_size: int) -> Tokenizer:
    if vocab_size <= len(GENTEXT_SPECIALS):
        raise GentextError(f"data.vocab_size must be above {len(GENTEXT_SPECIALS)} for words, got {vocab_size}")
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=list(GENTEXT_SPECIALS),
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
            return TextTokenizer(Tokenizer.from_file(str(cached)))
        except Exception:  # noqa: BLE001 - a damaged entry (any error) is simply retrained
            cached.unlink(missing_ok=True)
    trained = {"bpe": lambda: _train_bpe(texts, vocab_size), "char": lambda: _train_char(texts),
               "word": lambda: _train_word(texts, vocab_size)}[kind]()
    tokenizer = TextTokenizer(trained)
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    trained.save(str(partial))  # the roles are gentext's usual names: no file beside it
    os.replace(partial, cached)
    return tokenizer
