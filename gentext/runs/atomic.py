"""Durable, atomic file writes: each file is written to a temporary name, fsynced and renamed
into place, so a killed process or a power cut leaves the old file or the new one, never half
of one. Every file of a run directory is written through here."""

from __future__ import annotations

import os
from pathlib import Path


def partial_path(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place."""
    path = Path(path)
    return path.with_name(f".{path.name}.partial")


def fsync(path: Path) -> None:
    """Flush a file (or a directory's entries) to disk, so a rename never outruns the data."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if Path(path).is_dir() else 0)
    try:
        descriptor = os.open(path, flags)
    except OSError:  # some systems cannot open directories; the data itself was synced
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def replace_durably(partial: Path, path: Path) -> None:
    """Move a fully written ``partial`` onto ``path``: fsync, rename, fsync the folder. A crash
    at any point leaves either the old file or the new one, never half of one."""
    fsync(partial)
    os.replace(partial, path)
    fsync(Path(path).parent)


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync and a rename."""
    partial = partial_path(path)
    partial.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    replace_durably(partial, path)
