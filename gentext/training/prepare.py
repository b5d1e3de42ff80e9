"""Everything before the training loop: the run's config (fresh, resumed or started from
another run), then the data, tokenizer, labels, model and run directory; when resuming, the
run and its checkpoint, each loaded once.

Everything that can fail because of the user's input (data, config, model settings) fails
here, before a new run directory is created.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from gentext.config import RunConfig, TrainConfig, build_config, model_name_of, read_toml
from gentext.data.batching import encode_split, label_names, may_fit
from gentext.data.pipeline import load_splits
from gentext.data.tokenizer import TextTokenizer, make_tokenizer
from gentext.distributed import Ranks
from gentext.errors import GentextError
from gentext.evaluation.evaluate import conditioning_labels
from gentext.models.contract import TextModel, Vocab
from gentext.plugins.manager import get_model, registry
from gentext.runs import checkpoint
from gentext.runs.training_state import TrainingState


def assemble_config(model: str | None = None, *, table: dict | None = None,
                    overrides: list[str] = (), resume: Path | None = None,
                    init: Path | None = None) -> RunConfig:
    """A run's config, as `gentext train` builds it: the family's defaults, then (to resume)
    the run's saved config or (with ``init``) the started-from run's model and tokenizer,
    then ``table`` (a TOML config), then ``--set`` style ``overrides``."""
    table = dict(table or {})
    if resume is not None and init is not None:
        raise GentextError("--init starts a new run; --resume continues one: choose one")
    if init is not None:
        table = _merge(_started_from(Path(init)), table)
    if resume is not None and (Path(resume) / checkpoint.CONFIG_FILE).is_file():
        saved = read_toml(Path(resume) / checkpoint.CONFIG_FILE)
        if model is not None and model_name_of(saved) not in (None, model):
            raise GentextError(f"{str(resume)!r} is a {model_name_of(saved)!r} run, not {model!r}")
        table = _merge(saved, table)
    name = model or model_name_of(table)
    if name is None:
        known = ", ".join(sorted(registry().models))
        raise GentextError(f"choose a model with --model (known models: {known})")
    spec = get_model(name)
    config = build_config(spec.name, spec.config, table, list(overrides), spec.train_defaults,
                          spec.data_defaults)
    return config if resume is not None else _warm_up_within_the_run(config)


def _warm_up_within_the_run(config: RunConfig) -> RunConfig:
    """A warm-up longer than the run never reaches the learning rate: warm up over the
    run's first tenth instead, and say so in one line (config.toml records what ran)."""
    train = config.train
    if train.warmup_steps <= train.steps:
        return config
    shorter = max(1, train.steps // 10)
    print(f"gentext: notice: train.warmup_steps ({train.warmup_steps}) is longer than the run "
          f"(train.steps = {train.steps}); warming up over {shorter} steps instead",
          file=sys.stderr)
    return dataclasses.replace(config, train=dataclasses.replace(train, warmup_steps=shorter))


def _merge(base: dict, table: dict) -> dict:
    """``table`` over ``base``, section by section."""
    return {k: {**base.get(k, {}), **table.get(k, {})} for k in {*base, *table}}


def _started_from(init: Path) -> dict:
    """The settings a run started from ``init`` keeps: its model and tokenizer."""
    saved = checkpoint.read_run_config(init)
    return {"run": {"model": saved.run.model}, "model": dataclasses.asdict(saved.model),
            "data": {"tokenizer": saved.data.tokenizer, "vocab_size": saved.data.vocab_size,
                     "max_len": saved.data.max_len},
            "train": {"init": str(init)}}


def check_train_config(cfg: TrainConfig) -> None:
    for name in ("steps", "batch_size", "grad_accum", "eval_every", "log_every"):
        if getattr(cfg, name) < 1:
            raise GentextError(f"train.{name} must be at least 1, got {getattr(cfg, name)}")
    if cfg.micro_batch_tokens < -1:
        raise GentextError(f"train.micro_batch_tokens must be a number of positions, 0 (auto) "
                           f"or -1 (no limit), got {cfg.micro_batch_tokens}")
    if cfg.max_minutes < 0:
        raise GentextError(f"train.max_minutes must be 0 (no limit) or more, got "
                           f"{cfg.max_minutes}")


@dataclass
class Prepared:
    """What the loop trains on: the tokenizer, the model and the encoded splits, and where it
    starts (a new run's first state, or the checkpoint a resumed run continues)."""

    tokenizer: TextTokenizer
    model: TextModel
    train_data: object
    valid_data: object
    state: TrainingState


def prepare(config: RunConfig, out: Path, resume: bool, force: bool,
            ranks: Ranks = Ranks()) -> Prepared:
    """Check the request, load the data, make (or reuse) the tokenizer, build the model (or
    load the resumed run's), and (for a new run) create the run directory."""
    spec = get_model(config.run.model)
    state, resumed = _resumed(config, out, ranks) if resume else (TrainingState(), None)
    splits = load_splits(config.data)
    start = _initial_run(config) if config.train.init and not resume else None
    corpus = _tokenised_corpus(config)
    if resumed is not None:
        tokenizer, labels, model = resumed.tokenizer, (), resumed.model.train()
    else:
        tokenizer = _tokenizer(config, start, corpus, splits)
        labels = label_names(splits.train)
        torch.manual_seed(config.train.seed)
        model = spec.build(config.model, Vocab.of(tokenizer, labels))  # checks its config
        if start is not None:
            model.load_state_dict(start.model.state_dict())
    check_data_fits_model(config, model, spec.name)
    _write_run_dir(config, out, resume, force, tokenizer, labels, ranks)
    conditioning = conditioning_labels(model)
    max_len = config.data.max_len
    if corpus is not None:  # memory-mapped token ids, read a batch at a time
        from gentext.data.memmap import MappedSplit

        train_data = MappedSplit(Path(config.data.source) / "train")
    else:
        train_data = encode_split(splits.train, tokenizer, max_len, conditioning, config.data.unit)
    if not train_data.sequences:
        raise GentextError(f"no training example fits in data.max_len={max_len} tokens; for "
                           "running text, set data.unit=document to train on windows of it")
    limit = config.train.eval_examples
    valid_data = encode_split(splits.valid[:limit] if limit else splits.valid, tokenizer, max_len,
                              conditioning, config.data.unit)
    return Prepared(tokenizer, model, train_data, valid_data, state)


def check_data_fits_model(config: RunConfig, model: TextModel, name: str) -> None:
    """The model takes the run's data: its context holds data.max_len, and it models windows
    if the data is cut into them."""
    max_len = config.data.max_len
    if model.max_len is not None and max_len > model.max_len:
        raise GentextError(f"data.max_len ({max_len}) is longer than the model's context "
                           f"({model.max_len}); lower data.max_len or enlarge the model")
    if config.data.unit == "document" and not model.capabilities.windows:
        able = ", ".join(sorted(n for n, s in registry().models.items() if _models_windows(s)))
        raise GentextError(f"model {name!r} models whole examples, not windows of running "
                           f"text; data.unit=document needs one of: {able or 'none installed'}")


def _resumed(config: RunConfig, out: Path, ranks: Ranks):
    """The checkpoint to continue and its run, loaded once (a checkpoint cut short settled by
    the main process first); only [train] settings may differ from the run's."""
    checkpoint.prepare_run_dir(out, resume=True, force=False)  # checks there is a checkpoint
    state = TrainingState.load(out)
    torch.manual_seed(config.train.seed)  # the model is built as a new run's is
    try:
        run = checkpoint.load_run(out, state=state) if ranks.main else None
    finally:
        ranks.barrier()  # the others read the run once the main process has settled it
    run = run or checkpoint.load_run(out, state=state)
    for section in ("run", "data", "model"):
        if getattr(run.config, section) != getattr(config, section):
            raise GentextError(f"--resume cannot change [{section}] of {str(out)!r}; "
                               "only [train] settings may differ")
    return state, run


def _tokenizer(config: RunConfig, start, corpus, splits) -> TextTokenizer:
    """The started-from run's tokenizer, a tokenised corpus's, a pretrained one, or one
    trained now on the training split."""
    if start is not None:
        return start.tokenizer
    if corpus is not None:
        return TextTokenizer.load(Path(config.data.source) / checkpoint.TOKENIZER_FILE)
    texts = [e["text"] for e in splits.train]
    if config.data.unit == "example":  # only what can fit trains it; documents always fit
        texts = [t for t in texts if may_fit(t, config.data.max_len)]
    return make_tokenizer(config.data.tokenizer, texts, config.data.vocab_size)


def _write_run_dir(config: RunConfig, out: Path, resume: bool, force: bool, tokenizer,
                   labels, ranks: Ranks) -> None:
    """Create a new run directory (the main process), record the config; all processes wait."""
    if not resume:
        if ranks.several:  # every process checks the directory before the main one makes it
            checkpoint.check_new_run_dir(out, force)
            ranks.barrier()
        if ranks.main:
            checkpoint.prepare_run_dir(out, resume=False, force=force)
            tokenizer.save(out / checkpoint.TOKENIZER_FILE)
            checkpoint.save_labels(out, labels)
    if ranks.main:
        checkpoint.save_config(out, config)
    ranks.barrier()


def _tokenised_corpus(config: RunConfig) -> dict | None:
    """The corpus.json of a folder written by `gentext tokenize` (None for other data),
    checked against the run's data settings."""
    from gentext.data.memmap import is_corpus_folder, read_corpus

    if not is_corpus_folder(config.data.source):
        return None
    corpus = read_corpus(config.data.source)
    if corpus["tokenizer"] != config.data.tokenizer:
        raise GentextError(f"{config.data.source!r} was tokenised with the "
                           f"{corpus['tokenizer']!r} tokenizer; set "
                           f"data.tokenizer={corpus['tokenizer']}")
    if corpus.get("unit", "example") != config.data.unit:
        raise GentextError(f"{config.data.source!r} was tokenised with unit "
                           f"{corpus.get('unit', 'example')!r}; set data.unit="
                           f"{corpus.get('unit', 'example')} or tokenise again")
    if corpus["max_len"] > config.data.max_len:
        raise GentextError(f"{config.data.source!r} holds examples of up to {corpus['max_len']} "
                           f"tokens; set data.max_len={corpus['max_len']} or tokenise again")
    return corpus


def _models_windows(spec) -> bool:
    """Whether a registered family's model class declares that it models windows (a family
    that fails to import does not)."""
    try:
        return bool(spec.model_class().capabilities.windows)
    except GentextError:
        return False


def _initial_run(config: RunConfig):
    """The run ``train.init`` names, checked to fit this run's model exactly."""
    start = checkpoint.load_run(Path(config.train.init))
    if start.spec.name != config.run.model:
        raise GentextError(f"train.init {config.train.init!r} is a {start.spec.name!r} run, "
                           f"not {config.run.model!r}")
    if dataclasses.asdict(start.config.model) != dataclasses.asdict(config.model):
        raise GentextError(f"the [model] settings differ from those of train.init "
                           f"{config.train.init!r}; a run started from it keeps its model")
    return start
