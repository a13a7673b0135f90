"""Dossier and task commands for staff and scripts.

    quytrinh dossier receive 1.001612 --applicant "Nguyễn Văn A" --as motcua
    quytrinh tasks --unit phong_tckh [--user cv1] [--overdue]
    quytrinh tasks --waiting [--unit bp_mot_cua]
    quytrinh task claim 12 --as cv1
    quytrinh task assign 12 --to cv2 --as truongphong
    quytrinh task release 12 --as cv2
    quytrinh task complete 12 --outcome ok --comment "Đủ điều kiện" --as cv1
    quytrinh dossier show 1.001612-20260310-000001

The database is ``$QUYTRINH_DATABASE_URL`` (default the project's ``var/quytrinh.db``,
:func:`engine.store.default_database_path`),
migrated to the newest schema on first use; units come from the catalogue's
units.yaml. ``--as USER`` (or ``$QUYTRINH_USER``) names the member of staff who
acts; the user must exist (``quytrinh user add``). Every refused action prints
one Vietnamese line (:func:`quytrinh.messages.cli_error_text`) and exits 1,
leaving the database unchanged.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
import re
import sys
from typing import Any, Optional

import typer

from engine.errors import ActionError, IllegalAction, NotFound, QuytrinhError
from quytrinh.messages import localized, released_to_successor_text

USER_ENV = "QUYTRINH_USER"
LOCAL_TZ = dt.timezone(dt.timedelta(hours=7))

dossier_app = typer.Typer(help="Hồ sơ: tiếp nhận, xem phiếu kiểm soát, rút, dừng, nhận bổ sung, ghi nhận nghĩa vụ "
                                "tài chính, ký phiếu xin lỗi.", no_args_is_help=True)
task_app = typer.Typer(help="Công việc: nhận xử lý, phân công, trả lại, hoàn thành một bước.", no_args_is_help=True)

#: What a timer found about a step (the ``to`` of a ``timeliness`` event), as the sheet's log says it.
TIMER_FINDINGS = {"nearly_due": "sắp đến hạn", "overdue": "quá hạn", "not_due": "trở lại trong hạn"}

#: How the state of an apology (form 04) is written on the sheet.
APOLOGY_STATES = {"draft": "dự thảo", "signed": "đã ký", "sent": "đã gửi"}



class Channel(str, enum.Enum):
    """How the dossier was submitted (``--channel``)."""

    counter = "counter"
    online = "online"
    post = "post"


class Decision(str, enum.Enum):
    """What the one-stop officer decides at the counter (``--decision``)."""

    accept = "accept"
    supplement = "supplement"
    refuse = "refuse"


AS_HELP = "Người thực hiện (tên đăng nhập); mặc định $QUYTRINH_USER."
NOW_HELP = "Thời điểm thực hiện (YYYY-MM-DDTHH:MM giờ Việt Nam; mặc định: bây giờ). Dùng cho kịch bản và kiểm thử."

# The arguments the action commands (``quytrinh task ...``, ``quytrinh dossier withdraw`` ...) share
# (typer reads these defaults as declarations).
ITEM_ARG = typer.Argument(..., help="Số công việc (xem quytrinh tasks).")
DOSSIER_ARG = typer.Argument(..., help="Mã hồ sơ.")
AS_OPT = typer.Option(None, "--as", help=AS_HELP)
VERSION_OPT = typer.Option(None, "--version",
                           help="Lần cập nhật của hồ sơ bạn đã xem (số in sau 'lần cập nhật' ở kết quả lệnh trước "
                                "hoặc ở quytrinh dossier show; không phải phiên bản quy trình): hồ sơ đã được cập "
                                "nhật sau đó thì thao tác bị từ chối, không thay đổi gì (khóa lạc quan).")
KEY_OPT = typer.Option(None, "--key", help="Khóa chống lặp.")
NOW_OPT = typer.Option(None, "--now", help=NOW_HELP, hidden=True)


# --------------------------------------------------------------------------- helpers


def guarded(fn: Any) -> Any:
    """Translate database driver errors raised inside a command into one-line quytrinh errors."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import sqlalchemy.exc

        try:
            return fn(*args, **kwargs)
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise localized(QuytrinhError(f"Lỗi cơ sở dữ liệu: {_first_line(exc)}")) from None

    return wrapper


def open_store(changes_organisation: str | None = None) -> Any:
    """The configured database, migrated to head, with units.yaml loaded (translating driver errors).

    While units.yaml has problems (:func:`engine.definition.load_units` refuses it), the command goes on with
    the units the database stores and says so once on stderr, with the file's located problems
    (:func:`quytrinh.messages.units_fallback_text`). ``changes_organisation``, the name of a command that
    changes the organisation from units.yaml (``quytrinh user add``...), refuses instead, changing nothing;
    so does every command when the database stores no unit yet (a fresh installation).
    """
    from engine.errors import DefinitionError
    from engine.store import database_url, init_db

    url = database_url()
    store = open_database(url, init_db)
    try:
        _seed_units(store)
    except DefinitionError as exc:
        try:
            stored = 0 if changes_organisation else _stored_unit_count(store)
        except Exception:
            store.dispose()
            raise
        if not stored:
            store.dispose()
            if changes_organisation:
                from quytrinh.messages import units_refusal_text

                raise localized(QuytrinhError(units_refusal_text(exc, changes_organisation))) from None
            raise
        warn_stored_organisation(exc, stored)
    _OPENED[:] = [store]
    return store


#: The store the running command opened (:func:`open_store`), for :func:`account_names_by_id`.
_OPENED: list[Any] = []


def account_names_by_id(ids: list[int]) -> dict[int, str]:
    """The accounts of ``ids`` as the CLI names staff, 'Full name (username)' (the username alone when no full
    name is recorded), read from the database the running command opened; {} when it opened none. The engine's
    refusals name the holder of a work item by the account's id (:func:`quytrinh.messages.name_users`)."""
    if not _OPENED:
        return {}
    from sqlmodel import select

    from engine.store import User

    try:
        with _OPENED[0].session() as s:
            users = s.exec(select(User).where(User.id.in_(ids))).all()
    except Exception:  # the error being reported may be the database's own: keep the ids
        return {}
    return {u.id: account_label(u) for u in users}


def account_label(user: Any) -> str:
    """An account as the CLI names staff: 'Full name (username)', the username alone without a full name."""
    return f"{user.full_name} ({user.username})" if user.full_name else user.username


#: The units.yaml problems this command already said it works around (:func:`warn_stored_organisation`);
#: emptied at the start of every command (quytrinh.cli's callback), so said once a command.
_WARNED: set[str] = set()


def warn_stored_organisation(exc: Any, stored: int) -> None:
    """Say on stderr, once a command, that units.yaml has ``exc``'s problems and the command uses the
    ``stored`` units of the database."""
    from quytrinh.messages import units_fallback_text

    key = str(exc)
    if key in _WARNED:
        return
    _WARNED.add(key)
    print(units_fallback_text(exc, stored), file=sys.stderr)


def _stored_unit_count(store: Any) -> int:
    import sqlalchemy as sa

    from engine.store import UnitRow

    table = UnitRow.__table__  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


