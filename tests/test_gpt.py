"""The gpt family: GPT-2's architecture exactly, KV-cache sampling, exact NLL."""

import math

import pytest
import torch
import torch.nn.functional as F

from gentext.data.batching import collate
from gentext.models.contract import SamplingOptions, Vocab, filter_logits
from gentext_gpt.config import ARCHS, GPTConfig
from gentext_gpt.model import GPT

VOCAB = Vocab(size=77, pad_id=0, bos_id=1, eos_id=2)  # 77 pads to 128 rows


def tiny(arch: str = "gpt2", **overrides) -> GPT:
    torch.manual_seed(0)
    overrides = {**ARCHS[arch], **overrides}  # GPT-2's pieces unless a test names others
    config = GPTConfig(n_layer=2, n_head=2, n_embd=32, max_len=24, dropout=0.0, **overrides)
    return GPT(config, VOCAB).eval()


def batch_of(*rows):
    return collate([list(r) for r in rows], pad_id=VOCAB.pad_id)


def test_padded_vocabulary_rows_are_never_predicted():
    model = tiny()
    assert model.padded_vocab == 128
    logits = model(torch.tensor([[1, 5, 6]]))
    assert logits.shape == (1, 3, 128)
    assert torch.isinf(logits[..., VOCAB.size:]).all() and torch.isfinite(logits[..., :VOCAB.size]).all()
    samples = model.sample(50, SamplingOptions(seed=0), max_new_tokens=20)
    assert max(max(s, default=0) for s in samples) < VOCAB.size


def test_nll_is_the_sum_of_next_token_log_probabilities_including_eos():
    model = tiny()
    rows = [(1, 10, 11, 12, 2), (1, 20, 2)]
    nats, count = model.nll(batch_of(*rows))
    expected = 0.0
    for row in rows:
        log_probs = F.log_softmax(model(torch.tensor([row[:-1]]))[0], dim=-1)
        expected -= sum(log_probs[i, row[i + 1]].item() for i in range(len(row) - 1))
    assert count == 4 + 2  # <bos> is not predicted, <eos> is
    assert float(nats) == pytest.approx(expected, rel=1e-5)


def test_padding_does_not_change_an_examples_nll():
    model = tiny()
    alone, _ = model.nll(batch_of((1, 20, 2)))
    padded_first, _ = model.nll(batch_of((1, 20, 2), (1, 5, 6, 7, 8, 9, 2)))
    longer, _ = model.nll(batch_of((1, 5, 6, 7, 8, 9, 2)))
    assert float(padded_first) == pytest.approx(float(alone) + float(longer), rel=1e-5)


def test_cached_sampling_gives_the_same_tokens_as_recomputing_the_prefix():
    model = tiny()
    for settings in ({}, {"top_k": 5}, {"top_p": 0.8, "temperature": 0.7}, {"prompt": [30, 31]}):
        prompt = settings.pop("prompt", None)
        cached = model.sample(8, SamplingOptions(seed=1, **settings), max_new_tokens=20,
                              prompt=prompt)
        full = model.sample(8, SamplingOptions(seed=1, knobs={"use_cache": False}, **settings),
                            max_new_tokens=20, prompt=prompt)
        assert cached == full, settings
        assert any(len(s) > 3 for s in cached)


def test_cache_logits_match_full_forward():
    model = tiny()
    tokens = torch.tensor([[1, 4, 9, 16, 25, 36]])
    full = model(tokens)
    cache = model.new_cache(1, tokens.device, torch.float32)
    steps = [model(tokens[:, :3], cache, 0)]
    steps += [model(tokens[:, i : i + 1], cache, i) for i in range(3, 6)]
    assert torch.allclose(torch.cat(steps, dim=1)[..., :VOCAB.size], full[..., :VOCAB.size],
                          atol=1e-5)


