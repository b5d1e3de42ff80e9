"""Regenerate the default corpus shipped with gentext.

The package ships a small, public-domain sentence corpus (Jane Austen's six
novels) so that it works out of the box without downloads. This script rebuilds
``gentext/data/austen/sentences.txt.gz`` from the Debian package
``r-cran-janeaustenr`` in a fixed, byte-for-byte reproducible way, and prints
the numbers recorded in ``gentext/data/austen/PROVENANCE.md``.

Run from the repository root::

    python dev/make_austen_corpus.py              # apt-get download the .deb
    python dev/make_austen_corpus.py --deb FILE   # use a .deb you already have

Needs ``dpkg-deb`` (and ``apt-get`` without ``--deb``) and the ``rdata`` package.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import re
import subprocess
import tempfile
import warnings
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import rdata

DEB_PACKAGE = "r-cran-janeaustenr"
DATA_DIR_IN_DEB = Path("usr/lib/R/site-library/janeaustenr/data")
RDX_NAME = "Rdata.rdx"
RDB_NAME = "Rdata.rdb"
RDB_LENGTH_PREFIX_BYTES = 4  # each .rdb entry: 4-byte big-endian length, then zlib data

REPO_ROOT = Path(__file__).resolve().parent.parent
OUTPUT_PATH = Path("gentext/data/austen/sentences.txt.gz")  # relative to REPO_ROOT
GZIP_LEVEL = 9
GZIP_MTIME = 0  # fixed timestamp so the output is reproducible

MIN_WORDS = 4
MAX_WORDS = 50
MAX_HEADING_WORDS = 8  # all-caps paragraphs up to this length are headings

# Paragraphs that are structure, not prose.
CHAPTER_RE = re.compile(r"(?:chapter|volume)\s+(?:[ivxlc]+|\d+)\.?", re.IGNORECASE)
BYLINE_RE = re.compile(r"(?:by)?\s*(?:jane austen)?\s*(?:\(\d{4}\))?", re.IGNORECASE)
EDITORIAL_RE = re.compile(r"\[.*\]|\(.*\)")  # "[End volume one ...]", "(1814)"
BACK_MATTER_RE = re.compile(r"the end|finis|a note on the text", re.IGNORECASE)
LETTER_RE = re.compile(r"[A-Za-z]")

ITALIC_RE = re.compile(r"_([^_]+)_")  # Project Gutenberg marks italics as _word_
FOOTNOTE_MARK_RE = re.compile(r"(?<=\S)\*")  # "declared,*" -> "declared,"
WHITESPACE_RE = re.compile(r"\s+")

# Words after which a period does not end a sentence (compared case-insensitively).
# "No." is left out: in these books it is almost always the answer "No.", and
# the one "No. 97" is followed by a digit, which never starts a sentence anyway.
ABBREVIATIONS = frozenset(
    {"mr", "mrs", "messrs", "dr", "st", "rev", "hon", "esq", "col", "capt",
     "gen", "lt", "wm", "edw", "vol"}
)
# Sentence end: . ! or ? plus optional closing quotes/brackets, then whitespace,
# then (optional opening quotes/brackets and) an uppercase letter.
SENTENCE_END_RE = re.compile(r"""[.!?]["')\]]*(?=\s+["'(\[]*[A-Z])""")
LAST_WORD_RE = re.compile(r"""([A-Za-z&]+)\.$""")


def download_deb(dest: Path) -> Path:
    """Fetch the Debian package into dest with apt-get and return its path."""
    subprocess.run(["apt-get", "download", DEB_PACKAGE], cwd=dest, check=True)
    (deb,) = dest.glob(f"{DEB_PACKAGE}_*.deb")
    return deb


def extract_deb(deb: Path, dest: Path) -> Path:
    """Unpack deb into dest and return the R package's data directory."""
    subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True)
    return dest / DATA_DIR_IN_DEB


