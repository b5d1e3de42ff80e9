"""The CLI reference page, generated from the Typer app itself so it cannot drift.

``python -m gentext_cli.reference > docs/cli.md`` rewrites the page; a test checks the page
equals what this prints. Only gentext's own commands are listed (plugins add theirs).
"""

from __future__ import annotations

import typer

HEADER = """# CLI reference

Every `gentext` command with its arguments and options, generated from the CLI itself
(`python -m gentext_cli.reference > docs/cli.md`; the test suite checks this page against the
app, so it cannot drift). Plugins may add commands of their own; `gentext --help` lists
everything installed. Any command's `--help` prints the same text. The built-in gpt plugin
adds two, `gentext export` and `gentext import` (see [transformers interop](interop.md)).
"""


def builtin_commands(app: typer.Typer) -> list:
    """gentext's own commands, in the order `gentext --help` shows them (a hidden one, an old
    spelling kept for one release, is left out as --help leaves it out)."""
    group = typer.main.get_command(app)
    context = group.context_class(group, info_name="gentext")
    listed = []
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if command.callback.__module__.startswith("gentext_cli.") and not command.hidden:
            listed.append((name, command))
    return listed


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _rows(command, context) -> tuple[list[str], list[str]]:
    """Table rows for the arguments and the options, from the help records click prints."""
    arguments, options = [], []
    for param in command.params:
        if param.param_type_name == "argument":
            required = "required" if param.required else f"`{param.default}`"
            arguments.append(f"| `{param.metavar or param.name.upper()}` | "
                             f"{_cell(getattr(param, 'help', '') or '')} | {required} |")
        elif not param.hidden:
            record = param.get_help_record(context)
            if record:
                options.append(f"| `{_cell(record[0])}` | {_cell(record[1])} |")
    return arguments, options


def render(app: typer.Typer) -> str:
    """The whole reference page as markdown."""
    parts = [HEADER]
    commands = builtin_commands(app)
    parts.append("| command | what it does |\n|---|---|")
    parts.append("\n".join(f"| [`gentext {name}`](#gentext-{name}) | "
                           f"{_cell(command.get_short_help_str(200))} |"
                           for name, command in commands) + "\n")
    for name, command in commands:
        context = command.context_class(command, info_name=f"gentext {name}")
        usage = command.get_usage(context).removeprefix("Usage: ")
        parts.append(f"## gentext {name}\n\n{_cell(command.help or '')}\n\n"
                     f"```text\n{usage}\n```\n")
        arguments, options = _rows(command, context)
        if arguments:
            parts.append("| argument | meaning | |\n|---|---|---|\n" + "\n".join(arguments) + "\n")
        if options:
            parts.append("| option | meaning |\n|---|---|\n" + "\n".join(options) + "\n")
    return "\n".join(parts)


def main() -> None:
    from gentext_cli.app import app

    print(render(app), end="")


if __name__ == "__main__":
    main()
