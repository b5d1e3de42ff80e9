"""A contract checker for model plugins: call it from your plugin's own tests.

    from gentext.evaluation.contract_check import check_model

    def test_my_model_keeps_the_contract():
        check_model("my-model")                      # by registered name, or
        check_model(spec, config=MyConfig(hidden=8))  # a ModelSpec and a tiny config

It builds the model on a tiny vocabulary and a few random sentences, on the CPU, and checks
in seconds what the core relies on (docs/plugins.md, "The model contract"). The first rule
broken raises ``ContractViolation`` (an ``AssertionError``) saying which rule and what was
seen. An untrained model is enough: no rule depends on what the model has learnt.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import torch

from gentext.models.autoregressive import AutoregressiveModel
from gentext.models.contract import SamplingOptions, TextModel, Vocab

VOCAB = Vocab(size=24, pad_id=0, bos_id=1, eos_id=2, unk_id=3, labels=("neg", "pos"))
ROWS = [[1, 5, 6, 7, 2], [1, 8, 9, 2], [1, 10, 11, 12, 13, 14, 15, 2], [1, 16, 2]]
LABELS = [0, 1, 1, 0]


class ContractViolation(AssertionError):
    """A model breaks a rule of the contract; the message names the rule."""


def _require(condition: bool, rule: str, seen: str = "") -> None:
    if not condition:
        raise ContractViolation(f"{rule}" + (f" (got {seen})" if seen else ""))


def _batch(rows=ROWS, labels=LABELS) -> dict:
    from gentext.data.batching import collate

    batch = collate([list(r) for r in rows], VOCAB.pad_id)
    batch["labels"] = torch.tensor(labels)
    return batch


def _nll(model: TextModel, batch: dict, seed: int = 0) -> tuple[float, int]:
    torch.manual_seed(seed)  # stochastic bounds draw the same noise each call
    with torch.no_grad():
        result = model.nll(batch)
    _require(isinstance(result, tuple) and len(result) == 2,
             "nll(batch) returns (summed nats, predicted tokens)", repr(result)[:60])
    nats, count = result
    _require(isinstance(count, int) and not isinstance(count, bool),
             "nll's token count is an int", type(count).__name__)
    return float(nats), count


def check_model(model, config=None, *, loss_is_nll: bool = True) -> TextModel:
    """Check a model family against the contract: ``model`` is a registered name, a
    ``ModelSpec``, or a built model (then ``config`` is ignored). Returns the model checked."""
    if not isinstance(model, TextModel):
        from gentext.plugins.manager import get_model

        spec = get_model(model) if isinstance(model, str) else model
        torch.manual_seed(0)
        model = spec.build(config if config is not None else spec.config(), VOCAB)
    model = model.cpu().eval()
    check_likelihood(model, loss_is_nll)
    if isinstance(model, AutoregressiveModel):  # its nll is exact only if step keeps these
        check_causality(model)
        check_incremental_decoding(model)
    check_batch_invariance(model)
    check_sampling(model)
    check_round_trip(model)
    return model


def check_likelihood(model: TextModel, loss_is_nll: bool = True) -> None:
    """nll: a sum over the protocol's tokens (``<eos>`` counted, ``<bos>`` not), never below zero,
    additive over sentences; for a model whose nll is not stochastic, equal per token to its
    training loss in eval mode (pass ``loss_is_nll=False`` for a loss with extra terms, such
    as label smoothing)."""
    batch = _batch()
    nats, count = _nll(model, batch)
    tokens = sum(len(r) - 1 for r in ROWS)
    _require(count == tokens, f"nll counts every predicted token, <eos> included and <bos> "
             f"not: {tokens} for these sentences", str(count))
    _require(math.isfinite(nats) and nats >= 0, "nll is finite and not negative (it is a "
             "negative log-probability of discrete text)", f"{nats:.4g}")
    doubled = _batch(ROWS + ROWS, LABELS + LABELS)
    twice, _ = _nll(model, doubled)
    stochastic = model.capabilities.nll_samples is not None
    tolerance = 0.25 if stochastic else 1e-4  # a bound's draws differ between copies
    _require(abs(twice - 2 * nats) <= tolerance * 2 * nats + 1e-6,
             "nll is a sum over sentences, not a mean: the same sentences twice give twice "
             f"the nats ({2 * nats:.4f})", f"{twice:.4f}")
    if not stochastic and loss_is_nll:
        torch.manual_seed(0)
        with torch.no_grad():
            loss = model.loss(batch)
        _require(isinstance(loss, dict) and "loss" in loss,
                 "loss(batch) returns a dict with a scalar \"loss\"", repr(loss)[:60])
        per_token = nats / count
        _require(abs(float(loss["loss"]) - per_token) <= 1e-4 * max(1.0, per_token),
                 "an exact model's loss in eval mode is its nll per token "
                 f"({per_token:.5f})", f"{float(loss['loss']):.5f}")


def _sentence_nats(model: TextModel, row: list[int], label: int, beside=None, seed=0) -> float:
    """-log p(row), scored alone or in a batch after the (longer) sentence ``beside``."""
    if beside is None:
        return _nll(model, _batch([row], [label]), seed)[0]
    together = _nll(model, _batch([beside, row], [LABELS[2], label]), seed)[0]
    return together - _nll(model, _batch([beside], [LABELS[2]]), seed)[0]


def check_batch_invariance(model: TextModel) -> None:
    """A sentence's nll does not depend on what else is in its batch, nor on the padding a
    longer neighbour brings: exactly for an exact model; for a stochastic bound, within four
    standard errors over eight seeds."""
    stochastic = model.capabilities.nll_samples is not None
    seeds = range(8) if stochastic else range(1)
    for index, (row, label) in enumerate(zip(ROWS, LABELS)):
        if index == 2:
            continue  # the longest sentence is the neighbour
        alone = torch.tensor([_sentence_nats(model, row, label, seed=s) for s in seeds])
        padded = torch.tensor([_sentence_nats(model, row, label, ROWS[2], s) for s in seeds])
        gap = float((alone.mean() - padded.mean()).abs())
        spread = 4 * float((alone.var() / len(seeds) + padded.var() / len(seeds)).sqrt()) \
            if stochastic else 0.0
        _require(gap <= spread + 1e-4 * max(1.0, float(alone.mean().abs())),
                 f"nll is the same for a sentence alone and padded in a batch beside a longer "
                 f"one: sentence {index} gives {float(alone.mean()):.4f} nats alone",
                 f"{float(padded.mean()):.4f} in the batch")


def _step_log_probs(model: AutoregressiveModel, tokens: torch.Tensor, context) -> torch.Tensor:
    """Teacher forcing through ``step`` in one call: log p(next token) after each position."""
    with torch.no_grad():
        logits, _ = model.step(tokens, model.start(tokens.size(0), context, None))
    return _log_probs(model, logits)


def _log_probs(model: TextModel, logits: torch.Tensor) -> torch.Tensor:
    """Log-probabilities over the real vocabulary (a padded output layer's extra rows dropped),
    with -inf (a token never drawn) floored so two of them compare equal."""
    return torch.log_softmax(logits.float(), dim=-1)[..., : model.vocab.size].clamp(min=-1e4)


def _context(model: AutoregressiveModel, rows: int):
    """One sampling context for ``rows`` sequences (a label or a latent), drawn with seed 0."""
    label = 1 if model.capabilities.condition else None
    return model.sampling_context(rows, label, torch.Generator().manual_seed(0))


def check_causality(model: AutoregressiveModel) -> None:
    """``step``'s prediction after token t reads tokens 0..t only: changing any later token
    leaves it unchanged. A step that reads the future scores text with a "likelihood" that is
    not one (its nll is not -log p(x), however low)."""
    row = torch.tensor([ROWS[2][:-1]])
    context = _context(model, 1)
    before = _step_log_probs(model, row, context)[0]
    for t in range(row.size(1) - 1):  # keep tokens 0..t, change every later one
        changed = row.clone()
        changed[0, t + 1:] = (row[0, t + 1:] - 4 + 1 + t % 7) % (VOCAB.size - 4) + 4
        after = _step_log_probs(model, changed, context)[0]
        moved = (before[: t + 1] - after[: t + 1]).abs().amax(dim=-1) > 1e-4
        first = int(torch.nonzero(moved)[0]) if bool(moved.any()) else None
        _require(first is None, f"step is causal: the prediction after token {first} reads "
                 f"tokens 0..{first} only, yet changing tokens {t + 1}.. moved it",
                 f"a change of {float((before - after)[: t + 1].abs().max()):.3g} in "
                 "log-probability")


def check_incremental_decoding(model: AutoregressiveModel) -> None:
    """Sampling feeds ``step`` its own returned state, a token at a time: that gives the same
    predictions as teacher forcing the whole sequence in one call. A dropped or stale state
    passes the likelihood checks and samples garbage."""
    tokens = torch.tensor([ROWS[2][:-1]] * 2)
    context = _context(model, 2)
    whole = _step_log_probs(model, tokens, context)
    options = SamplingOptions(temperature=1.0, seed=0,
                              knobs=dict(model.capabilities.sampling_knobs))  # as sample() does
    state = model.start(2, context, options)
    with torch.no_grad():
        for t in range(tokens.size(1)):
            logits, state = model.step(tokens[:, t:t + 1], state)
            gap = float((_log_probs(model, logits[:, -1]) - whole[:, t]).abs().max())
            _require(gap <= 1e-3, f"step, fed one token at a time with the state it returned, "
                     f"predicts as teacher forcing does: the prediction after token {t} differs",
                     f"a difference of {gap:.3g} in log-probability")


def check_sampling(model: TextModel) -> None:
    """sample: n plain lists of ints in the vocabulary, without ``<eos>``; the prompt first, at
    most max_new_tokens after it; full length when rows may not stop; the same rows for the
    same seed."""
    capabilities = model.capabilities
    prompt = [5, 6] if capabilities.prompt else None
    condition = 1 if capabilities.condition else None
    options = SamplingOptions(temperature=1.0, seed=0)
    rows = model.sample(5, options, max_new_tokens=6, prompt=prompt, condition=condition)
    _require(isinstance(rows, list) and len(rows) == 5,
             "sample(n, ...) returns a list of n rows", f"{type(rows).__name__}")
    for row in rows:
        _require(isinstance(row, list) and all(isinstance(t, int) for t in row),
                 "each sampled row is a plain list of int token ids (not a tensor, not padded)",
                 type(row).__name__ if not isinstance(row, list) else repr(row)[:40])
        _require(all(0 <= t < VOCAB.size for t in row), "sampled ids are in the vocabulary",
                 repr(row)[:40])
        _require(VOCAB.eos_id not in row and VOCAB.pad_id not in row,
                 "rows hold no <eos> and no <pad> (the row ends where <eos> was drawn)",
                 repr(row)[:40])
        start = prompt or []
        _require(row[: len(start)] == start, "each row starts with the prompt, without <bos>",
                 repr(row)[:40])
        _require(len(row) <= len(start) + 6, "rows gain at most max_new_tokens after the prompt",
                 str(len(row) - len(start)))
    again = model.sample(5, SamplingOptions(temperature=1.0, seed=0), max_new_tokens=6,
                         prompt=prompt, condition=condition)
    _require(again == rows, "the same seed draws the same rows")
    full = model.sample(3, SamplingOptions(temperature=1.0, seed=1, stop_at_eos=False),
                        max_new_tokens=6, condition=condition)
    _require([len(r) for r in full] == [6] * 3,
             "with stop_at_eos=False every row is max_new_tokens long", str([len(r) for r in full]))


def check_round_trip(model: TextModel) -> None:
    """Weights saved as safetensors and loaded into a new model give the same nll."""
    from safetensors.torch import load_model, save_model

    nats, _ = _nll(model, _batch())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.safetensors"
        save_model(model, str(path))
        torch.manual_seed(1)  # a different initialisation, then the saved weights
        fresh = type(model)(model.config, model.vocab).eval()
        missing, unexpected = load_model(fresh, str(path), strict=False)
        _require(not missing and not unexpected, "a saved model loads into a new one built "
                 "from the same config", f"missing {sorted(missing)[:2]}, unexpected {sorted(unexpected)[:2]}")
    again, _ = _nll(fresh, _batch())
    _require(abs(again - nats) <= 1e-4 * max(1.0, nats),
             "a model loaded from its saved weights gives the same nll", f"{again} vs {nats}")
