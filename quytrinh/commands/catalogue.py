"""`quytrinh catalogue`: the list of procedures of the catalogue, one row each.

For each definition: national code, name, field, level, legal time limit,
number of steps, the working time its steps allocate (the longest path,
:func:`engine.graph.critical_path`), status, and the lint errors and warnings
it has — the open questions the reform office still has to settle. As a rich
table on the terminal, or as CSV (``--format csv``) for a spreadsheet.

Paths work as for ``quytrinh validate`` (default: the catalogue,
procedures_yaml/). Files that cannot be loaded are reported on stderr, located
(``path:line:col: rule-id: message``); the others are still listed, and the
exit code is 1. A units.yaml with problems is named as the problem, located: the
procedures are then listed without the unit checks (:func:`problems_summary`).
"""

from __future__ import annotations

import csv
import enum
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterable, List, Optional

import typer

if TYPE_CHECKING:  # engine.definition, engine.graph and engine.lint (networkx) are imported where used:
    from engine.definition import Catalogue, Definition  # not at the start-up of every command

#: Column headers, as the table and the CSV show them (Vietnamese: they are read by the reform office).
COLUMNS = ("Mã TTHC", "Tên thủ tục", "Lĩnh vực", "Cấp", "Thời hạn giải quyết", "Số bước",
           "Thời gian phân bổ", "Trạng thái", "Lỗi", "Cảnh báo", "Tệp")

#: How a level is written in the list.
LEVEL_LABELS = {"city": "Cấp tỉnh", "district": "Cấp huyện", "commune": "Cấp xã"}
_LEVEL_ORDER = {"city": 0, "district": 1, "commune": 2}


class OutputFormat(str, enum.Enum):
    table = "table"
    csv = "csv"


class Level(str, enum.Enum):
    district = "district"
    commune = "commune"


@dataclass(frozen=True)
class CatalogueRow:
    """One procedure of the catalogue as the list shows it."""

    code: str
    name: str
    field: str
    level: str
    legal_limit: str
    steps: int
    allocated_minutes: int | None
    status: str
    errors: int
    warnings: int
    file: str

    @property
    def allocated(self) -> str:
        """The allocated working time as written in process tables (``3 ngày``, ``105 phút``)."""
        from engine.definition import format_minutes

        return format_minutes(self.allocated_minutes)

    def cells(self) -> tuple[str, ...]:
        """The row's values in :data:`COLUMNS` order, as text."""
        from engine.definition import STATUS_LABELS

        return (self.code, self.name, self.field, LEVEL_LABELS.get(self.level, self.level), self.legal_limit,
                str(self.steps), self.allocated, STATUS_LABELS.get(self.status, self.status), str(self.errors),
                str(self.warnings), self.file)


def catalogue_row(defn: Definition, catalogue: Catalogue) -> CatalogueRow:
    """The list row of one definition (its lint findings counted against the catalogue's units)."""
    from engine.graph import critical_path
    from engine.lint import ERROR, WARNING, lint

    findings = lint(defn, catalogue.organisation)
    cp = critical_path(defn)
    return CatalogueRow(
        code=defn.code, name=defn.name, field=defn.field, level=defn.level,
        legal_limit=defn.time_limit.describe(), steps=len(defn.steps),
        allocated_minutes=cp.minutes if cp else None, status=defn.status,
        errors=sum(f.severity == ERROR for f in findings), warnings=sum(f.severity == WARNING for f in findings),
        file=defn.source)


def catalogue_rows(catalogue: Catalogue, level: str | None = None) -> list[CatalogueRow]:
    """Every loaded definition of the catalogue as a list row, sorted by level, field, code and name.

    Parameters
    ----------
    catalogue : Catalogue
        As :func:`engine.definition.load_catalogue` returns it (files that could not be loaded are
        in ``catalogue.problems`` and have no row).
    level : str, optional
        Keep only the definitions of this level (``district``, ``commune``).

    Returns
    -------
    list of CatalogueRow
    """
    defns = [d for d in catalogue.definitions if level is None or d.level == level]
    rows = [catalogue_row(d, catalogue) for d in defns]
    return sorted(rows, key=lambda r: (_LEVEL_ORDER.get(r.level, 9), r.field, r.code == "", r.code, r.name))