#: An example of each supported kind of database URL, for the messages.
URL_EXAMPLES = "sqlite:///var/quytrinh.db hoặc postgresql://NGƯỜI_DÙNG@MÁY_CHỦ:5432/quytrinh"


def check_database_url(url: str) -> Any:
    """``url`` parsed (a SQLAlchemy URL); a Vietnamese one-line error when it is not one, or not SQLite/PostgreSQL."""
    import sqlalchemy as sa

    shown = os.environ.get("QUYTRINH_DATABASE_URL") or url
    try:
        parsed = sa.engine.make_url(url)
    except Exception:  # sqlalchemy.exc.ArgumentError, ValueError
        raise localized(QuytrinhError(
            f"'{shown}' (QUYTRINH_DATABASE_URL) không phải địa chỉ cơ sở dữ liệu; viết ví dụ {URL_EXAMPLES}."
        )) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise localized(QuytrinhError(
            f"Không hỗ trợ cơ sở dữ liệu {parsed.get_backend_name()} ({_safe(url)}): chỉ dùng được sqlite:// và "
            f"postgresql://, ví dụ {URL_EXAMPLES}."))
    return parsed


def _database_cause(parsed: Any, exc: BaseException) -> str:
    """What a person can do about a driver's connection error, in Vietnamese ("" when nothing specific)."""
    text = str(exc)
    if parsed.get_backend_name() != "postgresql":
        return ""
    host, port = parsed.host or "localhost", parsed.port or 5432
    if "does not exist" in text and parsed.database and f'database "{parsed.database}"' in text:
        user = f" -U {parsed.username}" if parsed.username else ""
        return (f"cơ sở dữ liệu '{parsed.database}' chưa có; tạo bằng: createdb -h {host} -p {port}{user} "
                f"{parsed.database}. ")
    if "Connection refused" in text or "could not connect" in text.lower():
        return f"máy chủ PostgreSQL ở {host}:{port} không trả lời (chưa chạy, hoặc sai máy chủ, cổng). "
    if "password authentication failed" in text or "no password supplied" in text:
        return f"máy chủ PostgreSQL từ chối người dùng '{parsed.username or ''}' (sai hoặc thiếu mật khẩu). "
    if "no schema has been selected to create in" in text:
        schema = search_path_schema(parsed)
        user = f" -U {parsed.username}" if parsed.username else ""
        named = f"lược đồ (schema) '{schema}' mà địa chỉ chọn bằng search_path chưa có" if schema else \
            "search_path của địa chỉ không chọn lược đồ (schema) nào có thật"
        create = schema or "TÊN_LƯỢC_ĐỒ"
        return (f"{named}; tạo bằng: psql -h {host} -p {port}{user} -d {parsed.database or 'postgres'} "
                f"-c 'create schema {create}'. ")
    return ""


def search_path_schema(parsed: Any) -> str:
    """The first schema a PostgreSQL URL's ``options=-csearch_path=...`` chooses ("" when it chooses none)."""
    options = parsed.query.get("options", "")
    if not isinstance(options, str):
        options = " ".join(options)
    m = re.search(r"search_path\s*=\s*([^\s,]+)", options)
    return m.group(1).strip('"') if m else ""


def open_database(url: str, init_db: Any) -> Any:
    """``init_db(url)``, every failure as one Vietnamese line (bad URL, unsupported database, driver error)."""
    parsed = check_database_url(url)
    try:
        return init_db(url)
    except QuytrinhError:
        raise
    except Exception as exc:  # driver / connection errors: one line, no traceback
        raise localized(QuytrinhError(f"Không mở được cơ sở dữ liệu {_safe(url)}: {_database_cause(parsed, exc)}"
                                      f"({_first_line(exc)})")) from None


def _seed_units(store: Any) -> None:
    """Write units.yaml's units into the database, unless every one of them is there already as the file says.

    Every command opens the store: when nothing changed (the usual case) it reads
    the units instead of taking a write transaction (SQLite's lock, PostgreSQL's
    row updates) to write them again.
    """
    from engine.calendar import catalogue_dir
    from engine.definition import load_units

    path = catalogue_dir() / "units.yaml"
    if not path.is_file():
        return
    organisation = load_units(str(path))
    if _units_stored(store, organisation):
        return
    from engine.services import seed_organisation

    seed_organisation(store, organisation)


def _units_stored(store: Any, organisation: Any) -> bool:
    """Whether the database holds every unit of ``organisation`` with its name, short name, level, kind, roles and
    the unit it was merged into (what :func:`engine.services.seed_organisation` would write)."""
    import sqlalchemy as sa

    from engine.store import UnitRow

    table = UnitRow.__table__  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(table))}
    for unit in organisation.units.values():
        row = rows.get(unit.id)
        if row is None or (row.name, row.short, row.level, row.kind, row.roles, row.merged_into or "") != (
                unit.name, unit.short, unit.level, unit.kind, dict(unit.roles), unit.merged_into):
            return False
    return True


def _safe(url: str) -> str:
    import sqlalchemy as sa

    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # pragma: no cover - a malformed URL
        return "(địa chỉ không hợp lệ)"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def parse_now(text: Optional[str]) -> dt.datetime:
    """``--now`` as an aware instant (naive text is local time); the wall clock when None."""
    if not text:
        return dt.datetime.now(dt.timezone.utc)
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise localized(ActionError(f"--now '{text}' không phải thời điểm; viết YYYY-MM-DDTHH:MM (giờ Việt Nam).")) from None
    from quytrinh.commands._common import year_problem

    problem = year_problem("--now", text, value.year)
    if problem:
        raise localized(ActionError(problem))
    return value if value.tzinfo else value.replace(tzinfo=LOCAL_TZ)


def check_unit(store: Any, unit: Optional[str], option: str = "--unit") -> None:
    """Refuse a unit id the database does not hold (units.yaml's units, read into it by :func:`open_store`):
    a list filtered by a mistyped unit would otherwise say "nothing" as if the unit had no work."""
    if not unit:
        return
    from sqlmodel import select

    from engine.store import UnitRow

    with store.session() as s:
        if s.get(UnitRow, unit) is not None:
            return
        known = sorted(s.exec(select(UnitRow.id)).all())
    import difflib

    close = difflib.get_close_matches(unit, known, n=1, cutoff=0.75)
    units = f"đơn vị: {', '.join(known)}."
    tail = f"có phải là '{close[0]}' không? Các {units}" if close else f"các {units}"
    raise localized(NotFound(f"Không tìm thấy: đơn vị '{unit}' ({option}); {tail}"))


def actor_of(store: Any, username: Optional[str]) -> Any:
    """The actor named by ``--as`` (or $QUYTRINH_USER)."""
    from engine.services import get_actor

    name = username or os.environ.get(USER_ENV)
    if not name:
        raise localized(ActionError("Hãy cho biết ai thực hiện: --as TÊN_ĐĂNG_NHẬP (hoặc đặt biến QUYTRINH_USER)."))
    return get_actor(store, name)


def local(t: dt.datetime | None) -> str:
    """An instant as staff read it: ``dd/mm/yyyy HH:MM`` in Hanoi time."""
    return t.astimezone(LOCAL_TZ).strftime("%d/%m/%Y %H:%M") if t else "–"


