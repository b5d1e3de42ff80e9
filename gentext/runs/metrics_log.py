"""``metrics.jsonl``: the one module that writes and reads a run's log of figures.

Each line is one JSON object with a ``kind``:

- ``"train"``: ``step``, the mean of every scalar the model's ``training_step`` returned over
  the last ``log_every`` steps (``loss`` among them), the learning rate(s), ``tokens_per_s``
  and ``elapsed_s`` (training seconds so far, resumed sessions included);
- ``"valid"``: ``step`` and an ``Evaluation.as_dict()`` of the validation split (the model's
  diagnostics nested under ``diagnostics``, so no diagnostic can overwrite a field), with
  ``elapsed_s`` when it began and ``eval_s``, the seconds it took: training time at a step is
  its ``elapsed_s`` less the ``eval_s`` of the validations before it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

TRAIN, VALID = "train", "valid"
KINDS = (TRAIN, VALID)
RESERVED = ("kind", "step")  # fields of every row that a logged value may not replace


class MetricsLog:
    """Append rows to, and read rows from, one run's ``metrics.jsonl``."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def append(self, kind: str, step: int, values: dict) -> dict:
        """Write one row; returns it. A value named like a reserved field is refused."""
        if kind not in KINDS:
            raise ValueError(f"metrics row kind must be one of {KINDS}, got {kind!r}")
        clashes = [name for name in values if name in RESERVED]
        if clashes:
            raise ValueError(f"a logged value may not be named {clashes[0]!r} (reserved in "
                             "metrics.jsonl rows)")
        row = {"kind": kind, "step": step, **values}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        return row

    def rows(self, kind: str | None = None) -> list[dict]:
        """Every row (of one kind, if given), in the order written; none if there is no log."""
        return [row for row in self._read() if kind is None or row["kind"] == kind]

    def _read(self) -> Iterator[dict]:
        if not self.path.is_file():
            return
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield json.loads(line)

    def truncate_after(self, step: int) -> None:
        """Forget rows logged after ``step`` (a resumed run logs them again)."""
        from gentext.runs.atomic import write_atomic

        if self.path.is_file():
            kept = [row for row in self._read() if row["step"] <= step]
            write_atomic(self.path, "".join(json.dumps(row) + "\n" for row in kept))
