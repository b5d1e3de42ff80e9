"""Run directories: save and load models, tokenizer, config and resumable training state.

Layout of ``runs/<name>/``::

    config.toml        the resolved run config
    tokenizer.json     the tokenizer, HF tokenizers format
    labels.json        the class labels of the training split, when the data has labels
    model/             gentext.json (format, model, plugin, step, weights' SHA-256),
                       config.json, model.safetensors
    checkpoints/       state.safetensors (+ a readable state.json): the `TrainingState`
    metrics.jsonl      one JSON object per log or evaluation
    samples.txt        samples drawn at the end of training
    loss.png           the loss curves

Weights are safetensors and configs JSON or TOML: nothing is unpickled, so loading a run from
a stranger is safe. Every file is written to a temporary name, fsynced and renamed into place, so an
interrupted write (even a killed process or a power cut) never leaves half a checkpoint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from gentext.config import RunConfig, build_config, read_toml, to_toml
from gentext.errors import GentextError

FORMAT_VERSION = 1
MODEL_DIR, CHECKPOINT_DIR = "model", "checkpoints"
CONFIG_FILE, TOKENIZER_FILE, METRICS_FILE = "config.toml", "tokenizer.json", "metrics.jsonl"
LABELS_FILE = "labels.json"
WEIGHTS_FILE, META_FILE, MODEL_CONFIG_FILE = "model.safetensors", "gentext.json", "config.json"
STATE_FILE, STATE_TENSORS_FILE = "state.json", "state.safetensors"


def _fsync(path: Path) -> None:
    """Flush a file (or a directory's entries) to disk, so a rename never outruns the data."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if Path(path).is_dir() else 0)
    try:
        descriptor = os.open(path, flags)
    except OSError:  # some systems cannot open directories; the data itself was synced
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def replace_durably(partial: Path, path: Path) -> None:
    """Move a fully written ``partial`` onto ``path``: fsync, rename, fsync the folder. A crash
    at any point leaves either the old file or the new one, never half of one."""
    _fsync(partial)
    os.replace(partial, path)
    _fsync(Path(path).parent)


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync and a rename."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    replace_durably(partial, path)


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


def save_model(run_dir: Path, model, model_name: str, step: int,
               weights: dict | None = None) -> None:
    """Write ``model/``: weights (safetensors), the model config and what produced them.

    A two-phase commit, so a process killed at any moment leaves a loadable model: the new
    weights are written aside, the metadata then names both the new and the current weights'
    SHA-256, the weights are renamed into place, and the metadata drops the old one.
    ``weights``: the model's state dict, when it was gathered apart (FSDP)."""
    from safetensors.torch import save_model as save_weights

    folder = Path(run_dir) / MODEL_DIR
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{WEIGHTS_FILE}.partial"
    save_weights(model if weights is None else _Weights(weights), str(partial))
    plugin, plugin_version = _producer(model_name)
    meta = {
        "format_version": FORMAT_VERSION,
        "model": model_name,
        "plugin": plugin,
        "plugin_version": plugin_version,
        "step": step,
        "weights_sha256": sha256_file(partial),
    }
    write_atomic(folder / MODEL_CONFIG_FILE, json.dumps(dataclasses.asdict(model.config), indent=2))
    current = _read_meta(folder / META_FILE)
    if current and (folder / WEIGHTS_FILE).is_file():
        previous = {"step": current.get("step"), "weights_sha256": current.get("weights_sha256")}
        write_atomic(folder / META_FILE, json.dumps({**meta, "previous": previous}, indent=2))
    replace_durably(partial, folder / WEIGHTS_FILE)
    write_atomic(folder / META_FILE, json.dumps(meta, indent=2))


def _read_meta(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _committed_meta(folder: Path, meta: dict) -> dict:
    """The metadata of the weights actually on disk: the new ones, or (after a crash in the
    middle of `save_model`) the previous ones; anything else is damage."""
    digest = sha256_file(folder / WEIGHTS_FILE)
    if digest == meta.get("weights_sha256"):
        return {k: v for k, v in meta.items() if k != "previous"}
    previous = meta.get("previous") or {}
    if digest == previous.get("weights_sha256"):
        return {**{k: v for k, v in meta.items() if k != "previous"}, **previous}
    raise GentextError(f"the weights in {str(folder / WEIGHTS_FILE)!r} are truncated or "
                       "corrupted (SHA-256 mismatch); retrain or restore them")


@dataclass
class Run:
    """A loaded run: its config, tokenizer and model (on the CPU, in eval mode)."""

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
    from gentext.config import model_name_of
    from gentext.plugins.manager import get_model

    path = Path(path)
    if not path.is_dir():
        raise GentextError(f"run directory {str(path)!r} does not exist")
    if not (path / CONFIG_FILE).is_file():
        raise _not_a_run(path, f"no {CONFIG_FILE}")
    table = read_toml(path / CONFIG_FILE)
    name = model_name_of(table)
    if not name:
        raise _not_a_run(path, f"{CONFIG_FILE} names no model")
    from gentext.plugins.manager import registry

    if name not in registry().models:
        meta = _read_meta(path / MODEL_DIR / META_FILE) or {}
        if meta.get("plugin"):
            raise GentextError(f"{str(path)!r} is a {name!r} run made with plugin "
                               f"{meta['plugin']!r} {meta.get('plugin_version', '')}, which is "
                               "not installed; install that plugin to use the run")
    spec = get_model(name)
    return build_config(name, spec.config, table, train_defaults=spec.train_defaults,
                        data_defaults=spec.data_defaults)


def load_run(path: Path) -> Run:
    """Load a run for sampling or evaluation, checking the weights against their SHA-256."""
    from safetensors import SafetensorError
    from safetensors.torch import load_model as load_weights

    from gentext.models.contract import Vocab
    from gentext.plugins.manager import get_model
    from gentext.data.tokenizer import TextTokenizer

    path = Path(path)
    config = read_run_config(path)
    folder = path / MODEL_DIR
    for needed in (folder / META_FILE, folder / WEIGHTS_FILE, path / TOKENIZER_FILE):
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
    meta = _committed_meta(folder, meta)
    spec = get_model(config.run.model)
    tokenizer = TextTokenizer.load(path / TOKENIZER_FILE)
    vocab = Vocab.of(tokenizer, read_labels(path))
    model = spec.build(config.model, vocab)
    try:
        missing, unexpected = load_weights(model, str(folder / WEIGHTS_FILE), strict=False)
    except (SafetensorError, RuntimeError, OSError) as exc:
        raise GentextError(f"the weights in {str(folder / WEIGHTS_FILE)!r} cannot be read: {exc}") from exc
    if missing or unexpected:
        raise GentextError(f"the weights in {str(folder)!r} do not fit model {spec.name!r} "
                           f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})")
    model.eval()
    return Run(path=path, config=config, tokenizer=tokenizer, model=model, meta=meta, spec=spec)


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


def _save_state_file(run_dir: Path, tensors: dict, state: dict) -> None:
    """Write the resumable state as one safetensors file: the tensors (model weights,
    optimizers, RNG) with everything else as JSON in its metadata. One file, one atomic
    rename: a crash leaves the previous state or the new one. ``state.json`` is a readable
    copy written after it."""
    from safetensors.torch import save_file

    folder = Path(run_dir) / CHECKPOINT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    unique, aliases, seen = {}, {}, {}
    for name, tensor in tensors.items():  # tied weights share storage: save them once
        key = (tensor.data_ptr(), tensor.dtype, tuple(tensor.shape)) if tensor.numel() else None
        if key is not None and key in seen:
            aliases[name] = seen[key]
        else:
            seen[key] = name
            unique[name] = tensor.detach().contiguous()
    record = {**state, "aliases": aliases}
    partial = folder / f".{STATE_TENSORS_FILE}.partial"
    save_file(unique, str(partial), metadata={"state": json.dumps(record)})
    replace_durably(partial, folder / STATE_TENSORS_FILE)
    write_atomic(folder / STATE_FILE, json.dumps(state, indent=2))


def _load_state_file(run_dir: Path) -> tuple[dict, dict]:
    """The (tensors, state) written by `_save_state_file`."""
    from safetensors import safe_open

    folder = Path(run_dir) / CHECKPOINT_DIR
    try:
        with safe_open(str(folder / STATE_TENSORS_FILE), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        state = json.loads(metadata["state"])
    except Exception as exc:  # noqa: BLE001 - any damage means the same thing to the user
        raise GentextError(f"the checkpoint in {str(folder)!r} cannot be read ({exc}); "
                           "start again with --force") from exc
    for name, original in state.pop("aliases", {}).items():
        tensors[name] = tensors[original]
    return tensors, state


@dataclass
class TrainingState:
    """Everything a resumed run needs to continue exactly, saved and loaded as one file.

    Keys in ``state.safetensors``: ``model.<parameter>`` (the weights at ``step``),
    ``optimizer.<name>.<index>.<field>`` (each optimizer's tensors; its param groups go in
    the JSON), ``rng.cpu`` and ``rng.cuda`` (the random generators). The JSON holds
    ``step``, ``elapsed_s`` (training seconds, all sessions) and ``data`` (the data position).
    """

    step: int = 0
    elapsed_s: float = 0.0
    data: dict = field(default_factory=lambda: {"epoch": 0, "index": 0})
    weights: dict = field(default_factory=dict)  # the model's state_dict
    optimizers: dict = field(default_factory=dict)  # name -> optimizer.state_dict()
    rng: dict = field(default_factory=dict)  # "cpu" (and "cuda") -> generator state

    @classmethod
    def capture(cls, model, optimizers: dict, step: int, elapsed_s: float, data: dict,
                device: str, *, weights: dict | None = None,
                optimizer_states: dict | None = None) -> "TrainingState":
        """The state of a training run now (``weights`` and ``optimizer_states``: the state
        dicts when already gathered, e.g. from the shards of an FSDP run)."""
        import torch

        rng = {"cpu": torch.get_rng_state()}
        if device == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state()
        return cls(step, elapsed_s, dict(data), model.state_dict() if weights is None else weights,
                   optimizer_states or {name: opt.state_dict() for name, opt in optimizers.items()},
                   rng)

    def save(self, run_dir: Path) -> None:
        """Write ``checkpoints/`` atomically (a crash leaves the previous state or this one)."""
        tensors = {f"model.{k}": v for k, v in self.weights.items()}
        groups = {}
        for opt_name, state in self.optimizers.items():
            tensors.update({f"optimizer.{opt_name}.{index}.{name}": value
                            for index, values in state["state"].items()
                            for name, value in values.items() if _is_tensor(value)})
            groups[opt_name] = state["param_groups"]
        tensors.update({f"rng.{name}": value for name, value in self.rng.items()})
        _save_state_file(run_dir, tensors, {"step": self.step, "elapsed_s": self.elapsed_s,
                                            "data": self.data, "param_groups": groups})

    @classmethod
    def load(cls, run_dir: Path) -> "TrainingState":
        """Read ``checkpoints/`` back (a one-line error if it is damaged)."""
        tensors, state = _load_state_file(run_dir)
        weights, rng, optimizers = {}, {}, {}
        for opt_name, groups in state["param_groups"].items():
            optimizers[opt_name] = {"state": {}, "param_groups": groups}
        for key, value in tensors.items():
            kind, _, rest = key.partition(".")
            if kind == "model":
                weights[rest] = value
            elif kind == "rng":
                rng[rest] = value
            elif kind == "optimizer":
                opt_name, index, name = rest.split(".", 2)
                optimizers[opt_name]["state"].setdefault(int(index), {})[name] = value
        return cls(state["step"], state["elapsed_s"], state["data"], weights, optimizers, rng)

    def restore_model(self, model, run_dir: Path) -> None:
        """Load the weights at ``step`` (from ``model/`` for checkpoints that lack them)."""
        if self.weights:
            model.load_state_dict(self.weights)
        else:  # a checkpoint from before the weights travelled with the state
            from safetensors.torch import load_model as load_weights

            load_weights(model, str(Path(run_dir) / MODEL_DIR / WEIGHTS_FILE))

    def restore_optimizers(self, optimizers: dict) -> None:
        for name, optimizer in optimizers.items():
            optimizer.load_state_dict(self.optimizers[name])

    def restore_rng(self, device: str) -> None:
        import torch

        torch.set_rng_state(self.rng["cpu"])
        if device == "cuda" and "cuda" in self.rng:
            torch.cuda.set_rng_state(self.rng["cuda"])


def _is_tensor(value) -> bool:
    import torch

    return torch.is_tensor(value)


def saved_step(run_dir: Path) -> int | None:
    """The step of the run's last checkpoint, or None when it has none (read from the
    readable copy, without loading tensors)."""
    try:
        return json.loads((Path(run_dir) / CHECKPOINT_DIR / STATE_FILE).read_text())["step"]
    except (OSError, ValueError, KeyError):
        return None