def _definition_to_receive(store: Any, code: str) -> tuple[Any, bool]:
    """The definition a reception of ``code`` uses, and whether it still has to be published first.

    A procedure already published is received on its newest version as it is,
    whatever the catalogue's file now says: changing it is ``quytrinh publish``'s
    work, which never replaces a version a leader approved with an unapproved
    text. For a procedure the database has never had, the catalogue's text is
    returned (``True``: the caller publishes it, and takes it back with
    :func:`_unpublish` when the reception is refused) only when it passes the
    checks ``quytrinh publish`` makes (its lint errors are printed and the
    reception refused).
    """
    from engine import services as sv

    try:
        return sv.current_definition(store, code)[1], False
    except NotFound:
        pass
    from engine.definition import default_root, load_catalogue
    from engine.lint import ERROR, Finding, lint

    root = default_root()
    named = sorted(root.rglob(f"{code}-*.y*ml")) if root.is_dir() else []
    cat = load_catalogue(named[:1]) if named else None  # the file named after the code: fast
    defn = cat.find(code) if cat is not None else None
    if defn is None:
        cat = load_catalogue([root])
        defn = cat.find(code)
    if defn is None:
        from quytrinh.messages import located_text

        bad = [located_text(p) for p in cat.problems if code in str(p.location)]
        if bad:
            raise localized(QuytrinhError(bad[0]))
        raise localized(NotFound(f"Không tìm thấy: thủ tục '{code}' không có trong danh mục ({cat.root}) "
                                 f"và chưa được đưa vào hệ thống."))
    units_problems = [p for p in cat.problems if os.path.basename(p.location.file) == "units.yaml"]
    if units_problems:  # publishing it would skip the checks of its units and roles
        from engine.errors import DefinitionError
        from quytrinh.messages import units_refusal_text

        raise localized(QuytrinhError(units_refusal_text(DefinitionError(units_problems),
                                                         f"quytrinh dossier receive {code} (thủ tục chưa được đưa vào hệ thống)")))
    findings = [Finding.from_problem(p) for p in cat.problems] + lint(defn, cat.organisation)
    own = sorted((f for f in findings if f.severity == ERROR and f.file == defn.where().file),
                 key=lambda f: (f.line, f.col, f.rule_id))
    if own:
        from quytrinh.messages import located_text

        for f in own:
            print(located_text(f), file=sys.stderr)
        raise localized(QuytrinhError(f"Thủ tục '{code}' chưa được đưa vào hệ thống và quy trình trong danh mục còn "
                                      f"{len(own)} lỗi; hãy sửa (xem quytrinh validate) rồi chạy quytrinh publish."))
    return defn, True


def _unpublish(store: Any, row_id: int) -> None:
    """Take back the version :func:`_definition_to_receive`'s caller published for a reception that was then
    refused, so that the refusal changes nothing: deleted unless something already refers to it (a dossier
    another process received on it meanwhile, or a draft), when it stays, as ``quytrinh publish`` would have
    made it."""
    import sqlalchemy as sa

    with store.write() as s:
        s.execute(sa.text("DELETE FROM definition_versions WHERE id = :id "
                          "AND NOT EXISTS (SELECT 1 FROM dossiers WHERE definition_id = :id) "
                          "AND NOT EXISTS (SELECT 1 FROM definition_drafts WHERE published_id = :id)"),
                  {"id": row_id})


def communes() -> tuple[str, ...]:
    """The communes of the organisation (units.yaml ``communes:``), as the web app's reception form lists them.

    While units.yaml has problems (the command said so when it opened the store), those its ``communes:``
    still lists when that list is readable (:func:`engine.organisation.catalogue_communes`)."""
    from engine.organisation import catalogue_communes

    return catalogue_communes()


def check_commune(defn: Any, commune: str, own: str = "") -> str:
    """The commune a dossier of ``defn`` names, as units.yaml writes it ("" for a district-level procedure).

    A commune-level procedure needs ``--commune`` when units.yaml lists communes, and it must be one
    of them; it may be written without its "Xã " / "Thị trấn " prefix and in any case ("bát tràng").
    An officer tied to a commune (``own``, :attr:`engine.services.Actor.commune`) may leave it out: the
    dossier is of their commune (the engine refuses another one). A district-level procedure refuses
    ``--commune``: its dossier belongs to no commune.
    """
    commune = commune.strip()
    if defn.level != "commune":
        if commune:
            raise localized(ActionError(
                f"Không thực hiện được: thủ tục {defn.code} thuộc cấp huyện; hồ sơ không thuộc xã nào, bỏ --commune."))
        return ""
    known = communes()
    if not known:
        return commune
    if not commune and own:
        return own
    if not commune:
        raise localized(ActionError(
            f"Không thực hiện được: thủ tục {defn.code} thuộc cấp xã; hãy cho --commune \"TÊN XÃ\" (nơi giải quyết "
            f"hồ sơ, in ở đầu các phiếu), một trong: {', '.join(known)}."))
    from engine.definition import closest_commune, find_commune

    found = find_commune(commune, known)
    if found is None:
        close = closest_commune(commune, known)
        hint = f" (có phải \"{close}\"?)" if close else ""
        raise localized(ActionError(
            f"Không thực hiện được: không có xã, thị trấn \"{commune}\" trong mục communes: của units.yaml{hint}; "
            f"các xã, thị trấn: {', '.join(known)}."))
    return found


def _console() -> Any:
    from rich.console import Console

    probe = Console()
    width = probe.width if probe.is_terminal else 220
    return Console(width=max(120, width), highlight=False, soft_wrap=False)


#: A table of more rows than this is drawn by :func:`_draw_table` (the same box, one pass over the cells)
#: instead of rich, whose measuring and wrapping of every cell takes ~1.5 ms a row: ``quytrinh tasks`` of a
#: district unit lists hundreds of items. Smaller tables, as people read them at a terminal, are rich's.
FAST_TABLE_ROWS = 100


