"""`quytrinh report`: timeliness figures of a period, as the reform indices count them.

    quytrinh report --from 2026-03-01 --to 2026-03-31 --by unit
    quytrinh report --from 2026-03-01 --to 2026-03-31 --by procedure --format csv --out thang3.csv
    quytrinh report --from 2026-01-01 --to 2026-03-31 --by level --format xlsx --out quy1.xlsx
    quytrinh report --from 2026-01-01 --to 2026-03-31 --by commune   # one row per xã, thị trấn

Dates are local (Asia/Ho_Chi_Minh) and both inclusive. How each figure is
counted: docs/reports.md.
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Optional

import typer

from engine.errors import QuytrinhError
from quytrinh.messages import localized

#: engine.reports.DIMENSIONS, written out: importing engine.reports (SQLAlchemy) would slow every command's start.
Dimension = enum.Enum("Dimension", {d: d for d in ("unit", "procedure", "field", "level", "channel", "commune")},
                      type=str)


class OutputFormat(str, enum.Enum):
    table = "table"
    csv = "csv"
    xlsx = "xlsx"
    json = "json"


def _pct(p: float | None) -> str:
    """A percentage (already rounded, engine.reports.report_table) as staff write it: ``96,88%``."""
    return "–" if p is None else f"{p:.2f}".replace(".", ",") + "%"


#: The table's columns after the group's name: (engine.reports.COLUMNS attribute, short header). The header
#: words fold onto several lines; the CSV, XLSX and JSON keep every column with its full header.
TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("carried_over", "Tồn kỳ trước"),
    ("received", "Tiếp nhận"),
    ("to_process", "Phải giải quyết"),
    ("completed_early", "Đã GQ trước hạn"),
    ("completed_on_time", "Đã GQ đúng hạn"),
    ("completed_late", "Đã GQ trễ hạn"),
    ("open_not_due", "Đang GQ chưa đến hạn"),
    ("open_nearly_due", "Đang GQ sắp đến hạn"),
    ("open_overdue", "Đang GQ quá hạn"),
    ("withdrawn", "Rút, dừng"),
    ("not_collected", "Chưa trả"),
    ("apologies", "Xin lỗi"),
    ("late_rate", "Tỷ lệ trễ hạn"),
    ("on_time_rate", "Tỷ lệ đúng và trước hạn"),
    ("completed_on_time_rate", "Tỷ lệ đã GQ đúng và trước hạn"),
)

#: Dossiers of procedures without a time limit (no class): a column after "Đã GQ trễ hạn" when the report has some.
UNCLASSIFIED_COLUMN = ("completed_unclassified", "Đã GQ không có thời hạn")


def table_columns(report) -> tuple[tuple[str, str], ...]:  # noqa: ANN001 - engine.reports.Report
    """The table's columns: :data:`TABLE_COLUMNS`, with :data:`UNCLASSIFIED_COLUMN` when the period has such dossiers."""
    if not report.total.completed_unclassified:
        return TABLE_COLUMNS
    at = [a for a, _ in TABLE_COLUMNS].index("completed_late") + 1
    return (*TABLE_COLUMNS[:at], UNCLASSIFIED_COLUMN, *TABLE_COLUMNS[at:])


def _cells(report) -> list[list[str]]:  # noqa: ANN001 - engine.reports.Report
    """Each row of the table (the total last) as text: the label, then :func:`table_columns`' values."""
    from engine.reports import COLUMNS, report_table

    index = {attr: i + 1 for i, (attr, _, _) in enumerate(COLUMNS)}
    kinds = {attr: kind for attr, _, kind in COLUMNS}
    out = []
    for vals in report_table(report):
        row = [str(vals[0])]
        for attr, _ in table_columns(report):
            v = vals[index[attr]]
            row.append(_pct(v) if kinds[attr] == "%" else str(v))
        out.append(row)
    return out


#: The label column's narrowest and widest width (a longer name folds).
LABEL_MIN, LABEL_MAX = 16, 48