def write_csv(rows: Iterable[CatalogueRow], stream: IO[str]) -> None:
    """Write the rows as CSV: a header row (:data:`COLUMNS`), then one row per procedure."""
    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(row.cells())


def csv_text(rows: Iterable[CatalogueRow]) -> str:
    """The rows as CSV text (see :func:`write_csv`)."""
    out = io.StringIO()
    write_csv(rows, out)
    return out.getvalue()


def summary_line(rows: list[CatalogueRow]) -> str:
    """``91 thủ tục (81 cấp huyện, 10 cấp xã); 0 lỗi, 71 cảnh báo``."""
    by_level = {}
    for r in rows:
        by_level[r.level] = by_level.get(r.level, 0) + 1
    levels = ", ".join(f"{n} {LEVEL_LABELS.get(lv, lv).lower()}"
                       for lv, n in sorted(by_level.items(), key=lambda kv: _LEVEL_ORDER.get(kv[0], 9)))
    errors, warnings = sum(r.errors for r in rows), sum(r.warnings for r in rows)
    return f"{len(rows)} thủ tục ({levels or 'không có'}); {errors} lỗi, {warnings} cảnh báo"


#: Narrow headers of the terminal table (the CSV keeps :data:`COLUMNS`).
TABLE_COLUMNS = ("Mã TTHC", "Tên thủ tục", "Lĩnh vực", "Cấp", "Thời hạn", "Bước", "Phân bổ", "Trạng thái",
                 "Lỗi", "Cảnh báo")


#: The table's width in a file (``--out``) or when the output is not a terminal (a pipe).
PIPED_WIDTH = 200


def _short_limit(row: CatalogueRow) -> str:
    if row.legal_limit.startswith("trong ngày"):
        return "trong ngày"
    return row.legal_limit.replace(" làm việc", " LV")


