"""The `quytrinh` command.

Each group of commands lives in ``quytrinh/commands/<name>.py`` and exposes
``register(app)``; this module only assembles them and turns every quytrinh
error into a one-line Vietnamese message (:func:`quytrinh.messages.cli_error_text`)
and an exit code (never a traceback); a usage error (unknown option, missing argument, bad value) is one
Vietnamese line too, naming the command and its ``--help`` (:func:`quytrinh.messages.usage_line`), exit 2.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import Any

import typer

from engine.errors import QuytrinhError

app = typer.Typer(
    name="quytrinh",
    help="Quy trình nội bộ giải quyết thủ tục hành chính: kiểm tra, vẽ sơ đồ, xử lý hồ sơ, báo cáo.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Quy trình nội bộ giải quyết thủ tục hành chính."""
    # A command says once that units.yaml has problems and it uses the units the database stores
    # (quytrinh.commands.dossier.open_store); several commands may run in one process (tests, scripts).
    from quytrinh.commands import dossier

    dossier._WARNED.clear()


def after_import(name: str, patch: Any) -> None:
    """Call ``patch(module)`` once the module ``name`` is imported: at once when it already is, else right after
    its code ran, before whoever imported it uses it.

    Typer imports ``typer.rich_utils`` (rich's markdown, markdown_it, tracebacks: about 0.1 s) only to draw a
    help screen or an error; the Vietnamese it needs is set then, so that a command that prints neither does not
    pay for that import.
    """
    import importlib.abc
    import importlib.util

    if name in sys.modules:
        patch(sys.modules[name])
        return

    class PatchOnImport(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
            if fullname != name:
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(fullname)
            if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
                return spec
            exec_module = spec.loader.exec_module

            def exec_and_patch(module: Any) -> None:
                exec_module(module)
                patch(module)

            spec.loader.exec_module = exec_and_patch  # type: ignore[method-assign]
            return spec

    sys.meta_path.insert(0, PatchOnImport())


def _vietnamese_rich_utils(ru: Any) -> None:
    """Typer's help-screen titles and markers, in Vietnamese (``ru`` is ``typer.rich_utils``)."""
    ru.ARGUMENTS_PANEL_TITLE = "Đối số"
    ru.OPTIONS_PANEL_TITLE = "Tùy chọn"
    ru.COMMANDS_PANEL_TITLE = "Lệnh"
    ru.ERRORS_PANEL_TITLE = "Lỗi"
    ru.DEFAULT_STRING = "[mặc định: {}]"
    ru.REQUIRED_LONG_STRING = "[bắt buộc]"
    ru.ENVVAR_STRING = "[biến môi trường: {}]"
    ru.DEPRECATED_STRING = "(không dùng nữa) "
    ru.ABORTED_TEXT = "Đã hủy."
    ru.RICH_HELP = "Xem hướng dẫn: [blue]'{command_path} {help_option}'[/]."
    if not getattr(ru.OptionHighlighter, "_quytrinh", False):
        ru.OptionHighlighter.highlights = [*ru.OptionHighlighter.highlights, r"(?P<usage>Cách dùng: )"]
        ru.OptionHighlighter._quytrinh = True


#: Typer's names of the kinds of values (``<str>``, ``<int range>``...) as the help screens say them.
VALUE_KINDS = {"str": "văn bản", "int": "số nguyên", "int range": "số nguyên", "float": "số", "float range": "số",
               "path": "đường dẫn", "Path": "đường dẫn", "file": "tệp", "datetime": "thời điểm", "bool": "đúng/sai"}


def value_kind_vi(label: str) -> str:
    """A value kind typer names (``str``, ``list[Path]``) in Vietnamese (``văn bản``, ``đường dẫn …``: a list is
    its kind, repeated); choices (``text|json``) stay as they are typed.

    >>> value_kind_vi("int range"), value_kind_vi("list[str]"), value_kind_vi("text|json")
    ('số nguyên', 'văn bản …', 'text|json')
    """
    if label.startswith("list[") and label.endswith("]"):
        return f"{value_kind_vi(label[5:-1])} …"
    return VALUE_KINDS.get(label, label)


def _vietnamese_help() -> None:
    """Vietnamese titles and markers in the help screens.

    Typer reads its panel titles and markers from module constants when it draws a
    help screen (``typer.rich_utils``: set when it is imported, :func:`after_import`), and
    click names the ``--help`` option itself; both are set here.
    """
    from typer.core import TyperCommand

    after_import("typer.rich_utils", _vietnamese_rich_utils)

    from typer._click.formatting import HelpFormatter

    write_usage = HelpFormatter.write_usage
    if not getattr(write_usage, "_quytrinh", False):
        def vietnamese_usage(self: Any, prog: str, args: str = "", prefix: str | None = None) -> None:
            args = args.replace("[OPTIONS]", "[TÙY_CHỌN]").replace("COMMAND [ARGS]...", "LỆNH [ĐỐI_SỐ]...")
            write_usage(self, prog, args, "Cách dùng: " if prefix is None else prefix)

        vietnamese_usage._quytrinh = True  # type: ignore[attr-defined]
        HelpFormatter.write_usage = vietnamese_usage  # type: ignore[method-assign]

    # The kind of value an option or argument takes, in Vietnamese: ``<văn bản>``, not typer's ``<str>``.
    from typer import core as typer_core

    # (typer's internals: if a later typer has no display_type there, the help keeps typer's own words)
    base_param = typer_core.TyperOption.__mro__[1]  # typer's parameter class, where display_type lives
    display_type = getattr(base_param, "display_type", None)
    if callable(display_type) and not getattr(display_type, "_quytrinh", False):
        def vietnamese_type(self: Any, ctx: Any) -> Any:
            label = display_type(self, ctx)
            return f"<{value_kind_vi(label[1:-1])}>" if isinstance(label, str) and label.startswith("<") else label

        vietnamese_type._quytrinh = True  # type: ignore[attr-defined]
        base_param.display_type = vietnamese_type  # type: ignore[method-assign]

    # A flag takes no value: no metavar (typer shows ``<bool>`` next to --smoke, --password, --help).
    from typer.core import TyperOption

    display_type_rich = TyperOption.display_type_rich
    if not getattr(display_type_rich, "_quytrinh", False):
        def flag_type(self: Any, ctx: Any) -> Any:
            return None if self.is_flag or self.count else display_type_rich(self, ctx)

        flag_type._quytrinh = True  # type: ignore[attr-defined]
        TyperOption.display_type_rich = flag_type  # type: ignore[method-assign]

    # The click command class that makes the --help option (typer vendors its own click).
    base = next(c for c in TyperCommand.__mro__ if "get_help_option" in vars(c))
    original = base.get_help_option
    if getattr(original, "_quytrinh", False):
        return

    def get_help_option(self: Any, ctx: Any) -> Any:
        option = original(self, ctx)
        if option is not None:
            option.help = "Xem hướng dẫn này rồi thoát."
        return option

    get_help_option._quytrinh = True  # type: ignore[attr-defined]
    base.get_help_option = get_help_option  # type: ignore[method-assign]


def _vietnamese_usage_errors() -> None:
    """Usage errors (unknown option, missing argument, bad value) in Vietnamese, for the console script.

    The messages are made by typer's vendored click; each exception class's
    ``format_message`` is wrapped so that both of typer's printers (rich panel or
    plain) show :func:`quytrinh.messages.usage_error_vi` of it.
    """
    from typer._click import exceptions as click_exceptions

    from quytrinh.messages import usage_error_vi

    classes = {c for c in vars(click_exceptions).values()
               if isinstance(c, type) and issubclass(c, click_exceptions.ClickException)}
    classes |= set(click_exceptions.ClickException.__mro__[1:-2])  # where the base format_message lives
    for cls in classes:
        original = vars(cls).get("format_message")
        if original is None or getattr(original, "_quytrinh", False):
            continue

        def format_message(self: Any, _original: Any = original) -> str:
            return usage_error_vi(_original(self))

        format_message._quytrinh = True  # type: ignore[attr-defined]
        cls.format_message = format_message  # type: ignore[method-assign]


def _one_line_usage_errors() -> None:
    """A usage error is one line on stderr (:func:`quytrinh.messages.usage_line`), exit status 2 as click's.

    Instead of typer's usage synopsis, "Try … for help" hint and boxed message
    (``rich_utils.rich_format_error``; ``UsageError.show`` without rich):
    ``quytrinh task claim: thiếu đối số 'item' (xem: quytrinh task claim --help)``.
    Help screens are untouched.
    """
    from typer._click import exceptions as click_exceptions

    from quytrinh.messages import usage_line

    if getattr(click_exceptions.UsageError.show, "_quytrinh", False):
        return
    show = click_exceptions.UsageError.show

    def one_line(exc: Any) -> bool:
        if not isinstance(exc, click_exceptions.UsageError) or type(exc).__name__ == "NoArgsIsHelpError":
            return False
        ctx = exc.ctx
        if ctx is None:
            line = usage_line("quytrinh", exc.format_message(), None)
        else:
            helps = ctx.help_option_names if ctx.command.get_help_option(ctx) is not None else []
            line = usage_line(ctx.command_path, exc.format_message(), helps[0] if helps else None)
        print(line, file=sys.stderr)
        return True

    def rich_one_line(ru: Any) -> None:  # typer.rich_utils, when typer imports it to print the error
        rich_format_error = ru.rich_format_error
        if getattr(rich_format_error, "_quytrinh", False):
            return

        def format_error(exc: Any) -> None:
            if not one_line(exc):
                rich_format_error(exc)

        format_error._quytrinh = True  # type: ignore[attr-defined]
        ru.rich_format_error = format_error

    def show_error(self: Any, file: Any = None) -> None:
        if file is not None or not one_line(self):
            show(self, file)

    # click's parser raises "Option '--outcome' requires an argument." without its context: give it the command's.
    from typer._click.core import Command

    parse_args = Command.parse_args

    def parse_args_in_context(self: Any, ctx: Any, args: list[str]) -> list[str]:
        try:
            return parse_args(self, ctx, args)
        except click_exceptions.UsageError as exc:
            if exc.ctx is None:
                exc.ctx = ctx
            raise

    show_error._quytrinh = True  # type: ignore[attr-defined]
    click_exceptions.UsageError.show = show_error  # type: ignore[method-assign]
    Command.parse_args = parse_args_in_context  # type: ignore[method-assign]
    after_import("typer.rich_utils", rich_one_line)


def _register_commands() -> None:
    from quytrinh import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"quytrinh.commands.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_vietnamese_help()
_register_commands()


def main() -> None:
    """Console-script entry point."""
    _vietnamese_usage_errors()
    _one_line_usage_errors()
    try:
        app()
    except QuytrinhError as exc:
        from quytrinh.commands.dossier import account_names_by_id
        from quytrinh.messages import cli_error_text, name_users

        # the holder of a work item, which the engine names by the account's id, named as staff know it
        print(f"quytrinh: {name_users(cli_error_text(exc), account_names_by_id)}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