def _draw_table(columns: tuple[str, ...], rows: list[tuple[str, ...]], width: int) -> str:
    """The rows under ``columns`` as rich draws a default ``Table`` (heavy-head box, one space of padding),
    at most ``width`` cells wide, in one pass over the cells: columns as wide as their widest cell; when that
    is too wide, the widest columns are narrowed first, as rich does, and their cells wrapped at spaces (a word
    longer than its column is cut short, ending in '…', as rich's default overflow). Byte for byte what rich
    prints for the tables of ``quytrinh tasks`` (tests/test_dossier_cli.py), some 30 times faster.

    Plain text (no markup, no colours); the header is not bold.
    """
    import textwrap

    from rich.cells import cell_len

    def cells(text: str) -> int:
        return len(text) if text.isascii() else cell_len(text)

    # column widths with their padding, as rich.table.Table._calculate_column_widths (not expanded)
    widths = [2 + max([cells(h), *(cells(line) for r in rows for line in r[i].split("\n"))])
              for i, h in enumerate(columns)]
    room = width - (len(columns) + 1)  # the borders
    while sum(widths) > room:  # narrow the widest columns towards the next widest (Table._collapse_widths)
        widest = max(widths)
        second = max((w for w in widths if w != widest), default=0)
        if widest == second or not second:
            break
        widths = _reduce(sum(widths) - room, [int(w == widest) for w in widths],
                         [min(sum(widths) - room, widest - second)] * len(widths), widths)
    if sum(widths) > room:  # last resort: every column evenly
        widths = _reduce(sum(widths) - room, [1] * len(widths), widths, widths)
    widths = [max(w - 2, 1) for w in widths]

    def lines_of(text: str, w: int) -> list[str]:
        out: list[str] = []
        for part in text.split("\n"):
            if cells(part) <= w:
                out.append(part)
            else:  # at spaces; a word wider than the column ends in '…', as rich's default overflow
                out.extend(line if cells(line) <= w else _cut(line, w - 1, cells) + "…"
                           for line in textwrap.wrap(part, w, break_long_words=False, break_on_hyphens=False) or [""])
        return out

    def row_lines(values: tuple[str, ...] | list[str], left: str, sep: str, right: str) -> list[str]:
        wrapped = [lines_of(v, w) for v, w in zip(values, widths)]
        height = max(len(c) for c in wrapped)
        if left == "┃":  # the header's cells sit on its last line
            wrapped = [[""] * (height - len(c)) + c for c in wrapped]
        out = []
        for n in range(height):
            parts = []
            for c, w in zip(wrapped, widths):
                text = c[n] if n < len(c) else ""
                parts.append(" " + text + " " * (w - cells(text)) + " ")
            out.append(left + sep.join(parts) + right)
        return out

    def rule(left: str, fill: str, sep: str, right: str) -> str:
        return left + sep.join(fill * (w + 2) for w in widths) + right

    lines = [rule("┏", "━", "┳", "┓"), *row_lines(columns, "┃", "┃", "┃"), rule("┡", "━", "╇", "┩")]
    for r in rows:
        lines.extend(row_lines(r, "│", "│", "│"))
    lines.append(rule("└", "─", "┴", "┘"))
    return "\n".join(lines)


def _cut(text: str, w: int, cells: Any) -> str:
    """The start of ``text`` that fits ``w`` cells."""
    while cells(text) > w:
        text = text[:-1]
    return text


def _reduce(total: int, ratios: list[int], maximums: list[int], values: list[int]) -> list[int]:
    """``values`` less ``total`` shared by ``ratios``, none by more than its maximum (rich's ``ratio_reduce``)."""
    ratios = [r if m else 0 for r, m in zip(ratios, maximums)]
    left, share = total, sum(ratios)
    out = []
    for r, m, v in zip(ratios, maximums, values):
        if r and share > 0:
            cut = min(m, round(r * left / share))
            out.append(v - cut)
            left -= cut
            share -= r
        else:
            out.append(v)
    return out


def _print_table(columns: tuple[str, ...], rows: list[tuple[str, ...]], markup: Any) -> None:
    """Print a table of plain-text ``rows``: rich's ``Table`` (``markup(row)``: the row as rich cells, escaped
    where needed) up to :data:`FAST_TABLE_ROWS` rows, :func:`_draw_table` above (the same look, fast)."""
    console = _console()
    if len(rows) > FAST_TABLE_ROWS:
        typer.echo(_draw_table(columns, rows, console.width))
        return
    from rich.table import Table

    table = Table()
    for col in columns:
        table.add_column(col)
    for r in rows:
        table.add_row(*markup(r))
    console.print(table)


def _print_result(res: Any, what: str, process_version: int | None = None, tail: str = "") -> None:
    """One line: what was done, the dossier and its status, the work items opened, and, last, the dossier's
    update counter (``res.version``, what ``--version`` takes). It is called "lần cập nhật", never "phiên bản":
    that word means the procedure's process version everywhere else (``dossier show``, the web pages), which
    ``process_version`` gives after the dossier code at reception (the version the dossier is pinned to).
    ``tail``, when given, ends the line after "; " (where the work went)."""
    from engine.machine import Status

    pinned = f" (quy trình phiên bản {process_version})" if process_version is not None else ""
    opened = f"; mở công việc {', '.join(str(i) for i in res.opened)}" if res.opened else ""
    again = " (yêu cầu lặp lại: không thay đổi gì)" if res.replayed else ""
    typer.echo(f"{what}: hồ sơ {res.dossier_code}{pinned} — {int(res.status)} {Status(res.status).label}"
               f"{opened}; lần cập nhật {res.version}{again}{'; ' + tail if tail else ''}")


# --------------------------------------------------------------------------- dossier


@dossier_app.command("receive")
@guarded
def receive_cmd(
    code: str = typer.Argument(..., help="Mã thủ tục, ví dụ 1.001612."),
    applicant: str = typer.Option(..., "--applicant", help="Tên tổ chức, cá nhân nộp hồ sơ."),
    channel: Channel = typer.Option(Channel.counter, "--channel",
                                    help="Hình thức nộp: counter (trực tiếp), online (trực tuyến), post (bưu chính)."),
    decision: Decision = typer.Option(Decision.accept, "--decision",
                                      help="Quyết định: accept (tiếp nhận), supplement (yêu cầu bổ sung), "
                                           "refuse (từ chối)."),
    comment: str = typer.Option("", "--comment", help="Ghi chú; giấy tờ cần bổ sung hoặc lý do từ chối (bắt buộc khi "
                                                       "yêu cầu bổ sung hoặc từ chối)."),
    contact: str = typer.Option("", "--contact", help="Điện thoại, thư điện tử của người nộp."),
    commune: str = typer.Option("", "--commune", help="Thủ tục cấp xã (bắt buộc, trừ cán bộ đã được giao làm việc cho "
                                                       "một xã: mặc định là xã đó): xã, thị trấn nơi giải quyết hồ sơ "
                                                       "trong mục communes: của units.yaml (in ở đầu các phiếu), ví dụ "
                                                       "\"Xã Bát Tràng\" hoặc \"Bát Tràng\". Thủ tục cấp huyện: "
                                                       "không dùng."),
    as_user: Optional[str] = typer.Option(None, "--as", help=AS_HELP),
    key: Optional[str] = typer.Option(None, "--key", help="Khóa chống lặp (idempotency key)."),
    now: Optional[str] = typer.Option(None, "--now", help=NOW_HELP, hidden=True),
) -> None:
    """Tiếp nhận hồ sơ tại Bộ phận Một cửa (cấp Giấy tiếp nhận, từ chối, hoặc yêu cầu bổ sung)."""
    from engine import services as sv

    at = parse_now(now)
    store = open_store()
    actor = actor_of(store, as_user)
    defn, unpublished = _definition_to_receive(store, code)
    commune = check_commune(defn, commune, actor.commune)
    # A procedure the database never had is published for this reception; a refused reception takes it back
    # (a refused action changes nothing).
    published = sv.publish_definition(store, defn, now=at, by="cli").id if unpublished else None
    try:
        res = sv.receive(store, actor, code, applicant=applicant, now=at, channel=channel.value,
                         decision=decision.value, comment=comment, contact=contact, commune=commune,
                         idempotency_key=key)
    except BaseException:
        if published is not None:
            _unpublish(store, published)
        raise
    from engine.store import Dossier

    with store.session() as s:  # the process version the dossier was pinned to (a newly approved one, say)
        pinned = s.get(Dossier, res.dossier_id).definition_version
    _print_result(res, "Đã tiếp nhận" if decision == Decision.accept else "Đã ghi nhận", pinned)
    if decision == Decision.accept:
        sheet = sv.dossier_sheet(store, res.dossier_id)
        typer.echo(f"Ngày hẹn trả kết quả: {local(sheet.dossier.due_at)}")


