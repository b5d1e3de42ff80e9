"""Keep a CPU run's resident memory near what it holds, not near what it once held.

Measured on the default gpt run (``bench/memory.py``; profile in docs/speed.md): glibc's
malloc serves a tensor of up to 32 MB from its heap once a tensor that large has been freed
(its mmap threshold rises to the size of every large block it gives back), and a freed heap
block stays resident. A batch of long sentences makes hundreds of MB of activations, so
after it the process kept 250 to 450 MB of free heap for the rest of the run. A fixed
threshold makes every block over it a mapping of its own, returned to the system when the
tensor is freed; ``release_free_memory`` hands back what the data pipeline's threads left
in their arenas. Both do nothing off glibc (macOS, Windows, musl).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)
MMAP_THRESHOLD_BYTES = 64 * 1024  # blocks from 64 KiB up: a tensor of 16,384 floats


@functools.cache
def _glibc():
    """glibc's handle, or None where the C library is another."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 (glibc only)
        libc.mallopt, libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError, TypeError):
        return None
    return libc


def keep_memory_flat() -> bool:
    """Fix malloc's mmap threshold so large freed blocks go back to the system; True where
    it took effect."""
    libc = _glibc()
    return bool(libc and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


def release_free_memory() -> None:
    """Return the free pages of every malloc arena to the system (after a phase that
    allocated much and freed it: the data pipeline, a validation)."""
    libc = _glibc()
    if libc:
        libc.malloc_trim(0)