def render_table(rows: list[CatalogueRow], width: int = 200, name_width: int = 60):
    """The rows as a rich table that fits ``width`` terminal columns.

    Long names are shortened with '…', the level and the limit abbreviated
    (``huyện``, ``3 ngày LV``, ``trong ngày``); below 140 columns the field is
    left out, below 110 the status too. The CSV keeps everything whole.
    """
    from rich import box
    from rich.table import Table

    from engine.definition import STATUS_LABELS

    columns = [c for c in TABLE_COLUMNS
               if not (c == "Lĩnh vực" and width < 140) and not (c == "Trạng thái" and width < 110)]
    table = Table(title="Danh mục quy trình nội bộ giải quyết thủ tục hành chính", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    for col in columns:
        table.add_column(col, justify="right" if col in ("Bước", "Lỗi", "Cảnh báo") else "left",
                         no_wrap=col not in ("Tên thủ tục", "Lĩnh vực", "Thời hạn"), overflow="fold",
                         min_width={"Tên thủ tục": 14, "Lĩnh vực": 10, "Thời hạn": 6}.get(col),
                         max_width=name_width if col == "Tên thủ tục" else 24 if col == "Lĩnh vực" else None,
                         ratio=1 if col == "Tên thủ tục" else None)
    for row in rows:
        name = row.name if len(row.name) <= name_width else row.name[: name_width - 1].rstrip() + "…"
        values = {
            "Mã TTHC": row.code or "–", "Tên thủ tục": name, "Lĩnh vực": row.field,
            "Cấp": LEVEL_LABELS.get(row.level, row.level).removeprefix("Cấp "), "Thời hạn": _short_limit(row),
            "Bước": str(row.steps), "Phân bổ": row.allocated,
            "Trạng thái": STATUS_LABELS.get(row.status, row.status), "Lỗi": str(row.errors),
            "Cảnh báo": str(row.warnings),
        }
        style = "red" if row.errors else ("yellow" if row.warnings else None)
        table.add_row(*(values[c] for c in columns), style=style)
    return table


def _write(out: Path, text: str, encoding: str) -> None:
    """Write ``text`` to ``out`` (a Vietnamese QuytrinhError naming the file and why, when it cannot be written)."""
    try:
        with open(out, "w", encoding=encoding, newline="") as f:
            f.write(text)
    except OSError as exc:
        from quytrinh.commands._common import write_error

        raise write_error(exc, out) from None


def run(paths: list[Path] | None, fmt: str = "table", level: str | None = None, out: Path | None = None) -> int:
    """List the definitions under ``paths`` (default: the catalogue); return the exit code.

    Load problems are printed on stderr, one located line each, and make the exit code 1;
    the definitions that loaded are still listed.
    """
    from engine.definition import load_catalogue

    try:
        catalogue = load_catalogue(paths or None)
        rows = catalogue_rows(catalogue, level)
    except Exception as exc:  # never a traceback: load_catalogue and lint already guard each file
        print(f"quytrinh catalogue: lỗi nội bộ ({type(exc).__name__}: {exc}); hãy báo cho người phát triển",
              file=sys.stderr)
        return 1
    from quytrinh.messages import located_text

    for problem in catalogue.problems:
        print(located_text(problem), file=sys.stderr)
    if fmt == OutputFormat.csv.value:
        if out is not None:
            # Excel reads a CSV as UTF-8 only when it starts with a byte-order mark.
            _write(out, csv_text(rows), "utf-8-sig")
        else:
            sys.stdout.write(csv_text(rows))
            sys.stdout.flush()
    else:
        import io

        from rich.console import Console

        # A file or a pipe gets every column, as `tasks` and `dossier show` do; a terminal its own width.
        wide = out is not None or not Console().is_terminal
        console = Console(file=io.StringIO() if out else None, width=PIPED_WIDTH if wide else None)
        console.print(render_table(rows, console.width))
        console.print(summary_line(rows))
        if out:
            _write(out, console.file.getvalue(), "utf-8")
    if out is not None:  # what went into the file, as form, decision and report say it
        print(f"{out}: danh mục quy trình nội bộ, {summary_line(rows)}", file=sys.stderr)
    if catalogue.problems:
        for line in problems_summary(catalogue):
            print(f"quytrinh catalogue: {line}", file=sys.stderr)
        return 1
    return 0


def problems_summary(catalogue: Catalogue) -> list[str]:
    """What the located problems printed above amount to, one line each: units.yaml (every row is then
    counted without the unit checks, so its "0 lỗi" is not a clean bill), the templates, and the definition
    files that did not load."""
    units = [p for p in catalogue.problems if Path(p.location.file).name == "units.yaml"]
    templates = [p for p in catalogue.problems if p not in units and "templates" in Path(p.location.file).parts]
    lines = []
    if units:
        more = f" và {len(units) - 1} lỗi khác" if len(units) > 1 else ""
        lines.append(f"units.yaml có lỗi ở {units[0].location}{more} (xem ở trên) nên chưa đọc được đơn vị: các thủ "
                     "tục vẫn được liệt kê nhưng chưa được kiểm tra theo đơn vị, vai trò (cột Lỗi, Cảnh báo chưa tính "
                     "các lỗi đó); hãy sửa units.yaml theo thông báo rồi chạy `quytrinh validate`")
    if templates:
        lines.append(f"mẫu quy trình (templates/) có lỗi ở {templates[0].location} (xem ở trên): thủ tục dùng mẫu "
                     "đó không nạp được; hãy sửa rồi chạy `quytrinh validate`")
    failed = len(catalogue.files) - len(catalogue.definitions)
    if failed or not lines:
        lines.append(f"{failed} tệp quy trình không nạp được (xem ở trên); hãy sửa rồi chạy `quytrinh validate`")
    return lines


def register(app: typer.Typer) -> None:
    """Add the ``catalogue`` command to the ``quytrinh`` app."""

    @app.command("catalogue")
    def catalogue_command(
        paths: Optional[List[Path]] = typer.Argument(
            None, exists=True,
            help="Tệp hoặc thư mục quy trình (mặc định: danh mục procedures_yaml/)."),
        fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f",
                                         help="table (bảng trên màn hình) hoặc csv (bảng tính)."),
        level: Optional[Level] = typer.Option(None, "--level", help="Chỉ một cấp: district (huyện) hoặc commune (xã)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", dir_okay=False,
                                           help="Ghi ra tệp này (tệp CSV có BOM để Excel đọc đúng tiếng Việt)."),
    ) -> None:
        """Danh mục thủ tục: mã, tên, lĩnh vực, cấp, thời hạn, số bước, thời gian phân bổ, trạng thái, cảnh báo."""
        code = run(paths, fmt.value, level.value if level else None, out)
        if code:
            raise typer.Exit(code)
