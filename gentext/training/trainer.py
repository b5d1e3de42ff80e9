"""The one training loop, for every family: AdamW, warm-up + cosine, gradient clipping,
periodic validation and checkpoints, on ``accelerate`` so the same code runs on a CPU or GPU.

A run resumes exactly: the data order is a function of (seed, epoch), the learning rate a
function of the step, and the optimizer, RNG and data position are checkpointed (one
`TrainingState`), so a resumed run follows the loss curve of an uninterrupted one. Ctrl-C
checkpoints and stops; a non-finite loss stops without saving, keeping the last good
checkpoint. Setup (config, data, tokenizer, model, run directory) lives in `gentext.training.prepare`.
"""

from __future__ import annotations

import contextlib
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from gentext.runs import checkpoint

from gentext.training import sharding
from gentext.runs.checkpoint import TrainingState
from gentext.config import RunConfig
from gentext.data.batching import BatchStream
from gentext.training.devices import device_type, mixed_precision, resolve_device
from gentext.distributed import Ranks
from gentext.errors import GentextError
from gentext.evaluation.evaluate import (Evaluation, default_max_new_tokens, evaluate_encoded, one_line,
                              sample_texts)
from gentext.training.memory import release_free_memory
from gentext.runs.metrics_log import TRAIN, VALID, MetricsLog
from gentext.models.contract import Shard, TextModel
from gentext.runs.plots import plot_losses
from gentext.plugins.manager import get_model
from gentext.training.prepare import assemble_config, check_train_config, prepare
from gentext.training.trackers import hyperparameters, make_trackers, scalars

INTERRUPTED_EXIT_CODE = 130


@dataclass
class TrainResult:
    run_dir: Path
    step: int  # optimizer steps completed
    seconds: float  # training wall-clock time, resumed sessions included
    valid: Evaluation | None
    status: str  # "finished", "interrupted" or "diverged"
    main: bool = True  # False in the helper processes of a multi-process run (they stay quiet)


def train(config: RunConfig | None, out: Path, *, resume: bool = False, force: bool = False,
          overrides: list[str] = (), console=None, progress: bool = True) -> TrainResult:
    """Train ``config.run.model`` into the run directory ``out``; ``resume=True`` continues
    the run in ``out`` exactly (``config`` None: its saved config, with ``overrides``)."""
    if config is None or overrides:
        if config is not None:
            raise GentextError("give a config or overrides of the saved one, not both")
        if not resume:
            raise GentextError("a new run needs a config (see gentext.training.prepare.assemble_config)")
        config = assemble_config(resume=Path(out), overrides=overrides)
    trainer = Trainer(config, out, resume=resume, force=force, console=console,
                      progress=progress)
    try:
        result = trainer.fit()
    except BaseException:
        trainer.close_trackers()
        trainer.ranks.close(wait=False)
        raise
    trainer.close_trackers()
    trainer.ranks.close()  # the helpers wait for the main process's samples, then all leave
    return result


CPU_MICRO_BATCH_TOKENS = 512  # bounds a CPU run's resident memory (docs/speed.md#memory)


def micro_batch_limit(setting: int, device_kind: str) -> int:
    """Padded positions a micro-batch may hold (0: no limit) for ``train.micro_batch_tokens``:
    auto (0) bounds a CPU run's activations, where they are most of its resident memory, and
    leaves a GPU's batches whole, where a larger matrix product is faster."""
    if setting == 0:
        return CPU_MICRO_BATCH_TOKENS if device_kind == "cpu" else 0
    return max(setting, 0)


def compile_hot_path(model: TextModel) -> list[str]:
    """``torch.compile`` the forward of each submodule the model's capabilities name, for the
    training step only: a call in training mode with gradients on runs the compiled graph;
    evaluation and sampling (no gradients) run eagerly, so their many shapes (a KV cache's
    every position, each batch of a split) never recompile. The module keeps its state_dict
    keys. A ``ModuleList`` named compiles each of its modules (a Transformer's blocks: one
    graph serves them all). Returns the names compiled."""
    for name in model.capabilities.compile:
        module = model.get_submodule(name)
        for each in module if isinstance(module, torch.nn.ModuleList) else [module]:
            _compile_training_forward(each)
    return list(model.capabilities.compile)


