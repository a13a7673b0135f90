"""`quytrinh form` and `quytrinh ledger`: the one-stop forms of a dossier, and the ledger.

    quytrinh form 01 1.001612-20260310-000001 --out giay-tiep-nhan.html
    quytrinh form 06 1.001612-20260310-000001 --format docx --out phieu-kiem-soat.docx   # control sheet (2025 set)
    quytrinh ledger --from 2026-03-01 --to 2026-03-31 --out so-theo-doi.html
    quytrinh ledger --from 2026-03-01 --to 2026-03-31 --book "Bát Tràng" --out so-bat-trang.html

The form number is the one of the set that applied when the dossier was
received (Circular 01/2018/TT-VPCP before 1/7/2025, Circular 03/2025/TT-VPCP
from then on); a kind works too: receipt, supplement, refusal, apology, stop,
control. HTML (print CSS: A5 forms, A4 landscape ledger) goes to standard
output when ``--out`` is not given; Word needs ``--out``.

Each one-stop unit keeps its own book (a commune's one-stop unit its
commune's), one a year ("Quyển số 01/2026"); form 01 prints the dossier's
number in it and the ledger's first column the same number. ``--book``
prints one book of the period: its one-stop unit's id (``bp_mot_cua``) or its
commune ("Bát Tràng"); without it the ledger gives every book's rows, each
book under a line naming it.
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Optional

import typer

from engine.errors import QuytrinhError
from quytrinh.messages import localized


class Format(str, enum.Enum):
    html = "html"
    docx = "docx"


def _emit(data: bytes, out: Path | None, fmt: str, what: str) -> None:
    if out is None:
        if fmt == "docx":
            raise localized(QuytrinhError("Tệp Word cần --out FILE."))
        sys.stdout.write(data.decode("utf-8"))
        sys.stdout.flush()
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    except OSError as exc:
        from quytrinh.commands._common import write_error

        raise write_error(exc, out) from None
    print(f"{out}: {what}", file=sys.stderr)


def register(app: typer.Typer) -> None:
    """Add the ``form`` and ``ledger`` commands to the ``quytrinh`` app."""
    from quytrinh.commands.dossier import guarded

    @app.command("form")
    @guarded
    def form_command(
        form: str = typer.Argument(..., help="Số mẫu (01, 02 ...) hoặc loại: receipt, supplement, refusal, apology, stop, control."),
        dossier: str = typer.Argument(..., help="Mã hồ sơ (hoặc số thứ tự)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Tệp kết quả (mặc định: HTML ra màn hình)."),
        fmt: Format = typer.Option(Format.html, "--format", "-f", help="html hoặc docx."),
        now: Optional[str] = typer.Option(None, "--now", help="Thời điểm tính thời gian đã dùng (YYYY-MM-DDTHH:MM "
                                                                             "giờ Việt Nam; mặc định: bây giờ)."),
    ) -> None:
        """In một mẫu phiếu của hồ sơ (giấy tiếp nhận, phiếu bổ sung, từ chối, xin lỗi, kiểm soát...)."""
        from engine.documents import form_doc, to_docx, to_html
        from quytrinh.commands.dossier import open_store, parse_now

        store = open_store()
        doc = form_doc(store, form, dossier, now=parse_now(now))  # (engine.documents.render_form, keeping the title)
        data = to_docx(doc) if fmt == Format.docx else to_html(doc)
        _emit(data, out, fmt.value, doc.title)  # the form's name and the dossier's code, whatever was typed

    @app.command("ledger")
    @guarded
    def ledger_command(
        date_from: str = typer.Option(..., "--from", help="Từ ngày (YYYY-MM-DD)."),
        date_to: str = typer.Option(..., "--to", help="Đến ngày (YYYY-MM-DD), tính cả ngày này."),
        unit: Optional[str] = typer.Option(None, "--unit", help="Chỉ hồ sơ có bước tại đơn vị này (mã đơn vị)."),
        book: Optional[str] = typer.Option(None, "--book", help="Chỉ một quyển sổ: của Bộ phận một cửa này (mã "
                                                                 "đơn vị, ví dụ bp_mot_cua) hoặc của xã này "
                                                                 "(ví dụ \"Bát Tràng\")."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Tệp kết quả (mặc định: HTML ra màn hình)."),
        fmt: Format = typer.Option(Format.html, "--format", "-f", help="html hoặc docx."),
        now: Optional[str] = typer.Option(None, "--now", help="Thời điểm xét hồ sơ đang giải quyết quá hạn hay "
                                                               "chưa (YYYY-MM-DDTHH:MM giờ Việt Nam; mặc định: bây giờ)."),
    ) -> None:
        """In Sổ theo dõi hồ sơ của một khoảng thời gian (A4 ngang)."""
        from engine.documents import find_book, ledger_books, render_ledger
        from quytrinh.commands.dossier import open_store, parse_now

        from quytrinh.commands._common import parse_period

        start, end = parse_period(date_from, date_to)
        store = open_store()
        key = None
        if book is not None:
            books = ledger_books(store, date_from=start, date_to=end, unit=unit) if start <= end else []
            key = find_book(book, books)
            if key is None:
                have = "; ".join(f"{k} ({name})" for k, name in books) or "không có quyển nào"
                raise localized(QuytrinhError(
                    f"--book '{book}': không có quyển sổ nào như vậy có hồ sơ từ {start:%d/%m/%Y} đến "
                    f"{end:%d/%m/%Y}; các quyển có hồ sơ trong kỳ: {have}."))
        data = render_ledger(store, date_from=start, date_to=end, unit=unit, book=key,
                             fmt=fmt.value, now=parse_now(now))
        _emit(data, out, fmt.value, f"sổ theo dõi hồ sơ {start:%d/%m/%Y} – {end:%d/%m/%Y}")
