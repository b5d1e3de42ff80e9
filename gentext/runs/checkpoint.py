"""Run directories: save and load models, tokenizer and config, and commit checkpoints.

Layout of ``runs/<name>/``::

    config.toml        the resolved run config
    tokenizer.json     the tokenizer, HF tokenizers format
    labels.json        the class labels of the training split, when the data has labels
    model/             gentext.json (format, model, plugin, step, weights' SHA-256),
                       config.json, model.safetensors
    checkpoints/       state.safetensors (+ a readable state.json): the `TrainingState`
                       (gentext.runs.training_state), naming the model/ weights it goes with
    metrics.jsonl      one JSON object per log or evaluation
    samples.txt        samples drawn at the end of training
    loss.png           the loss curves

Weights are safetensors and configs JSON or TOML: nothing is unpickled, so loading a run from
a stranger is safe. Every file is written atomically (gentext.runs.atomic), and a checkpoint's
weights and training state are committed together (`save_model`), so a killed process or a
power cut never leaves half a checkpoint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from gentext.config import RunConfig, build_config, read_toml, to_toml
from gentext.errors import GentextError
from gentext.runs.atomic import fsync, partial_path, replace_durably, write_atomic
from gentext.runs.training_state import CHECKPOINT_DIR, STATE_FILE, TrainingState

FORMAT_VERSION = 1
MODEL_DIR = "model"
CONFIG_FILE, TOKENIZER_FILE, METRICS_FILE = "config.toml", "tokenizer.json", "metrics.jsonl"
LABELS_FILE = "labels.json"
WEIGHTS_FILE, META_FILE, MODEL_CONFIG_FILE = "model.safetensors", "gentext.json", "config.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_new_run_dir(out: Path, force: bool) -> bool:
    """True when ``out`` holds something that --force may replace; an error when it holds
    something it may not (anything without --force, or a directory that is not a run)."""
    out = Path(out)
    if not (out.exists() and (not out.is_dir() or any(out.iterdir()))):
        return False
    if not force:
        raise GentextError(f"run directory {str(out)!r} already exists; pass --resume to "
                           "continue it, --force to replace it, or --out for a new one")
    if not (out / CONFIG_FILE).is_file() and not (out / MODEL_DIR).is_dir():
        raise GentextError(f"--force refuses to delete {str(out)!r}: it is not a gentext run")
    return True


def prepare_run_dir(out: Path, resume: bool, force: bool) -> None:
    """Create ``out`` for a new run; refuse to touch an existing one without --resume/--force."""
    out = Path(out)
    if resume:
        if not (out / CHECKPOINT_DIR / STATE_FILE).is_file():
            raise GentextError(f"cannot resume: {str(out)!r} has no checkpoint "
                               f"({CHECKPOINT_DIR}/{STATE_FILE}); start it without --resume")
        return
    if check_new_run_dir(out, force):
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


class _Weights:
    """A state dict where safetensors' ``save_model`` takes a module (it reads only
    ``state_dict()``): weights gathered from an FSDP run's shards."""

    def __init__(self, weights: dict):
        self.weights = weights

    def state_dict(self) -> dict:
        return dict(self.weights)


def _producer(model_name: str) -> tuple[str, str]:
    """The plugin that registers ``model_name`` and its version, as a saved model records."""
    from gentext.plugins.manager import model_owner, plugins

    plugin = model_owner(model_name)
    return plugin, {p.name: p.version for p in plugins()}.get(plugin, "unknown")


def write_run(out: Path, model, config: RunConfig, tokenizer, *, force: bool = False) -> Path:
    """Write ``model`` (built or imported, not trained here) as a run directory that every
    command reads: `gentext sample`, `eval`, `train --init` from it. ``force`` replaces a run
    already at ``out``; without it an existing run is an error, never overwritten."""
    out = Path(out)
    prepare_run_dir(out, resume=False, force=force)
    tokenizer.save(out / TOKENIZER_FILE)
    save_config(out, config)
    save_model(out, model, config.run.model, step=0)
    return out


