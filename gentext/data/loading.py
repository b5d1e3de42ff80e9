"""Loading user data: .txt / .txt.gz (one example a line), .jsonl (a "text" field and an
optional "label"), a folder written by ``datasets.save_to_disk``, or ``hf:NAME``, a dataset in
Hugging Face hub layout (``hub_datasets``). The text and label columns (fields, for .jsonl)
are ``data.text_column`` and ``data.label_column``, renamed "text" and "label".

Text files and folders go through HF datasets. JSON lines are parsed line by line with the
standard library: each line is checked anyway, and only "text" and "label" are kept, so other
fields whose type changes from line to line (which pyarrow's schema inference rejects) are
left alone instead of failing the file.

Files are checked first (exists, not empty, text, UTF-8) so a bad file is a one-line error
that says which line is wrong, not a stack trace from deep inside a parser.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from gentext.config import DataConfig
from gentext.data.hub import hub_name
from gentext.data.hub_datasets import examples_of, load_hub_dataset
from gentext.data.hub_datasets import quiet_datasets as _quiet_datasets
from gentext.errors import GentextError

TEXT_SUFFIXES = (".txt", ".txt.gz")
JSON_SUFFIXES = (".jsonl", ".jsonl.gz")


def _read_checked(path: Path) -> str:
    """The file's text, or an error for a file that is empty, binary or not UTF-8."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise GentextError(f"data file {str(path)!r} could not be read: {exc}") from exc
    if b"\x00" in raw:
        raise GentextError(f"data file {str(path)!r} looks binary (it has NUL bytes); "
                           "give a UTF-8 text file with one example a line")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise GentextError(f"data file {str(path)!r} is not UTF-8 (bad byte on line {line}); "
                           "convert it, e.g. with iconv -t utf-8") from exc
    if not text.strip():
        raise GentextError(f"data file {str(path)!r} is empty")
    return text


def _check_examples(examples: list[dict], where: str) -> list[dict]:
    if not isinstance(examples, (list, tuple)):
        raise GentextError(f"{where} gave {type(examples).__name__}, not a list of "
                           "{\"text\": ...} examples")
    for number, example in enumerate(examples, start=1):
        if not isinstance(example, dict):
            raise GentextError(f"{where}: example {number} is a {type(example).__name__}, not "
                               "a {\"text\": ...} dict")
        text = example.get("text")
        if not isinstance(text, str):
            raise GentextError(f"{where}: example {number} has no \"text\" string field")
    kept = [e for e in examples if e["text"].strip()]
    if not kept:
        raise GentextError(f"{where} has no non-empty examples")
    return kept


def _load_text(path: Path) -> list[dict]:
    _read_checked(path)
    datasets = _quiet_datasets()
    dataset = datasets.load_dataset("text", data_files=str(path), split="train")
    return [{"text": t} for t in dataset["text"] if t.strip()]


def _json_records(path: Path, text: str, text_field: str = "text",
                  label_field: str = "label") -> list[dict]:
    """Each non-blank line's ``text_field`` and ``label_field``, as "text" and "label"; a line
    that is not a JSON object with a ``text_field`` string is an error that names it."""
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise GentextError(f"data file {str(path)!r}, line {number}: not valid JSON "
                               f"({exc.msg})") from exc
        if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
            raise GentextError(f"data file {str(path)!r}, line {number}: no {text_field!r} string "
                               f'field; each line must look like {{"{text_field}": "...", '
                               f'"{label_field}": "..."}} (data.text_column names the field)')
        records.append({key: record[field] for key, field in (("text", text_field),
                                                              ("label", label_field))
                        if field in record})
    return records


def _load_json(path: Path, data: DataConfig) -> list[dict]:
    records = _json_records(path, _read_checked(path), data.text_column, data.label_column)
    return _check_examples(records, f"data file {str(path)!r}")


def load_folder(path: Path, data: DataConfig | None = None):
    """A ``save_to_disk`` folder: a Dataset (list of examples) or a DatasetDict (its splits)."""
    datasets = _quiet_datasets()
    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # noqa: BLE001
        raise GentextError(f"{str(path)!r} is not a folder written by datasets.save_to_disk "
                           f"({type(exc).__name__})") from exc
    if isinstance(loaded, datasets.DatasetDict):
        return {name: _dataset_examples(split, data, f"split {name!r} of {str(path)!r}")
                for name, split in loaded.items()}
    return _dataset_examples(loaded, data, f"dataset {str(path)!r}")


def _dataset_examples(dataset, data: DataConfig | None, where: str) -> list[dict]:
    data = data or DataConfig()
    return _check_examples(examples_of(dataset, data.text_column, data.label_column, where), where)


def load_source(source: str, registered: dict, owners: dict | None = None,
                data: DataConfig | None = None):
    """Examples for ``--data``: a registered corpus name, a file, a datasets folder, or an
    ``hf:`` dataset (with ``data``'s configuration and columns).

    Returns a list of examples, or a dict of split name -> examples for data that already
    holds splits. A registered dataset whose ``load()`` raises or returns something
    else than examples is a one-line error naming its plugin (``owners``: name -> plugin).
    """
    data, name = data or DataConfig(), hub_name(source)
    if name is not None:
        loaded = load_hub_dataset(name, data.hf_config, data.text_column, data.label_column)
        return {split: _check_examples(examples, f"split {split!r} of dataset {name!r}")
                for split, examples in loaded.items()}
    if source in registered:
        where = f"dataset {source!r} (plugin {(owners or {}).get(source, 'unknown')!r})"
        try:
            examples = registered[source].load()
        except Exception as exc:  # noqa: BLE001 - a plugin's failure, reported in one line
            raise GentextError(f"{where} failed to load: {type(exc).__name__}: {exc}") from exc
        return _check_examples(examples, where)
    path = Path(source).expanduser()
    if not path.exists():
        names = ", ".join(sorted(registered)) or "none"
        raise GentextError(f"data {source!r} is neither a file nor a folder nor a registered "
                           f"dataset (registered: {names}); a hub dataset is written hf:NAME")
    if path.is_dir():
        from gentext.data.memmap import corpus_texts, is_corpus_folder

        if is_corpus_folder(path):  # written by `gentext tokenize`
            return corpus_texts(path)
        return load_folder(path, data)
    if path.name.endswith(TEXT_SUFFIXES):
        return _load_text(path)
    if path.name.endswith(JSON_SUFFIXES):
        return _load_json(path, data)
    raise GentextError(f"data file {str(path)!r} has an unknown type; use .txt, .txt.gz, "
                       ".jsonl or a datasets.save_to_disk folder")
