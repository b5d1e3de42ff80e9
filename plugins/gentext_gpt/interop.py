"""transformers interop: a gpt run as a ``GPT2LMHeadModel`` folder, and such a folder as a run.

It lives in the gpt plugin (the core knows no family) and reaches the CLI as the plugin's
``gentext export`` and ``gentext import`` commands.

gentext's gpt is GPT-2's architecture with the same parameter names, so the conversion is a
renaming-free copy with two differences: transformers stores GPT-2's linear layers as
``Conv1D`` (weights transposed), and gentext pads its embedding rows to a multiple of 64 for
speed (the padding rows are dropped on export and re-added on import). A model without biases
(``model.bias = false``) exports with zero biases, which computes the same function.

The tokenizer travels as ``tokenizer.json`` wrapped in ``PreTrainedTokenizerFast`` with
gentext's special tokens. Note that gentext scores and samples sentences wrapped as
``<bos> text <eos>``; a transformers user feeds ``<bos>`` (id 1) first to get the same numbers.
Everything is local: folders are read with ``local_files_only`` and weights only as safetensors.
"""

from __future__ import annotations

import json
from pathlib import Path

from gentext.api import GentextError
from gentext_gpt.config import ARCHS, GPTConfig

MODEL_NAME = "gpt"  # the name this plugin registers its model under

