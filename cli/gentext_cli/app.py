"""The Typer app. Commands live one concern a module; plugins add theirs through a hook.

Nothing here imports torch at module level, so ``gentext --help`` and ``gentext models``
start fast; commands import the heavy library modules when they run.
"""

from __future__ import annotations

import contextlib
import sys
import warnings

import click
import typer
from typer.core import TyperGroup

from gentext.deprecation import GentextDeprecationWarning
from gentext.errors import GentextError
from gentext.training.torch_floor import check_torch


def _click_classes(name: str) -> tuple[type, ...]:
    """click's exception class ``name``, and typer's vendored copy of it where typer has one."""
    classes = [getattr(click.exceptions, name)]
    try:
        from typer._click import exceptions as vendored

        classes.append(getattr(vendored, name))
    except (ImportError, AttributeError):
        pass
    return tuple(classes)


CLICK_ERRORS, ABORTS = _click_classes("ClickException"), _click_classes("Abort")


@contextlib.contextmanager
def deprecations_in_one_line():
    """Print each GentextDeprecationWarning (an old spelling) as one line on stderr,
    `gentext: warning: <message>`, once an invocation; other warnings as Python shows them."""
    show_others = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, GentextDeprecationWarning):
            print(f"gentext: warning: {message}", file=sys.stderr)
        else:
            show_others(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():  # restores the filters and showwarning after
        warnings.simplefilter("default", GentextDeprecationWarning)
        warnings.showwarning = show
        yield


class GentextGroup(TyperGroup):
    """Every error a user can cause is one line on stderr and a non-zero exit: a GentextError
    from a command, and a bad option or argument caught by the parser."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GentextError as exc:
            typer.echo(f"gentext: error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None

    def main(self, args=None, prog_name=None, **extra):
        extra.pop("standalone_mode", None)
        try:
            with deprecations_in_one_line():
                code = super().main(args=args, prog_name=prog_name, standalone_mode=False,
                                    **extra)
        except CLICK_ERRORS as exc:
            hint = ""
            context = getattr(exc, "ctx", None)
            if context is not None:
                hint = f" (see `{context.command_path} --help`)"
            typer.echo(f"gentext: error: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code)
        except ABORTS:
            typer.echo("gentext: error: aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    name="gentext",
    cls=GentextGroup,
    help="Generative models of text: train, sample and evaluate any family, each a plugin.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool):
    if value:
        from gentext import __version__

        typer.echo(f"gentext {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version_callback,
                                       is_eager=True, help="Print the version and exit.")):
    """Generative models of text: train, sample and evaluate any family, each a plugin."""


def _add_builtin_commands() -> None:
    from gentext_cli import (compare, corpus, evaluate, infill, latent, listing, sample, scaffold,
                             sweep, train)

    for module in (train, sample, infill, evaluate, sweep, compare, latent, corpus, listing,
                   scaffold):
        module.register(app)


_add_builtin_commands()


def build_app() -> typer.Typer:
    """The app with every loaded plugin's commands added."""
    from gentext.plugins.manager import add_commands

    add_commands(app)
    return app


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    with deprecations_in_one_line():  # a plugin that imports a 0.1.0 module path warns here
        try:
            check_torch()
            build_app()
        except GentextError as exc:  # an old torch; a broken plugin under GENTEXT_STRICT_PLUGINS=1
            print(f"gentext: error: {exc}", file=sys.stderr)
            sys.exit(exc.exit_code)
        app(args=argv, prog_name="gentext")


if __name__ == "__main__":
    main()
