"""The synthetic-oracle benchmark of text GANs (Texygen, Zhu et al. 2018): seqgan, MLE vs GAN.

An LSTM with N(0, 1) parameters (``gentext_seqgan.oracle.Oracle``) plays the real data: it
writes 10,000 training sequences of 20 words and held-out valid and test sets, saved as a
``datasets`` folder of lines ``w<id> w<id> ...``. gentext's own training loop then trains
the seqgan family at Texygen's generator size (embedding and hidden 32, no dropout, word
tokenizer over the oracle's 5,000 words) twice: the MLE generator (``train.steps =
model.pretrain_steps``) and the GAN (``pretrain_steps + adversarial_steps``). The GAN run is
the MLE run's directory resumed to the longer schedule: pre-training depends only on
``pretrain_steps`` and a resumed run follows an uninterrupted one exactly, so this is the
same GAN as one trained from scratch, and its starting point is exactly the MLE row.

Both are scored in nats per token:

* NLL-oracle: the oracle's NLL of 10,000 samples of the model (temperature 1, at most 20
  words, each word mapped back to its oracle id). Quality: low when samples look like the
  oracle's. Samples that end early (<eos>) are scored over the words they have.
* NLL-test: the model's NLL of the held-out oracle test sequences over their 20 word
  positions (the <eos> prediction left out). Coverage: low when the model gives the whole
  distribution its due.

NLL-oracle alone can be made low by mode collapse (always writing a few likely sentences),
so the two are read together. The oracle's NLL of its own test sequences is an estimate of
its entropy rate: the floor of NLL-test, and what NLL-oracle of a perfect generator would be.
RelGAN's published NLL-oracle at length 20 (6.68, Nie et al. 2019, RelGAN(100)) is a
reference row: a different generator (relational memory) on a different random oracle.

    python bench/seqgan_oracle.py [--pretrain-steps N] [--adversarial-steps M] [--seed S]
                                  [--estimator gumbel|reinforce] [--out DIR] [--json PATH]

With the defaults (2,000 MLE + 1,500 adversarial steps) it took 12 minutes on a 2-core CPU
with nothing else running: 712 s, of which 166 s MLE training and 470 s adversarial.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

import torch

RELGAN_PUBLISHED = 6.68  # NLL-oracle, length 20, RelGAN(100): Nie et al. 2019, Table 1
LENGTH = 20  # words per oracle sequence (Texygen's synthetic setting)
ESTIMATOR_NAMES = {"gumbel": "Gumbel-softmax", "reinforce": "REINFORCE, MC roll-outs"}
ORACLE_VOCAB = 5000
COLLAPSE_NOTE = ("NLL-oracle alone can be low from mode collapse (a few likely sentences "
                 "written over and over); read it together with NLL-test, which rises when "
                 "the model drops part of the distribution.")


def word(token: int) -> str:
    return f"w{token}"


def write_data(oracle, folder: Path, sizes: dict[str, int], seed: int) -> dict[str, torch.Tensor]:
    """Draw each split from the oracle (its own seed each) and save them as a DatasetDict."""
    import datasets

    datasets.disable_progress_bars()
    splits = {name: oracle.generate(n, LENGTH, seed=seed * 1000 + 1 + index)
              for index, (name, n) in enumerate(sizes.items())}
    dataset = datasets.DatasetDict({
        name: datasets.Dataset.from_dict({"text": [" ".join(map(word, row))
                                                   for row in tokens.tolist()]})
        for name, tokens in splits.items()})
    if folder.exists():
        shutil.rmtree(folder)
    dataset.save_to_disk(str(folder))
    return splits


def make_config(data: Path, args, steps: int):
    """The seqgan run config: Texygen's generator size, word tokenizer over the oracle's words."""
    from gentext.config import build_config
    from gentext.plugins.manager import get_model

    spec = get_model("seqgan")
    table = {
        "data": {"source": str(data), "tokenizer": "word", "vocab_size": ORACLE_VOCAB + 4,
                 "max_len": LENGTH + 2},
        "train": {"steps": steps, "batch_size": args.batch_size, "lr": args.lr,
                  "warmup_steps": min(args.warmup_steps, max(1, args.pretrain_steps)),
                  "eval_every": args.eval_every, "samples": 0, "seed": args.seed,
                  "device": args.device},
        "model": {"embedding_dim": 32, "hidden_dim": 32, "dropout": 0.0,
                  "pretrain_steps": args.pretrain_steps, "monitor_samples": args.monitor_samples,
                  "estimator": args.estimator, "rollouts": args.rollouts,
                  # every real sequence is 20 words + <eos>: a fake still going after that many
                  # tokens is already wrong, and cutting it there bounds the adversarial step
                  "max_generated_len": LENGTH + 1},
    }
    return build_config("seqgan", spec.config, table, train_defaults=spec.train_defaults,
                        data_defaults=spec.data_defaults)


def train_runs(data: Path, out: Path, args, console) -> dict[str, float]:
    """The MLE run, then the GAN run (a copy of it resumed to the longer schedule).
    Returns each run's training seconds."""
    from gentext.training.trainer import train

    mle, gan = out / "mle", out / "gan"
    seconds = {}
    result = train(make_config(data, args, args.pretrain_steps), mle, force=True,
                   console=console, progress=False)
    seconds["mle"] = result.seconds
    if gan.exists():
        shutil.rmtree(gan)
    shutil.copytree(mle, gan)
    result = train(make_config(data, args, args.pretrain_steps + args.adversarial_steps), gan,
                   resume=True, console=console, progress=False)
    seconds["gan"] = result.seconds - seconds["mle"]  # the resumed run's clock includes MLE's
    return seconds


