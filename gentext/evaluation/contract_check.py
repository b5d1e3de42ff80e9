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
