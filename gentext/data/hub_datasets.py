"""Datasets in Hugging Face hub layout (``--data hf:NAME``): a local folder that
``datasets.load_dataset`` reads (parquet, JSON or text files split by their names, or a
README.md's ``configs:``) or a hub id. A dataset keeps its own splits under its own names; its
text and label columns become gentext's "text" and "label"; ``gentext tokenize`` reads it a
chunk at a time (streamed from the hub, or from its memory-mapped Arrow files).

Every failure of ``datasets`` (a configuration that does not exist, a missing column, a hub
id neither cached nor reachable) is a one-line GentextError, not a traceback.
"""

from __future__ import annotations

import logging
import re
from typing import Iterator

from gentext.data import hub
from gentext.data.splits import own_split_names
from gentext.errors import GentextError

DEFAULT_LABEL_COLUMN = "label"


def quiet_datasets():
    """``datasets``, its progress bars and logging off."""
    import datasets

    datasets.disable_progress_bars()
    datasets.utils.logging.set_verbosity(logging.ERROR)
    return datasets


def open_dataset(name: str, config: str = "", stream: bool = False):
    """``datasets.load_dataset(name, config)``: the dataset's splits by name. A hub id that the
    hub cannot be reached for is answered from the local cache; ``stream`` streams a hub id
    when the hub answers (a local folder or a cached id is read from Arrow files, mapped)."""
    datasets = quiet_datasets()
    folder = hub.local_folder(name)
    offline = folder is None and not hub.reachable()
    if offline:
        hub.go_offline()
    try:
        loaded = datasets.load_dataset(str(folder.resolve()) if folder else name, config or None,
                                       streaming=stream and folder is None and not offline)
    except Exception as exc:  # noqa: BLE001 - datasets' many failures, each in one line
        raise _one_line(exc, name, config, offline) from exc
    return loaded if isinstance(loaded, dict) else {"train": loaded}


def _one_line(exc: Exception, name: str, config: str, offline: bool) -> GentextError:
    """What went wrong in ``datasets.load_dataset``, said in one line."""
    message = str(exc)
    if offline and isinstance(exc, (ConnectionError, FileNotFoundError)):
        return hub.unreachable(name, "dataset")
    listed = re.search(r"[Aa]vailable(?: configs)?: (\[[^\]]*\])", message)
    if listed and isinstance(exc, ValueError):
        choices = ", ".join(re.findall(r"'([^']*)'", listed.group(1)))
        which = f"has no configuration {config!r}" if config else "has several configurations"
        return GentextError(f"dataset {name!r} {which}; set data.hf_config (gentext tokenize: "
                            f"--hf-config) to one of: {choices}")
    first = next((line for line in message.splitlines() if line.strip()), "")
    return GentextError(f"dataset {name!r} could not be loaded: {type(exc).__name__}: {first}")


def check_columns(columns, text_column: str, label_column: str, where: str) -> None:
    """A missing text column (or a label column the user named) is an error naming those the
    dataset has."""
    for key, column in (("text_column", text_column), ("label_column", label_column)):
        if column not in columns and (key == "text_column" or column != DEFAULT_LABEL_COLUMN):
            tokenize = " (gentext tokenize: --text-column)" if key == "text_column" else ""
            raise GentextError(f"{where} has no column {column!r} (its columns: "
                               f"{', '.join(columns) or 'none'}); set data.{key} to one of "
                               f"them{tokenize}")


def examples_of(dataset, text_column: str = "text", label_column: str = DEFAULT_LABEL_COLUMN,
                where: str = "the dataset", class_names: bool = False) -> list[dict]:
    """A Dataset's rows as examples: ``text_column`` as "text" (a missing text as "", left out
    later like any empty one) and ``label_column``, where it has one, as "label" (with
    ``class_names``, a ClassLabel's name; an out-of-range id such as -1 is no label)."""
    check_columns(dataset.column_names, text_column, label_column, where)
    texts = ["" if text is None else text for text in dataset[text_column]]
    if label_column not in dataset.column_names:
        return [{"text": text} for text in texts]
    labels = dataset[label_column]
    names = getattr(dataset.features[label_column], "names", None) if class_names else None
    if names:
        labels = [names[i] if isinstance(i, int) and 0 <= i < len(names) else None for i in labels]
    return [{"text": text, "label": label} for text, label in zip(texts, labels)]


def load_hub_dataset(name: str, config: str = "", text_column: str = "text",
                     label_column: str = DEFAULT_LABEL_COLUMN) -> dict[str, list[dict]]:
    """An ``hf:`` dataset's examples, by its own split names."""
    return {split: examples_of(rows, text_column, label_column,
                               f"split {split!r} of dataset {name!r}", class_names=True)
            for split, rows in open_dataset(name, config).items()}


def one_line(text: str) -> str:
    """``text`` as one line of a corpus folder's text files: a final line break dropped, any
    other one a space."""
    return (text[:-1] if text.endswith("\n") else text).replace("\n", " ")


class DatasetTexts:
    """An ``hf:`` dataset's texts, split by split, a chunk at a time (`gentext tokenize`)."""

    def __init__(self, name: str, config: str = "", text_column: str = "text",
                 chunk: int = 10_000):
        self.name, self.text_column, self.chunk = name, text_column, chunk
        self.splits = open_dataset(name, config, stream=True)
        own = own_split_names(self.splits)
        self.train = own.pop("train", None)
        # gentext's name -> the dataset's, of each held-out split it has (none without train)
        self.held_out = own if self.train else {}

    def texts(self, split: str | None = None) -> Iterator[str]:
        """The non-empty texts of the dataset's ``split`` (default: its training split, or
        every split when it has none), one line each (``one_line``)."""
        names = [split] if split else [self.train] if self.train else list(self.splits)
        for name in names:
            rows, where = self.splits[name], f"split {name!r} of dataset {self.name!r}"
            if rows.column_names is not None:
                check_columns(rows.column_names, self.text_column, DEFAULT_LABEL_COLUMN, where)
                rows = rows.select_columns([self.text_column])
            try:
                for batch in rows.iter(batch_size=self.chunk):
                    if self.text_column not in batch:
                        check_columns(list(batch), self.text_column, DEFAULT_LABEL_COLUMN, where)
                    yield from (one_line(t) for t in batch[self.text_column]
                                if isinstance(t, str) and t.strip())
            except GentextError:
                raise
            except Exception as exc:  # noqa: BLE001 - a dropped connection, a bad file
                raise GentextError(f"reading {where} failed: {type(exc).__name__}: "
                                   f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
