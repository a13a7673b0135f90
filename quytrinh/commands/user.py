"""`quytrinh user`: the staff who act on dossiers.

    quytrinh user add cv1 --unit phong_tckh --role staff --name "Trần Thị B" [--password]
    quytrinh user add mc1 --unit xa_mot_cua --role staff --commune "Xã Bát Tràng"   # a commune's officer
    quytrinh user password cv1
    quytrinh user list [--unit phong_tckh]
    quytrinh user commune mc1 "Cổ Bi"        # works for Xã Cổ Bi from now on (--none: for no commune)
    quytrinh user disable cv1        # left the office: no sign-in, their work back to the unit
    quytrinh user enable cv1
    quytrinh user move cv1 --unit phong_tnmt --role staff   # a transfer or a promotion

A password is asked twice and never read from the command line (it would stay
in the shell's history); without one an account cannot sign in to the web app.

units.yaml describes the staff of every commune with one set of commune-level
units; ``--commune`` (``user add``) and ``user commune`` tie such an account to
the commune it works for (one of units.yaml's ``communes:``, matched as
``engine.definition.find_commune`` reads it and stored as units.yaml writes
it): the officer then sees and acts on that commune's dossiers only (and on
those of no commune).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

import typer

from engine.errors import ActionError, NotFound
from quytrinh.commands.dossier import check_unit, guarded, open_store
from quytrinh.messages import localized

user_app = typer.Typer(help="Cán bộ, công chức: thêm, đặt mật khẩu, liệt kê, ngừng hoạt động, chuyển đơn vị, "
                            "giao làm việc cho một xã.",
                       no_args_is_help=True)


#: The shortest password the CLI sets (NIST SP 800-63B's minimum for a password the user chooses).
MIN_PASSWORD_LENGTH = 8


def _prompt(text: str) -> str:
    """One line typed after ``text``: without echo at a terminal; read as it comes when the standard input is
    not one (a script's pipe, ``printf 'a\\na\\n' | quytrinh user password cv1``), where Python's getpass would
    warn, in English, that it cannot hide it. The end of the input cancels the command ("Đã hủy.", exit 1)."""
    import sys

    if sys.stdin is None or not sys.stdin.isatty():
        typer.echo(f"{text}: ", nl=False, err=True)
        line = sys.stdin.readline() if sys.stdin is not None else ""
        typer.echo("", err=True)  # the line a terminal would have echoed
        if not line:
            raise typer.Abort()
        return line.rstrip("\r\n")
    return typer.prompt(text, hide_input=True)


def _ask_password() -> str:
    """The new password, typed twice without echo (asked again while shorter than
    :data:`MIN_PASSWORD_LENGTH` characters, blank, or the two differ)."""
    while True:
        secret = _prompt("Mật khẩu")
        if not secret.strip():
            typer.echo("Mật khẩu không được để trống; hãy nhập lại.", err=True)
            continue
        if len(secret) < MIN_PASSWORD_LENGTH:
            typer.echo(f"Mật khẩu cần ít nhất {MIN_PASSWORD_LENGTH} ký tự; hãy nhập lại.", err=True)
            continue
        if _prompt("Nhập lại mật khẩu") == secret:
            return secret
        typer.echo("Hai lần nhập không khớp; hãy nhập lại.", err=True)


def _in_units_yaml(store: Any, unit: str) -> None:
    """Refuse a unit that units.yaml no longer has (the database keeps it: old dossiers name it). Its roles
    need no check here: opening the store wrote units.yaml's roles of every unit it has into the database."""
    from engine.calendar import catalogue_dir
    from engine.definition import load_units

    path = catalogue_dir() / "units.yaml"
    if not path.is_file():
        return
    units = load_units(str(path)).units
    if unit not in units:
        from engine.store import UnitRow

        with store.session() as s:
            kept = s.get(UnitRow, unit) is not None
        if kept:
            raise localized(ActionError(f"Không thực hiện được: đơn vị '{unit}' không còn trong {path} (cơ sở dữ "
                                        f"liệu giữ đơn vị này cho các hồ sơ cũ); hãy chọn một đơn vị trong "
                                        f"units.yaml."))


def _existing_user(store: Any, username: str) -> Any:
    """The ``User`` row named ``username`` (whatever its case: usernames are case-insensitive), or None."""
    from engine.services import find_user

    with store.session() as s:
        return find_user(s, username)


def _commune_of(name: str) -> str:
    """The commune of units.yaml's ``communes:`` that ``name`` names, as units.yaml writes it (case, spacing and
    the "Xã " prefix aside: :func:`engine.definition.find_commune`); a one-line Vietnamese refusal naming the
    closest commune when none does."""
    from engine.definition import closest_commune, find_commune

    from quytrinh.commands.dossier import communes

    known = communes()
    if not known:
        raise localized(ActionError("Không thực hiện được: units.yaml không có mục communes: (danh sách xã, thị trấn), "
                                    "nên không giao cán bộ làm việc cho xã nào được."))
    found = find_commune(name, known)
    if found is None:
        close = closest_commune(name, known)
        hint = f" (có phải \"{close}\"?)" if close else ""
        raise localized(ActionError(f"Không thực hiện được: không có xã, thị trấn \"{name.strip()}\" trong mục "
                                    f"communes: của units.yaml{hint}; xem danh sách trong units.yaml."))
    return found


def _commune_level(store: Any, unit: str, username: str | None = None) -> None:
    """Refuse (one Vietnamese line) a commune for an account of a unit that is not of the commune level, as
    the engine does (:func:`engine.services.add_user`), before a password is asked. Nothing to say of a unit
    that does not exist: the engine names the known ones."""
    from engine.store import UnitRow

    with store.session() as s:
        row = s.get(UnitRow, unit)
    if row is not None and row.level != "commune":
        raise _not_commune_level(unit, row.level, username)


def _not_commune_level(unit: str, level: str, username: str | None) -> ActionError:
    from quytrinh.messages import _level

    fix = (f"chuyển người đó sang đơn vị cấp xã bằng: quytrinh user move {username} --unit ĐƠN_VỊ --role VAI_TRÒ"
           if username else "bỏ --commune")
    return localized(ActionError(f"Không thực hiện được: đơn vị '{unit}' thuộc {_level(level)}; chỉ "
                                 f"cán bộ của đơn vị cấp xã mới làm việc cho một xã; {fix}."))


@user_app.command("add")
@guarded
def add_cmd(
    username: str = typer.Argument(..., help="Tên đăng nhập (chữ, số, . _ -)."),
    unit: str = typer.Option(..., "--unit", help="Mã đơn vị trong units.yaml, ví dụ phong_tckh."),
    role: str = typer.Option(..., "--role", help="Vai trò trong đơn vị, ví dụ staff, head."),
    name: str = typer.Option("", "--name", help="Họ và tên."),
    password: bool = typer.Option(False, "--password", help="Hỏi và đặt mật khẩu (cho ứng dụng web)."),
    commune: str = typer.Option("", "--commune", help="Cán bộ của đơn vị cấp xã: xã, thị trấn người đó làm việc "
                                                       "(một trong mục communes: của units.yaml, ví dụ "
                                                       "\"Xã Bát Tràng\"); chỉ xử lý hồ sơ của xã đó."),
) -> None:
    """Thêm một cán bộ vào một đơn vị với một vai trò."""
    from engine.services import add_user

    store = open_store(changes_organisation="quytrinh user add")
    check_unit(store, unit)  # a mistyped unit: the closest one named
    _in_units_yaml(store, unit)
    if commune.strip():
        _commune_level(store, unit)
        commune = _commune_of(commune)
    taken = _existing_user(store, username) if password else None
    if taken is not None:  # say it before asking for a password
        same = "" if taken.username == username else " (tên đăng nhập không phân biệt chữ hoa, chữ thường)"
        raise localized(ActionError(f"Không thực hiện được: đã có người dùng '{taken.username}'{same}; đặt mật "
                                    f"khẩu cho người đó bằng: quytrinh user password {taken.username}"))
    secret = _ask_password() if password else None
    actor = add_user(store, username, unit=unit, role=role, full_name=name, password=secret,
                     now=dt.datetime.now(dt.timezone.utc), commune=commune.strip())
    typer.echo(f"Đã thêm {actor.username} ({actor.full_name or 'chưa có họ tên'}): {actor.unit}/{actor.role}"
               + (f", làm việc cho {actor.commune}" if actor.commune else ""))


@user_app.command("password")
@guarded
def password_cmd(
    username: str = typer.Argument(..., help="Tên đăng nhập của người đã có (xem quytrinh user list)."),
) -> None:
    """Đặt (hoặc đổi) mật khẩu đăng nhập ứng dụng web của một người đã có; hỏi mật khẩu hai lần."""
    from engine.services import hash_password

    store = open_store()
    existing = _existing_user(store, username)
    if existing is None:
        raise localized(NotFound(f"Không tìm thấy: chưa có người dùng '{username}'; thêm bằng: quytrinh user add "
                                 f"{username} --unit ĐƠN_VỊ --role VAI_TRÒ --password"))
    secret = _ask_password()
    from engine.services import find_user

    with store.write() as s:
        user = find_user(s, username)
        if user is None:  # removed while the password was typed
            raise localized(NotFound(f"Không tìm thấy: chưa có người dùng '{username}'."))
        had = user.password_hash is not None
        user.password_hash = hash_password(secret)
        s.add(user)
        name = user.username
    typer.echo(f"Đã {'đổi' if had else 'đặt'} mật khẩu cho {name}.")


@user_app.command("list")
@guarded
def list_cmd(unit: Optional[str] = typer.Option(None, "--unit", help="Chỉ đơn vị này.")) -> None:
    """Liệt kê cán bộ."""
    from sqlmodel import select

    from engine.definition import resolve_successor
    from engine.store import UnitRow, User

    store = open_store()
    check_unit(store, unit)
    with store.session() as s:
        stmt = select(User).order_by(User.unit_id, User.username)
        if unit:
            stmt = stmt.where(User.unit_id == unit)
        users = s.exec(stmt).all()
        rows = s.exec(select(UnitRow)).all()
        roles = {u.id: u.roles for u in rows}
        levels = {u.id: u.level for u in rows}
        direct = {u.id: u.merged_into for u in rows if u.merged_into}
        merged = {uid: resolve_successor(uid, direct) for uid in direct}
    if not users:
        typer.echo("Chưa có cán bộ nào.")
        return
    for u in users:
        title = roles.get(u.unit_id, {}).get(u.role, u.role)
        gone = (f"\t(đơn vị đã hợp nhất vào {merged[u.unit_id]}: quytrinh user move {u.username} "
                f"--unit {merged[u.unit_id]} --role ROLE)") if u.unit_id in merged and u.active else ""
        typer.echo(f"{u.username}\t{u.full_name or '–'}\t{u.unit_id}\t{u.role} ({title})\t{u.commune or '–'}"
                   + ("" if u.active else "\t(ngừng hoạt động)") + gone)
    from quytrinh.commands.dossier import communes

    untied = [u.username for u in users if u.active and not u.commune and levels.get(u.unit_id) == "commune"]
    if untied and communes():  # every commune's dossiers are theirs until they are tied to their own
        typer.echo(f"{len(untied)} tài khoản của đơn vị cấp xã chưa gắn với xã nào nên xử lý hồ sơ của mọi xã: "
                   f"{', '.join(untied)}; gắn mỗi người với xã của mình bằng: quytrinh user commune TÊN \"Xã …\"")


def _full_name(change: Any) -> str:
    """The full name of the account a change names, followed by ", "; "" when none is recorded (the engine then
    gives the username in its place, which the line already names: not "an (an, …)")."""
    return f"{change.full_name}, " if change.full_name and change.full_name != change.username else ""


def _say_released(change: Any, where: str) -> None:
    """The work items a change gave back to their unit, one line each, and those the user keeps (the work of a
    unit merged into their new unit)."""
    kept = getattr(change, "kept", [])
    if not change.released and not kept:
        typer.echo(f"{change.full_name} không giữ công việc nào{where}.")
    if change.released:
        typer.echo(f"{len(change.released)} công việc {change.full_name} đang giữ{where} đã được trả về đơn vị "
                   "(lãnh đạo đơn vị phân công lại, hoặc cán bộ khác nhận xử lý):")
        for r in change.released:
            to = (f"\ttrả về hàng chờ của {r.unit} ({r.merged_from} đã hợp nhất vào {r.unit})" if r.merged_from
                  else "")
            typer.echo(f"  #{r.item_id}\t{r.dossier_code}\t{r.step_name}{to}")
    for unit in dict.fromkeys(r.unit for r in kept):
        mine = [r for r in kept if r.unit == unit]
        typer.echo(f"{change.full_name} vẫn giữ {len(mine)} công việc của {unit} (đã hợp nhất vào {change.unit}) và "
                   f"tiếp tục xử lý; chuyển công việc của đơn vị bằng: quytrinh unit transfer {unit}")
        for r in mine:
            typer.echo(f"  #{r.item_id}\t{r.dossier_code}\t{r.step_name}")


@user_app.command("disable", help=(
    "Ngừng hoạt động một tài khoản (cán bộ nghỉ việc, chuyển công tác): không đăng nhập, không xử lý được nữa; phiên "
    "đăng nhập và mã truy cập API của người đó hết hiệu lực ngay; công việc người đó đang giữ trả về đơn vị (việc của "
    "đơn vị đã hợp nhất: về đơn vị kế thừa)."))
@guarded
def disable_cmd(
    username: str = typer.Argument(..., help="Tên đăng nhập (xem quytrinh user list)."),
) -> None:
    """Deactivate an account (the help text is the decorator's: a docstring's line breaks show in ``--help``)."""
    from engine.services import deactivate_user

    change = deactivate_user(open_store(), username, now=dt.datetime.now(dt.timezone.utc))
    typer.echo(f"Đã ngừng hoạt động tài khoản {change.username} ({_full_name(change)}{change.unit}/{change.role}).")
    _say_released(change, "")


@user_app.command("enable")
@guarded
def enable_cmd(
    username: str = typer.Argument(..., help="Tên đăng nhập của tài khoản đã ngừng hoạt động."),
) -> None:
    """Cho một tài khoản đã ngừng hoạt động hoạt động trở lại (người đó đăng nhập lại từ đầu)."""
    from engine.services import reactivate_user

    change = reactivate_user(open_store(), username)
    typer.echo(f"Tài khoản {change.username} ({_full_name(change)}{change.unit}/{change.role}) đã hoạt động trở lại; "
               "người đó cần đăng nhập lại.")


@user_app.command("move", help=(
    "Chuyển một cán bộ sang đơn vị hoặc vai trò khác (điều động, bổ nhiệm). Công việc người đó đang giữ không thuộc "
    "đơn vị, vai trò mới được trả về đơn vị cũ (việc của đơn vị đã hợp nhất: về đơn vị kế thừa); việc của đơn vị đã "
    "hợp nhất vào đơn vị mới, cùng vai trò, vẫn do người đó xử lý."))
@guarded
def move_cmd(
    username: str = typer.Argument(..., help="Tên đăng nhập (xem quytrinh user list)."),
    unit: str = typer.Option(..., "--unit", help="Đơn vị mới: mã trong units.yaml, ví dụ phong_tnmt."),
    role: str = typer.Option(..., "--role", help="Vai trò mới trong đơn vị đó, ví dụ staff, head."),
) -> None:
    """Move a member of staff (the help text is the decorator's: a docstring's line breaks show in ``--help``)."""
    from engine.services import move_user

    store = open_store(changes_organisation="quytrinh user move")
    check_unit(store, unit)  # a mistyped unit: the closest one named
    _in_units_yaml(store, unit)
    change = move_user(store, username, unit=unit, role=role, now=dt.datetime.now(dt.timezone.utc))
    name = _full_name(change).removesuffix(", ")
    typer.echo(f"Đã chuyển {change.username}{f' ({name})' if name else ''} sang {change.unit}/{change.role}.")
    _say_released(change, " của đơn vị, vai trò cũ")


@user_app.command("commune", help=(
    "Giao một cán bộ của đơn vị cấp xã làm việc cho một xã, thị trấn (units.yaml mô tả cán bộ của mọi xã bằng "
    "cùng một bộ đơn vị): từ đó người đó chỉ xử lý hồ sơ của xã đó (và hồ sơ không thuộc xã nào); công việc của "
    "xã khác người đó đang giữ trả về đơn vị. --none: không gắn với xã nào (xử lý hồ sơ của mọi xã, như trước)."))
@guarded
def commune_cmd(
    username: str = typer.Argument(..., help="Tên đăng nhập (xem quytrinh user list)."),
    commune: Optional[str] = typer.Argument(None, help="Xã, thị trấn trong mục communes: của units.yaml, ví dụ "
                                                       "\"Xã Bát Tràng\" (hoặc \"Bát Tràng\")."),
    none: bool = typer.Option(False, "--none", help="Bỏ gắn với xã: người đó xử lý hồ sơ của mọi xã."),
) -> None:
    """Tie an officer to their commune (the help text is the decorator's, as for ``move``)."""
    from engine.services import set_user_commune

    if none == bool(commune and commune.strip()):
        raise localized(ActionError(
            f"Không thực hiện được: hãy cho tên xã (quytrinh user commune {username} \"Xã Bát Tràng\") hoặc --none "
            f"(không gắn với xã nào), một trong hai."))
    store = open_store(changes_organisation="quytrinh user commune")
    found = "" if none else _commune_of(commune or "")
    existing = _existing_user(store, username)
    if existing is not None and found:
        _commune_level(store, existing.unit_id, existing.username)
    change = set_user_commune(store, username, found, now=dt.datetime.now(dt.timezone.utc))
    if found:
        typer.echo(f"{change.username} ({change.full_name}, {change.unit}/{change.role}) từ nay làm việc cho {found}: "
                   "chỉ xử lý hồ sơ của xã này và hồ sơ không thuộc xã nào.")
        _say_released(change, " của xã khác")
    else:
        typer.echo(f"{change.username} ({change.full_name}, {change.unit}/{change.role}) từ nay không gắn với xã nào: "
                   "xử lý hồ sơ của mọi xã.")


def register(app: typer.Typer) -> None:
    """Add ``user`` to the quytrinh command."""
    app.add_typer(user_app, name="user")
