"""The one training loop, for every family: AdamW, warm-up + cosine, gradient clipping,
periodic validation and checkpoints, on ``accelerate`` so the same code runs on a CPU or GPU.

A run resumes exactly: the data order is a function of (seed, epoch), the learning rate a
function of the step, and the optimizer, RNG and data position are checkpointed, so a resumed
run follows the loss curve of an uninterrupted one. Ctrl-C checkpoints and stops; a non-finite
loss stops without saving, keeping the last good checkpoint.
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from gentext import checkpoint
from gentext.config import RunConfig, TrainConfig
from gentext.data.batching import BatchStream, encode_split, label_names, may_fit
from gentext.data.pipeline import load_splits
from gentext.distributed import Ranks
from gentext.errors import GentextError
from gentext.evaluate import (Evaluation, conditioning_labels, evaluate_encoded, one_line,
                              sample_texts)
from gentext.model import TextModel, Vocab
from gentext.plots import plot_losses
from gentext.plugins import get_model, model_owner, plugins
from gentext.tokenizer import TextTokenizer, train_tokenizer

INTERRUPTED_EXIT_CODE = 130


@dataclass
class TrainResult:
    run_dir: Path
    step: int  # optimizer steps completed
    seconds: float  # training wall-clock time, resumed sessions included
    valid: Evaluation | None
    status: str  # "finished", "interrupted" or "diverged"
    main: bool = True  # False in the helper processes of a multi-process run (they stay quiet)


def resolve_device(name: str) -> str:
    """"auto" picks CUDA when present; asking for CUDA without it is an error."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise GentextError("--device cuda was asked for, but torch sees no CUDA device")
    if name not in ("cpu", "cuda"):
        raise GentextError(f"unknown device {name!r}; choose auto, cpu or cuda")
    return name


class _Step:
    """The ``StepContext`` a model's ``training_step`` gets: one backward-clip-step per
    optimizer, through accelerate (mixed precision), gradients averaged over processes."""

    def __init__(self, accelerator, optimizers: dict, grad_clip: float, total_steps: int,
                 ranks: Ranks = Ranks(), seed: int = 0):
        self.accelerator, self.optimizers, self.ranks = accelerator, optimizers, ranks
        self.grad_clip, self.total_steps, self.step = grad_clip, total_steps, 0
        self.seed = seed

    @property
    def rank(self) -> int:
        return self.ranks.rank

    @property
    def world_size(self) -> int:
        return self.ranks.world

    def autocast(self):
        return self.accelerator.autocast()

    def optimize(self, name: str, loss: torch.Tensor) -> None:
        if name not in self.optimizers:
            raise KeyError(f"training_step asked for optimizer {name!r}; "
                           f"make_optimizers made {sorted(self.optimizers)}")
        optimizer = self.optimizers[name]
        self.accelerator.backward(loss)
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
        self.ranks.average_gradients(parameters)
        if self.grad_clip > 0:
            self.accelerator.clip_grad_norm_(parameters, self.grad_clip)
        optimizer.step()
        for each in self.optimizers.values():
            each.zero_grad(set_to_none=True)


class InterruptFlag:
    """The first Ctrl-C asks the loop to checkpoint and stop after this step; a second one
    stops at once."""

    def __init__(self):
        self.raised = False
        self._previous = None

    def _handle(self, signum, frame):
        if self.raised:
            raise KeyboardInterrupt
        self.raised = True

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: leave Ctrl-C alone
            self._previous = None
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _optimizer_tensors(optimizers: dict) -> tuple[dict, dict]:
    """Every optimizer's tensors, keyed ``optimizer.<name>.<param>.<field>``, and its groups."""
    tensors, groups = {}, {}
    for opt_name, optimizer in optimizers.items():
        state = optimizer.state_dict()
        tensors.update({f"optimizer.{opt_name}.{index}.{name}": value
                        for index, values in state["state"].items()
                        for name, value in values.items() if torch.is_tensor(value)})
        groups[opt_name] = state["param_groups"]
    return tensors, groups


