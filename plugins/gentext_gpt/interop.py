"""transformers interop: a gpt run as a ``GPT2LMHeadModel`` folder, and a GPT-2 checkpoint
(``gpt2``, ``distilgpt2``, ``gpt2-medium``/``-large``/``-xl``, from the hub cache or a folder,
or a folder ``gentext export`` wrote) as a run.

It lives in the gpt plugin (the core knows no family) and reaches the CLI as the plugin's
``gentext export`` and ``gentext import`` commands.

gentext's gpt is GPT-2's architecture with the same parameter names, so the conversion is a
renaming-free copy with two differences: transformers stores GPT-2's linear layers as
``Conv1D`` (weights transposed), and gentext pads its embedding rows to a multiple of 64 for
speed (the padding rows are dropped on export and re-added on import, where they can never be
predicted). A model without biases (``model.bias = false``) exports with zero biases, which
computes the same function.

The tokenizer keeps its ids and its special tokens by role (``gentext.api.TextTokenizer``):
GPT-2's ``<|endoftext|>`` is its bos, eos and pad, so gentext scores an example as GPT-2 was
trained, ``<|endoftext|>`` text ``<|endoftext|>``. An exported tokenizer adds its bos itself,
so ``pipeline("text-generation")`` conditions on what gentext conditions on. Weights are read
only as safetensors (never pickles).
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
    """The run's tokenizer as a ``PreTrainedTokenizerFast`` with its roles, which puts the bos
    before a text itself (as gentext's pipeline does)."""
    from tokenizers import Tokenizer, processors
    from transformers import PreTrainedTokenizerFast

    inner = Tokenizer.from_str(tokenizer.tokenizer.to_str())  # the run's own stays as it is
    bos = inner.id_to_token(tokenizer.bos_id)
    inner.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tokenizer.bos_id)])
    roles = {f"{role}_token": inner.id_to_token(i) for role, i in tokenizer.role_ids.items()}
    roles.setdefault("pad_token", inner.id_to_token(tokenizer.pad_id))
    return PreTrainedTokenizerFast(tokenizer_object=inner, **roles)


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


def _hf_folder(name_or_folder: str) -> tuple[Path, str]:
    """A local folder holding the model, and the ``data.tokenizer`` value naming its tokenizer
    (``hf:`` with the hub id, or the folder's absolute path)."""
    from gentext.api import hub_model_folder

    name = str(name_or_folder).removeprefix("hf:")
    folder = hub_model_folder(name)
    source = str(folder.resolve()) if Path(name).expanduser().is_dir() else name
    return folder, f"hf:{source}"


def _read_weights(folder: Path) -> dict:
    """The folder's safetensors weights, named as ``GPT2LMHeadModel`` names them."""
    from safetensors.torch import load_file

    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise GentextError(f"{str(folder)!r} has no model.safetensors; gentext reads weights only "
                           "as safetensors (never pickles)")
    try:
        state = load_file(str(weights))
    except Exception as exc:  # noqa: BLE001 - any damage means the same thing to the user
        raise GentextError(f"the weights in {str(weights)!r} cannot be read: {exc}") from exc
    state = {name.removeprefix("model."): tensor for name, tensor in state.items()}
    state = {name if name.startswith(("transformer.", "lm_head.")) else f"transformer.{name}":
             tensor for name, tensor in state.items()}  # a bare GPT2Model has no prefix
    state.setdefault("lm_head.weight", state.get("transformer.wte.weight"))
    return state


def _copy_weights(model, state: dict, where: Path) -> None:
    """Copy GPT-2's ``state`` into gentext GPT ``model`` (transposing Conv1D weights, keeping
    the padded embedding rows at zero)."""
    import torch

    ours = model.state_dict()
    missing = [name for name in ours if name not in state or state[name] is None]
    if missing:
        raise GentextError(f"the weights in {str(where)!r} lack {missing[:3]}; is it GPT-2?")
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


def import_hf(name_or_folder, out: Path, force: bool = False) -> Path:
    """Write a GPT-2 checkpoint (a hub id such as ``gpt2``, from the cache or the hub, or a
    local folder) as a gentext gpt run ``out`` (weights only: evaluate it, sample it, or
    train on from it with ``gentext train --init OUT``)."""
    from gentext.api import TextTokenizer, Vocab, build_config, write_run
    from gentext_gpt import gpt_spec

    folder, tokenizer_source = _hf_folder(name_or_folder)
    hf_config = _read_hf_config(folder)
    tokenizer = TextTokenizer.load(folder, source=tokenizer_source)
    if hf_config.get("vocab_size") != tokenizer.vocab_size:
        raise GentextError(f"the model has {hf_config.get('vocab_size')} vocabulary rows but its "
                           f"tokenizer has {tokenizer.vocab_size} tokens")
    state = _read_weights(folder)
    spec = gpt_spec()
    model_config = gpt_config_from_hf(hf_config)
    table = {"run": {"model": MODEL_NAME}, "model": vars(model_config),
             "data": {"tokenizer": tokenizer_source, "vocab_size": tokenizer.vocab_size,
                      "max_len": model_config.max_len}}
    run_config = build_config(MODEL_NAME, spec.config, table, train_defaults=spec.train_defaults,
                              data_defaults=spec.data_defaults)
    model = spec.build(model_config, Vocab.of(tokenizer))
    _copy_weights(model, state, folder)
    return write_run(out, model, run_config, tokenizer, force=force)