def oracle_ids(run, sequences: list[list[int]]) -> tuple[torch.Tensor, int]:
    """Model samples (token ids) as oracle word ids, -1 padded to LENGTH. A sample that writes
    a token that is no oracle word (<unk>, <pad>, <bos>) is cut there; returns how many were."""
    vocab = run.tokenizer.tokenizer.get_vocab()
    to_oracle = torch.full((run.tokenizer.vocab_size,), -1, dtype=torch.long)
    for text, index in vocab.items():
        if text.startswith("w") and text[1:].isdigit():
            to_oracle[index] = int(text[1:])
    out = torch.full((len(sequences), LENGTH), -1, dtype=torch.long)
    cut = 0
    for row, sequence in enumerate(sequences):
        ids = to_oracle[torch.tensor(sequence[:LENGTH], dtype=torch.long)].tolist() if sequence else []
        if -1 in ids:
            ids, cut = ids[: ids.index(-1)], cut + 1
        out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out, cut


@torch.no_grad()
def nll_test(run, test: torch.Tensor, batch_size: int = 500) -> tuple[float, float]:
    """The model's NLL (nats/token) of the oracle's test sequences over their LENGTH word
    positions (not the <eos> prediction), and the share of test words it reads as <unk>."""
    from gentext.models.autoregressive import shifted_targets
    from gentext.models.contract import IGNORE_INDEX
    from gentext.data.batching import collate

    tokenizer, model = run.tokenizer, run.model
    texts = [" ".join(map(word, row)) for row in test.tolist()]
    encoded = tokenizer.encode_batch(texts)
    if any(len(ids) != LENGTH for ids in encoded):
        raise RuntimeError("the word tokenizer did not give one token per oracle word")
    nats, count, unknown = 0.0, 0, 0
    for start in range(0, len(encoded), batch_size):
        rows = [[tokenizer.bos_id, *ids, tokenizer.eos_id] for ids in encoded[start: start + batch_size]]
        batch = collate(rows, tokenizer.pad_id)
        inputs, targets = shifted_targets(batch)
        nll = model.sequence_nats(inputs, targets, model.context(batch))[:, :LENGTH]
        mask = (targets != IGNORE_INDEX)[:, :LENGTH]
        nats += float((nll * mask).sum())
        count += int(mask.sum())
        unknown += int((batch["tokens"][:, 1: LENGTH + 1] == tokenizer.unk_id).sum())
    return nats / count, unknown / count


@torch.no_grad()
def score_run(path: Path, oracle, test: torch.Tensor, samples: int, seed: int) -> dict:
    """NLL-oracle of ``samples`` samples, NLL-test, and what the samples look like."""
    from gentext.runs.checkpoint import load_run

    run = load_run(path)
    from gentext.models.contract import SamplingOptions

    # one generator for every batch: the samples are one seeded stream
    options = SamplingOptions(temperature=1.0, generator=torch.Generator().manual_seed(seed))
    sequences = []
    while len(sequences) < samples:
        count = min(1000, samples - len(sequences))
        sequences += run.model.sample(count, options, max_new_tokens=LENGTH)
    ids, cut = oracle_ids(run, sequences)
    lengths = (ids != -1).sum(dim=1)
    test_nll, unknown = nll_test(run, test)
    return {"nll_oracle": oracle.nll(ids), "nll_test": test_nll,
            "mean_length": float(lengths.float().mean()),
            "distinct_samples": len({tuple(row) for row in ids.tolist()}) / len(sequences),
            "samples_cut_at_special": cut, "test_unk_share": unknown,
            "step": run.meta["step"]}


def fmt(value, digits: int = 3) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.{digits}f}"


