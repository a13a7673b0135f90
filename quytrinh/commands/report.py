"""`quytrinh report`: timeliness figures of a period, as the reform indices count them.

    quytrinh report --from 2026-03-01 --to 2026-03-31 --by unit
    quytrinh report --from 2026-03-01 --to 2026-03-31 --by procedure --format csv --out thang3.csv
    quytrinh report --from 2026-01-01 --to 2026-03-31 --by level --format xlsx --out quy1.xlsx

Dates are local (Asia/Ho_Chi_Minh) and both inclusive. How each figure is
counted: docs/reports.md.
"""

from __future__ import annotations

import datetime as dt
import enum
import sys
from pathlib import Path
from typing import Optional

import typer

from engine.errors import QuytrinhError
from quytrinh.messages import localized

Dimension = enum.Enum("Dimension", {d: d for d in ("unit", "procedure", "field", "level", "channel")}, type=str)


class OutputFormat(str, enum.Enum):
    table = "table"
    csv = "csv"
    xlsx = "xlsx"
    json = "json"


def parse_date(text: str, option: str) -> dt.date:
    """A ``YYYY-MM-DD`` option value as a date (QuytrinhError naming the option otherwise)."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise localized(QuytrinhError(f"{option} '{text}' không phải ngày; viết YYYY-MM-DD.")) from None


def _pct(p: float | None) -> str:
    return "–" if p is None else f"{p:.2f}".replace(".", ",") + "%"


def print_table(report) -> None:  # noqa: ANN001 - engine.reports.Report
    """Print the report as a rich table with short Vietnamese headers."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from engine.reports import DIMENSION_LABELS

    t = Table(title=report.title, show_lines=False, header_style="bold")
    heads = [DIMENSION_LABELS[report.by], "Tồn kỳ trước", "Tiếp nhận", "Phải GQ", "Trước hạn", "Đúng hạn",
             "Trễ hạn", "Đang GQ: chưa đến hạn", "Sắp đến hạn", "Quá hạn", "Rút/dừng", "Chưa trả",
             "Xin lỗi", "Tỷ lệ trễ hạn", "Đúng và trước hạn"]
    for i, h in enumerate(heads):
        if i == 0:
            t.add_column(h, min_width=34, overflow="fold")
        else:
            t.add_column(h, justify="right", max_width=11)
    for r in [*report.rows, report.total]:
        vals = [escape(r.label), r.carried_over, r.received, r.to_process, r.completed_early, r.completed_on_time,
                r.completed_late, r.open_not_due, r.open_nearly_due, r.open_overdue, r.withdrawn,
                r.not_collected, r.apologies, _pct(None if r.late_rate is None else r.late_rate * 100),
                _pct(None if r.on_time_rate is None else r.on_time_rate * 100)]
        style = "bold" if r is report.total else None
        t.add_row(*(str(v) for v in vals), style=style)
    Console(width=max(200, Console().width)).print(t)


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to the ``quytrinh`` app."""

    @app.command("report")
    def report_command(
        start: str = typer.Option(..., "--from", help="Ngày đầu kỳ báo cáo (YYYY-MM-DD)."),
        end: str = typer.Option(..., "--to", help="Ngày cuối kỳ báo cáo (YYYY-MM-DD, tính cả ngày này)."),
        by: Dimension = typer.Option("procedure", "--by",
                                     help="Nhóm theo unit (đơn vị), procedure (thủ tục), field (lĩnh vực), "
                                          "level (cấp) hoặc channel (hình thức nộp)."),
        fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="table, csv, xlsx hoặc json."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Ghi ra tệp này (bắt buộc với xlsx)."),
        now: Optional[str] = typer.Option(None, "--now",
                                          help="Thời điểm hiện tại (YYYY-MM-DDTHH:MM giờ Việt Nam; mặc định: bây giờ)."),
    ) -> None:
        """Báo cáo tình hình giải quyết: tiếp nhận, tồn kỳ trước, đang giải quyết, đã giải quyết theo hạn, tỷ lệ trễ hạn và đúng hạn."""
        import json

        from engine.reports import report_csv, report_xlsx, timeliness_report
        from quytrinh.commands.dossier import guarded, open_store, parse_now

        lo, hi = parse_date(start, "--from"), parse_date(end, "--to")
        if fmt == OutputFormat.xlsx and out is None:
            raise localized(QuytrinhError("--format xlsx ghi ra một bảng tính: hãy cho tên tệp bằng --out FILE.xlsx."))
        instant = parse_now(now)

        @guarded
        def build():  # noqa: ANN202
            return timeliness_report(open_store(), lo, hi, by.value, now=instant)

        report = build()
        if fmt == OutputFormat.table:
            print_table(report)
            return
        if fmt == OutputFormat.xlsx:
            assert out is not None
            try:
                report_xlsx(report, out)
            except OSError as exc:
                raise localized(QuytrinhError(f"Không ghi được {out}: {exc.strerror or exc}.")) from None
            print(f"Đã ghi báo cáo vào {out}.")
            return
        text = report_csv(report) if fmt == OutputFormat.csv else \
            json.dumps(report.as_dict(), ensure_ascii=False, indent=2) + "\n"
        if out is None:
            sys.stdout.write(text)
            return
        try:
            with open(out, "w", encoding="utf-8-sig" if fmt == OutputFormat.csv else "utf-8", newline="") as f:
                f.write(text)
        except OSError as exc:
            raise localized(QuytrinhError(f"Không ghi được {out}: {exc.strerror or exc}.")) from None
        print(f"Đã ghi báo cáo vào {out}.")