def test_prompted_samples_start_with_the_prompt_and_respect_max_new_tokens():
    model = tiny()
    samples = model.sample(4, SamplingOptions(seed=0), max_new_tokens=5, prompt=[40, 41])
    assert all(s[:2] == [40, 41] and len(s) <= 2 + 5 for s in samples)
    assert any(len(s) == 2 + 5 for s in samples)  # an untrained model rarely stops early


def test_sampling_stops_at_the_models_context():
    """max_len 24: <bos>, a 2-token prompt and at most 21 new tokens."""
    model = tiny()
    rows = model.sample(3, SamplingOptions(seed=0, stop_at_eos=False), max_new_tokens=100,
                        prompt=[40, 41])
    assert [len(r) for r in rows] == [2 + 21] * 3


def test_matches_transformers_gpt2_logits():
    """Same weights in transformers' GPT2LMHeadModel give the same logits: the architecture
    is GPT-2's, so the model can be exported without rework."""
    transformers = pytest.importorskip("transformers")
    model = tiny(pad_vocab_to=1)
    config = transformers.GPT2Config(vocab_size=VOCAB.size, n_positions=24, n_embd=32, n_layer=2,
                                     n_head=2, resid_pdrop=0, embd_pdrop=0, attn_pdrop=0,
                                     activation_function="gelu_new", layer_norm_epsilon=1e-5)
    reference = transformers.GPT2LMHeadModel(config).eval()
    state = {}
    for name, tensor in model.state_dict().items():
        # transformers' Conv1D stores Linear weights transposed
        transposed = name.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight"))
        state[name] = tensor.t() if transposed else tensor
    missing, unexpected = reference.load_state_dict(state, strict=False)
    assert not unexpected and all(".attn.bias" in m or "masked_bias" in m for m in missing)
    tokens = torch.tensor([[1, 5, 9, 13, 2]])
    with torch.no_grad():
        assert torch.allclose(model(tokens), reference(tokens).logits, atol=1e-5)


def test_top_k_and_top_p_keep_the_right_tokens():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isfinite(filter_logits(logits, top_k=2)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.7)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.5)).tolist() == [[True, False, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.96)).all()
    for tiny in (1e-9, 1e-76):  # 1e-76 rounds to 0 in float32: still the top token is kept
        assert torch.isfinite(filter_logits(logits, top_p=tiny)).tolist() == [[True, False, False, False]]