@dossier_app.command("show")
@guarded
def show_cmd(
    dossier: str = typer.Argument(..., help="Mã hồ sơ (hoặc số)."),
    now: Optional[str] = typer.Option(None, "--now", help=NOW_HELP, hidden=True),
) -> None:
    """Phiếu kiểm soát quá trình giải quyết hồ sơ (mẫu 05; mẫu 06 theo bộ mẫu 2025): từng bước, thời gian quy định và thực hiện."""
    from rich.markup import escape as esc
    from rich.table import Table

    from engine import services as sv
    from engine.definition import CLOCK_LABELS, format_minutes
    from engine.documents import item_handovers
    from engine.machine import ACTION_LABELS, CHANNEL_LABELS, ITEM_STATE_LABELS, STATUS_LABELS, Status
    from engine.sla import LABELS_VI, Timeliness
    from engine.store import UnitRow
    from sqlmodel import select

    at = parse_now(now)
    store = open_store()
    sheet = sv.dossier_sheet(store, dossier, now=at)
    with store.session() as s:
        units = {u.id: (u.short or u.name) for u in s.exec(select(UnitRow)).all()}
    d, defn = sheet.dossier, sheet.definition

    def tl(value: str | None) -> str:
        return LABELS_VI[Timeliness(value)] if value else "–"

    # the new appointment a signed apology gave the applicant (the dossier page says it under the appointment)
    signed = [a for a in sheet.apologies if a.state != "draft"]
    rescheduled = f" (hẹn lại {local(signed[-1].proposed_due_at)} theo phiếu xin lỗi đã ký)" if signed else ""
    console = _console()
    console.print(f"[bold]PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ[/bold]  Mã hồ sơ: [bold]{esc(d.code)}[/bold]")
    console.print(esc(f"Thủ tục: {defn.name} ({d.procedure_code}, quy trình phiên bản {d.definition_version})"))
    console.print(esc(f"Người nộp: {d.applicant}    Hình thức: {CHANNEL_LABELS.get(d.channel, d.channel)}"
                      + (f"    Xã, thị trấn: {d.commune}" if d.commune else "")))  # a commune-level dossier's
    console.print(f"Trạng thái: {d.status} – {STATUS_LABELS[Status(d.status)]}    "
                  f"Tiếp nhận: {local(d.received_at)}    Hẹn trả: {local(d.due_at)}"
                  + (f" (hẹn ban đầu {local(d.original_due_at)})" if d.original_due_at and d.original_due_at != d.due_at else "")
                  + rescheduled
                  + f"    Tiến độ: {tl(sheet.timeliness)}    Lần cập nhật: {d.version}")
    console.print(f"Thời hạn: {defn.time_limit.describe()}; {CLOCK_LABELS.get(d.clock_policy, d.clock_policy)}"
                  + (f"; đã tạm dừng {format_minutes(d.paused_minutes)}" if d.paused_minutes else "")
                  + (" (đang tạm dừng)" if d.paused_at else ""))
    table = Table(show_lines=False)
    for col in ("STT", "Bước", "Đơn vị", "Người xử lý", "Trạng thái", "Nhận", "Hoàn thành", "Hạn",
                "Quy định", "Thực hiện", "Tiến độ"):
        table.add_column(col)
    # an item moved from a merged unit (quytrinh unit transfer): where it was, and since when it is here
    handovers = item_handovers(sheet, lambda u: units.get(u, u))
    for i, r in enumerate(sheet.rows, 1):
        unit = units.get(r.unit_id or "", "Tổ chức, cá nhân")
        if r.item_id in handovers:
            unit += f" ({handovers[r.item_id]})"
        table.add_row(str(i), esc(f"{r.step_name} [{r.step_id}]"), esc(unit),
                      esc(r.assignee or "–"), ITEM_STATE_LABELS.get(r.state, r.state), local(r.opened_at),
                      local(r.closed_at), local(r.due_at), format_minutes(r.allotted_minutes),
                      format_minutes(r.spent_minutes) if r.spent_minutes is not None else "–", tl(r.timeliness))
    console.print(table)
    console.print("[bold]Nhật ký[/bold]")
    for e in sheet.events:
        change = ""
        if e.from_status != e.to_status and e.to_status is not None:
            change = f" {e.from_status or ''}→{e.to_status} {STATUS_LABELS[Status(e.to_status)]}"
        step = f" [{e.step_id}]" if e.step_id else ""
        to = f" → {', '.join(e.to_steps)}" if e.to_steps else ""
        comment = f" — {e.comment}" if e.comment else ""
        if e.action in ("assign", "release") and e.data:  # whom the work went to, or who gave it back
            who = sheet.usernames.get(e.data.get("to" if e.action == "assign" else "from"), "–")
            # given back by its holder ("cv trả lại"), or for them by the head or the system ("việc cv đang giữ")
            to = (f" → {who}" if e.action == "assign" else
                  f" ({who} trả lại)" if e.actor == who else f" (việc {who} đang giữ)")
        if e.action == "transfer" and e.data:  # where the work went (the comment says why, and who holds it)
            to = f" → {units.get(e.data.get('to_unit') or '', e.data.get('to_unit') or '–')}"
        if e.action == "timeliness" and e.data:  # what the timer found
            to = f": {TIMER_FINDINGS.get(e.data.get('to'), 'trở lại trong hạn')}" if e.step_id else (
                ": hồ sơ quá hạn trả kết quả" if e.data.get("to") == "overdue" else ": hồ sơ trở lại trong hạn")
        actor = e.actor
        if actor == "system":
            actor = "Hệ thống (hẹn giờ)" if e.action in ("timeliness", "apology") else "Hệ thống"
        console.print(esc(f"  {local(e.at)}  {actor}: {ACTION_LABELS.get(e.action, e.action)}{step}"
                          f"{(' (' + e.outcome + ')') if e.outcome else ''}{to}{change}{comment}"))
    successors = sv.unit_successors(store) if any(a.state == "draft" for a in sheet.apologies) else {}
    for a in sheet.apologies:
        state = APOLOGY_STATES.get(a.state, a.state)
        signer = sv.apology_signer(successors, a.unit_id) if a.state == "draft" else a.unit_id
        who = f"; lãnh đạo {units.get(signer, signer)} {'ký' if a.state == 'draft' else 'đã ký'}" if signer else ""
        if signer != a.unit_id:
            who += f" (phiếu lập cho {units.get(a.unit_id or '', a.unit_id)}, đơn vị đã hợp nhất)"
        new = "đề xuất hẹn mới" if a.state == "draft" else "hẹn mới"  # signed: the date the applicant was given
        console.print(esc(f"Phiếu xin lỗi và hẹn lại (mẫu 04, {state}): hẹn cũ {local(a.due_at)}, "
                          f"{new} {local(a.proposed_due_at)}{who}"))


