"""gentext's gpt against transformers' GPT2LMHeadModel, same shape, same device, one process.

Training: random tokens, AdamW, gradient clipping at 1.0, bf16 autocast on CUDA; tokens per
second, model TFLOP/s (6 N + 12 L T d FLOPs per token, PaLM's count) and MFU against
--peak-tflops (989: H100 dense bf16) on CUDA, peak memory; gentext with the settings its
training loop uses (fused AdamW and torch.compile on CUDA), transformers with SDPA, plain
AdamW, eager and (on CUDA) compiled. Sampling: top-p 0.9, --new-tokens after a 16-token
prompt, at batch 1 and 64, gentext's KV-cache sampler against `generate` (end token
suppressed on both sides so every row is full length). Prints a markdown table (ratios
against transformers measured in the same run) and writes it as JSON with --json.

    python bench/gpu_gpt.py                      # CPU: the default small gpt (4 x 256, 4,096 tokens, 128 context)
    python bench/gpu_gpt.py --shape gpt2         # GPU: GPT-2 124M, sequence 1,024, batch 16
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

SHAPES = {  # layers, heads, width, vocabulary, context, batch, new tokens when sampling
    "small": dict(n_layer=4, n_head=4, n_embd=256, vocab=4096, block=128, batch=32, new=100),
    "gpt2": dict(n_layer=12, n_head=12, n_embd=768, vocab=50304, block=1024, batch=16, new=256),
}
PROMPT = 16


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def gentext_model(shape: dict, device: str, context: int):
    from gentext.models.contract import Vocab
    from gentext_gpt.config import ARCHS, GPTConfig
    from gentext_gpt.model import GPT

    config = GPTConfig(**ARCHS["gpt2"],  # what GPT2LMHeadModel computes
                       n_layer=shape["n_layer"], n_head=shape["n_head"], n_embd=shape["n_embd"],
                       max_len=context, dropout=0.0)
    return GPT(config, Vocab(size=shape["vocab"], pad_id=0, bos_id=1, eos_id=2)).to(device)


def hf_model(shape: dict, device: str, context: int):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=shape["vocab"], n_positions=context, n_embd=shape["n_embd"],
                        n_layer=shape["n_layer"], n_head=shape["n_head"], resid_pdrop=0.0,
                        embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=1, eos_token_id=2,
                        pad_token_id=0, attn_implementation="sdpa")
    return GPT2LMHeadModel(config).to(device)


def flops_per_token(shape: dict, parameters: int) -> float:
    embedding = shape["vocab"] * shape["n_embd"] + shape["block"] * shape["n_embd"]
    return 6 * (parameters - embedding) + 12 * shape["n_layer"] * shape["block"] * shape["n_embd"]


def time_training(step, device: str, warmup: int, steps: int) -> tuple[float, float | None]:
    """(seconds per step, peak GiB on CUDA) of ``step()``, median over ``steps``."""
    for _ in range(warmup):
        step()
    sync(device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    return statistics.median(times), peak


def gentext_training(shape, device, compile_model):
    from gentext.config import TrainConfig
    from gentext.models.optim import adamw

    model = gentext_model(shape, device, shape["block"])
    optimizer = adamw(model.parameters(), TrainConfig(), fused=device == "cuda")
    if compile_model:
        model.compile()
    tokens = torch.randint(4, shape["vocab"], (shape["batch"], shape["block"] + 1), device=device)
    batch = {"tokens": tokens, "lengths": torch.full((shape["batch"],), shape["block"] + 1,
                                                    device=device)}
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda")

    def step():
        with autocast:
            loss = model.loss(batch)["loss"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return model, step


def hf_training(shape, device, compile_model):
    model = hf_model(shape, device, shape["block"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.1)
    if compile_model:
        model.compile()
    tokens = torch.randint(4, shape["vocab"], (shape["batch"], shape["block"] + 1), device=device)
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda")

    def step():
        with autocast:
            loss = model(tokens[:, :-1], labels=tokens[:, :-1]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return model, step


def time_sampling(draw, device: str, repeats: int) -> float:
    draw()
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        draw()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sampling_rows(shape, device, batch: int, repeats: int) -> list[dict]:
    from gentext.models.contract import SamplingOptions

    new, context = shape["new"], PROMPT + shape["new"] + 1
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    ours = gentext_model(shape, device, context).to(dtype).eval()
    theirs = hf_model(shape, device, context).to(dtype).eval()
    prompt = torch.randint(4, shape["vocab"], (PROMPT,)).tolist()
    # every row runs to full length, as transformers' min_new_tokens makes its rows
    options = SamplingOptions(top_p=0.9, stop_at_eos=False,
                              generator=torch.Generator(device=device).manual_seed(0))

    def ours_draw():
        rows = ours.sample(batch, options, max_new_tokens=new, prompt=prompt)
        assert all(len(r) == PROMPT + new for r in rows)

    ids = torch.tensor([[1, *prompt]] * batch, device=device)

    def theirs_draw():
        with torch.no_grad():
            out = theirs.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True,
                                  top_p=0.9, top_k=0, max_new_tokens=new, min_new_tokens=new,
                                  pad_token_id=0)
        assert out.shape[1] == ids.shape[1] + new

    rows, reference = [], None
    for name, draw in (("transformers generate", theirs_draw), ("gentext sample (KV cache)", ours_draw)):
        seconds = time_sampling(draw, device, repeats)
        rate = batch * new / seconds
        reference = reference or rate
        rows.append({"task": f"sampling, batch {batch}", "model": name, "new_tokens_per_s": rate,
                     "ratio": rate / reference})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default=None,
                        help="small (default on the CPU) or gpt2 (default on CUDA)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed training steps first")
    parser.add_argument("--repeats", type=int, default=3, help="timed sampling batches")
    parser.add_argument("--batches", default="1,64", help="sampling batch sizes")
    parser.add_argument("--peak-tflops", type=float, default=989.0,
                        help="the device's dense bf16 peak, for MFU (H100: 989)")
    parser.add_argument("--json", default=None, help="also write the table here as JSON")
    args = parser.parse_args()
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    shape = SHAPES[args.shape or ("gpt2" if device == "cuda" else "small")]
    torch.manual_seed(0)
    compiled = device == "cuda"

    rows = []
    cases = [("transformers GPT2LMHeadModel, eager", hf_training, False)]
    if compiled:
        cases.append(("transformers GPT2LMHeadModel, compiled", hf_training, True))
    cases.append(("gentext gpt" + (", compiled" if compiled else ""), gentext_training, compiled))
    for name, build, compile_model in cases:
        model, step = build(shape, device, compile_model)
        parameters = sum(p.numel() for p in model.parameters())
        seconds, peak = time_training(step, device, args.warmup, args.steps)
        tokens = shape["batch"] * shape["block"] / seconds
        tflops = tokens * flops_per_token(shape, parameters) / 1e12
        rows.append({"task": "training", "model": name, "tokens_per_s": tokens, "tflops": tflops,
                     "mfu": tflops / args.peak_tflops if device == "cuda" else None,
                     "peak_gib": peak})
        del model, step
        if device == "cuda":
            torch.cuda.empty_cache()
    # ratios against the fastest transformers variant (compiled on CUDA)
    reference = max(r["tokens_per_s"] for r in rows if r["model"].startswith("transformers"))
    for r in rows:
        r["ratio"] = r["tokens_per_s"] / reference
    for batch in (int(b) for b in args.batches.split(",")):
        rows += sampling_rows(shape, device, batch, args.repeats)

    name = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "CPU"
    import transformers

    header = (f"{name} ({device}, {torch.get_num_threads()} threads), torch {torch.__version__}, "
              f"transformers {transformers.__version__}; shape {args.shape or ('gpt2' if device == 'cuda' else 'small')}: "
              f"{shape['n_layer']} layers x {shape['n_embd']}, vocabulary {shape['vocab']}, "
              f"sequence {shape['block']}, batch {shape['batch']}; sampling {shape['new']} new tokens "
              f"after {PROMPT}, top-p 0.9")
    print(header)
    print("| task | model | tokens/s | TFLOP/s | MFU | peak memory | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        rate = r.get("tokens_per_s") or r.get("new_tokens_per_s")
        tflops = f"{r['tflops']:.2f}" if r.get("tflops") is not None else ""
        mfu = f"{r['mfu']:.1%}" if r.get("mfu") is not None else ""
        peak = f"{r['peak_gib']:.1f} GiB" if r.get("peak_gib") is not None else ""
        print(f"| {r['task']} | {r['model']} | {rate:,.0f} | {tflops} | {mfu} | {peak} | "
              f"{r['ratio']:.2f}x |")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": header, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
