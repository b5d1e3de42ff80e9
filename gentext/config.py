"""Run configuration: dataclasses with commented defaults, TOML files, ``--set`` overrides.

A run's config has four sections: ``[run]`` (which model), ``[data]``, ``[train]`` and
``[model]`` (the family's own dataclass). Every key and value is checked against the
dataclasses, so a typo is a one-line error naming the key and the valid ones.

A section's dataclass may also declare, as class attributes (not keys), what this module does
with names that are not its fields: ``PRESETS`` (a name that sets several keys at once, as gpt's
``arch``), ``RENAMED_KEYS`` (an old key name: it still works for one minor release, with a
one-line ``GentextDeprecationWarning``) and ``REMOVED_KEYS`` (an old key: a one-line error
saying when and why it went). ``TransformerConfig`` is the shape every family that stacks
``gentext.models.transformer``'s blocks shares.

May import: gentext.errors, gentext.deprecation (the one-line warning of a renamed key)
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from gentext.errors import GentextError


@dataclass
class DataConfig:
    source: str = "austen"  # a registered corpus name, a .txt/.txt.gz/.jsonl file or datasets folder, or hf:NAME (a hub dataset, or a local folder in hub layout)
    hf_config: str = ""  # an hf: dataset's configuration, e.g. "wikitext-2-raw-v1" ("": its default)
    text_column: str = "text"  # the column (a .jsonl field) holding each example's text, renamed "text"
    label_column: str = "label"  # the column holding its label, if any (a conditional model's classes)
    tokenizer: str = "bpe"  # trained on the data: "bpe" (byte-level BPE), "char" or "word" (whitespace-separated); or pretrained: "hf:NAME" (a hub id such as gpt2, or a folder in hub layout) or the path of a tokenizer.json
    vocab_size: int = 4096  # BPE or word vocabulary, special tokens included (ignored by "char" and pretrained tokenizers)
    max_len: int = 128  # longest example in tokens, BOS and EOS included; longer ones are left out
    unit: typing.Literal["example", "document"] = "example"  # "example": one line or record each; "document": running text, cut into windows of max_len tokens
    valid_fraction: float = 0.05  # share of examples held out for validation
    test_fraction: float = 0.05  # share held out for the test split
    split_seed: int = 0  # the split is a fixed function of the data and this seed


@dataclass
class TrainConfig:
    steps: int = 800  # optimizer steps (about 7 minutes for the default gpt on 2 CPU cores)
    max_minutes: float = 0.0  # also stop, as if finished, after this much training time (0: no limit)
    batch_size: int = 64  # examples per optimizer step (the global batch, all processes)
    grad_accum: int = 1  # micro-batches per step: each process holds batch_size / (grad_accum x processes) at once
    micro_batch_tokens: int = 0  # a micro-batch holds at most this many padded positions (rows x longest), the update the same; 0: auto (512 on the CPU, no limit on a GPU); -1: no limit
    lr: float = 2e-3  # peak learning rate
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    warmup_steps: int = 100  # linear warm-up from 0 to lr
    weight_decay: float = 0.1  # AdamW decay on matrices (not on biases, norms, embeddings' positions)
    beta1: float = 0.9  # AdamW's decay of its running mean of gradients
    beta2: float = 0.99  # a little lower than 0.999: steadier for small batches
    grad_clip: float = 1.0  # clip the global gradient norm (0 turns it off)
    eval_every: int = 200  # validate and checkpoint every N steps
    eval_examples: int = 0  # validation examples scored at each evaluation (0: the whole split)
    valid_nll_samples: int = 10  # k of stochastic bounds (IWAE) at validation; exact models ignore it
    log_every: int = 10  # write a metrics.jsonl row every N steps
    seed: int = 0  # model initialisation, data order, dropout
    device: str = "auto"  # "auto" (CUDA, else Apple MPS), "cpu", "cuda", "cuda:N" or "mps"
    precision: str = "auto"  # auto: bf16 where the GPU has it, else fp16; fp32 on CPU/MPS
    compile: bool = True  # torch.compile the model on CUDA (never on the CPU)
    samples: int = 10  # samples written to samples.txt at the end
    log_with: str = ""  # also log to "tensorboard" (RUN/tensorboard) or "wandb" (offline); "": neither
    init: str = ""  # start from this run's weights and tokenizer (e.g. one `gentext import` wrote)


@dataclass
class TransformerConfig:
    """The keys of a stack of ``gentext.models.transformer`` blocks, declared once: the config
    of a family that stacks them builds on this (gpt's and mdlm's do), changing a default
    where it must. The stack's shape, then the recipe: defaults are the modern one (the
    modded-nanogpt speedrun's pieces, measured one by one for gpt in docs/speed.md and for mdlm
    in docs/mdlm.md). A torch-free dataclass, so a family's config module stays light."""

    n_layer: int = 4  # Transformer blocks
    n_head: int = 4  # attention heads; n_embd must divide by it
    n_embd: int = 256  # width of the residual stream
    max_len: int = 128  # longest sequence (positions), <bos> and <eos> included (>= data.max_len)
    dropout: float = 0.1  # on embeddings, attention weights, residual branches
    bias: bool = True  # biases in Linear and LayerNorm, as GPT-2
    positions: str = "rotary"  # "rotary" (RoPE, Su et al. 2021) or "learned" (GPT-2's table)
    norm: str = "rmsnorm"  # "layernorm" (GPT-2) or "rmsnorm"
    qk_norm: bool = True  # RMS-normalise queries and keys per head (GPT-2: false)
    activation: str = "relu2"  # MLP: "gelu" (GPT-2, tanh) or "relu2" (squared ReLU)
    zero_init: bool = True  # residual projections (and an untied head) start at 0 (GPT-2: false)
    optimizer: str = "muon"  # "adamw" (GPT-2), or "muon" for the blocks' matrices (AdamW for the rest)