def _restore_optimizers(optimizers: dict, tensors: dict, param_groups: dict) -> None:
    states: dict[str, dict[int, dict]] = {name: {} for name in optimizers}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, opt_name, index, name = key.split(".", 3)
            states[opt_name].setdefault(int(index), {})[name] = value
    for opt_name, optimizer in optimizers.items():
        optimizer.load_state_dict({"state": states[opt_name], "param_groups": param_groups[opt_name]})


def _rng_tensors(device: str) -> dict:
    tensors = {"rng.cpu": torch.get_rng_state()}
    if device == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    return tensors


def _append_metrics(path: Path, row: dict) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")


def _truncate_metrics(path: Path, step: int) -> None:
    """On resume, forget rows logged after the checkpoint: they will be logged again."""
    if path.is_file():
        rows = [line for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line)["step"] <= step]
        checkpoint.write_atomic(path, "".join(r + "\n" for r in rows))


def _check_resume(out: Path, config: RunConfig) -> None:
    """A resumed run keeps its model, data and tokenizer; only [train] may change."""
    saved = checkpoint.read_run_config(out)
    for section in ("run", "data", "model"):
        if getattr(saved, section) != getattr(config, section):
            raise GentextError(f"--resume cannot change [{section}] of {str(out)!r}; "
                               "only [train] settings may differ")


def _progress(console, enabled: bool):
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    return Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[stats]}"),
                    console=console, disable=not enabled, transient=False)


@dataclass
class _Prepared:
    """What the loop trains on: the tokenizer, the model and the encoded splits."""

    tokenizer: TextTokenizer
    model: TextModel
    train_data: object
    valid_data: object


def _prepare(config: RunConfig, out: Path, resume: bool, force: bool, spec,
             ranks: Ranks = Ranks()) -> _Prepared:
    """Check the request, load the data, make (or reuse) the tokenizer, build the model.

    Everything that can fail because of the user's input (data, config, model settings)
    fails here, before a new run directory is created."""
    if resume:
        checkpoint.prepare_run_dir(out, resume=True, force=False)  # checks there is a checkpoint
        _check_resume(out, config)
    splits = load_splits(config.data)
    start = _initial_run(config) if config.train.init and not resume else None
    corpus = _tokenised_corpus(config)
    if resume:
        tokenizer = TextTokenizer.load(out / checkpoint.TOKENIZER_FILE)
    elif start is not None:
        tokenizer = start.tokenizer
    elif corpus is not None:
        tokenizer = TextTokenizer.load(Path(config.data.source) / checkpoint.TOKENIZER_FILE)
    else:
        tokenizer = train_tokenizer([e["text"] for e in splits.train
                                     if may_fit(e["text"], config.data.max_len)],
                                    config.data.tokenizer, config.data.vocab_size)
    labels = checkpoint.read_labels(out) if resume else label_names(splits.train)
    torch.manual_seed(config.train.seed)
    model: TextModel = spec.model_class()(config.model, Vocab.of(tokenizer, labels))  # checks its config
    if start is not None:
        model.load_state_dict(start.model.state_dict())
    max_len = config.data.max_len
    if model.max_len is not None and max_len > model.max_len:
        raise GentextError(f"data.max_len ({max_len}) is longer than the model's context "
                           f"({model.max_len}); lower data.max_len or enlarge the model")
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
    conditioning = conditioning_labels(model)
    if corpus is not None:  # memory-mapped token ids, read a batch at a time
        from gentext.data.memmap import MappedSplit

        train_data = MappedSplit(Path(config.data.source) / "train")
    else:
        train_data = encode_split(splits.train, tokenizer, max_len, conditioning)
    if not train_data.sequences:
        raise GentextError(f"no training example fits in data.max_len={max_len} tokens")
    limit = config.train.eval_examples
    valid_data = encode_split(splits.valid[:limit] if limit else splits.valid, tokenizer, max_len,
                              conditioning)
    return _Prepared(tokenizer, model, train_data, valid_data)