def save_model(run_dir: Path, model, model_name: str, step: int, weights: dict | None = None,
               state: TrainingState | None = None) -> None:
    """Write ``model/`` (weights, model config, what produced them) and, with ``state``, the
    training state that continues from them: one checkpoint, its weights written and hashed
    once. ``weights``: the model's state dict, when it was gathered apart (FSDP).

    A two-phase commit, so a process killed at any moment leaves a run that loads and resumes:
    the new weights are written aside, the metadata names both them and the current weights,
    the state (naming the new weights) is renamed into place, then the weights, and the
    metadata drops the old ones. `_settle` finishes or undoes a commit cut short."""
    from safetensors.torch import save_model as save_weights

    folder = Path(run_dir) / MODEL_DIR
    folder.mkdir(parents=True, exist_ok=True)
    partial = partial_path(folder / WEIGHTS_FILE)
    save_weights(model if weights is None else _Weights(weights), str(partial))
    fsync(partial)  # on disk before a state that names it is
    plugin, plugin_version = _producer(model_name)
    meta = {"format_version": FORMAT_VERSION, "model": model_name, "plugin": plugin,
            "plugin_version": plugin_version, "step": step,
            "weights_sha256": sha256_file(partial)}
    write_atomic(folder / MODEL_CONFIG_FILE,
                 json.dumps(dataclasses.asdict(model.config), indent=2))
    current = _read_meta(folder / META_FILE)
    previous = None
    if current and (folder / WEIGHTS_FILE).is_file():
        previous = {"step": current.get("step"), "weights_sha256": current.get("weights_sha256")}
    write_atomic(folder / META_FILE, json.dumps({**meta, "previous": previous}, indent=2))
    if state is not None:
        state.with_weights(meta["weights_sha256"]).save(run_dir)
    replace_durably(partial, folder / WEIGHTS_FILE)
    write_atomic(folder / META_FILE, json.dumps(meta, indent=2))