def deb_version(deb: Path) -> str:
    """Return the package version recorded in the .deb control file."""
    out = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def parse_r(data: bytes) -> Any:
    """Parse an uncompressed R serialization stream into Python objects."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rdata warns "Unknown file type"
        return rdata.conversion.convert(rdata.parser.parse_data(data))


def read_books(data_dir: Path) -> dict[str, list[str]]:
    """Return {book name: lines} for every book in the lazy-load database."""
    index = parse_r(gzip.decompress((data_dir / RDX_NAME).read_bytes()))
    blob = (data_dir / RDB_NAME).read_bytes()
    books: dict[str, list[str]] = {}
    for name, (offset, length) in index["variables"].items():
        entry = blob[int(offset) : int(offset) + int(length)]
        lines = parse_r(zlib.decompress(entry[RDB_LENGTH_PREFIX_BYTES:]))
        books[str(name)] = [str(line) for line in lines]
    return dict(sorted(books.items()))


def paragraphs(lines: Iterable[str]) -> Iterator[str]:
    """Join lines into whitespace-normalised paragraphs split at blank lines."""
    current: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            current.append(line)
        elif current:
            yield WHITESPACE_RE.sub(" ", " ".join(current)).strip()
            current = []


def is_heading(para: str) -> bool:
    """Tell whether a paragraph is a heading, byline, separator or editor's note."""
    if not LETTER_RE.search(para) or para.startswith("*"):
        return True  # "* * * * *" separators and the footnote "*Vide ..."
    if CHAPTER_RE.fullmatch(para) or BYLINE_RE.fullmatch(para) or EDITORIAL_RE.fullmatch(para):
        return True
    return para.upper() == para and len(para.split()) <= MAX_HEADING_WORDS


def body_paragraphs(lines: list[str]) -> Iterator[str]:
    """Yield the prose paragraphs of a book, without title, headings or back matter."""
    paras = paragraphs(lines)
    next(paras)  # the first paragraph is the book's title
    for para in paras:
        if BACK_MATTER_RE.fullmatch(para):
            return
        if not is_heading(para):
            yield clean(para)


def clean(para: str) -> str:
    """Drop italics underscores and footnote markers from a paragraph."""
    return FOOTNOTE_MARK_RE.sub("", ITALIC_RE.sub(r"\1", para))


def ends_with_abbreviation(text: str) -> bool:
    """Tell whether text ends with an abbreviation or an initial such as "J."."""
    match = LAST_WORD_RE.search(text)
    if not match:
        return False
    word = match.group(1)
    if len(word) == 1:
        return word.isupper() and word != "I"
    return word.lower() in ABBREVIATIONS


def split_sentences(para: str) -> list[str]:
    """Split a paragraph into sentences at . ! ? not ending an abbreviation."""
    sentences: list[str] = []
    start = 0
    for match in SENTENCE_END_RE.finditer(para):
        is_period = match.group().startswith(".")
        if is_period and ends_with_abbreviation(para[start : match.start() + 1]):
            continue
        sentences.append(para[start : match.end()].strip())
        start = match.end()
    sentences.append(para[start:].strip())
    return [s for s in sentences if s]


def book_sentences(lines: list[str]) -> list[str]:
    """Return the sentences of a book with MIN_WORDS to MAX_WORDS words, in order."""
    return [
        s
        for para in body_paragraphs(lines)
        for s in split_sentences(para)
        if MIN_WORDS <= len(s.split()) <= MAX_WORDS
    ]


def write_gzip(path: Path, text: str) -> bytes:
    """Write text as reproducible gzip (fixed level, mtime 0, no name); return bytes."""
    buf = io.BytesIO()
    with gzip.GzipFile(
        filename="", fileobj=buf, mode="wb", compresslevel=GZIP_LEVEL, mtime=GZIP_MTIME
    ) as gz:
        gz.write(text.encode("utf-8"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def build(deb: Path, workdir: Path) -> None:
    """Build the corpus from deb and print counts, sizes and the SHA-256."""
    books = read_books(extract_deb(deb, workdir / "root"))
    print(f"source: {deb.name} (version {deb_version(deb)})")
    all_sentences: list[str] = []
    for name, lines in books.items():
        sentences = book_sentences(lines)
        print(f"{name:18s} {len(sentences):6d} sentences")
        all_sentences.extend(sentences)
    text = "".join(s + "\n" for s in all_sentences)
    data = write_gzip(REPO_ROOT / OUTPUT_PATH, text)
    print(f"{'total':18s} {len(all_sentences):6d} sentences")
    print(f"plain:   {len(text.encode('utf-8')):,} bytes")
    print(f"gzipped: {len(data):,} bytes -> {OUTPUT_PATH}")
    print(f"sha256:  {hashlib.sha256(data).hexdigest()}")


def main() -> None:
    """Parse arguments, fetch the package if needed, and build the corpus."""
    parser = argparse.ArgumentParser(description="Regenerate " + str(OUTPUT_PATH))
    parser.add_argument("--deb", type=Path, help=f"an already downloaded {DEB_PACKAGE} .deb")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        deb = args.deb.resolve() if args.deb else download_deb(workdir)
        build(deb, workdir)


if __name__ == "__main__":
    main()