def _tokenised_corpus(config: RunConfig) -> dict | None:
    """The corpus.json of a folder written by `gentext tokenize` (None for other data),
    checked against the run's data settings."""
    from gentext.data.memmap import is_corpus_folder, read_corpus

    if not is_corpus_folder(config.data.source):
        return None
    corpus = read_corpus(config.data.source)
    if corpus["tokenizer"] != config.data.tokenizer:
        raise GentextError(f"{config.data.source!r} was tokenised with the {corpus['tokenizer']!r} "
                           f"tokenizer; set data.tokenizer={corpus['tokenizer']}")
    if corpus["max_len"] > config.data.max_len:
        raise GentextError(f"{config.data.source!r} holds examples of up to {corpus['max_len']} "
                           f"tokens; set data.max_len={corpus['max_len']} or tokenise again")
    return corpus


def _initial_run(config: RunConfig):
    """The run ``train.init`` names, checked to fit this run's model exactly."""
    import dataclasses

    start = checkpoint.load_run(Path(config.train.init))
    if start.spec.name != config.run.model:
        raise GentextError(f"train.init {config.train.init!r} is a {start.spec.name!r} run, "
                           f"not {config.run.model!r}")
    if dataclasses.asdict(start.config.model) != dataclasses.asdict(config.model):
        raise GentextError(f"the [model] settings differ from those of train.init "
                           f"{config.train.init!r}; a run started from it keeps its model")
    return start


def _check_train_config(cfg: TrainConfig) -> None:
    for name in ("steps", "batch_size", "eval_every", "log_every"):
        if getattr(cfg, name) < 1:
            raise GentextError(f"train.{name} must be at least 1, got {getattr(cfg, name)}")
    if cfg.max_minutes < 0:
        raise GentextError(f"train.max_minutes must be 0 (no limit) or more, got {cfg.max_minutes}")


