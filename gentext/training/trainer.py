"""The one training loop, for every family: AdamW, warm-up + cosine, gradient clipping,
periodic validation and checkpoints, on ``accelerate`` so the same code runs on a CPU or GPU.

A run resumes exactly: the data order is a function of (seed, epoch), the learning rate a
function of the step, and the optimizer, RNG and data position are checkpointed (one
`TrainingState`, beside the weights), so a resumed run follows the loss curve of an
uninterrupted one. Ctrl-C checkpoints and stops; a non-finite loss stops without saving,
keeping the last good checkpoint.

This module is the loop; its parts live beside it: setup (config, data, tokenizer, model, run
directory) in ``prepare``, one optimizer step in ``step``, the processes in ``processes``,
the batches in ``prefetch``, what is reported in ``progress``, Ctrl-C in ``interrupts``,
``torch.compile`` in ``compiling`` and the end of a run in ``finish``.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from gentext.config import RunConfig
from gentext.data.batching import BatchStream
from gentext.distributed import Ranks
from gentext.errors import GentextError
from gentext.evaluation.evaluate import Evaluation, evaluate_encoded
from gentext.models.contract import TextModel
from gentext.plugins.manager import get_model
from gentext.runs import checkpoint
from gentext.runs.metrics_log import TRAIN, VALID, MetricsLog
from gentext.runs.training_state import TrainingState
from gentext.training import sharding
from gentext.training.compiling import compile_hot_path
from gentext.training.devices import device_type, mixed_precision, resolve_device
from gentext.training.finish import TrainResult, finish
from gentext.training.interrupts import InterruptFlag
from gentext.training.memory import release_free_memory
from gentext.training.prefetch import DeviceBatches
from gentext.training.prepare import assemble_config, check_train_config, prepare
from gentext.training.processes import (check_distributed_type, ddp_per_optimizer,
                                        make_accelerator)
from gentext.training.progress import (Window, announce, console_for, print_validation,
                                       progress_bar)
from gentext.training.step import TrainingStep, check_batch_split, micro_batch_limit
from gentext.training.trackers import hyperparameters, make_trackers, scalars


def train(config: RunConfig | None, out: Path, *, resume: bool = False, force: bool = False,
          overrides: list[str] = (), console=None, progress: bool = True) -> TrainResult:
    """Train ``config.run.model`` into the run directory ``out``; ``resume=True`` continues
    the run in ``out`` exactly (``config`` None: its saved config, with ``overrides``)."""
    if config is None or overrides:
        if config is not None:
            raise GentextError("give a config or overrides of the saved one, not both")
        if not resume:
            raise GentextError("a new run needs a config "
                               "(see gentext.training.prepare.assemble_config)")
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


class Trainer:
    """One run's training: built from a resolved config (resuming its checkpoint if asked),
    then ``fit`` runs the loop."""

    def __init__(self, config: RunConfig, out: Path, *, resume: bool = False,
                 force: bool = False, console=None, progress: bool = True):
        self.config, self.out, self.cfg = config, Path(out), config.train
        self.spec = get_model(config.run.model)
        check_train_config(self.cfg)
        trackers, precision = self._start_processes()
        check_batch_split(self.cfg.batch_size, self.cfg.grad_accum, self.ranks.world)
        prepared = prepare(config, self.out, resume, force, self.ranks)
        release_free_memory()  # what tokenising and the tokenizer's threads left behind
        self.tokenizer, self.train_data = prepared.tokenizer, prepared.train_data
        self.valid_data = prepared.valid_data
        self.console = console_for(console, self.ranks)  # the main process reports
        self.progress = progress and self.ranks.main
        self.log = MetricsLog(self.out / checkpoint.METRICS_FILE)
        if trackers:
            self.accelerator.init_trackers("gentext", config=hyperparameters(config.sections()))
        state = prepared.state
        model = prepared.model.to(self.torch_device)  # before fused AdamW sees its params
        if resume:
            state.restore_rng(self.device_type)
            if self.ranks.main:  # the one writer (two would race over the same file)
                self.log.truncate_after(state.step)
        self.model, self.optimizers, synced = self._prepare_optimizers(model, state, resume)
        self.context = TrainingStep(self.optimizers, self.cfg.grad_clip, self.cfg.steps,
                                    self.ranks, self.cfg.seed, self.cfg.grad_accum, synced,
                                    micro_batch_limit(self.cfg.micro_batch_tokens,
                                                      self.device_type), self.root, precision)
        if self.device_type == "cuda" and self.cfg.compile and self.root is None:
            compile_hot_path(self.model)  # not under FSDP: its hooks run in the hot path
        self.stream = BatchStream(self.train_data, self.cfg.batch_size, self.tokenizer.pad_id,
                                  self.cfg.seed,
                                  min_rows=self.ranks.world * self.cfg.grad_accum, **state.data)
        self.batches = DeviceBatches(self.stream, self.ranks)
        self.step, self.elapsed_before = state.step, state.elapsed_s
        self.window = Window(self.torch_device)

    def _start_processes(self) -> tuple[list, str]:
        """The device, the processes (through accelerate) and the sharding plan; returns the
        trackers and the mixed precision the run trains in."""
        self.device = resolve_device(self.cfg.device)
        self.device_type = device_type(self.device)
        precision = mixed_precision(self.cfg.precision, self.device)
        if ":" in self.device and Ranks.launched():
            raise GentextError(f"--device {self.device} names one GPU, but this is one of "
                               "several processes (each takes cuda:LOCAL_RANK): "
                               "give --device cuda")
        if ":" in self.device:
            torch.cuda.set_device(self.device)
        trackers = make_trackers(self.cfg.log_with, self.out)
        check_distributed_type(None)  # before accelerate, which fails on some without a word
        plan = sharding.requested()
        self.accelerator = make_accelerator(self.device_type, trackers)
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
        return trackers, precision

    def _prepare_optimizers(self, model: TextModel, state: TrainingState, resume: bool):
        """The model's optimizers (restored when resuming), the model, and over several
        processes each optimizer's parameters under DDP, or the model sharded."""
        if self.plan:
            return self._prepare_sharded(model, state, resume)
        optimizers = model.make_optimizers(self.cfg, fused=self.device_type == "cuda")
        synced = {}
        if self.ranks.several:  # DDP per optimizer: a GAN's two networks are synced apart
            self.ranks.broadcast_parameters(model)  # buffers too: every process starts alike
            synced = ddp_per_optimizer(self.accelerator, optimizers)
        if resume:
            state.restore_optimizers(optimizers)
        return model, optimizers, synced

    def _prepare_sharded(self, model: TextModel, state: TrainingState, resume: bool):
        """FSDP: the model sharded in place (every process from the main one's weights), its
        optimizers made over the shards, every objective run through the one sharded root."""
        self.ranks.broadcast_parameters(model)
        units = model.capabilities.honour_moved("fsdp_units", model.fsdp_units)
        self.root = sharding.shard_model(model, units, self.plan)
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
        with InterruptFlag() as interrupt, progress_bar(self.console, self.progress) as bar:
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
            return finish(status, self.step, self.elapsed(), valid, self.model, self.tokenizer,
                          self.config, self.out, self.ranks)

    def _announce(self) -> None:
        where = self.device if self.root is None else (
            f"{self.device}, sharded by FSDP over {self.ranks.world} processes in "
            f"{sharding.unit_count(self.root)} units")
        announce(self.console, f"{self.spec.name} ({self.model.num_parameters():,} parameters)",
                 where, self.config.data,
                 {"training": self.train_data, "validation": self.valid_data},
                 self.tokenizer.name, self.out)

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
            print_validation(console, self.step, valid)
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
        """One checkpoint: the weights (model/) and the training state that names them
        (checkpoints/), committed together by the main process (under FSDP every process
        gathers the shards first)."""
        if self.root is None and not self.ranks.main:
            return
        weights = optimizer_states = None
        if self.root is not None:  # collectives: every process gathers, the main one keeps
            weights = sharding.full_state_dict(self.model, keep=self.ranks.main)
            optimizer_states = {name: sharding.full_optimizer_state(optimizer, self.ranks.main)
                                for name, optimizer in self.optimizers.items()}
        if self.ranks.main:
            state = TrainingState.capture(self.optimizers, self.step, self.elapsed(),
                                          self.batches.position, self.device_type,
                                          optimizer_states=optimizer_states)
            checkpoint.save_model(self.out, self.model, self.spec.name, self.step, weights,
                                  state)
