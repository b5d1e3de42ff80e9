"""The configuration reference page, generated from the config dataclasses themselves.

``python -m gentext_cli.config_reference > docs/config.md`` rewrites the page; a test checks
the page equals what this prints, so every key of every section (and of every installed
family's [model]) is documented, with its default and the comment beside it in the source.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap

HEADER = """# Configuration reference

Every key of a run's configuration, generated from the dataclasses that define them
(`python -m gentext_cli.config_reference > docs/config.md`; the test suite checks this page
against them, so it cannot drift). Set a key in a TOML file (`--config run.toml`) or on the
command line (`--set section.key=value`); a family's own defaults for `[train]` and `[data]`
are listed with it. [Configuration and runs](runs.md) explains how the layers combine. Under
a table are the names that section takes that are not keys: presets (a name that sets several
keys at once) and the keys of earlier releases, renamed or removed.
"""


def field_comments(cls) -> dict[str, str]:
    """Each field's comment in the source of the class that declares it last (a config that
    builds on another, as gpt's on TransformerConfig, takes the base's comment unless it
    redeclares the field)."""
    comments = {}
    for owner in reversed(cls.__mro__):
        if dataclasses.is_dataclass(owner) and owner is not object:
            comments.update(_own_comments(owner))
    return comments


def _own_comments(cls) -> dict[str, str]:
    """The comments of the fields ``cls`` declares itself: the one beside each; comment lines
    above a field (a section's heading) lead it, unless the comment before them ends
    mid-sentence (with ":", ";" or ","), which they then continue."""
    lines = textwrap.dedent(inspect.getsource(cls)).splitlines()
    tree = ast.parse("\n".join(lines))
    body = next(node for node in tree.body if isinstance(node, ast.ClassDef)).body
    comments, previous = {}, None
    for node in body:
        if not isinstance(node, ast.AnnAssign) or "ClassVar" in ast.unparse(node.annotation):
            continue
        start = node.lineno - 1
        above = []
        for index in range(start - 1, -1, -1):  # standalone comment lines right above
            if not lines[index].strip().startswith("#"):
                break
            above.insert(0, lines[index].split("#", 1)[1].strip())
        if previous and above and comments[previous].endswith((":", ";", ",")):
            comments[previous] += " " + " ".join(above)
            above = []
        inline = lines[start].split("#", 1)[1].strip() if "#" in lines[start] else ""
        comments[node.target.id] = " — ".join(part for part in [" ".join(above), inline] if part)
        previous = node.target.id
    return comments


def _default(field) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return "(required)"
    return f"`{value!r}`".replace("'", '"') if isinstance(value, str) else f"`{value!r}`"


def _cell(text: str) -> str:
    """Table-safe text; a special token such as <unk> as code, so no page swallows it."""
    import re

    return re.sub(r"(<[a-z]+>)", r"`\1`", text.replace("|", "\\|"))


def section(title: str, cls, defaults: dict | None = None) -> str:
    """One section's table: key, default (the family's own where it sets one), meaning."""
    comments = field_comments(cls)
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for field in dataclasses.fields(cls):
        default = _default(field)
        if defaults and field.name in defaults:
            default = f"`{defaults[field.name]!r}`".replace("'", '"') + f" (core: {default})"
        rows.append(f"| `{field.name}` | {default} | {_cell(comments.get(field.name, ''))} |")
    return f"{title}\n\n" + "\n".join(rows) + "\n" + _not_keys(cls)


def _not_keys(cls) -> str:
    """The names a section takes that are not its keys: presets, and keys of earlier releases
    (gentext.config says what it does with each)."""
    lines, defaults = [], cls()
    for preset, choices in getattr(cls, "PRESETS", {}).items():
        for choice, settings in choices.items():
            keys = ", ".join(f"`{k} = {v!r}`" for k, v in settings.items()).replace("'", '"')
            same = all(getattr(defaults, k) == v for k, v in settings.items())
            lines.append(f"Preset `{preset} = \"{choice}\"` sets {keys}"
                         f"{' (the defaults)' if same else ''}; a key set beside it wins.")
    renamed = getattr(cls, "RENAMED_KEYS", {})
    if renamed:
        from gentext.deprecation import REMOVED_IN

        names = ", ".join(f"`{old}` (now `{new}`)" for old, new in renamed.items())
        lines.append(f"Renamed, the old name still working until gentext {REMOVED_IN} with a "
                     f"warning: {names}.")
    removed = {}
    for key, (_, why) in getattr(cls, "REMOVED_KEYS", {}).items():
        removed.setdefault(why, []).append(f"`{key}`")
    for why, keys in removed.items():
        listed = keys[0] if len(keys) == 1 else ", ".join(keys[:-1]) + " and " + keys[-1]
        lines.append(f"{listed} {'was' if len(keys) == 1 else 'were'} removed {why}: set, it is "
                     "refused in one line (at its old default, as a saved run holds it, ignored).")
    return "".join(f"\n{line}\n" for line in lines)


def render() -> str:
    from gentext.config import DataConfig, RunSection, TrainConfig
    from gentext.plugins.manager import registry

    found = registry()
    parts = [HEADER, section("## [run]", RunSection), section("## [data]", DataConfig),
             section("## [train]", TrainConfig)]
    for name, spec in sorted(found.models.items()):
        plugin = found.owner[("model", name)]
        parts.append(f"## [model] of {name}\n\n{spec.description} (plugin `{plugin}`, "
                     f"`{spec.config.__module__}.{spec.config.__name__}`).\n")
        parts.append(section("", spec.config).lstrip("\n"))
        for kind, defaults in (("train", spec.train_defaults), ("data", spec.data_defaults)):
            if defaults:
                settings = ", ".join(f"`{kind}.{k} = {v!r}`".replace("'", '"')
                                     for k, v in defaults.items())
                parts.append(f"{name} changes these [{kind}] defaults: {settings}.\n")
    return "\n".join(parts)


def main() -> None:
    print(render(), end="")


if __name__ == "__main__":
    main()
