"""`quytrinh user`: the staff who act on dossiers.

    quytrinh user add cv1 --unit phong_tckh --role staff --name "Trần Thị B" [--password]
    quytrinh user list [--unit phong_tckh]
"""

from __future__ import annotations

import datetime as dt
from typing import Optional

import typer

from quytrinh.commands.dossier import guarded, open_store

user_app = typer.Typer(help="Cán bộ, công chức: thêm, liệt kê.", no_args_is_help=True)


@user_app.command("add")
@guarded
def add_cmd(
    username: str = typer.Argument(..., help="Tên đăng nhập (chữ, số, . _ -)."),
    unit: str = typer.Option(..., "--unit", help="Mã đơn vị trong units.yaml, ví dụ phong_tckh."),
    role: str = typer.Option(..., "--role", help="Vai trò trong đơn vị, ví dụ staff, head."),
    name: str = typer.Option("", "--name", help="Họ và tên."),
    password: bool = typer.Option(False, "--password", help="Hỏi và đặt mật khẩu (cho ứng dụng web)."),
) -> None:
    """Thêm một cán bộ vào một đơn vị với một vai trò."""
    from engine.services import add_user

    secret = (typer.prompt("Mật khẩu", hide_input=True, confirmation_prompt="Nhập lại mật khẩu")
              if password else None)
    store = open_store()
    actor = add_user(store, username, unit=unit, role=role, full_name=name, password=secret,
                     now=dt.datetime.now(dt.timezone.utc))
    typer.echo(f"Đã thêm {actor.username} ({actor.full_name or 'chưa có họ tên'}): {actor.unit}/{actor.role}")


@user_app.command("list")
@guarded
def list_cmd(unit: Optional[str] = typer.Option(None, "--unit", help="Chỉ đơn vị này.")) -> None:
    """Liệt kê cán bộ."""
    from sqlmodel import select

    from engine.store import UnitRow, User

    store = open_store()
    with store.session() as s:
        stmt = select(User).order_by(User.unit_id, User.username)
        if unit:
            stmt = stmt.where(User.unit_id == unit)
        users = s.exec(stmt).all()
        roles = {u.id: u.roles for u in s.exec(select(UnitRow)).all()}
    if not users:
        typer.echo("Chưa có cán bộ nào.")
        return
    for u in users:
        title = roles.get(u.unit_id, {}).get(u.role, u.role)
        typer.echo(f"{u.username}\t{u.full_name}\t{u.unit_id}\t{u.role} ({title})"
                   + ("" if u.active else "\t(ngừng hoạt động)"))


def register(app: typer.Typer) -> None:
    """Add ``user`` to the quytrinh command."""
    app.add_typer(user_app, name="user")