@dataclass
class RunSection:
    model: str = ""  # the model family, as `gentext models` lists them (always set)


@dataclass
class RunConfig:
    """The whole, resolved configuration of a run."""

    run: RunSection = field(default_factory=RunSection)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    model: typing.Any = None  # the family's config dataclass instance

    def sections(self) -> dict[str, typing.Any]:
        return {"run": self.run, "data": self.data, "train": self.train, "model": self.model}


def _type_name(kind) -> str:
    origin = typing.get_origin(kind)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(kind))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(kind))
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string",
            type(None): "none"}.get(kind, str(kind))


def coerce(value, kind, key: str, from_text: bool):
    """Turn ``value`` (TOML value, or text from --set) into ``kind`` or raise a one-line error
    naming ``key`` (e.g. "config key train.steps")."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(kind):
            try:
                return coerce(value, option, key, from_text)
            except GentextError:
                continue
    elif origin is typing.Literal:
        for option in typing.get_args(kind):
            if value == option or (from_text and str(option) == value):
                return option
    elif kind is type(None):
        if value is None or (from_text and value in ("none", "None", "")):
            return None
    elif kind is bool:
        if isinstance(value, bool):
            return value
        if from_text and value.lower() in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            return value.lower() in ("true", "1", "yes", "on")
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_text:
            try:
                return int(value)
            except ValueError:
                pass
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if from_text:
            try:
                return float(value)
            except ValueError:
                pass
    elif kind is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"config field {key} has an unsupported type {kind!r}")
    raise GentextError(f"{key} expects {_type_name(kind)}, got {value!r}")


def _fields(section) -> dict[str, typing.Any]:
    hints = typing.get_type_hints(type(section))
    return {f.name: hints[f.name] for f in dataclasses.fields(section)}


def _section(config: RunConfig, section_name: str):
    sections = config.sections()
    if section_name not in sections or sections[section_name] is None:
        raise GentextError(
            f"unknown config section [{section_name}]; valid sections: {', '.join(sections)}"
        )
    return sections[section_name]


def _current_name(section, section_name: str, key: str, value, from_text: bool) -> str | None:
    """``key`` as the section spells it now: a renamed key warns and gives its new name; a
    removed key is a one-line error saying why, unless it holds the value the code now always
    has (what a run saved before its removal holds): then it is dropped (None)."""
    renamed = getattr(type(section), "RENAMED_KEYS", {})
    if key in renamed:
        from gentext.deprecation import deprecated

        deprecated(f"config key {section_name}.{key}", f"{section_name}.{renamed[key]}",
                   stacklevel=5)
        return renamed[key]
    removed = getattr(type(section), "REMOVED_KEYS", {})
    if key in removed:
        built_in, why = removed[key]
        try:
            if coerce(value, type(built_in), key, from_text) == built_in:
                return None
        except GentextError:
            pass
        raise GentextError(f"config key {section_name}.{key} was removed {why}; leave it out")
    return key


def _set_preset(section, section_name: str, key: str, value) -> bool:
    """Apply preset ``key`` = ``value`` (every key it names) if ``key`` names a preset."""
    presets = getattr(type(section), "PRESETS", {})
    if key not in presets:
        return False
    choices = presets[key]
    if not isinstance(value, str) or value not in choices:
        raise GentextError(f"{section_name}.{key} must be one of "
                           f"{', '.join(map(repr, choices))}, got {value!r}")
    for name, setting in choices[value].items():
        _set_field(section, section_name, name, setting, from_text=False)
    return True


def _set(config: RunConfig, section_name: str, key: str, value, from_text: bool) -> None:
    section = _section(config, section_name)
    if _set_preset(section, section_name, key, value):
        return
    key = _current_name(section, section_name, key, value, from_text)
    if key is not None:
        _set_field(section, section_name, key, value, from_text)


def _set_field(section, section_name: str, key: str, value, from_text: bool) -> None:
    fields = _fields(section)
    if key not in fields:
        raise GentextError(
            f"unknown config key {section_name}.{key}; valid keys in [{section_name}]: "
            f"{', '.join(fields)}"
        )
    setattr(section, key, coerce(value, fields[key], f"config key {section_name}.{key}",
                                 from_text))


def parse_override(text: str) -> tuple[str, str, str]:
    """Split ``section.key=value`` into its parts."""
    name, sep, value = text.partition("=")
    section, dot, key = name.strip().partition(".")
    if not sep or not dot or not section or not key:
        raise GentextError(f"--set expects section.key=value (e.g. train.steps=100), got {text!r}")
    return section, key, value.strip()


def read_toml(path: Path) -> dict:
    """Read a TOML config file into nested dicts."""
    path = Path(path)
    if not path.is_file():
        raise GentextError(f"config file {str(path)!r} does not exist")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GentextError(f"config file {str(path)!r} is not valid TOML: {exc}") from exc


def model_name_of(table: dict) -> str | None:
    """The model a TOML table names in its [run] section, if any."""
    run = table.get("run", {})
    return run.get("model") if isinstance(run, dict) else None


def _presets_first(config: RunConfig, settings: list[tuple[str, str, typing.Any]]) -> list:
    """``(section, key, value)`` settings of one layer with its presets first, so a key set
    beside a preset wins over it whatever the order they are written in."""
    def is_preset(setting) -> bool:
        section = config.sections().get(setting[0])
        return setting[1] in getattr(type(section), "PRESETS", {})

    return sorted(settings, key=lambda setting: not is_preset(setting))


def build_config(model_name: str, model_config_class: type, table: dict | None = None,
                 overrides: list[str] = (), train_defaults: dict | None = None,
                 data_defaults: dict | None = None) -> RunConfig:
    """Defaults (the family's [train] and [data] preferences over the core's), then a TOML
    table, then ``--set`` overrides, each checked against the schema. Within the table, and
    within the overrides, a preset (gpt's ``model.arch``) goes first: a key set beside it wins."""
    config = RunConfig(run=RunSection(model=model_name), model=model_config_class())
    for section, defaults in (("train", train_defaults), ("data", data_defaults)):
        for key, value in (defaults or {}).items():
            _set(config, section, key, value, from_text=False)
    settings = []
    for section_name, values in (table or {}).items():
        if not isinstance(values, dict):
            raise GentextError(f"config key {section_name!r} must be a [section]; valid: "
                               f"{', '.join(config.sections())}")
        settings += [(section_name, key, value) for key, value in values.items()
                     if (section_name, key) != ("run", "model")]  # chosen before the config
    for section, key, value in _presets_first(config, settings):
        _set(config, section, key, value, from_text=False)
    settings = [parse_override(text) for text in overrides]
    if any((section, key) == ("run", "model") for section, key, _ in settings):
        raise GentextError("choose the model with --model, not --set run.model")
    for section, key, value in _presets_first(config, settings):
        _set(config, section, key, value, from_text=True)
    return config


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"cannot write {value!r} to TOML")


def to_toml(config: RunConfig) -> str:
    """The resolved config as TOML text (``None`` values are left out: they are the default)."""
    lines = []
    for name, section in config.sections().items():
        lines.append(f"[{name}]")
        for key, value in dataclasses.asdict(section).items():
            if value is not None:
                lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)
