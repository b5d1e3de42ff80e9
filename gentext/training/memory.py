"""Hand freed memory back to the system after phases that allocate much and free it.

Measured on the default gpt run (``bench/memory.py``; the profile is in docs/speed.md):
glibc's malloc keeps freed heap blocks resident, and after the data pipeline (tokenising in
the tokenizer's threads, each with its own malloc arena) and after each validation that was
tens to hundreds of MB the run no longer used. ``malloc_trim`` returns the free pages of
every arena. It does nothing off glibc (macOS, Windows, musl).

Not done here: fixing malloc's mmap threshold low (``MALLOC_MMAP_THRESHOLD_=65536`` in the
environment does it) returns every freed activation at once and cut the default run's
resident peak further, but it made each CPU step several times slower (every large tensor
a fresh mapping the kernel must zero), so it is left to a user who needs the memory more.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _glibc():
    """glibc's handle, or None where the C library is another."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 (glibc only)
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError, TypeError):
        return None
    return libc


def release_free_memory() -> None:
    """Return the free pages of every malloc arena to the system."""
    libc = _glibc()
    if libc:
        libc.malloc_trim(0)