def test_draws_follow_the_probabilities_and_never_take_an_impossible_token():
    """draw_tokens inverts each row's CDF: the frequencies are the probabilities (within
    four standard errors over 40,000 draws), and a token of probability 0, first or last in
    the row, is never drawn."""
    from gentext.models.contract import draw_tokens

    probs = torch.tensor([0.0, 0.5, 0.3, 0.15, 0.05, 0.0])
    logits = torch.log(probs).expand(40_000, -1)
    options = SamplingOptions(temperature=1.0, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(draw_tokens(logits, options), minlength=6).float() / 40_000
    assert counts[0] == 0 and counts[-1] == 0
    assert torch.all((counts - probs).abs() <= 4 * (probs * (1 - probs) / 40_000).sqrt())
    cooler = draw_tokens(logits[:10_000], SamplingOptions(temperature=0.5, seed=1))
    assert (cooler == 1).float().mean() > 0.6  # 0.5^2 / (0.25 + 0.09 + 0.0225 + 0.0025) = 0.68
    assert draw_tokens(logits[:3], SamplingOptions(temperature=0)).tolist() == [1, 1, 1]


def test_overfits_a_handful_of_sentences(fit):
    rows = [(1, 10, 11, 12, 13, 2), (1, 20, 21, 22, 2), (1, 30, 31, 2)]
    batch = batch_of(*rows)
    model = fit(tiny(), batch, steps=150)
    nats, count = model.nll(batch)
    # what is left is the choice of first word: one of three, log 3 nats for each sentence
    assert float(nats) == pytest.approx(3 * math.log(3), abs=0.2)
    greedy = model.sample(1, SamplingOptions(temperature=0), max_new_tokens=10, prompt=[20])
    assert greedy == [[20, 21, 22]]


def test_too_long_prompt_is_a_clear_error():
    from gentext.errors import GentextError

    with pytest.raises(GentextError, match="context"):
        tiny().sample(1, max_new_tokens=5, prompt=list(range(5, 30)))


def test_width_must_divide_by_heads():
    from gentext.errors import GentextError

    with pytest.raises(GentextError, match="n_head"):
        GPT(GPTConfig(n_embd=30, n_head=4), VOCAB)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bf16_nll_is_close_to_float32():
    model = tiny().cuda()
    batch = {k: v.cuda() for k, v in batch_of((1, 10, 11, 12, 2), (1, 20, 2)).items()}
    exact, _ = model.nll(batch)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        mixed, _ = model.nll(batch)
    assert float(mixed) == pytest.approx(float(exact), rel=2e-2)


# The modern recipe (model.arch = "modern") and each of its pieces on its own.
VARIANTS = [{"arch": "modern", "zero_init": False},  # zero init: untrained logits are all 0
            {"positions": "rotary"}, {"norm": "rmsnorm"}, {"qk_norm": True},
            {"activation": "relu2"}, {"tied_head": False}]


@pytest.mark.parametrize("settings", VARIANTS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_every_variant_samples_the_same_with_and_without_the_cache(settings):
    model = tiny(**settings)
    tokens = torch.tensor([[1, 4, 9, 16, 25, 36]])
    full = model(tokens)
    cache = model.new_cache(1, tokens.device, torch.float32)
    steps = [model(tokens[:, :3], cache, 0)] + [model(tokens[:, i : i + 1], cache, i)
                                                  for i in range(3, 6)]
    assert torch.allclose(torch.cat(steps, 1)[..., :VOCAB.size], full[..., :VOCAB.size], atol=1e-5)
    for prompt in (None, [30, 31]):
        cached = model.sample(6, SamplingOptions(seed=2), max_new_tokens=15, prompt=prompt)
        full = model.sample(6, SamplingOptions(seed=2, knobs={"use_cache": False}),
                            max_new_tokens=15, prompt=prompt)
        assert cached == full and any(len(s) > 3 for s in cached)


def test_the_modern_recipe_is_its_pieces():
    model = tiny(arch="modern")
    assert "wpe" not in model.transformer  # rotary positions instead
    assert isinstance(model.transformer.ln_f, torch.nn.RMSNorm)
    assert model.lm_head.weight is model.transformer.wte.weight  # tied: it paid off here
    projections = [f"transformer.h.{i}.{part}.c_proj.weight" for i in range(2)
                   for part in ("attn", "mlp")]
    biases = [n for n, _ in model.named_parameters() if n.endswith("bias")]
    zeroed = [n for n, p in model.named_parameters() if not p.any()]
    assert sorted(zeroed) == sorted(projections + biases)
    untied = tiny(arch="modern", tied_head=False)  # an output layer of its own starts at zero
    assert untied.lm_head.weight is not untied.transformer.wte.weight
    assert sorted(n for n, p in untied.named_parameters() if not p.any()) == \
        sorted(projections + biases + ["lm_head.weight"])
    assert model.config.optimizer == "muon" and model.config.unlike_gpt2()
    assert "wpe" in tiny(arch="modern", positions="learned").transformer
    assert not tiny(optimizer="muon").config.unlike_gpt2()  # the optimizer changes no function


def test_the_defaults_are_the_modern_preset_and_arch_sets_every_piece():
    from gentext.config import build_config

    assert {key: getattr(GPTConfig(), key) for key in ARCHS["modern"]} == ARCHS["modern"]
    gpt2 = build_config("gpt", GPTConfig, None, ["model.arch=gpt2"]).model
    assert {key: getattr(gpt2, key) for key in ARCHS["gpt2"]} == ARCHS["gpt2"]
    # a piece set beside the preset wins over it, whichever is written first
    for order in (["model.optimizer=muon", "model.arch=gpt2"],
                  ["model.arch=gpt2", "model.optimizer=muon"]):
        model = build_config("gpt", GPTConfig, None, order).model
        assert (model.optimizer, model.positions) == ("muon", "learned")


def test_qk_norm_bounds_the_attention_logits():
    """With QK-norm a query's and a key's per-head vectors have RMS 1 whatever the input's
    scale, so scaling the embeddings 1000x leaves the attention pattern's logits bounded."""
    from gentext.models.transformer import SelfAttention

    torch.manual_seed(0)
    attention = SelfAttention(16, 2, 0.0, True, causal=True, qk_norm=True)
    captured = {}

    def spy(q, k, v, **kwargs):
        captured["q"], captured["k"] = q, k
        return torch.zeros_like(q)

    x = torch.randn(1, 5, 16) * 1000
    original = torch.nn.functional.scaled_dot_product_attention
    torch.nn.functional.scaled_dot_product_attention = spy
    try:
        attention(x)
    finally:
        torch.nn.functional.scaled_dot_product_attention = original
    for t in (captured["q"], captured["k"]):
        assert torch.allclose(t.pow(2).mean(-1).sqrt(), torch.ones(1, 2, 5), atol=1e-3)


def test_a_recipe_value_outside_its_choices_is_a_one_line_error():
    from gentext.errors import GentextError

    with pytest.raises(GentextError, match="model.norm must be one of 'layernorm', 'rmsnorm'"):
        tiny(norm="batchnorm")
    from gentext.config import build_config

    with pytest.raises(GentextError, match="model.arch must be one of 'gpt2', 'modern'"):
        build_config("gpt", GPTConfig, None, ["model.arch=llama"])


def test_muon_steps_the_hidden_matrices_and_adamw_the_rest():
    from gentext.config import TrainConfig
    from gentext.models.optim import Muon

    model = tiny(arch="modern")
    optimizer = model.make_optimizers(TrainConfig())["model"]
    muon, adamw = optimizer.parts
    assert isinstance(muon, Muon) and isinstance(adamw, torch.optim.AdamW)
    # the fused query-key-value weight is orthogonalised as three matrices
    assert all(muon.blocks[id(block.attn.c_attn.weight)] == 3 for block in model.transformer.h)
    in_muon = {id(p) for g in muon.param_groups for p in g["params"]}
    names = {n for n, p in model.named_parameters() if id(p) in in_muon}
    assert names == {n for n, p in model.named_parameters() if p.dim() == 2 and ".h." in n}
    assert len(in_muon) + sum(len(g["params"]) for g in adamw.param_groups) == \
        len(list(model.parameters()))


def test_an_interrupted_modern_run_resumes_to_the_same_weights(cli, corpus, tmp_path, tiny_args,
                                                               ctrl_c_during):
    """Ctrl-C during step 4 of 6, then --resume: Muon's and AdamW's states come back from the
    checkpoint, so the weights end bit for bit as the straight run's."""
    settings = ("--set", "train.steps=6", "--set", "train.eval_every=3",
                "--set", "model.arch=modern")
    straight = cli(*tiny_args("gpt", corpus, tmp_path / "straight", *settings))
    assert straight.exit_code == 0, straight.stderr
    with ctrl_c_during(GPT, 4):
        stopped = cli(*tiny_args("gpt", corpus, tmp_path / "resumed", *settings))
    assert stopped.exit_code == 130, stopped.stderr
    resumed = cli("train", "--resume", "--out", tmp_path / "resumed", "--quiet")
    assert resumed.exit_code == 0, resumed.stderr
    weights = "model/model.safetensors"
    assert (tmp_path / "resumed" / weights).read_bytes() == (tmp_path / "straight" / weights).read_bytes()
    assert 'optimizer = "muon"' in (tmp_path / "resumed" / "config.toml").read_text()