FORMATS = ("hf",)
TRANSPOSED = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
TANH_GELUS = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise GentextError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _prepare_out(out: Path, force: bool) -> None:
    """An export folder is created, or replaced only with --force when it is one of ours."""
    import shutil

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not force:
            raise GentextError(f"{str(out)!r} already exists; pass --force to replace it")
        if not (out / "config.json").is_file():
            raise GentextError(f"--force refuses to delete {str(out)!r}: it is not a model folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def hf_config_of(model):
    """The ``GPT2Config`` describing gentext GPT ``model``."""
    from transformers import GPT2Config

    config, vocab = model.config, model.vocab
    return GPT2Config(
        vocab_size=vocab.size, n_positions=config.max_len, n_embd=config.n_embd,
        n_layer=config.n_layer, n_head=config.n_head, n_inner=4 * config.n_embd,
        activation_function="gelu_new", resid_pdrop=config.dropout, embd_pdrop=config.dropout,
        attn_pdrop=config.dropout, layer_norm_epsilon=1e-5, bos_token_id=vocab.bos_id,
        eos_token_id=vocab.eos_id, pad_token_id=vocab.pad_id, tie_word_embeddings=True,
    )


def to_hf_state_dict(model) -> dict:
    """gentext GPT weights in ``GPT2LMHeadModel``'s layout (float32, real vocabulary rows)."""
    state = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().float().cpu()
        if name in ("transformer.wte.weight", "lm_head.weight"):
            tensor = tensor[: model.vocab.size]
        elif name.endswith(TRANSPOSED):
            tensor = tensor.t()
        state[name] = tensor.contiguous()
    return state


def to_hf_model(model):
    """A ``GPT2LMHeadModel`` computing exactly what gentext GPT ``model`` computes."""
    from transformers import GPT2LMHeadModel

    hf_model = GPT2LMHeadModel(hf_config_of(model))
    state = to_hf_state_dict(model)
    wanted = hf_model.state_dict()
    for name in wanted:  # biases a bias-free model lacks are zeros
        state.setdefault(name, wanted[name].new_zeros(wanted[name].shape))
    hf_model.load_state_dict(state, strict=True)
    return hf_model.eval()


def hf_tokenizer_of(tokenizer):
    """The run's tokenizer as a ``PreTrainedTokenizerFast`` that knows gentext's specials."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=tokenizer.tokenizer, pad_token="<pad>",
                                   bos_token="<bos>", eos_token="<eos>", unk_token="<unk>")


def export_hf(run_dir: Path, out: Path, force: bool = False) -> Path:
    """Write gpt run ``run_dir`` as a transformers folder ``out``."""
    from gentext.api import load_run

    run = load_run(run_dir)
    if run.spec.name != MODEL_NAME:
        raise GentextError(f"only gpt runs export to transformers (GPT2LMHeadModel); "
                           f"{str(run_dir)!r} is a {run.spec.name!r} run")
    unlike = run.model.config.unlike_gpt2()
    if unlike:
        pieces = ", ".join(f"{key} = {value!r}" for key, value in unlike.items())
        raise GentextError(f"{str(run_dir)!r} is not GPT-2's architecture ({pieces}), which "
                           "GPT2LMHeadModel cannot hold; train with --set model.arch=gpt2 to "
                           "export")
    out = Path(out)
    _prepare_out(out, force)
    to_hf_model(run.model).save_pretrained(out, safe_serialization=True)
    hf_tokenizer_of(run.tokenizer).save_pretrained(out)
    provenance = {"exported_from": str(run_dir), "model": MODEL_NAME, "step": run.meta.get("step"),
                  "data": run.config.data.source, "tokenizer": run.tokenizer.name}
    (out / "gentext.json").write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    return out


def _read_hf_config(folder: Path) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        raise GentextError(f"{str(folder)!r} is not a transformers model folder (no config.json)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GentextError(f"{str(path)!r} is not valid JSON: {exc}") from exc
    if config.get("model_type") != "gpt2":
        raise GentextError(f"{str(folder)!r} holds a {config.get('model_type')!r} model; gentext "
                           "imports GPT-2 models (model_type 'gpt2') as its gpt family")
    return config


def gpt_config_from_hf(config: dict):
    """gentext's ``GPTConfig`` for a GPT-2 config dict, or an error naming what differs."""
    width = config.get("n_embd", 768)
    if config.get("n_inner") not in (None, 4 * width):
        raise GentextError(f"n_inner {config['n_inner']} is not 4 x n_embd; gentext's gpt "
                           "cannot hold this model")
    if config.get("activation_function", "gelu_new") not in TANH_GELUS:
        raise GentextError(f"activation {config['activation_function']!r} is not GPT-2's tanh "
                           "GELU; gentext's gpt cannot hold this model")
    for flag in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"):
        if config.get(flag):
            raise GentextError(f"{flag} is set; gentext's gpt does not implement it")
    if abs(config.get("layer_norm_epsilon", 1e-5) - 1e-5) > 1e-12:
        raise GentextError("layer_norm_epsilon is not 1e-5; gentext's gpt cannot hold this model")
    return GPTConfig(n_layer=config.get("n_layer", 12), n_head=config.get("n_head", 12),
                     n_embd=width, max_len=config.get("n_positions", 1024),
                     dropout=config.get("resid_pdrop", 0.1), bias=True, **ARCHS["gpt2"])


def import_hf(folder: Path, out: Path, force: bool = False) -> Path:
    """Write transformers GPT-2 folder ``folder`` as a gentext gpt run ``out`` (weights only:
    evaluate it, sample it, or train on from it with ``gentext train --init OUT``)."""
    import torch
    from safetensors.torch import load_file

    from gentext.api import TextTokenizer, Vocab, build_config, write_run
    from gentext_gpt import gpt_spec

    folder = Path(folder)
    if not folder.is_dir():
        raise GentextError(f"model folder {str(folder)!r} does not exist")
    hf_config = _read_hf_config(folder)
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise GentextError(f"{str(folder)!r} has no model.safetensors; gentext reads weights only "
                           "as safetensors (never pickles)")
    if not (folder / "tokenizer.json").is_file():
        raise GentextError(f"{str(folder)!r} has no tokenizer.json")
    tokenizer = TextTokenizer.load(folder / "tokenizer.json")
    if hf_config.get("vocab_size") != tokenizer.vocab_size:
        raise GentextError(f"the model has {hf_config.get('vocab_size')} vocabulary rows but its "
                           f"tokenizer has {tokenizer.vocab_size} tokens")
    spec = gpt_spec()
    model_config = gpt_config_from_hf(hf_config)
    table = {"run": {"model": MODEL_NAME}, "model": vars(model_config),
             "data": {"tokenizer": tokenizer.kind, "vocab_size": tokenizer.vocab_size,
                      "max_len": min(128, model_config.max_len)}}
    run_config = build_config(MODEL_NAME, spec.config, table, train_defaults=spec.train_defaults,
                              data_defaults=spec.data_defaults)
    model = spec.build(model_config, Vocab.of(tokenizer))
    try:
        state = load_file(str(weights))
    except Exception as exc:  # noqa: BLE001 - any damage means the same thing to the user
        raise GentextError(f"the weights in {str(weights)!r} cannot be read: {exc}") from exc
    state = {name.removeprefix("model."): tensor for name, tensor in state.items()}
    state.setdefault("lm_head.weight", state.get("transformer.wte.weight"))
    ours = model.state_dict()
    missing = [name for name in ours if name not in state or state[name] is None]
    if missing:
        raise GentextError(f"the weights in {str(weights)!r} lack {missing[:3]}; is it GPT-2?")
    with torch.no_grad():
        for name, target in ours.items():
            source = state[name].to(target.dtype)
            if name.endswith(TRANSPOSED):
                source = source.t()
            if name in ("transformer.wte.weight", "lm_head.weight"):
                target.zero_()
                target[: source.size(0)] = source
            elif source.shape != target.shape:
                raise GentextError(f"{name} has shape {tuple(source.shape)}, expected "
                                   f"{tuple(target.shape)}")
            else:
                target.copy_(source)
    return write_run(out, model, run_config, tokenizer, force=force)