def _compile_training_forward(module: torch.nn.Module) -> None:
    eager = module.forward
    compiled = torch.compile(eager)

    def forward(*args, **kwargs):
        if module.training and torch.is_grad_enabled():
            for value in [*args, *kwargs.values()]:  # batches vary in rows and width: one
                if isinstance(value, torch.Tensor):  # graph for all, not one per shape
                    for dim in range(min(value.dim(), 2)):
                        torch._dynamo.maybe_mark_dynamic(value, dim)
            return compiled(*args, **kwargs)
        return eager(*args, **kwargs)

    module.forward = forward


class _Held(torch.nn.Module):
    """The parameters one optimizer steps, as a module DDP can wrap (the same tensors, not
    copies): its forward runs an objective, so DDP's gradient hooks and its no_sync apply to
    whatever a family's objective computes, for any number of optimizers."""

    def __init__(self, parameters):
        super().__init__()
        self.held = torch.nn.ParameterList(parameters)

    def forward(self, objective, micro_batch: dict, shard: Shard):
        return objective(micro_batch, shard)


AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class _Step:
    """The ``StepContext`` a model's ``training_step`` gets: one backward-clip-step per
    optimizer, in the run's mixed precision (autocast, and loss scaling for fp16), over
    ``grad_accum`` micro-batches, gradients synchronised once per step (DDP over several
    processes). Only the objectives a step runs are autocast: nothing patches the model's
    forward, so evaluation and sampling stay float32."""

    def __init__(self, optimizers: dict, grad_clip: float, total_steps: int,
                 ranks: Ranks = Ranks(), seed: int = 0, grad_accum: int = 1,
                 synced: dict | None = None, micro_batch_tokens: int = 0, root=None,
                 precision: str = "no"):
        self.optimizers, self.ranks = optimizers, ranks
        self.grad_clip, self.total_steps, self.step = grad_clip, total_steps, 0
        self.seed, self.grad_accum = seed, grad_accum
        self.micro_batch_tokens = micro_batch_tokens  # 0: split only by grad_accum
        self.synced = synced or {}  # optimizer name -> its parameters under DDP (_Held)
        self.root = root  # the sharded model under FSDP (gentext.training.sharding), else None
        self.dtype = AUTOCAST_DTYPES.get(precision)  # None: float32
        self.scaler = torch.amp.GradScaler(ranks.device.type) if precision == "fp16" else None

    @property
    def rank(self) -> int:
        return self.ranks.rank

    @property
    def world_size(self) -> int:
        return self.ranks.world

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.ranks.device.type, dtype=self.dtype)

    def sum_over_processes(self, values: torch.Tensor) -> torch.Tensor:
        return self.ranks.sum(values)

    def _backward(self, loss: torch.Tensor) -> None:
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()

    def whole_model(self):
        return sharding.gathered(self.root)

    def micro_batches(self, batch: dict):
        """(micro-batch, shard, weight) triples. The batch is cut into n = grad_accum x m
        parts, m the fewest that keep each part within ``micro_batch_tokens`` padded
        positions (rows x longest row); part i holds this process's rows i, i + n, ..., i.e.
        rows rank + world * i, ... of a global batch split world * n ways, padded as the
        batch is (a family may read the padding: seqgan's discriminator does). Its weight is
        its share of the batch's predicted tokens (each row's length less ``<bos>``; a 0-d
        tensor on the batch's device, so no host sync), so summing weight x loss over the
        parts gives the loss of the whole batch for a loss that is a mean per predicted
        token, as every built-in family's is."""
        k, rank, world = self.grad_accum, self.ranks.rank, self.ranks.world
        rows = len(batch["lengths"]) if "lengths" in batch else len(next(iter(batch.values())))
        n = k
        if self.micro_batch_tokens and "tokens" in batch:
            width = batch["tokens"].size(1)
            per_part = max(1, self.micro_batch_tokens // max(width, 1))
            n = k * max(1, -(-rows // (k * per_part)))
            n = min(n, max(rows, k))
        if n == 1:
            yield batch, Shard(rank, world), 1.0
            return

        lengths = batch.get("lengths")
        predicted = None if lengths is None else (lengths - 1).clamp(min=0)
        every = None if predicted is None else predicted.sum().clamp(min=1)
        for i in range(n):
            part = {name: value[i::n] for name, value in batch.items()}
            if predicted is not None:
                weight = predicted[i::n].sum() / every
            else:
                weight = len(range(i, rows, n)) / rows
            yield part, Shard(rank + world * i, world * n), weight

    def optimize(self, name: str, objective, batch: dict | None = None) -> dict | None:
        if name not in self.optimizers:
            raise KeyError(f"training_step asked for optimizer {name!r}; "
                           f"make_optimizers made {sorted(self.optimizers)}")
        optimizer = self.optimizers[name]
        outputs = None
        if callable(objective):
            if batch is None:
                raise GentextError(f"optimize({name!r}, objective) needs the batch to split "
                                   "into micro-batches: optimize(name, objective, batch)")
            outputs = self._accumulate(name, objective, batch)
        elif self.grad_accum > 1 or self.ranks.several:
            why = (f"train.grad_accum is {self.grad_accum}" if self.grad_accum > 1
                   else f"this run has {self.ranks.world} processes")
            raise GentextError(f"{why}, but this model's training_step gives optimize() a loss "
                               "tensor, not a function of the micro-batch; see docs/plugins.md")
        else:
            self._backward(objective)
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)
        if self.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(parameters, self.grad_clip)
        if self.scaler is None:
            optimizer.step()
        else:  # skipped when the scaled gradients overflowed
            self.scaler.step(optimizer)
            self.scaler.update()
        for each in self.optimizers.values():
            each.zero_grad(set_to_none=True)
        return outputs

    def _accumulate(self, name: str, objective, batch: dict) -> dict:
        """Back-propagate ``objective`` on each micro-batch, its loss times what it is a mean
        over (the ``count`` it returns, else its predicted tokens), then divide the summed
        gradients by the total: the gradient of the whole batch's mean, however it was cut.
        Under DDP synchronised on the last micro-batch only. Returns the outputs' means,
        weighted alike."""
        synced, sums, total = self.synced.get(name), {}, 0.0
        parts = list(self.micro_batches(batch))
        for i, (part, shard, share) in enumerate(parts):
            last = i == len(parts) - 1
            with contextlib.nullcontext() if synced is None or last else synced.no_sync():
                outputs = objective(part, shard) if synced is None else synced(objective, part,
                                                                              shard)
                if not isinstance(outputs, dict):
                    outputs = {"loss": outputs}
                outputs = dict(outputs)
                count = outputs.pop("count", None)
                weight = share if count is None else count
                self._backward(outputs["loss"] * weight)
            total += weight
            for key, value in outputs.items():
                value = value.detach() if isinstance(value, torch.Tensor) else value
                sums[key] = sums[key] + value * weight if key in sums else value * weight
        if not (isinstance(total, float) and total == 1.0):  # one whole part: nothing to undo
            for group in self.optimizers[name].param_groups:
                for parameter in group["params"]:
                    if parameter.grad is not None:
                        parameter.grad.div_(total)
        return {key: value / total for key, value in sums.items()}


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


def _progress(console, enabled: bool):
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    return Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[stats]}"),
                    console=console, disable=not enabled, transient=False)