#: Under the table: the abbreviation, and where every column is.
CAPTION = ("GQ: giải quyết. Tỷ lệ trễ hạn = (đang GQ quá hạn + đã GQ trễ hạn) / tổng số phải GQ; đúng và trước "
           "hạn = 100% − tỷ lệ trễ hạn (tính cả hồ sơ đang GQ chưa quá hạn, hồ sơ rút, dừng xử lý và hồ sơ của "
           "thủ tục không có thời hạn); đã GQ đúng và trước hạn = (trước hạn + đúng hạn) / số đã GQ có thời hạn. Mọi cột, với tên đầy đủ: --format csv, xlsx hoặc json.")

#: The width of the table when the output is not a terminal (a pipe, a file).
PIPED_WIDTH = 160


def _table(report, rows: list[list[str]], widths: dict[int, int], title: str | None,  # noqa: ANN001, ANN202
           caption: str | None = None):
    """A rich table of the label (``widths[-1]``) and the columns ``widths`` gives (:func:`table_columns` index ->
    width); every width is fixed, so rich never shrinks a column below its widest figure: headers fold instead."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from engine.reports import DIMENSION_LABELS

    t = Table(title=title, caption=caption, box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False,
              caption_justify="left")
    t.add_column(DIMENSION_LABELS[report.by], width=widths[-1], overflow="fold")
    columns = [c for c in widths if c >= 0]
    heads = table_columns(report)
    for c in columns:
        t.add_column(heads[c][1], justify="right", overflow="fold", width=widths[c])
    for i, r in enumerate(rows):
        t.add_row(escape(r[0]), *(r[c + 1] for c in columns), style="bold" if i == len(rows) - 1 else None)
    return t


def _overhead(figures: int) -> int:
    """The table's width beyond its columns' (:func:`_table`: the label and ``figures`` columns; padding, separators)."""
    return 3 * figures + 2


def _layout(report, rows: list[list[str]], width: int) -> list[dict[int, int]]:  # noqa: ANN001
    """The columns of each part of the table and their widths, so that each part fits ``width``.

    A figure column is at least as wide as its widest figure and its header's longest word; the
    columns go into a part while they fit; what is left of the width goes to the label (up to
    its longest name, :data:`LABEL_MAX`), then to the headers, so they fold in fewer lines.
    """
    from engine.reports import DIMENSION_LABELS

    heads = table_columns(report)
    least = {c: max(max(len(r[c + 1]) for r in rows), max(len(w) for w in head.split()))
             for c, (_, head) in enumerate(heads)}
    label_need = max(len(DIMENSION_LABELS[report.by]), *(len(r[0]) for r in rows))
    label_need = min(max(label_need, LABEL_MIN), LABEL_MAX)
    per_column = 3  # a space either side and a separator; the table's edges add 2 (:func:`_overhead`)
    parts: list[list[int]] = [[]]
    used = LABEL_MIN + _overhead(0)
    for c in least:
        if parts[-1] and used + per_column + least[c] > width:
            parts.append([])
            used = LABEL_MIN + _overhead(0)
        parts[-1].append(c)
        used += per_column + least[c]
    layouts = []
    for part in parts:
        widths = {-1: LABEL_MIN, **{c: least[c] for c in part}}
        spare = width - sum(widths.values()) - _overhead(len(part))
        grow = min(spare, label_need - LABEL_MIN) if spare > 0 else 0
        widths[-1] += grow
        spare -= grow
        while spare > 0:  # one more character for each header that still folds, shortest first
            folding = sorted((c for c in part if widths[c] < len(heads[c][1])), key=lambda c: widths[c])
            if not folding:
                break
            for c in folding[:spare]:
                widths[c] += 1
                spare -= 1
        layouts.append(widths)
    return layouts


def print_table(report, width: int | None = None, file=None) -> None:  # noqa: ANN001 - engine.reports.Report
    """Print the report as a table that fits: no figure is ever cropped or folded.

    On a terminal the table takes the terminal's width; when it cannot fit even with its
    headers folded it is printed in parts, the group's name repeated in each. Piped or
    redirected it is :data:`PIPED_WIDTH` wide (wider if it needs). ``width`` forces a width.
    ``file``: write it there (plain text, :data:`PIPED_WIDTH` wide) instead of standard output.
    """
    from rich.console import Console

    rows = _cells(report)
    if width is None:
        probe = Console()
        width = probe.width if probe.is_terminal and file is None else PIPED_WIDTH
    layouts = _layout(report, rows, width)
    console = Console(width=max(width, *(sum(w.values()) + _overhead(len(w) - 1) for w in layouts)),
                      highlight=False, soft_wrap=False, file=file, no_color=file is not None)
    for i, widths in enumerate(layouts):
        title = report.title
        if len(layouts) > 1:
            title = f"{report.title} ({i + 1}/{len(layouts)})" if i == 0 else f"({i + 1}/{len(layouts)})"
        last = i == len(layouts) - 1
        console.print(_table(report, rows, widths, title, CAPTION if last else None))


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to the ``quytrinh`` app."""

    @app.command("report")
    def report_command(
        start: str = typer.Option(..., "--from", help="Ngày đầu kỳ báo cáo (YYYY-MM-DD)."),
        end: str = typer.Option(..., "--to", help="Ngày cuối kỳ báo cáo (YYYY-MM-DD, tính cả ngày này)."),
        by: Dimension = typer.Option("procedure", "--by",
                                     help="Nhóm theo unit (đơn vị), procedure (thủ tục), field (lĩnh vực), "
                                          "level (cấp), channel (hình thức nộp) hoặc commune (xã, thị trấn)."),
        fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="table, csv, xlsx hoặc json."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", dir_okay=False,
                                           help="Ghi ra tệp này (bắt buộc với xlsx; bảng: văn bản thuần)."),
        now: Optional[str] = typer.Option(None, "--now",
                                          help="Thời điểm hiện tại (YYYY-MM-DDTHH:MM giờ Việt Nam; mặc định: bây giờ)."),
    ) -> None:
        """Báo cáo tình hình giải quyết: tiếp nhận, tồn kỳ trước, đang giải quyết, đã giải quyết theo hạn, tỷ lệ trễ hạn và đúng hạn."""
        import json

        from engine.reports import report_csv, report_xlsx, timeliness_report
        from quytrinh.commands._common import write_error
        from quytrinh.commands.dossier import guarded, open_store, parse_now

        from quytrinh.commands._common import parse_period

        lo, hi = parse_period(start, end)
        if fmt == OutputFormat.xlsx and out is None:
            raise localized(QuytrinhError("--format xlsx ghi ra một bảng tính: hãy cho tên tệp bằng --out FILE.xlsx."))
        instant = parse_now(now)

        @guarded
        def build():  # noqa: ANN202
            return timeliness_report(open_store(), lo, hi, by.value, now=instant)

        report = build()
        if fmt == OutputFormat.table and out is None:
            print_table(report)
            return
        if fmt == OutputFormat.xlsx:
            assert out is not None
            try:
                report_xlsx(report, out)
            except OSError as exc:
                raise write_error(exc, out) from None
            print(f"Đã ghi báo cáo vào {out}.")
            return
        if fmt == OutputFormat.table:
            import io

            buffer = io.StringIO()
            print_table(report, file=buffer)
            text = "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())
        else:
            text = report_csv(report) if fmt == OutputFormat.csv else \
                json.dumps(report.as_dict(), ensure_ascii=False, indent=2) + "\n"
        if out is None:
            sys.stdout.write(text)
            return
        try:
            with open(out, "w", encoding="utf-8-sig" if fmt == OutputFormat.csv else "utf-8", newline="") as f:
                f.write(text)
        except OSError as exc:
            raise write_error(exc, out) from None
        print(f"Đã ghi báo cáo vào {out}.")
