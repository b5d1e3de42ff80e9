"""`gentext new-plugin NAME`: a working plugin package to start from, as simonw/llm's
llm-plugin and datasette-plugin templates give their authors.

The template, ``template/`` here, is a whole plugin package: the family "bigram" (a model, a
dataset, a metric, a command and its tests). It is examples/gentext-bigram, which
docs/writing-a-plugin.md walks through, file for file (tests/test_new_plugin.py holds them
the same); a new plugin is that package with "bigram" renamed. Its Python files end in
``.py-tpl``, as Django's project templates do, so that nothing takes them for gentext's own.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from gentext.errors import GentextError

PLUGIN_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
TEMPLATE_SUFFIX = "-tpl"


def renaming(name: str):
    """A function of the template's text (or a path in it) that renames the family "bigram"
    ``name``: the package gentext_bigram, the classes Bigram... and every other "bigram"."""
    words = {"gentext_bigram": "gentext_" + name.replace("-", "_"),
             "Bigram": "".join(part.capitalize() for part in re.split(r"[-_]", name)),
             "bigram": name}
    pattern = re.compile("|".join(words))
    return lambda text: pattern.sub(lambda match: words[match.group()], text)


def template_files(folder=None, path: str = ""):
    """(path in the template, file) for each file of the template, in a stable order."""
    folder = folder or resources.files("gentext.plugins") / "template"
    for entry in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if entry.is_dir():
            yield from template_files(entry, f"{path}{entry.name}/")
        else:
            yield f"{path}{entry.name}", entry


def write_plugin(name: str, out: Path) -> list[Path]:
    """Write the package of plugin ``name`` into folder ``out`` (which must not exist yet)."""
    if not PLUGIN_NAME.fullmatch(name):
        raise GentextError(f"plugin name {name!r} must be lower-case letters and digits, words "
                           "joined by '-' or '_' (e.g. charrnn or char-rnn)")
    out = Path(out)
    if out.exists():
        raise GentextError(f"{str(out)!r} already exists; choose another --out")
    rename = renaming(name)
    written = []
    for path, source in template_files():
        target = out / rename(path.removesuffix(TEMPLATE_SUFFIX))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(rename(source.read_text(encoding="utf-8")), encoding="utf-8")
        written.append(target)
    return written