def print_table(report: dict, file=sys.stdout) -> None:
    rows, a = report["rows"], report["args"]
    print(f"seqgan on Texygen's synthetic oracle: vocabulary {ORACLE_VOCAB}, length {LENGTH}, "
          f"{a['train_size']:,} training sequences, oracle seed {a['seed']}; "
          f"{a['samples']:,} samples per model (temperature 1); nats per token", file=file)
    print("| model | steps | NLL-oracle | NLL-test | sample mean length | distinct samples | "
          "train s |", file=file)
    print("|---|---:|---:|---:|---:|---:|---:|", file=file)
    for row in rows:
        print(f"| {row['name']} | {row.get('steps', '-')} | {fmt(row.get('nll_oracle'))} | "
              f"{fmt(row.get('nll_test'))} | {fmt(row.get('mean_length'), 2)} | "
              f"{fmt(row.get('distinct_samples'), 3)} | {fmt(row.get('train_seconds'), 0)} |",
              file=file)
    unk = max(r.get("test_unk_share", 0.0) for r in rows)
    print(f"\nLower is better for both. {COLLAPSE_NOTE}", file=file)
    print("The oracle's row is its NLL of its own test sequences (its entropy rate): the floor "
          "of NLL-test, and what NLL-oracle of a perfect generator would be. RelGAN's row is "
          "published, not measured here: another generator on another random oracle.", file=file)
    if unk:
        print(f"{unk:.2%} of the test words never occur in training: the models read them as "
              "<unk> (one token for all of them), which makes NLL-test optimistic by an amount "
              "that grows with that share.", file=file)
    print(f"Total wall time {report['wall_seconds']:.0f} s.", file=file)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrain-steps", type=int, default=2000, help="MLE steps")
    parser.add_argument("--adversarial-steps", type=int, default=1500,
                        help="GAN steps after pre-training")
    parser.add_argument("--seed", type=int, default=0, help="oracle, data, training and sampling")
    parser.add_argument("--out", default="runs/seqgan-oracle", help="work directory")
    parser.add_argument("--json", default=None, help="write the report here (default OUT/report.json)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2, help="peak MLE learning rate")
    parser.add_argument("--warmup-steps", type=int, default=100)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--train-size", type=int, default=10_000)
    parser.add_argument("--valid-size", type=int, default=1_000)
    parser.add_argument("--test-size", type=int, default=2_000)
    parser.add_argument("--samples", type=int, default=10_000, help="samples scored per model")
    parser.add_argument("--monitor-samples", type=int, default=200,
                        help="samples whose diversity each validation logs (0: none)")
    parser.add_argument("--device", default="auto", help="training device (scoring is on the CPU)")
    parser.add_argument("--estimator", default="gumbel", choices=("gumbel", "reinforce"),
                        help="the GAN's gradient estimator (model.estimator)")
    parser.add_argument("--rollouts", type=int, default=4, help="Monte-Carlo roll-outs (REINFORCE)")
    args = parser.parse_args(argv)
    if args.pretrain_steps < 1 or args.adversarial_steps < 1:
        parser.error("--pretrain-steps and --adversarial-steps must be at least 1")
    return args


def main(argv=None, console=None) -> dict:
    """Run the benchmark; print the table, write the JSON report and return it."""
    from rich.console import Console

    from gentext_seqgan.oracle import Oracle

    args = parse_args(argv)
    console = console or Console(stderr=True)
    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    oracle = Oracle(seed=args.seed)
    sizes = {"train": args.train_size, "valid": args.valid_size, "test": args.test_size}
    splits = write_data(oracle, out / "data", sizes, args.seed)
    seconds = train_runs(out / "data", out, args, console)
    rows = []
    for name, label, steps in (
            ("mle", "MLE (seqgan pre-training)", args.pretrain_steps),
            ("gan", f"GAN (seqgan, {ESTIMATOR_NAMES[args.estimator]})",
             args.pretrain_steps + args.adversarial_steps)):
        scored = score_run(out / name, oracle, splits["test"], args.samples, args.seed)
        rows.append({"name": label, "run": str(out / name), "steps": steps,
                     "train_seconds": seconds[name], **scored})
    floor = oracle.nll(splits["test"])
    rows.append({"name": "oracle (entropy floor, reference)", "nll_oracle": floor,
                 "nll_test": floor, "mean_length": float(LENGTH)})
    rows.append({"name": "RelGAN(100), published (Nie et al. 2019), not measured",
                 "nll_oracle": RELGAN_PUBLISHED, "published": True})
    report = {"benchmark": "seqgan synthetic oracle (Texygen protocol)", "units": "nats/token",
              "args": vars(args), "rows": rows, "note": COLLAPSE_NOTE,
              "wall_seconds": time.perf_counter() - started}
    print_table(report)
    path = Path(args.json) if args.json else out / "report.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