def _read_meta(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _settle(folder: Path, meta: dict, state: TrainingState) -> dict:
    """The metadata of the weights ``state`` goes with, after finishing (the state was
    committed, the weights not yet renamed) or undoing (the state was not committed) a
    `save_model` that a killed process left in the middle; a mismatched pair is an error."""
    new = {k: v for k, v in meta.items() if k != "previous"}
    previous, wanted = meta.get("previous") or {}, state.weights_sha256
    if "previous" not in meta and wanted == meta.get("weights_sha256"):
        return meta  # the usual case: nothing was cut short
    if "previous" in meta and wanted == new.get("weights_sha256"):
        partial = partial_path(folder / WEIGHTS_FILE)
        if partial.is_file():
            replace_durably(partial, folder / WEIGHTS_FILE)
        settled = new
    elif "previous" in meta and wanted and wanted == previous.get("weights_sha256"):
        settled = {**new, **previous}
        partial_path(folder / WEIGHTS_FILE).unlink(missing_ok=True)  # weights never committed
    else:
        raise GentextError(
            f"the training state in {str(folder.parent / CHECKPOINT_DIR)!r} (step {state.step}) "
            f"goes with other weights than those in {str(folder)!r} (step {new.get('step')}); "
            "restore the pair, or start again with --force")
    write_atomic(folder / META_FILE, json.dumps(settled, indent=2))
    return settled


def _committed_meta(folder: Path, meta: dict) -> dict:
    """The metadata of the weights actually on disk: the new ones, or (after a crash in the
    middle of `save_model`) the previous ones; anything else is damage."""
    digest = sha256_file(folder / WEIGHTS_FILE)
    current = {k: v for k, v in meta.items() if k != "previous"}
    if digest == meta.get("weights_sha256"):
        return current
    previous = meta.get("previous") or {}
    if digest == previous.get("weights_sha256"):
        return {**current, **previous}
    raise GentextError(f"the weights in {str(folder / WEIGHTS_FILE)!r} are truncated or "
                       "corrupted (SHA-256 mismatch); retrain or restore them")


@dataclass
class Run:
    """A loaded run: its config, tokenizer and model (on the CPU, in eval mode), its model
    metadata (``model/gentext.json``: step, weights' SHA-256, plugin) and its family's spec."""

    path: Path
    config: RunConfig
    tokenizer: object
    model: object
    meta: dict
    spec: object

    @property
    def likelihood(self) -> str:
        """What this run's ``nll`` is: exact, bound, estimate or none (its spec says)."""
        return self.spec.likelihood_of(self.config.model)


def _not_a_run(path: Path, why: str) -> GentextError:
    return GentextError(f"{str(path)!r} is not a gentext run ({why}); "
                        "give the directory that `gentext train` wrote")


def read_run_config(path: Path) -> RunConfig:
    """The resolved config of the run at ``path`` (the model's plugin must be installed)."""
    return _read_config(Path(path))[0]


def read_run_likelihood(path: Path) -> tuple[str, str]:
    """The family and the likelihood kind of the run at ``path``, from its config alone, so a
    command can check them before any model loads."""
    config, spec = _read_config(Path(path))
    return spec.name, spec.likelihood_of(config.model)


def _read_config(path: Path) -> tuple[RunConfig, object]:
    """The run's config and its family's spec, from one read of ``config.toml``."""
    from gentext.config import model_name_of
    from gentext.plugins.manager import get_model, registry

    if not path.is_dir():
        raise GentextError(f"run directory {str(path)!r} does not exist")
    if not (path / CONFIG_FILE).is_file():
        raise _not_a_run(path, f"no {CONFIG_FILE}")
    table = read_toml(path / CONFIG_FILE)
    name = model_name_of(table)
    if not name:
        raise _not_a_run(path, f"{CONFIG_FILE} names no model")
    if name not in registry().models:
        meta = _read_meta(path / MODEL_DIR / META_FILE) or {}
        if meta.get("plugin"):
            raise GentextError(f"{str(path)!r} is a {name!r} run made with plugin "
                               f"{meta['plugin']!r} {meta.get('plugin_version', '')}, which is "
                               "not installed; install that plugin to use the run")
    spec = get_model(name)
    return build_config(name, spec.config, table, train_defaults=spec.train_defaults,
                        data_defaults=spec.data_defaults), spec


def _model_meta(path: Path) -> dict:
    """``model/gentext.json``, checked to be there, readable and of this format."""
    folder = path / MODEL_DIR
    for needed in (folder / META_FILE, path / TOKENIZER_FILE):
        if not needed.is_file():
            raise _not_a_run(path, f"no {needed.relative_to(path)}; was training stopped "
                                   "before its first checkpoint?")
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _not_a_run(path, f"{MODEL_DIR}/{META_FILE} is not valid JSON") from exc
    if meta.get("format_version") != FORMAT_VERSION:
        version = meta.get("format_version")
        newer = isinstance(version, int) and version > FORMAT_VERSION
        raise GentextError(f"{str(folder / META_FILE)!r} has format version {version}; this "
                           f"gentext reads version {FORMAT_VERSION}"
                           + ("; upgrade gentext to read it" if newer else ""))
    return meta


def load_run(path: Path, *, state: TrainingState | None = None) -> Run:
    """Load a run for sampling or evaluation, checking the weights against their SHA-256: its
    files read once, into one `Run`. With ``state`` (a resume), a checkpoint cut short is
    settled first and weights other than those the state names are refused."""
    from gentext.data.tokenizer import TextTokenizer
    from gentext.models.contract import Vocab

    path = Path(path)
    config, spec = _read_config(path)
    folder, meta = path / MODEL_DIR, _model_meta(path)
    if state is not None:
        meta = _settle(folder, meta, state)
    if not (folder / WEIGHTS_FILE).is_file():
        raise _not_a_run(path, f"no {MODEL_DIR}/{WEIGHTS_FILE}; was training stopped before "
                               "its first checkpoint?")
    meta = _committed_meta(folder, meta)
    tokenizer = TextTokenizer.load(path / TOKENIZER_FILE)
    model = spec.build(config.model, Vocab.of(tokenizer, read_labels(path)))
    _load_weights(model, folder / WEIGHTS_FILE, spec.name)
    model.eval()
    return Run(path=path, config=config, tokenizer=tokenizer, model=model, meta=meta, spec=spec)


def _load_weights(model, weights: Path, model_name: str) -> None:
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    try:
        missing, unexpected = load_model(model, str(weights), strict=False)
    except (SafetensorError, RuntimeError, OSError) as exc:
        raise GentextError(f"the weights in {str(weights)!r} cannot be read: {exc}") from exc
    if missing or unexpected:
        raise GentextError(f"the weights in {str(weights.parent)!r} do not fit model "
                           f"{model_name!r} (missing {sorted(missing)[:3]}, unexpected "
                           f"{sorted(unexpected)[:3]})")


def save_labels(run_dir: Path, labels: tuple[str, ...]) -> None:
    """Record the training split's class labels (nothing when the data has none)."""
    if labels:
        write_atomic(Path(run_dir) / LABELS_FILE, json.dumps(list(labels), indent=2))


def read_labels(run_dir: Path) -> tuple[str, ...]:
    """The class labels a run was trained with (empty when it had none)."""
    path = Path(run_dir) / LABELS_FILE
    if not path.is_file():
        return ()
    try:
        labels = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GentextError(f"{str(path)!r} is not valid JSON; restore it or retrain") from exc
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise GentextError(f"{str(path)!r} must be a JSON list of label strings")
    return tuple(labels)


def save_config(run_dir: Path, config: RunConfig) -> None:
    write_atomic(Path(run_dir) / CONFIG_FILE, to_toml(config))