def _dossier_action(name: str, dossier: str, as_user: Optional[str], now: Optional[str], key: Optional[str],
                    **kw: Any) -> None:
    from engine import services as sv

    at = parse_now(now)
    store = open_store()
    actor = actor_of(store, as_user)
    fn = getattr(sv, name)
    res = fn(store, actor, dossier, now=at, idempotency_key=key, **kw)
    _print_result(res, {"withdraw": "Đã rút hồ sơ", "stop": "Đã dừng xử lý",
                        "supplement_received": "Đã nhận hồ sơ bổ sung",
                        "financial_done": "Đã ghi nhận thực hiện nghĩa vụ tài chính"}[name],
                  tail=_handed_to(store, actor, res) if name in ("supplement_received", "financial_done") else "")


def _handed_to(store: Any, actor: Any, res: Any) -> str:
    """Who now has the work a recorded supplement or payment opened, as the dossier page's message says it:
    the officer it went back to (``engine.services._hand_back``: the one who asked for the supplement) and
    their unit, else the unit: ``chuyển tiếp cho Lê Văn Cường (tckh_cv), Phòng TC-KH (công việc 7)``; a step
    back at the counter (a supplement asked at the reception) is the officer's own to decide on again."""
    if res.replayed or not res.opened:
        return ""
    from engine.store import UnitRow, WorkItem

    with store.session() as s:
        items = [w for w in (s.get(WorkItem, i) for i in res.opened) if w is not None and w.unit_id]
        units = {w.unit_id: s.get(UnitRow, w.unit_id) for w in items}
    names = {u: (row.short or row.name) if row is not None else u for u, row in units.items()}
    held = {w.assignee_id for w in items if w.state == "claimed" and w.assignee_id is not None}
    holders = account_names_by_id(sorted(held)) if held else {}
    parts = []
    for w in items:
        if w.state == "open" and (w.unit_id, w.role) == (actor.unit, actor.role):  # the reception step again
            return (f"hồ sơ trở lại bước '{w.step_id}' (công việc {w.id}): hãy kiểm tra rồi quyết định bằng "
                    f"quytrinh task complete {w.id} --outcome KẾT_QUẢ")
        holder = holders.get(w.assignee_id) if w.state == "claimed" else None
        parts.append(f"{holder + ', ' if holder else ''}{names[w.unit_id]} (công việc {w.id})")
    return f"chuyển tiếp cho {'; '.join(parts)}" if parts else ""


def _given_back(store: Any, res: Any) -> str:
    """A completion's steps opened again and given back to who did them before (sent back for rework:
    ``engine.services._hand_back``), as ``công việc 9 giao lại cho Lê Văn Cường (tckh_cv), người đã xử lý
    bước 'appraise' lần trước``; '' when none was (a step opened for the first time is its unit's)."""
    if res.replayed or not res.opened:
        return ""
    from engine.store import WorkItem

    with store.session() as s:
        held = [w for w in (s.get(WorkItem, i) for i in res.opened)
                if w is not None and w.state == "claimed" and w.assignee_id is not None]
    if not held:
        return ""
    names = account_names_by_id(sorted({w.assignee_id for w in held}))
    return "; ".join(f"công việc {w.id} giao lại cho {names.get(w.assignee_id, w.assignee_id)}, người đã xử lý "
                     f"bước '{w.step_id}' lần trước" for w in held)


@dossier_app.command("withdraw")
@guarded
def withdraw_cmd(
    dossier: str = DOSSIER_ARG,
    comment: str = typer.Option(..., "--comment", help="Đơn đề nghị rút hồ sơ của tổ chức, cá nhân: số, ngày, lý do."),
    as_user: Optional[str] = AS_OPT,
    key: Optional[str] = KEY_OPT,
    now: Optional[str] = NOW_OPT,
) -> None:
    """Tổ chức, cá nhân rút hồ sơ theo đơn đề nghị (trạng thái 7)."""
    _dossier_action("withdraw", dossier, as_user, now, key, comment=comment)


@dossier_app.command("stop")
@guarded
def stop_cmd(
    dossier: str = DOSSIER_ARG,
    reason: str = typer.Option(..., "--reason", help="Lý do dừng xử lý (ghi trên thông báo)."),
    as_user: Optional[str] = AS_OPT,
    key: Optional[str] = KEY_OPT,
    now: Optional[str] = NOW_OPT,
) -> None:
    """Dừng xử lý hồ sơ (trạng thái 8)."""
    _dossier_action("stop", dossier, as_user, now, key, reason=reason)


@dossier_app.command("supplemented")
@guarded
def supplemented_cmd(
    dossier: str = DOSSIER_ARG,
    comment: str = typer.Option("", "--comment", help="Giấy tờ đã bổ sung."),
    as_user: Optional[str] = AS_OPT,
    key: Optional[str] = KEY_OPT,
    now: Optional[str] = NOW_OPT,
) -> None:
    """Nhận hồ sơ bổ sung của người nộp (thời gian tiếp tục hoặc tính lại)."""
    _dossier_action("supplement_received", dossier, as_user, now, key, comment=comment)


@dossier_app.command("financial-done")
@guarded
def financial_done_cmd(
    dossier: str = DOSSIER_ARG,
    comment: str = typer.Option("", "--comment", help="Chứng từ nộp tiền (số, ngày)."),
    as_user: Optional[str] = AS_OPT,
    key: Optional[str] = KEY_OPT,
    now: Optional[str] = NOW_OPT,
) -> None:
    """Người nộp đã thực hiện nghĩa vụ tài chính (trạng thái 6 kết thúc; thời gian tính tiếp)."""
    _dossier_action("financial_done", dossier, as_user, now, key, comment=comment)


@dossier_app.command("apology")
@guarded
def apology_cmd(
    dossier: str = DOSSIER_ARG,
    reason: str = typer.Option(..., "--reason", help="Lý do chậm trễ (in trên Phiếu xin lỗi, Mẫu 04)."),
    new_date: Optional[str] = typer.Option(None, "--new-date", help="Hẹn lại trả kết quả, YYYY-MM-DDTHH:MM (giờ Việt "
                                                                    "Nam); mặc định: ngày hệ thống đề xuất."),
    as_user: Optional[str] = AS_OPT,
    now: Optional[str] = NOW_OPT,
) -> None:
    """Lãnh đạo đơn vị ký Phiếu xin lỗi và hẹn lại ngày trả kết quả (dự thảo do hệ thống lập)."""
    from engine import services as sv

    at = parse_now(now)
    proposed = None
    if new_date:
        try:
            proposed = dt.datetime.fromisoformat(new_date.strip())
        except ValueError:
            raise localized(ActionError(f"--new-date '{new_date}' không phải thời điểm; viết YYYY-MM-DDTHH:MM "
                                        "(giờ Việt Nam).")) from None
        proposed = proposed if proposed.tzinfo else proposed.replace(tzinfo=LOCAL_TZ)
    store = open_store()
    actor = actor_of(store, as_user)
    sheet = sv.dossier_sheet(store, dossier)
    code = sheet.dossier.code  # the dossier's code, also when it was given by its number
    drafts = [a for a in sheet.apologies if a.state == "draft"]
    if not drafts:
        raise localized(ActionError(f"Không thực hiện được: hồ sơ {code} không có phiếu xin lỗi nào đang chờ ký."))
    signed = sv.sign_apology(store, actor, drafts[-1].id, reason=reason, proposed_due_at=proposed, now=at)
    when = signed.proposed_due_at.astimezone(LOCAL_TZ)
    typer.echo(f"Đã ký Phiếu xin lỗi và hẹn lại: hồ sơ {code}, hẹn trả kết quả lúc {when:%H:%M} ngày "
               f"{when:%d/%m/%Y}; đã thông báo cho tổ chức, cá nhân (in: quytrinh form 04 {code}).")