class _DeviceBatches:
    """The training batches, this process's rows of each, on the device, with their lengths
    kept on the host (so counting tokens never asks the device), and on a GPU copied from pinned memory one step ahead, the copy queued behind the step
    before so the host never waits for it. ``position`` is the stream's position after the
    last batch handed out (what a checkpoint saves), not after the one fetched ahead."""

    def __init__(self, stream: BatchStream, ranks: Ranks):
        self.stream, self.ranks = stream, ranks
        self.position = stream.position()
        self.ahead = None

    def _fetch(self):
        batch = self.ranks.shard(next(self.stream))
        lengths = batch["lengths"]
        position = self.stream.position()
        device = self.ranks.device
        if device.type == "cuda":
            batch = {k: v.pin_memory() for k, v in batch.items()}
        moved = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        return moved, lengths, position

    def prefetch(self) -> None:
        if self.ranks.device.type == "cuda" and self.ahead is None:
            self.ahead = self._fetch()

    def next(self) -> tuple[dict, torch.Tensor]:
        """The next batch on the device, and its rows' lengths on the host."""
        batch, lengths, self.position = self.ahead or self._fetch()
        self.ahead = None
        return batch, lengths


class _Window:
    """The scalars a model's steps returned since the last log row, summed on the device
    (read only at log steps: no host sync every step), and the tokens trained on."""

    def __init__(self, device):
        self.nonfinite = torch.zeros((), dtype=torch.bool, device=device)  # ever, not per window
        self.device = device
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.tokens, self.steps, self.start = 0, 0, time.perf_counter()

    def add(self, outputs: dict, tokens: int) -> None:
        for name, value in outputs.items():  # on this device, whatever a family returned
            value = torch.as_tensor(value, device=self.device).detach().float()
            self.nonfinite |= ~torch.isfinite(value)
            self.sums[name] = self.sums[name] + value if name in self.sums else value
        self.tokens += tokens
        self.steps += 1

    def totals(self, ranks: Ranks) -> torch.Tensor:
        """The sums (in name order) and the tokens, over all processes, on the device."""
        names = sorted(self.sums)
        return ranks.sum(torch.stack([self.sums[n] for n in names] + [
            torch.tensor(float(self.tokens), device=self.device)]))

    def means(self, ranks: Ranks) -> tuple[dict[str, float], float]:
        """Each scalar's mean per step and process, and tokens per second, over all processes
        (the one read from the device in a window)."""
        totals = self.totals(ranks).tolist()
        means = {name: total / self.steps / ranks.world
                 for name, total in zip(sorted(self.sums), totals[:-1])}
        return means, totals[-1] / (time.perf_counter() - self.start)


