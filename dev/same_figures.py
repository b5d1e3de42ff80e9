"""Short seeded runs of every family, scored and sampled: run it on two builds and compare.

A refactor that should change no numbers (a move, a split, a rename) is checked by running
this before and after it and diffing the two JSON files:

    python dev/same_figures.py --out before.json            # on the old build
    python dev/same_figures.py --out after.json             # on the new one
    python dev/same_figures.py --compare before.json after.json

Each family trains its tiny settings (tests/tiny_runs.py) for 20 seeded steps on the embedded
corpus, then `gentext eval --json` scores the test split and `gentext sample --n 3 --seed 0`
draws. About a minute a family on two CPU cores.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tiny_runs import TINY  # noqa: E402

FAMILIES = ["gpt", "seqvae", "seqgan", "flow", "mdlm"]
STEPS = ["train.steps=20", "train.eval_every=10", "train.samples=0", "train.seed=0"]


def gentext(*args: str) -> str:
    """Run the CLI of the Python running this script; its output, or exit with its error."""
    done = subprocess.run([sys.executable, "-m", "gentext", *args], capture_output=True,
                          text=True, env={**os.environ, "HF_HUB_OFFLINE": "1",
                                          "HF_DATASETS_OFFLINE": "1"})
    if done.returncode:
        sys.exit(f"gentext {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def figures(family: str, root: Path) -> dict:
    """Train ``family`` briefly, then its test-split evaluation and three seeded samples."""
    out = root / family
    settings = [arg for pair in zip(["--set"] * 99, TINY[family] + STEPS) for arg in pair]
    gentext("train", "--model", family, "--out", str(out), "--device", "cpu", *settings)
    scored = json.loads(gentext("eval", str(out), "--device", "cpu", "--json"))
    samples = gentext("sample", str(out), "--n", "3", "--seed", "0", "--device", "cpu")
    return {"eval": scored, "samples": samples.splitlines()}


def compare(before: dict, after: dict) -> int:
    """Print each family's differences; the number of families that differ."""
    differ = 0
    for family in FAMILIES:
        old, new = before[family], after[family]
        same_samples = old["samples"] == new["samples"]
        fields = sorted(k for k, v in old["eval"].items() if isinstance(v, (int, float)))
        moved = {k: (old["eval"][k], new["eval"].get(k)) for k in fields
                 if abs(old["eval"][k] - (new["eval"].get(k) or 0.0)) > 1e-9}
        print(f"{family:7s} samples {'same' if same_samples else 'DIFFER'}; "
              f"eval {'same' if not moved else f'DIFFERS {moved}'}")
        differ += bool(moved or not same_samples)
    return differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="Write the figures of this build here.")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        before, after = (json.loads(p.read_text()) for p in args.compare)
        sys.exit(1 if compare(before, after) else 0)
    if not args.out:
        parser.error("give --out FILE or --compare BEFORE AFTER")
    with tempfile.TemporaryDirectory() as root:
        result = {family: figures(family, Path(root)) for family in FAMILIES}
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
