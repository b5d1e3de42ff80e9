"""``checkpoints/``: what a resumed run needs besides its weights (optimizers, random
generators, data position, clock), as one safetensors file.

The weights are not copied here: they are the run's ``model/`` weights, which the state names
by their SHA-256 (``weights_sha256``, as ``model/gentext.json`` records it), so a checkpoint
writes them once and a resume refuses a state and weights that do not belong together.
``gentext.runs.checkpoint.save_model`` commits the two; ``settle_checkpoint`` there finishes a
commit that a killed process left half done.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from gentext.errors import GentextError
from gentext.runs.atomic import partial_path, replace_durably, write_atomic

CHECKPOINT_DIR = "checkpoints"
STATE_FILE, STATE_TENSORS_FILE = "state.json", "state.safetensors"


@dataclass
class TrainingState:
    """Everything a resumed run needs to continue exactly, with the weights it goes with.

    Keys in ``state.safetensors``: ``optimizer.<name>.<index>.<field>`` (each optimizer's
    tensors; its param groups go in the JSON), ``rng.cpu`` and ``rng.cuda`` (the random
    generators). The JSON holds ``step``, ``elapsed_s`` (training seconds, all sessions),
    ``data`` (the data position) and ``weights_sha256`` (the ``model/`` weights at ``step``).
    """

    step: int = 0
    elapsed_s: float = 0.0
    data: dict = field(default_factory=lambda: {"epoch": 0, "index": 0})
    optimizers: dict = field(default_factory=dict)  # name -> optimizer.state_dict()
    rng: dict = field(default_factory=dict)  # "cpu" (and "cuda") -> generator state
    weights_sha256: str = ""  # the model/ weights this state continues from

    @classmethod
    def capture(cls, optimizers: dict, step: int, elapsed_s: float, data: dict, device: str, *,
                optimizer_states: dict | None = None) -> "TrainingState":
        """The state of a training run now (``optimizer_states``: the optimizers' state dicts
        when already gathered, e.g. from the shards of an FSDP run). The weights' SHA-256 is
        set when they are written (`gentext.runs.checkpoint.save_model`)."""
        import torch

        rng = {"cpu": torch.get_rng_state()}
        if device == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state()
        optimizer_states = optimizer_states or {name: optimizer.state_dict()
                                                for name, optimizer in optimizers.items()}
        return cls(step, elapsed_s, dict(data), optimizer_states, rng)

    def with_weights(self, sha256: str) -> "TrainingState":
        """This state, naming the weights it goes with."""
        return dataclasses.replace(self, weights_sha256=sha256)

    def save(self, run_dir: Path) -> None:
        """Write ``checkpoints/`` atomically (a crash leaves the previous state or this one)."""
        tensors, groups = {}, {}
        for opt_name, state in self.optimizers.items():
            tensors.update({f"optimizer.{opt_name}.{index}.{name}": value
                            for index, values in state["state"].items()
                            for name, value in values.items() if _is_tensor(value)})
            groups[opt_name] = state["param_groups"]
        tensors.update({f"rng.{name}": value for name, value in self.rng.items()})
        _save_state_file(run_dir, tensors, {
            "step": self.step, "elapsed_s": self.elapsed_s, "data": self.data,
            "weights_sha256": self.weights_sha256, "param_groups": groups})

    @classmethod
    def load(cls, run_dir: Path) -> "TrainingState":
        """Read ``checkpoints/`` back (a one-line error if it is damaged)."""
        tensors, state = _load_state_file(run_dir)
        if "weights_sha256" not in state:  # written before the state named its weights
            raise GentextError(f"the checkpoint in {str(Path(run_dir) / CHECKPOINT_DIR)!r} was "
                               "written by an earlier gentext and cannot be resumed; start "
                               "again with --force")
        rng, optimizers = {}, {}
        for opt_name, groups in state["param_groups"].items():
            optimizers[opt_name] = {"state": {}, "param_groups": groups}
        for key, value in tensors.items():
            kind, _, rest = key.partition(".")
            if kind == "rng":
                rng[rest] = value
            elif kind == "optimizer":
                opt_name, index, name = rest.split(".", 2)
                optimizers[opt_name]["state"].setdefault(int(index), {})[name] = value
        return cls(state["step"], state["elapsed_s"], state["data"], optimizers, rng,
                   state["weights_sha256"])

    def restore_optimizers(self, optimizers: dict) -> None:
        for name, optimizer in optimizers.items():
            optimizer.load_state_dict(self.optimizers[name])

    def restore_rng(self, device: str) -> None:
        import torch

        torch.set_rng_state(self.rng["cpu"])
        if device == "cuda" and "cuda" in self.rng:
            torch.cuda.set_rng_state(self.rng["cuda"])


def _save_state_file(run_dir: Path, tensors: dict, state: dict) -> None:
    """Write the state as one safetensors file: the tensors (optimizers, RNG) with everything
    else as JSON in its metadata. One file, one atomic rename: a crash leaves the previous
    state or the new one. ``state.json`` is a readable copy written after it."""
    from safetensors.torch import save_file

    folder = Path(run_dir) / CHECKPOINT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    unique, aliases, seen = {}, {}, {}
    for name, tensor in tensors.items():  # tensors sharing storage: save them once
        key = (tensor.data_ptr(), tensor.dtype, tuple(tensor.shape)) if tensor.numel() else None
        if key is not None and key in seen:
            aliases[name] = seen[key]
        else:
            seen[key] = name
            unique[name] = tensor.detach().contiguous()
    record = {**state, "aliases": aliases}
    partial = partial_path(folder / STATE_TENSORS_FILE)
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
