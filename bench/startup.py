"""Start-up time of the CLI: `gentext --help` and `gentext models` must not import torch.

Prints a table of median wall-clock times over repeated runs, each as a ratio to a bare
`python -c pass` and to `python -c "import torch"` measured in the same run.

    python bench/startup.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
    "gentext --help": [sys.executable, "-m", "gentext", "--help"],
    "gentext models": [sys.executable, "-m", "gentext", "models"],
    "gentext plugins": [sys.executable, "-m", "gentext", "plugins"],
}


def median_seconds(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    results = {name: median_seconds(command, args.repeats) for name, command in CASES.items()}
    bare, torch_time = results["python -c pass"], results["python -c 'import torch'"]
    print(f"| command | median s ({args.repeats} runs) | x bare python | x import torch |")
    print("|---|---:|---:|---:|")
    for name, seconds in results.items():
        print(f"| {name} | {seconds:.3f} | {seconds / bare:.1f} | {seconds / torch_time:.2f} |")


if __name__ == "__main__":
    main()
