"""The `quytrinh` command.

Each group of commands lives in ``quytrinh/commands/<name>.py`` and exposes
``register(app)``; this module only assembles them and turns every quytrinh
error into a one-line message and an exit code (never a traceback).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

from engine.errors import QuytrinhError

app = typer.Typer(
    name="quytrinh",
    help="Quy trình nội bộ giải quyết thủ tục hành chính: validate, render, run dossiers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Quy trình nội bộ giải quyết thủ tục hành chính."""


def _register_commands() -> None:
    from quytrinh import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"quytrinh.commands.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except QuytrinhError as exc:
        print(f"quytrinh: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
