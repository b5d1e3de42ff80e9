"""The contract every model family implements, stated once.

The core trains, checkpoints, samples and evaluates any ``TextModel`` the same way; a family
says how to compute its loss, how to generate, and how to score a batch honestly, and
declares what it can do in one ``Capabilities`` value (abilities only: its sampling default and
its build hints are class attributes of the model, beside the code they describe).

Batches are dicts: ``tokens`` (B, T) long, each row ``<bos> ... <eos>`` then ``<pad>`` (T is
at least the longest row: a micro-batch keeps its batch's width; reading T from ``lengths``
would wait for the device); ``lengths`` (B,) the unpadded lengths (``<bos>`` and ``<eos>``
included: padding is known by length, as its token may be another role's); and, for
conditional models, ``labels`` (B,) long, indices into ``Vocab.labels``.

Sampling (``TextModel.sample``), exactly:

- ``prompt`` is a list of token ids of the text to continue, *without* ``<bos>``: the model
  puts ``<bos>`` in front itself.
- Each returned row is the prompt followed by the new tokens: no ``<bos>``, no ``<eos>``, no
  ``<pad>``; plain Python lists, one per sample.
- ``max_new_tokens`` caps the tokens a row gains after its prompt. ``<eos>`` ends a row and is
  neither returned nor counted. A row that reaches the cap is cut there (it has no ``<eos>``).
  A model with a context (``max_len``) also stops where its context ends.
- With ``SamplingOptions(stop_at_eos=False)`` every row is ``max_new_tokens`` long.
- A ``prompt`` or ``condition`` the model cannot take (see its ``capabilities``), or a
  family knob it does not declare, is a one-line ``GentextError`` raised by the base class.

Training: the loop calls ``training_step`` once per step. The default computes ``loss`` (on
each micro-batch, when ``train.grad_accum`` splits the step) and steps one AdamW; a family
with several optimizers (a GAN's generator and discriminator) overrides ``make_optimizers``,
``learning_rates`` and ``training_step``; the one loop schedules, logs, checkpoints and
resumes every optimizer the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
from contextlib import AbstractContextManager
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from gentext.config import coerce
from gentext.errors import GentextError

IGNORE_INDEX = -100  # the target of a position that predicts nothing (padding), as in PyTorch
WHOLE_MODEL = ""  # in TextModel.compiled_modules: the model's own forward (a submodule path,
# as nn.Module.get_submodule reads it, names any other)


@dataclass(frozen=True)
class Vocab:
    """A tokenizer's size and special tokens by role, never fixed ids (GPT-2's
    ``<|endoftext|>`` is bos, eos and pad at once); a missing unk is the eos."""

    size: int
    pad_id: int
    bos_id: int
    eos_id: int
    unk_id: int | None = None
    labels: tuple[str, ...] = ()  # class labels of the training split, sorted (empty: none)
    mask_id: int | None = None  # the tokenizer's own mask token, if any (mdlm adds one if not)

    def __post_init__(self):
        object.__setattr__(self, "unk_id", self.eos_id if self.unk_id is None else self.unk_id)

    @classmethod
    def of(cls, tokenizer, labels: tuple[str, ...] = ()) -> "Vocab":
        return cls(tokenizer.vocab_size, tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id,
                   tokenizer.unk_id, tuple(labels), getattr(tokenizer, "mask_id", None))


@dataclass(frozen=True)
class Capabilities:
    """What a model can do (abilities only), read by the core and the CLI before they ask it.

    A family sets the class attribute ``capabilities``, or ``self.capabilities =
    dataclasses.replace(...)`` in ``__init__`` when they depend on its config or data. The
    likelihood kind and its estimator's words are the ``ModelSpec``'s (torch-free); the sampling
    default and build hints are the model class's (``TextModel``)."""

    latent: bool = False  # implements encode/decode (reconstruct, interpolate)
    prompt: bool = False  # sample() can continue a prompt
    condition: bool = False  # reads batch["labels"] and takes sample(condition=label index)
    nll_samples: int | None = None  # default k of a stochastic bound (None: nll is not stochastic)
    infill: bool = False  # infill() fills blanks between given tokens (gentext infill)
    windows: bool = False  # models windows of running text (data.unit = "document"): a row
    # may start mid-document and end without <eos>, and nll() scores each row's tokens as given
    sampling_knobs: dict[str, Any] = field(default_factory=dict)  # the family's own sampling
    # options and their defaults (e.g. {"steps": 64}); a value's type is its default's type
    _: KW_ONLY  # 0.1.0's fields that are not abilities (gentext.deprecation.CAPABILITIES)
    default_temperature: float | None = field(default=None, repr=False)
    nll_estimator: str | None = field(default=None, repr=False)
    compile: tuple[str, ...] | None = field(default=None, repr=False)
    fsdp_units: tuple[str, ...] | None = field(default=None, repr=False)
    diagnostics: tuple[str, ...] | None = field(default=None, repr=False)

    def __post_init__(self):
        from gentext.deprecation import CAPABILITIES, deprecated

        for name, (_, new) in CAPABILITIES.items():
            if getattr(self, name) is not None:
                deprecated(f"Capabilities({name}=...)", new, stacklevel=4)

    def honour_moved(self, name: str, value):
        """``value`` (the new place of 0.1.0's field ``name``), or the old field's value where
        that is unset and the family still gives the old field."""
        from gentext.deprecation import CAPABILITIES

        old = getattr(self, name)
        return old if old is not None and value == CAPABILITIES[name][0] else value