# --------------------------------------------------------------------------- tasks


@guarded
def tasks_cmd(
    unit: Optional[str] = typer.Option(None, "--unit", help="Chỉ công việc của đơn vị này."),
    user: Optional[str] = typer.Option(None, "--user", help="Chỉ công việc người này xử lý được."),
    overdue: bool = typer.Option(False, "--overdue", help="Chỉ công việc quá hạn."),
    waiting: bool = typer.Option(False, "--waiting", help="Hồ sơ chờ tổ chức, cá nhân bổ sung hoặc thực hiện nghĩa "
                                                          "vụ tài chính (của Bộ phận Một cửa --unit)."),
    apologies: bool = typer.Option(False, "--apologies", help="Phiếu xin lỗi và hẹn lại (Mẫu 04) dự thảo chờ lãnh "
                                                              "đạo đơn vị --unit ký (cả phiếu của đơn vị đã hợp "
                                                              "nhất vào đơn vị đó)."),
    now: Optional[str] = typer.Option(None, "--now", help=NOW_HELP, hidden=True),
) -> None:
    """Danh sách công việc đang chờ xử lý, hạn sớm nhất trước."""
    from rich.markup import escape as esc

    from engine import services as sv
    from engine.sla import LABELS_VI, Timeliness, describe_remaining

    if waiting and apologies:
        raise localized(ActionError("--waiting và --apologies là hai danh sách khác nhau; hãy chọn một."))
    if (waiting or apologies) and (user or overdue):
        which = "--waiting" if waiting else "--apologies"
        raise localized(ActionError(f"{which} không dùng cùng {'--user' if user else '--overdue'}; "
                                    f"chỉ lọc được theo --unit."))
    at = parse_now(now)
    store = open_store()
    check_unit(store, unit)
    if waiting:
        _print_waiting(store, unit)
        return
    if apologies:
        _print_apologies(store, unit)
        return
    rows = sv.list_tasks(store, now=at, unit=unit, user=user, overdue=overdue)
    if not rows:
        typer.echo("Không có công việc nào.")
        _merged_unit_hint(store, unit, "--overdue " if overdue else "", left=False)
        return
    cells = []
    for r in rows:
        remaining = "tạm dừng" if r.paused else (describe_remaining(r.remaining_minutes)
                                                 if r.remaining_minutes is not None else "–")
        cells.append((str(r.item_id), r.dossier_code, f"{r.step_name} [{r.step_id}]",
                      f"{r.unit_id or 'Tổ chức, cá nhân'}/{r.role or '–'}", r.assignee or "–", local(r.due_at),
                      remaining, LABELS_VI[Timeliness(r.timeliness)] if r.timeliness else "–"))
    _print_table(("Số", "Hồ sơ", "Bước", "Đơn vị", "Người xử lý", "Hạn", "Còn lại", "Tiến độ"), cells,
                 lambda c: (c[0], c[1], esc(c[2]), esc(c[3]), esc(c[4]), *c[5:]))
    _merged_unit_hint(store, unit, "--overdue " if overdue else "", left=True)


def _merged_unit_hint(store: Any, unit: Optional[str], options: str, *, left: bool) -> None:
    """After a list of ``--unit UNIT``'s work: when UNIT was merged (units.yaml ``merged_into``), where its
    work is now — ``Phòng QLĐT đã hợp nhất vào Phòng TC-KH: xem quytrinh tasks --unit phong_tckh`` — and,
    when work is still listed there (``left``), how to move it."""
    if not unit:
        return
    from engine.services import unit_successors
    from engine.store import UnitRow

    successor = unit_successors(store).get(unit)
    if not successor:
        return
    with store.session() as s:
        rows = {u: s.get(UnitRow, u) for u in (unit, successor)}
    names = {u: (r.short or r.name) if r is not None else u for u, r in rows.items()}
    hint = f"{names[unit]} đã hợp nhất vào {names[successor]}: xem quytrinh tasks {options}--unit {successor}"
    if left:
        hint += f"; chuyển các công việc còn ở {names[unit]} bằng quytrinh unit transfer {unit}"
    typer.echo(hint + ".")


def _print_waiting(store: Any, unit: Optional[str]) -> None:
    """The dossiers waiting for the applicant, as the one-stop staff's inbox lists them, oldest wait first."""
    from rich.markup import escape as esc

    from engine.services import waiting_for_applicant

    rows = waiting_for_applicant(store, unit)
    if not rows:
        typer.echo("Không có hồ sơ nào đang chờ bổ sung hoặc thực hiện nghĩa vụ tài chính.")
        _merged_unit_hint(store, unit, "--waiting ", left=False)
        return
    cells = []
    for r in rows:
        d, w = r["dossier"], r["item"]
        what = "Nghĩa vụ tài chính" if r["financial"] else "Bổ sung hồ sơ"
        cells.append((d.code, f"{d.procedure_code} — {r['procedure']}", d.applicant, local(w.opened_at), what,
                      r["asked"] or w.step_name))
    _print_table(("Hồ sơ", "Thủ tục", "Người nộp", "Chờ từ", "Chờ", "Nội dung chờ"), cells,
                 lambda c: (c[0], esc(c[1]), esc(c[2]), c[3], c[4], esc(c[5])))


def _print_apologies(store: Any, unit: Optional[str]) -> None:
    """The draft apologies (form 04) waiting for the signature of ``unit``'s head (every unit's when None), the
    earliest missed appointment first; a merged unit's drafts are listed for its successor, whose head signs."""
    from rich.markup import escape as esc

    from sqlmodel import select

    from engine.services import apologies_to_sign
    from engine.store import UnitRow

    rows = apologies_to_sign(store, unit=unit)
    if not rows:
        typer.echo("Không có phiếu xin lỗi nào chờ ký.")
        _merged_unit_hint(store, unit, "--apologies ", left=False)
        return
    with store.session() as s:
        names = {u.id: u.short or u.name for u in s.exec(select(UnitRow)).all()}
    cells = []
    for r in rows:
        signer = names.get(r.signer_unit or "", r.signer_unit or "–")
        if r.unit_id != r.signer_unit:
            signer += f" (lập cho {names.get(r.unit_id or '', r.unit_id)}, đã hợp nhất)"
        cells.append((r.dossier_code, r.applicant, local(r.due_at), local(r.proposed_due_at), signer))
    _print_table(("Hồ sơ", "Người nộp", "Hẹn không thực hiện được", "Đề xuất hẹn lại", "Lãnh đạo đơn vị ký"),
                 cells, lambda c: (c[0], esc(c[1]), c[2], c[3], esc(c[4])))
    typer.echo('Ký: quytrinh dossier apology MÃ_HỒ_SƠ --reason "lý do chậm trễ" --as TÊN_ĐĂNG_NHẬP')