def train(config: RunConfig, out: Path, *, resume: bool = False, force: bool = False,
          console=None, progress: bool = True) -> TrainResult:
    """Train ``config.run.model`` into the run directory ``out``."""
    from accelerate import Accelerator
    from rich.console import Console
    from safetensors.torch import load_model as load_weights

    console = console or Console(stderr=True)
    out, cfg = Path(out), config.train
    spec = get_model(config.run.model)
    plugin = model_owner(spec.name)
    plugin_version = {p.name: p.version for p in plugins()}.get(plugin, "unknown")
    _check_train_config(cfg)
    device = resolve_device(cfg.device)
    accelerator = Accelerator(cpu=device == "cpu", mixed_precision="bf16" if device == "cuda" else "no")
    ranks = Ranks.current()
    if ranks.several and cfg.batch_size % ranks.world:
        raise GentextError(f"train.batch_size ({cfg.batch_size}) must divide by the number of "
                           f"processes ({ranks.world}): it is the global batch")
    prepared = _prepare(config, out, resume, force, spec, ranks)
    tokenizer, model, metrics_path = prepared.tokenizer, prepared.model, out / checkpoint.METRICS_FILE
    progress = progress and ranks.main
    if not ranks.main:
        console = Console(quiet=True)
    model.to(accelerator.device)  # before the optimizer: fused AdamW wants its params on CUDA
    step, elapsed, position = 0, 0.0, {"epoch": 0, "index": 0}
    if resume:
        tensors, state = checkpoint.load_training_state(out)
        weights = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
        if weights:
            model.load_state_dict(weights)
        else:  # a checkpoint from before the weights travelled with the state
            load_weights(model, str(out / checkpoint.MODEL_DIR / checkpoint.WEIGHTS_FILE))
        step, elapsed, position = state["step"], state["elapsed_s"], state["data"]
        torch.set_rng_state(tensors["rng.cpu"])
        if device == "cuda" and "rng.cuda" in tensors:
            torch.cuda.set_rng_state(tensors["rng.cuda"])
        _truncate_metrics(metrics_path, step)
    made = model.make_optimizers(cfg, fused=device == "cuda")
    if ranks.several:  # gradients are averaged by _Step, for any number of optimizers
        ranks.broadcast_parameters(model)
        prepared_optimizers = accelerator.prepare(*made.values())
        prepared_optimizers = prepared_optimizers if len(made) > 1 else [prepared_optimizers]
    else:
        model, *prepared_optimizers = accelerator.prepare(model, *made.values())
    optimizers = dict(zip(made, prepared_optimizers))
    core: TextModel = accelerator.unwrap_model(model)
    if resume:
        _restore_optimizers(optimizers, tensors, state["param_groups"])
    context = _Step(accelerator, optimizers, cfg.grad_clip, cfg.steps, ranks, cfg.seed)
    if device == "cuda" and cfg.compile:
        core.compile()  # in place: state_dict keys stay clean, loss() calls the compiled forward
    stream = BatchStream(prepared.train_data, cfg.batch_size, tokenizer.pad_id, cfg.seed,
                         min_rows=ranks.world, **position)

    def save(done: int) -> None:
        if not ranks.main:
            return
        checkpoint.save_model(out, core, spec.name, plugin, plugin_version, done)
        tensors, groups = _optimizer_tensors(optimizers)
        weights = {f"model.{k}": v for k, v in core.state_dict().items()}
        checkpoint.save_training_state(out, {**weights, **tensors, **_rng_tensors(device)}, {
            "step": done, "elapsed_s": elapsed + (time.perf_counter() - started),
            "data": stream.position(), "param_groups": groups,
        })

    def validate(done: int) -> Evaluation | None:
        if not prepared.valid_data.sequences:
            return None
        result = evaluate_encoded(core, prepared.valid_data, tokenizer, "valid", spec.likelihood,
                                  samples=cfg.valid_nll_samples, ranks=ranks)
        if ranks.main:
            _append_metrics(metrics_path, {"step": done, **result.as_dict()})
        return result

    train_data = prepared.train_data
    console.print(f"gentext: training {spec.name} ({core.num_parameters():,} parameters) on "
                  f"{device}, {len(train_data.sequences):,} training examples "
                  f"({train_data.dropped} longer than {config.data.max_len} tokens left out), "
                  f"tokenizer {tokenizer.name} -> {out}")
    status, valid, started = "finished", None, time.perf_counter()
    budget = cfg.max_minutes * 60 if cfg.max_minutes > 0 else None  # seconds of training
    window_tokens, window_steps, window_start = 0, 0, time.perf_counter()
    # accumulated on the device and read only at log/eval steps: no host sync every step
    nonfinite = torch.zeros((), dtype=torch.bool, device=accelerator.device)
    sums: dict[str, torch.Tensor] = {}  # every scalar the model's loss() returned, summed
    model.train()
    with InterruptFlag() as interrupt, _progress(console, progress) as bar:
        task = bar.add_task("train", total=cfg.steps, completed=step, stats="")
        while step < cfg.steps:
            rates = core.learning_rates(step, cfg)
            for name, optimizer in optimizers.items():
                for group in optimizer.param_groups:
                    group["lr"] = rates[name]
            batch = ranks.shard(next(stream))
            window_tokens += int(batch["lengths"].sum())
            if accelerator.device.type == "cuda":  # pinned host memory: the copy overlaps compute
                batch = {k: v.pin_memory() for k, v in batch.items()}
            batch = {k: v.to(accelerator.device, non_blocking=True) for k, v in batch.items()}
            core.set_training_progress(step, cfg.steps)
            context.step = step
            outputs = core.training_step(batch, context)
            for name, value in outputs.items():
                value = torch.as_tensor(value).detach().float()
                nonfinite |= ~torch.isfinite(value)
                sums[name] = sums[name] + value if name in sums else value
            step += 1
            window_steps += 1
            out_of_time = budget is not None and elapsed + time.perf_counter() - started >= budget
            if ranks.several:  # stop together: a Ctrl-C or the clock of any process counts
                interrupt.raised, out_of_time = ranks.any(interrupt.raised, out_of_time)
            last = step == cfg.steps or out_of_time
            at_log = step % cfg.log_every == 0 or last
            at_eval = step % cfg.eval_every == 0 or last or interrupt.raised
            if (at_log or at_eval) and ranks.any(bool(nonfinite))[0]:
                status = "diverged"
                break
            if at_log:
                seconds = time.perf_counter() - window_start
                names = sorted(sums)
                totals = ranks.sum(torch.stack([sums[n] for n in names] + [
                    torch.tensor(float(window_tokens), device=accelerator.device)]))
                window_tokens = float(totals[-1])
                means = {name: float(total) / window_steps / ranks.world
                         for name, total in zip(names, totals[:-1])}
                rates = core.learning_rates(step - 1, cfg)
                lrs = {"lr": next(iter(rates.values()))} if len(rates) == 1 else {
                    f"lr_{name}": rate for name, rate in rates.items()}
                row = {"step": step, **means, **lrs,
                       "tokens_per_s": window_tokens / seconds,
                       "elapsed_s": elapsed + time.perf_counter() - started}
                if ranks.main:
                    _append_metrics(metrics_path, row)
                bar.update(task, completed=step,
                           stats=f"loss {means['loss']:.3f}  {row['tokens_per_s']:,.0f} tok/s")
                sums.clear()
                window_tokens, window_steps, window_start = 0, 0, time.perf_counter()
            else:
                bar.update(task, completed=step)
            if at_eval:
                valid = validate(step)
                save(step)
                if valid is not None:
                    bar.console.print(f"step {step}: valid {valid.nats_per_token:.4f} nats/token, "
                                      f"{valid.bits_per_byte:.4f} bits/byte")
            if interrupt.raised:
                status = "interrupted"
                break
            if out_of_time:
                break
    return _finish(status, step, elapsed + time.perf_counter() - started, valid, core, tokenizer,
                   config, out, ranks)


