"""gentext.training.memory: freed tensors leave the resident set after a trim (glibc only)."""

import subprocess
import sys

import pytest

from gentext.training.memory import _glibc

PROBE = """
import sys, psutil, torch
from gentext.training.memory import release_free_memory
torch.empty(4 << 20).fill_(1)  # a 16 MB block freed: glibc's threshold would rise to it
before = psutil.Process().memory_info().rss
# 256 MB in 4 MB tensors, each followed by a small one that stays (as a model's state
# does): the heap cannot shrink from its top, only a mapping or a trim gives pages back
held, kept = [], []
for _ in range(64):
    held.append(torch.ones(1 << 20))
    kept.append(torch.ones(64))
del held
if sys.argv[1] == "trim":
    release_free_memory()
print((psutil.Process().memory_info().rss - before) >> 20)
"""


@pytest.mark.skipif(_glibc() is None, reason="glibc's malloc only")
def test_freed_activations_go_back_to_the_system():
    def kept(*mode: str) -> int:
        """MB still resident after 256 MB of 4 MB tensors were freed."""
        return int(subprocess.run([sys.executable, "-c", PROBE, *mode], capture_output=True,
                                  text=True, check=True).stdout)

    assert kept("trim") < 32  # trimming hands back what the heap kept
    assert kept("keep") > 128  # what glibc's rising mmap threshold does without it