@task_app.command("claim")
@guarded
def claim_cmd(
    item: int = ITEM_ARG,
    as_user: Optional[str] = AS_OPT,
    version: Optional[int] = VERSION_OPT,
    key: Optional[str] = KEY_OPT,
    now: Optional[str] = NOW_OPT,
) -> None:
    """Nhận xử lý một công việc của đơn vị mình."""
    from engine import services as sv

    at = parse_now(now)
    store = open_store()
    res = sv.claim(store, actor_of(store, as_user), item, now=at, expected_version=version, idempotency_key=key)
    _print_result(res, f"Đã nhận công việc {item}")


@task_app.command("assign")
@guarded
def assign_cmd(
    item: int = ITEM_ARG,
    to: str = typer.Option(..., "--to", help="Tên đăng nhập của cán bộ được giao (cùng đơn vị, đúng vai trò của bước)."),
    as_user: Optional[str] = AS_OPT,
    version: Optional[int] = VERSION_OPT,
    key: Optional[str] = KEY_OPT,
    now: Optional[str] = NOW_OPT,
) -> None:
    """Lãnh đạo đơn vị phân công (hoặc giao lại) một công việc cho một cán bộ của đơn vị."""
    from engine import services as sv

    at = parse_now(now)
    store = open_store()
    officer = _account(store, to)
    res = sv.assign(store, actor_of(store, as_user), item, to=_spelled(officer, to), now=at,
                    expected_version=version, idempotency_key=key)
    _print_result(res, f"Đã phân công công việc {item} cho {account_label(officer)}")


def _account(store: Any, username: str) -> Any:
    """The account ``username`` names (usernames are case-insensitive), or None."""
    from engine.store import User, username_key
    from sqlmodel import select

    with store.session() as s:
        return s.exec(select(User).where(User.username_key == username_key(username))).first()


def _spelled(user: Any, typed: str) -> str:
    """The username as its account (``user``, from :func:`_account`) spells it (``an`` for ``--to AN``), so
    that a refusal names the account as everything else does; as typed when there is no such account (the
    refusal says so). The engine compares an assignment's officer ignoring case, a repeated request's too, so
    this changes nothing else."""
    return user.username if user is not None else typed


@task_app.command("release")
@guarded
def release_cmd(
    item: int = ITEM_ARG,
    as_user: Optional[str] = AS_OPT,
    version: Optional[int] = VERSION_OPT,
    key: Optional[str] = KEY_OPT,
    now: Optional[str] = NOW_OPT,
) -> None:
    """Trả lại công việc đang giữ cho đơn vị (người đang giữ, hoặc lãnh đạo đơn vị)."""
    from engine import services as sv

    at = parse_now(now)
    store = open_store()
    res = sv.release(store, actor_of(store, as_user), item, now=at, expected_version=version, idempotency_key=key)
    successor = _released_to(store, res)
    if successor is None:
        _print_result(res, f"Đã trả lại công việc {item} cho đơn vị")
    else:
        _print_result(res, f"Đã trả lại công việc {item}", tail=released_to_successor_text(successor))


def _released_to(store: Any, res: Any) -> str | None:
    """The short name of the unit whose queue a release sent the item to, when it was at a merged unit (the
    release's own ``transfer`` event, by the system, names it: ``engine.services.release``); None otherwise."""
    from engine.store import Event, UnitRow
    from sqlmodel import select

    if not res.events:
        return None
    with store.session() as s:
        moved = s.exec(select(Event).where(Event.id.in_(res.events), Event.action == "transfer")).first()
        to = (moved.data or {}).get("to_unit") if moved is not None else None
        unit = s.get(UnitRow, to) if to else None
    return (unit.short or unit.name) if unit is not None else to


@task_app.command("complete")
@guarded
def complete_cmd(
    item: int = ITEM_ARG,
    outcome: Optional[str] = typer.Option(None, "--outcome", help="Kết quả của bước (ví dụ ok, done, approve)."),
    comment: str = typer.Option("", "--comment", help="Ý kiến, ghi chú."),
    assign_to: Optional[str] = typer.Option(
        None, "--assign-to", help="Lãnh đạo đơn vị: giao luôn bước tiếp theo của đơn vị cho cán bộ này."),
    as_user: Optional[str] = AS_OPT,
    version: Optional[int] = VERSION_OPT,
    key: Optional[str] = KEY_OPT,
    now: Optional[str] = NOW_OPT,
) -> None:
    """Hoàn thành một bước với một kết quả; hồ sơ chuyển sang bước tiếp theo."""
    from engine import services as sv

    at = parse_now(now)
    store = open_store()
    actor = actor_of(store, as_user)
    try:
        _complete(sv, store, actor, item, outcome, comment, assign_to, at, version, key)
    except IllegalAction as exc:
        m = _NO_OUTCOME.match(str(exc)) if outcome is None else None
        if m is None:
            raise
        # No --outcome at a step that has outcomes: say which to choose, as an option to give.
        raise localized(ActionError(f"Hãy chọn kết quả --outcome: {m['all']} (công việc {m['i']}, "
                                    f"bước '{m['s']}').")) from None


_NO_OUTCOME = re.compile(r"complete: step '(?P<s>[^']+)' \(work item (?P<i>\d+)\) needs an outcome; "
                         r"its outcomes are (?P<all>.+?) \(dossier status ")


def _complete(sv: Any, store: Any, actor: Any, item: int, outcome: Optional[str], comment: str,
              assign_to: Optional[str], at: dt.datetime, version: Optional[int], key: Optional[str]) -> None:
    if assign_to:  # both in one transaction: a refused assignment leaves the step open
        officer = _account(store, assign_to)
        res, given = sv.complete_and_assign(store, actor, item, outcome=outcome, to=_spelled(officer, assign_to),
                                            comment=comment, now=at, expected_version=version, idempotency_key=key)
        _print_result(given[-1], f"Đã hoàn thành công việc {item} và giao công việc "
                                 f"{', '.join(str(g.item_id) for g in given)} cho {account_label(officer)}")
        return
    res = sv.complete(store, actor, item, outcome=outcome, comment=comment, now=at,
                      expected_version=version, idempotency_key=key)
    _print_result(res, f"Đã hoàn thành công việc {item}", tail=_given_back(store, res))
    from engine.machine import Status

    if res.status == Status.RECEIVED:  # the reception step accepted (after a supplement, say): the appointment
        typer.echo(f"Ngày hẹn trả kết quả: {local(sv.dossier_sheet(store, res.dossier_id).dossier.due_at)}")


def register(app: typer.Typer) -> None:
    """Add ``dossier``, ``task`` and ``tasks`` to the quytrinh command."""
    app.add_typer(dossier_app, name="dossier")
    app.add_typer(task_app, name="task")
    app.command("tasks")(tasks_cmd)