UNSUPPORTED_ENGINES = {"DEEPSPEED": "DeepSpeed", "MEGATRON_LM": "Megatron-LM"}


def _check_distributed_type(kind) -> None:
    """A launch whose accelerate config asks for a sharding engine gentext does not wire in
    is refused in one line, before anything is trained (not trained as plain DDP, silently:
    on CPUs accelerate ignores such configs). ``kind``: the accelerator's DistributedType
    (None: not made yet); the launcher's ``ACCELERATE_USE_<ENGINE>`` variables count too.
    FSDP is wired in (gentext.training.sharding)."""
    from accelerate.utils import parse_flag_from_env

    asked = [key for key in UNSUPPORTED_ENGINES
             if getattr(kind, "name", str(kind)) == key or parse_flag_from_env(f"ACCELERATE_USE_{key}")]
    name = UNSUPPORTED_ENGINES[asked[0]] if asked else None
    if name:
        raise GentextError(f"the accelerate config asks for {name}, which gentext does not "
                           "support yet: it trains data-parallel (DDP or FSDP); launch without "
                           "that config (docs/distributed.md)")


class Trainer:
    """One run's training: built from a resolved config (resuming its checkpoint if asked),
    then ``fit`` runs the loop."""

    def __init__(self, config: RunConfig, out: Path, *, resume: bool = False,
                 force: bool = False, console=None, progress: bool = True):
        from rich.console import Console

        self.config, self.out, self.cfg = config, Path(out), config.train
        self.spec = get_model(config.run.model)
        check_train_config(self.cfg)
        self.device = resolve_device(self.cfg.device)
        self.device_type = device_type(self.device)
        precision = mixed_precision(self.cfg.precision, self.device)
        if ":" in self.device and Ranks.launched():
            raise GentextError(f"--device {self.device} names one GPU, but this is one of "
                               "several processes (each takes cuda:LOCAL_RANK): give --device cuda")
        if ":" in self.device:
            torch.cuda.set_device(self.device)
        trackers = make_trackers(self.cfg.log_with, self.out)
        _check_distributed_type(None)  # before accelerate, which fails on some without a word
        plan = sharding.requested()
        self.accelerator = self._make_accelerator(trackers)
        several = Ranks.current().several
        if several and self.accelerator.device.type != self.device_type:
            raise GentextError(f"several processes on {self.device_type} where the processes "
                               f"were set up on {self.accelerator.device.type}: give --device "
                               f"{self.accelerator.device.type}, or hide the GPUs "
                               "(CUDA_VISIBLE_DEVICES=) to train on the CPU")
        # one process: the device asked for; several: each process's own (cuda:LOCAL_RANK)
        self.torch_device = self.accelerator.device if several else torch.device(self.device)
        self.ranks = Ranks.current(self.torch_device)
        self.plan = plan if self.ranks.several else None  # one process: nothing to shard
        sharding.check_precision(self.plan, precision, self.cfg.precision)
        self.root: sharding.ShardedRoot | None = None  # the sharded model, under FSDP
        if self.ranks.several and self.cfg.batch_size % self.ranks.world:
            raise GentextError(f"train.batch_size ({self.cfg.batch_size}) must divide by the "
                               f"number of processes ({self.ranks.world}): it is the global batch")
        if self.cfg.batch_size % (self.ranks.world * self.cfg.grad_accum):
            raise GentextError(
                f"train.batch_size ({self.cfg.batch_size}) must divide by train.grad_accum "
                f"({self.cfg.grad_accum}) x processes ({self.ranks.world}): each micro-batch "
                "is an equal share of the global batch")
        prepared = prepare(config, self.out, resume, force, self.ranks)
        release_free_memory()  # what tokenising and the tokenizer's threads left behind
        self.tokenizer, self.train_data = prepared.tokenizer, prepared.train_data
        self.valid_data = prepared.valid_data
        # the main process reports; the others stay quiet
        self.console = console if console and self.ranks.main else Console(
            stderr=True, quiet=not self.ranks.main)
        self.progress = progress and self.ranks.main
        self.log = MetricsLog(self.out / checkpoint.METRICS_FILE)
        if trackers:
            self.accelerator.init_trackers("gentext", config=hyperparameters(config.sections()))
        state = TrainingState.load(self.out) if resume else TrainingState()
        model = prepared.model.to(self.torch_device)  # before fused AdamW sees its params
        if resume:
            state.restore_model(model, self.out)
            state.restore_rng(self.device_type)
            if self.ranks.main:  # the one writer (two would race over the same file)
                self.log.truncate_after(state.step)
        self.model, self.optimizers, synced = self._prepare_optimizers(model, state, resume)
        self.context = _Step(self.optimizers, self.cfg.grad_clip, self.cfg.steps, self.ranks,
                             self.cfg.seed, self.cfg.grad_accum, synced,
                             micro_batch_limit(self.cfg.micro_batch_tokens, self.device_type),
                             self.root, precision)
        if self.device_type == "cuda" and self.cfg.compile and self.root is None:
            compile_hot_path(self.model)  # not under FSDP: its hooks run in the hot path
        self.stream = BatchStream(self.train_data, self.cfg.batch_size, self.tokenizer.pad_id,
                                  self.cfg.seed,
                                  min_rows=self.ranks.world * self.cfg.grad_accum, **state.data)
        self.batches = _DeviceBatches(self.stream, self.ranks)
        self.step, self.elapsed_before = state.step, state.elapsed_s
        self.window = _Window(self.torch_device)

    def _make_accelerator(self, trackers):
        """accelerate sets up the processes, DDP and the trackers; the precision is the step
        context's own (autocast around objectives), so accelerate's state is the same for
        every run of a process (a notebook, the tests) and never patches a forward. One of
        several processes runs once, on the device asked for (its process group: gloo on the
        CPU, NCCL on GPUs); one process alone trains on its own device whatever accelerate's
        state holds, which then never has to change (it cannot, within a process)."""
        from accelerate import Accelerator, DistributedDataParallelKwargs

        on_cpu = self.device_type == "cpu" if Ranks.launched() else not torch.cuda.is_available()
        with sharding.accelerate_without_fsdp():  # gentext shards the model itself
            accelerator = Accelerator(
                cpu=on_cpu, log_with=trackers or None,
                # a family's step may leave some parameters without a gradient (a GAN's phases)
                kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
        _check_distributed_type(accelerator.distributed_type)
        return accelerator

    def _prepare_optimizers(self, model: TextModel, state: TrainingState, resume: bool):
        """The model's optimizers through accelerate (restored when resuming), the model, and
        over several processes each optimizer's parameters under DDP, or the model sharded."""
        if self.plan:
            return self._prepare_sharded(model, state, resume)
        optimizers = model.make_optimizers(self.cfg, fused=self.device_type == "cuda")
        synced = {}
        if self.ranks.several:  # DDP per optimizer: a GAN's two networks are synced apart
            self.ranks.broadcast_parameters(model)  # buffers too: every process starts alike
            for name, optimizer in optimizers.items():
                held = [p for group in optimizer.param_groups for p in group["params"]
                        if p.requires_grad]
                synced[name] = self.accelerator.prepare_model(_Held(held),
                                                              device_placement=False)
        if resume:
            state.restore_optimizers(optimizers)
        return model, optimizers, synced

    def _prepare_sharded(self, model: TextModel, state: TrainingState, resume: bool):
        """FSDP: the model sharded in place (every process from the main one's weights), its
        optimizers made over the shards, every objective run through the one sharded root."""
        self.ranks.broadcast_parameters(model)
        self.root = sharding.shard_model(model, model.capabilities.fsdp_units, self.plan)
        optimizers = model.make_optimizers(self.cfg, fused=self.device_type == "cuda")
        if resume:
            for name, optimizer in optimizers.items():
                sharding.load_sharded_optimizer_state(optimizer, state.optimizers[name])
        return model, optimizers, {name: self.root for name in optimizers}

    def elapsed(self) -> float:
        """Training seconds so far, earlier sessions of a resumed run included."""
        return self.elapsed_before + time.perf_counter() - self.started

    def fit(self) -> TrainResult:
        """Train until ``train.steps`` (or the time budget, Ctrl-C, or a non-finite loss)."""
        cfg, status, valid = self.cfg, "finished", None
        self._announce()
        budget = cfg.max_minutes * 60 if cfg.max_minutes > 0 else None  # seconds of training
        self.started = time.perf_counter()
        self.model.train()
        with InterruptFlag() as interrupt, _progress(self.console, self.progress) as bar:
            task = bar.add_task("train", total=cfg.steps, completed=self.step, stats="")
            while self.step < cfg.steps:
                self._train_step()
                out_of_time = budget is not None and self.elapsed() >= budget
                if self.ranks.several:  # stop together: a Ctrl-C or the clock of any process
                    interrupt.raised, out_of_time = self.ranks.any(interrupt.raised, out_of_time)
                last = self.step == cfg.steps or out_of_time
                at_log = self.step % cfg.log_every == 0 or last
                at_eval = self.step % cfg.eval_every == 0 or last or interrupt.raised
                if (at_log or at_eval) and self.ranks.any(bool(self.window.nonfinite))[0]:
                    status = "diverged"
                    break
                stats = self._log_training() if at_log else None
                bar.update(task, completed=self.step, **({"stats": stats} if stats else {}))
                if at_eval:
                    valid = self._validate_and_save(bar.console)
                if interrupt.raised:
                    status = "interrupted"
                    break
                if out_of_time:
                    break
        with sharding.gathered(self.root if status == "finished" else None):  # for samples
            return _finish(status, self.step, self.elapsed(), valid, self.model,
                           self.tokenizer, self.config, self.out, self.ranks)

    def _announce(self) -> None:
        rows, max_len = len(self.train_data.sequences), self.config.data.max_len
        what = (f"{rows:,} training windows of up to {max_len} tokens"
                if self.config.data.unit == "document" else
                f"{rows:,} training examples ({self.train_data.dropped} longer than {max_len} "
                "tokens left out)")
        where = self.device if self.root is None else (
            f"{self.device}, sharded by FSDP over {self.ranks.world} processes in "
            f"{sharding.unit_count(self.root)} units")
        self.console.print(
            f"gentext: training {self.spec.name} ({self.model.num_parameters():,} parameters) "
            f"on {where}, {what}, tokenizer {self.tokenizer.name} -> {self.out}")
        for split, data in (("training", self.train_data), ("validation", self.valid_data)):
            warning = data.length_warning(split, self.config.data.max_len) \
                if hasattr(data, "length_warning") else None
            if warning:
                self.console.print(f"gentext: warning: {warning}", markup=False,
                                   soft_wrap=True)  # one line, however narrow the terminal

    def _train_step(self) -> None:
        """Set the learning rates, take the next batch, and let the model step."""
        for name, rate in self.model.learning_rates(self.step, self.cfg).items():
            for group in self.optimizers[name].param_groups:
                group["lr"] = rate
        batch, host_lengths = self.batches.next()
        self.model.set_training_progress(self.step, self.cfg.steps)
        self.context.step = self.step
        try:
            outputs = self.model.training_step(batch, self.context)
        except RuntimeError as error:
            if self.root is None or "DTensor" not in str(error):
                raise
            raise GentextError(
                f"under FSDP, {self.spec.name}'s training_step used the model outside the "
                "objectives it gives context.optimize, where its weights are sharded: compute "
                "that inside `with context.whole_model():` (docs/plugins.md)") from None
        self.window.add(outputs, int(host_lengths.sum()))
        self.step += 1
        self.batches.prefetch()  # the next batch's copy, queued behind this step's work

    def _log_training(self) -> str:
        """A training row of metrics.jsonl for the window since the last; the bar's text."""
        means, tokens_per_s = self.window.means(self.ranks)
        rates = self.model.learning_rates(self.step - 1, self.cfg)
        lrs = {"lr": next(iter(rates.values()))} if len(rates) == 1 else {
            f"lr_{name}": rate for name, rate in rates.items()}
        if self.ranks.main:
            self._record(TRAIN, {**means, **lrs, "tokens_per_s": tokens_per_s,
                                 "elapsed_s": self.elapsed()})
        self.window.reset()
        return f"loss {means['loss']:.3f}  {tokens_per_s:,.0f} tok/s"

    def _validate_and_save(self, console) -> Evaluation | None:
        """Score the validation split (logged), then checkpoint."""
        valid = None
        if self.valid_data.sequences:
            started, elapsed = time.perf_counter(), self.elapsed()
            with sharding.gathered(self.root):
                valid = evaluate_encoded(self.model, self.valid_data, self.tokenizer, "valid",
                                         self.spec.likelihood_of(self.config.model),
                                         samples=self.cfg.valid_nll_samples, ranks=self.ranks,
                                         max_tokens=self.context.micro_batch_tokens)
            if self.ranks.main:
                self._record(VALID, {**valid.as_dict(), "elapsed_s": elapsed,
                                     "eval_s": time.perf_counter() - started})
        self._save()
        release_free_memory()  # the evaluation's batches and the checkpoint's buffers
        if valid is not None:
            console.print(f"step {self.step}: valid {valid.nats_per_token:.4f} nats/token, "
                          f"{valid.bits_per_byte:.4f} bits/byte")
        return valid

    def _record(self, kind: str, values: dict) -> None:
        """A metrics.jsonl row, and the same figures to the trackers (train.log_with)."""
        self.log.append(kind, self.step, values)
        self.accelerator.log(scalars(values, kind), step=self.step)

    def close_trackers(self) -> None:
        """Flush and close the trackers (accelerate's end_training would also end the process
        group, which Ranks.close does once every process is done)."""
        for tracker in getattr(self.accelerator, "trackers", []):
            tracker.finish()

    def _save(self) -> None:
        """The model (model/) and the training state (checkpoints/), each written atomically
        by the main process (under FSDP every process gathers the shards first)."""
        if self.root is None and not self.ranks.main:
            return
        weights = optimizer_states = None
        if self.root is not None:  # collectives: every process gathers, the main one keeps
            weights = sharding.full_state_dict(self.model, keep=self.ranks.main)
            optimizer_states = {name: sharding.full_optimizer_state(optimizer, self.ranks.main)
                                for name, optimizer in self.optimizers.items()}
        if self.ranks.main:
            checkpoint.save_model(self.out, self.model, self.spec.name, self.step, weights)
            TrainingState.capture(self.model, self.optimizers, self.step, self.elapsed(),
                                  self.batches.position, self.device_type, weights=weights,
                                  optimizer_states=optimizer_states).save(self.out)


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
        saved = checkpoint.saved_step(out)
        raise GentextError(
            f"the loss became NaN or infinite before step {step}; stopped without saving. "
            f"The last good checkpoint (step {'none' if saved is None else saved}) is kept in {str(out)!r}: "
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


def _write_samples(model: TextModel, tokenizer, config: RunConfig, out: Path) -> None:
    if config.train.samples <= 0:
        return
    texts = sample_texts(model, tokenizer, config.train.samples,
                         default_max_new_tokens(config.data.max_len), seed=config.train.seed)
    checkpoint.write_atomic(out / "samples.txt", "".join(one_line(t) + "\n" for t in texts))