@dataclass
class SamplingOptions:
    """How to draw: the same for every family; ``knobs`` holds a family's own options."""

    temperature: float | None = None  # None: the family's default; 0: greedy
    top_k: int = 0  # keep the k most likely tokens (0: all)
    top_p: float = 1.0  # nucleus: the smallest set of tokens with this much probability
    seed: int | None = None  # a seed for a fresh generator (used when ``generator`` is None)
    generator: torch.Generator | None = None  # shared across calls to draw one long sequence
    stop_at_eos: bool = True  # False: <eos> is never drawn, rows run to max_new_tokens
    knobs: dict[str, Any] = field(default_factory=dict)  # declared in capabilities.sampling_knobs

    def __post_init__(self):
        """The one check, where they are built (before a model loads); ``knobs`` are the
        family's to check."""
        if self.temperature is not None and not 0 <= self.temperature < float("inf"):
            raise GentextError(f"temperature must be a finite number >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise GentextError(f"top_p must be above 0 and at most 1, got {self.top_p}")
        if self.top_k < 0:
            raise GentextError(f"top_k must be 0 (all tokens) or more, got {self.top_k}")


@dataclass(frozen=True)
class Shard:
    """Which rows of the global batch a (micro-)batch holds: ``rank``, ``rank + world``, ...
    Key per-row random draws to the global row (``rank + world * i``) and a run draws the same
    noise however it is split over processes and micro-batches."""

    rank: int = 0
    world: int = 1


class StepContext(Protocol):
    """What the training loop hands ``TextModel.training_step``."""

    step: int  # optimizer steps completed before this one
    total_steps: int
    seed: int  # train.seed: key random draws to (seed, step) to make them reproducible
    rank: int  # this process among world_size data-parallel processes (0 of 1 alone): the
    world_size: int  # batch holds rows rank, rank + world_size, ... of the global batch
    grad_accum: int  # train.grad_accum: micro-batches per optimizer step

    def autocast(self) -> AbstractContextManager:
        """Mixed precision for the forward pass (train.precision on a GPU; none on the CPU)."""

    def whole_model(self) -> AbstractContextManager:
        """The model whole on every process, for what a step computes outside the objectives
        it gives ``optimize`` (a scalar to log). Needed only under FSDP, where parameters are
        sharded between objectives; a no-op otherwise. Every process must enter it."""

    def sum_over_processes(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` summed element-wise over the run's processes (a collective: every
        process calls it; itself with one process), for what a step counts and every process
        must agree on (a length prior's counts)."""

    def optimize(self, name: str, objective, batch: dict | None = None) -> dict | None:
        """One update of optimizer ``name``: back-propagate, clip its parameters' gradients,
        step it, and clear every gradient (so one optimizer's loss never leaks into another).

        ``objective(micro_batch, shard) -> {"loss": scalar, ...}`` is called once per
        micro-batch of ``batch`` (``train.grad_accum`` of them, more where a part would hold
        over ``train.micro_batch_tokens`` padded positions; processes synchronised once).
        Each loss is weighted by what it is a mean over, so the parts make the whole batch's
        gradient: its predicted tokens (each row's length less ``<bos>``), or the
        ``"count"`` the objective returns for a loss that is a mean over something else (a
        GAN's rows). The weighted mean of its outputs comes back, detached, for logging. A
        loss tensor instead of a function is the whole batch at once, which a run with
        ``train.grad_accum > 1`` refuses."""


class TextModel(nn.Module):
    """Base class of every family: built from its config dataclass and the ``Vocab``.

    A family implements ``loss``, ``nll`` and ``generate`` (``AutoregressiveModel`` gives all
    three). The likelihood protocol: each example is modelled alone, wrapped in ``<bos>`` and
    ``<eos>``; ``nll`` returns the summed negative log-likelihood in nats (float32) over every
    predicted token (``<eos>`` included, ``<bos>`` not) and that token count."""

    capabilities: Capabilities = Capabilities()
    default_temperature: float = 1.0  # what sample() draws at when the options name none
    # Build hints for train.compile and FSDP: submodule paths as nn.Module.get_submodule reads
    # them (a ModuleList: each of its modules; WHOLE_MODEL: the model's own forward).
    compiled_modules: tuple[str, ...] = ()  # compiled for the training step on CUDA: the hot
    # path, each compiling to a graph or two whatever the batch's shape (docs/speed.md)
    fsdp_units: tuple[str, ...] = ()  # gathered one at a time (a Transformer's blocks), each
    # called as often on every process within an objective; the rest is one unit

    def __init__(self, config, vocab: Vocab):
        super().__init__()
        self.config = config
        self.vocab = vocab

    @property
    def max_len(self) -> int | None:
        """The longest sequence (tokens, ``<bos>``/``<eos>`` included) the model can score, or
        None."""
        return None

    @property
    def device(self) -> torch.device:
        """Where the model's parameters are."""
        return next(self.parameters()).device

    def set_training_progress(self, step: int, total_steps: int) -> None:
        """Called by the loop before each step: schedules inside a model (KL annealing,
        temperatures) follow it. ``step`` counts completed steps."""

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        """Training objective: a dict with a scalar "loss" (and anything else worth logging)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement loss(batch)")

    def make_optimizers(self, train, fused: bool = False) -> dict[str, torch.optim.Optimizer]:
        """The named optimizers ``training_step`` uses; by default one AdamW over everything."""
        from gentext.models.optim import adamw

        return {"model": adamw(self.parameters(), train, fused)}

    def learning_rates(self, step: int, train) -> dict[str, float]:
        """Each optimizer's learning rate at ``step``, a pure function of the step so a resumed
        run follows the same schedule; by default warm-up then cosine."""
        from gentext.models.optim import warmup_cosine

        return {"model": warmup_cosine(step, train)}

    def training_step(self, batch: dict, context: StepContext) -> dict[str, torch.Tensor]:
        """One optimizer step on ``batch``; returns scalars to log, with "loss" among them."""
        return self.loss_step(batch, context, "model")

    def loss_step(self, batch: dict, context: StepContext, optimizer: str) -> dict[str, torch.Tensor]:
        """Minimise ``loss(batch)`` with the named optimizer: the whole step of most families."""

        def objective(micro_batch: dict, shard: Shard) -> dict[str, torch.Tensor]:
            with context.autocast():
                return self.loss(micro_batch)

        return context.optimize(optimizer, objective, batch)

    @torch.no_grad()
    def nll(self, batch: dict, samples: int | None = None) -> tuple[torch.Tensor, int]:
        """(summed nats, number of predicted tokens) with the family's honest estimator.

        ``samples`` is for stochastic estimators (the k of an importance-weighted bound);
        None means ``capabilities.nll_samples``, and exact models ignore it."""
        raise NotImplementedError(f"{type(self).__name__} does not implement nll(batch)")

    @torch.no_grad()
    def nll_with_variance(self, batch: dict, samples: int | None = None):
        """``nll``'s two values and the variance of the summed estimate (nats squared), for a
        stochastic estimator that can say how much its figure would move under other draws;
        None when it cannot (exact models, importance-weighted bounds)."""
        nats, tokens = self.nll(batch, samples)
        return nats, tokens, None

    @torch.no_grad()
    def diagnostics(self, batches) -> dict[str, float]:
        """Extra figures over a whole split (e.g. KL, mutual information, active units),
        reported beside the likelihood. None by default."""
        return {}

    @torch.no_grad()
    def sample(self, n: int, options: SamplingOptions | None = None, *, max_new_tokens: int,
               prompt: list[int] | None = None, condition: int | None = None) -> list[list[int]]:
        """``n`` rows of token ids: each the prompt then at most ``max_new_tokens`` new tokens,
        without ``<bos>`` or ``<eos>`` (the module docstring states the contract exactly)."""
        options = self.resolve_options(options or SamplingOptions())
        if n < 1 or max_new_tokens < 0:
            raise GentextError(f"sample needs n >= 1 and max_new_tokens >= 0, got {n} and "
                               f"{max_new_tokens}")
        if prompt and not self.capabilities.prompt:
            raise GentextError(f"{type(self).__name__} cannot continue a prompt")
        if condition is not None and not self.capabilities.condition:
            raise GentextError(f"{type(self).__name__} is not conditional (it was trained "
                               "without labels); give no condition")
        if condition is not None and not 0 <= int(condition) < len(self.vocab.labels):
            raise GentextError(f"condition {condition} is not a label index of this model "
                               f"(0 to {len(self.vocab.labels) - 1})")
        return self.generate(n, options, max_new_tokens, list(prompt or []), condition)

    def resolve_options(self, options: SamplingOptions) -> SamplingOptions:
        """The options with the family's defaults filled in and its knobs checked and typed
        (``replace`` checks the filled-in temperature as building the options does)."""
        knobs = dict(self.capabilities.sampling_knobs)
        for name, value in options.knobs.items():
            if name not in knobs:
                valid = ", ".join(knobs) or "none"
                raise GentextError(f"{type(self).__name__} has no sampling option {name!r}; "
                                   f"valid: {valid}")
            knobs[name] = coerce(value, type(knobs[name]), f"sampling option {name}",
                                 from_text=isinstance(value, str))
        temperature = options.temperature
        if temperature is None:
            temperature = self.capabilities.honour_moved("default_temperature",
                                                         self.default_temperature)
        generator = options.generator
        if generator is None and options.seed is not None:
            generator = torch.Generator(device=self.device).manual_seed(options.seed)
        return dataclasses.replace(options, temperature=temperature, generator=generator,
                                   knobs=knobs)

    def generate(self, n: int, options: SamplingOptions, max_new_tokens: int,
                 prompt: list[int], condition: int | None) -> list[list[int]]:
        """What ``sample`` calls once it has checked its arguments: ``options`` are resolved
        (temperature set, knobs typed), ``prompt`` is a list (maybe empty)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement generate()")

    def never_drawn(self, options: SamplingOptions, device) -> torch.Tensor:
        """Token ids no sampled position may hold: ``<bos>`` and ``<pad>`` (they never follow a
        sentence's start), and ``<eos>`` when rows may not stop early."""
        ids = [self.vocab.bos_id, self.vocab.pad_id]
        if not options.stop_at_eos:
            ids.append(self.vocab.eos_id)
        return torch.tensor(ids, device=device)

    def infill(self, template: list[int | None], n: int = 1,
               options: SamplingOptions | None = None) -> list[list[int]]:
        """``n`` rows filling ``template`` (token ids; None at each position to fill), every
        given token unchanged (families with ``capabilities.infill`` only)."""
        raise GentextError(f"{type(self).__name__} cannot fill blanks (a family whose "
                           "capabilities say infill can, such as mdlm)")

    def encode(self, batch: dict, draw: bool = False) -> torch.Tensor:
        """The latent code of each example: the posterior mean, or with ``draw`` a draw from
        q(z | x) (latent families only)."""
        raise GentextError(f"{type(self).__name__} has no latent space")

    def decode(self, z: torch.Tensor, options: SamplingOptions | None = None, *,
               max_new_tokens: int) -> list[list[int]]:
        """Token sequences decoded from latent codes (latent families only)."""
        raise GentextError(f"{type(self).__name__} has no latent space")

    def num_parameters(self) -> int:
        """Distinct trainable parameters (tied weights counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def contract_gaps(cls) -> str | None:
    """What a model class lacks to keep the contract, in words, or None when it keeps it:
    a ``TextModel`` subclass whose family methods are implemented, not inherited stubs."""
    if not (isinstance(cls, type) and issubclass(cls, TextModel)):
        return f"is {cls!r:.60}, not a subclass of gentext.models.contract.TextModel"
    from gentext.models.autoregressive import AutoregressiveModel

    base = AutoregressiveModel if issubclass(cls, AutoregressiveModel) else TextModel
    needed = ("step",) if base is AutoregressiveModel else ("loss", "nll", "generate")
    missing = [name for name in needed if getattr(cls, name) is getattr(base, name)]
    if missing:
        return f"does not implement {', '.join(f'{m}()' for m in missing)}"
    return None


def float32(device_type: str):
    """A float32 section inside any autocast, for what bf16 would spoil (a spline's bin search,
    a sum of log-determinants, log-probabilities); nothing to undo where autocast is unknown."""
    if not torch.amp.is_autocast_available(device_type):
        return contextlib.nullcontext()
    return torch.autocast(device_type, enabled=False)


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Keep the ``top_k`` largest logits and the smallest set whose probability reaches
    ``top_p`` (nucleus sampling, Holtzman et al. 2020); the rest become -inf. (B, V)."""
    if top_k and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = torch.softmax(sorted_logits, dim=-1)
        drop = probs.cumsum(dim=-1) - probs >= top_p  # keep the first past p
        drop[:, 0] = False  # the most likely token always stays (a top_p below float32's least is 0)
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


def draw_tokens(logits: torch.Tensor, options: SamplingOptions) -> torch.Tensor:
    """One token per row of (B, V) logits under ``options`` (temperature 0: greedy), (B,): each
    row's CDF inverted at one u in (0, total], exact and cheaper than torch.multinomial."""
    logits = logits.float()
    if options.temperature <= 0:
        return logits.argmax(dim=-1)
    cdf = torch.softmax(filter_logits(logits / options.temperature, options.top_k,
                                      options.top_p), dim=-1).cumsum(dim=-1)
    uniform = torch.rand((cdf.size(0), 1), generator=options.generator, device=cdf.device)
    return torch.searchsorted(cdf, (1 - uniform) * cdf[:, -1:]).squeeze(-1)