def _finish(status: str, step: int, seconds: float, valid, model, tokenizer, config: RunConfig,
            out: Path, ranks: Ranks = Ranks()) -> TrainResult:
    """Samples and plots for a finished run; a one-line error for a stopped one."""
    if not ranks.main:  # the main process reports; the others end with the same status
        if status == "diverged":
            raise GentextError("the loss became NaN or infinite (see the main process)")
        if status == "interrupted":
            raise GentextError("interrupted", exit_code=INTERRUPTED_EXIT_CODE)
        return TrainResult(out, step, seconds, valid, status, main=False)
    if status == "diverged":
        raise GentextError(
            f"the loss became NaN or infinite before step {step}; stopped without saving. "
            f"The last good checkpoint (step {_saved_step(out)}) is kept in {str(out)!r}: "
            "lower train.lr or raise train.warmup_steps, then --resume or --force")
    if status == "finished":
        _write_samples(model, tokenizer, config, out)
    metrics_path = out / checkpoint.METRICS_FILE
    if metrics_path.is_file():
        plot_losses(metrics_path, out / "loss.png")
    if status == "interrupted":
        raise GentextError(f"interrupted: checkpoint saved at step {step} in {str(out)!r}; "
                           f"continue with `gentext train --resume --out {out}`",
                           exit_code=INTERRUPTED_EXIT_CODE)
    return TrainResult(out, step, seconds, valid, status)


def _saved_step(out: Path) -> int | str:
    try:
        return json.loads((out / checkpoint.CHECKPOINT_DIR / checkpoint.STATE_FILE).read_text())["step"]
    except (OSError, ValueError, KeyError):
        return "none"


def _write_samples(model: TextModel, tokenizer, config: RunConfig, out: Path) -> None:
    if config.train.samples <= 0:
        return
    texts = sample_texts(model, tokenizer, config.train.samples, config.data.max_len,
                         seed=config.train.seed)
    checkpoint.write_atomic(out / "samples.txt", "".join(one_line(t) + "\n" for t in texts))

