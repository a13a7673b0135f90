"""`quytrinh unit`: the units of the organisation when one is merged or dissolved.

    quytrinh unit transfer phong_ldtbxh                 # to the unit units.yaml merged it into
    quytrinh unit transfer phong_ldtbxh --to phong_noi_vu

A merged unit says ``merged_into: <unit id>`` in units.yaml; from the next
command on, work that opens at it opens at its successor. ``unit transfer``
moves the work already open there (each item in its own transaction, with an
event saying why, the new unit told), and may be run again: it moves what is
left (docs/definition-format.md, "Units").
"""

from __future__ import annotations

import datetime as dt
from typing import Optional

import typer

from quytrinh.commands.dossier import guarded, open_store

unit_app = typer.Typer(help="Đơn vị: chuyển công việc của đơn vị đã hợp nhất, giải thể sang đơn vị kế thừa.",
                       no_args_is_help=True)


@unit_app.command("transfer", help=(
    "Chuyển mọi công việc đang mở của một đơn vị đã hợp nhất sang đơn vị kế thừa (merged_into trong units.yaml). "
    "Việc đang có người xử lý được giữ nguyên người đó nếu người đó đã thuộc đơn vị kế thừa với đúng vai trò, nếu "
    "không thì trả về hàng chờ của đơn vị kế thừa. Thời hạn của từng việc vẫn tính tiếp. Chạy lại được (chuyển nốt "
    "phần còn lại)."))
@guarded
def transfer_cmd(
    unit: str = typer.Argument(..., help="Mã đơn vị đã hợp nhất hoặc giải thể, ví dụ phong_ldtbxh."),
    to: Optional[str] = typer.Option(None, "--to", help="Đơn vị nhận công việc (mặc định: đơn vị ghi ở merged_into "
                                                         "của đơn vị đó trong units.yaml)."),
) -> None:
    """Move the open work of a merged or dissolved unit to its successor (the help text is the decorator's:
    a docstring's line breaks would show in ``--help``)."""
    from engine.services import transfer_unit_work

    store = open_store(changes_organisation="quytrinh unit transfer")
    done = transfer_unit_work(store, unit, to=to, now=dt.datetime.now(dt.timezone.utc))
    where = f"{done.successor_name} ({done.successor})"
    if not done.merged:  # (--to for a unit merged into another unit is refused: this one has no merged_into)
        typer.echo(f"Lưu ý: units.yaml không ghi merged_into cho {done.unit}; việc mới của các hồ sơ đang giải quyết "
                   f"vẫn được mở tại {done.unit}. Nếu đơn vị đã hợp nhất vào {done.successor}, hãy ghi merged_into: "
                   f"{done.successor} trong units.yaml và chạy quytrinh publish.")
    if not done.moved:
        typer.echo(f"Không còn công việc nào đang mở tại {done.unit_name} ({done.unit}); không chuyển gì.")
    else:
        typer.echo(f"Đã chuyển {len(done.moved)} công việc đang mở của {done.unit_name} ({done.unit}) sang {where}; "
                   f"thời hạn của từng việc vẫn tính tiếp:")
        for m in done.moved:
            who = (f"{m.holder} tiếp tục xử lý" if m.holder else
                   f"trả về hàng chờ (việc {m.returned} đang giữ)" if m.returned else "chờ nhận xử lý")
            typer.echo(f"  #{m.item_id}\t{m.dossier_code}\t{m.step_name}\t{who}")
        returned = sum(1 for m in done.moved if m.returned)
        if returned:
            typer.echo(f"{returned} việc trả về hàng chờ: lãnh đạo {done.successor_name} phân công lại, hoặc cán bộ "
                       f"nhận xử lý (người giữ việc chưa thuộc {done.successor} với đúng vai trò; chuyển cán bộ bằng "
                       f"quytrinh user move).")
    if done.apologies:
        typer.echo(f"{len(done.apologies)} phiếu xin lỗi (mẫu 04) dự thảo chuyển sang lãnh đạo {done.successor_name} "
                   f"ký (lãnh đạo đơn vị được thông báo).")
    if done.left:
        typer.echo(f"Chưa chuyển {len(done.left)} công việc mới mở (số {', '.join(map(str, done.left))}): "
                   f"{done.successor} không có vai trò của các việc này; thêm vai trò trong units.yaml, chạy "
                   f"quytrinh publish rồi chạy lại lệnh này.")


def register(app: typer.Typer) -> None:
    """Add ``unit`` to the quytrinh command."""
    app.add_typer(unit_app, name="unit")
