"""Printable documents: the draft approval decision and the one-stop forms.

Two families, one layout model:

* the **draft decision** (dự thảo Quyết định) approving the internal
  processes of a set of procedures, laid out as Decree 30/2020 requires, with
  its annex: per procedure, grouped by field, the step table, the total
  against the legal limit and the diagram (:func:`render_decision`);
* the **one-stop forms** filled from a dossier's real data — receipt and
  appointment, supplementation request, refusal, apology / extension, stop
  notice, process-control sheet — and the **ledger** of many dossiers
  (:func:`render_form`, :func:`render_ledger`). The form set is chosen by the
  legal regime in force when the dossier was received (:func:`form_set_for`):
  Circular 01/2018/TT-VPCP (6 forms) before 1/7/2025, Circular 03/2025/TT-VPCP
  (7 forms) from then on.

Each document is first built as a small list of blocks (:class:`Doc`), then
written either as a self-contained HTML page with print CSS (A4, A5 or A4
landscape) or as a Word file (python-docx). Everything a reader sees is
Vietnamese; nothing here reads the wall clock (``now`` is a parameter), but for the legal regime of a
draft decision left undated (today in Hanoi, :func:`today_hanoi`).
"""

from __future__ import annotations

import datetime as dt
import html
import io
import os
import re
import stat
import struct
import threading
import weakref
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from engine.calendar import to_local
from engine.definition import (
    MINUTES_PER_DAY,
    Catalogue,
    Definition,
    Organisation,
    Step,
    format_number,
    resolve_successor,
)
from engine.errors import NotFound, QuytrinhError
from engine.graph import allocated_minutes
from engine.yamlsrc import vn_count

# --------------------------------------------------------------------------- errors


class DocumentError(QuytrinhError):
    """A document cannot be produced (unknown form, missing data, bad option)."""


class FormNotApplicable(DocumentError):
    """The dossier has no such form (yet): e.g. a refusal for a dossier that was accepted.

    ``vi`` is the same in Vietnamese, for the people who asked (CLI and web print it as it is).
    """

    def __init__(self, message: str, vi: str):
        super().__init__(message)
        self.vi = vi


# --------------------------------------------------------------------------- Vietnamese formatting

#: Levels as written in titles.
LEVEL_AUTHORITY = {"district": "Ủy ban nhân dân cấp huyện", "commune": "Ủy ban nhân dân cấp xã"}


def vn_date(d: dt.date | dt.datetime | None, blank: str = "……") -> str:
    """``ngày 05 tháng 01 năm 2020`` (Decree 30: days < 10 and months 1–2 get a leading zero).

    A ``None`` date gives the blank form ``ngày …… tháng …… năm ……``.
    """
    if d is None:
        return f"ngày {blank} tháng {blank} năm {blank}"
    if isinstance(d, dt.datetime):
        d = to_local(d).date()
    month = f"{d.month:02d}" if d.month <= 2 else str(d.month)
    return f"ngày {d.day:02d} tháng {month} năm {d.year}"


def vn_instant(t: dt.datetime | None) -> str:
    """``08 giờ 30 phút, ngày 10 tháng 3 năm 2026`` in Hanoi time (blanks when ``None``)."""
    if t is None:
        return "…… giờ …… phút, ngày …… tháng …… năm ……"
    local = to_local(t)
    return f"{local:%H} giờ {local:%M} phút, {vn_date(local)}"


def short_instant(t: dt.datetime | None) -> str:
    """``08:30 10/03/2026`` in Hanoi time (empty when ``None``)."""
    return "" if t is None else f"{to_local(t):%H:%M %d/%m/%Y}"


def working_time_text(minutes: int | None, limit: Any = None, *, padded: bool = True) -> str:
    """A working duration as process tables write it: ``03 ngày làm việc``, ``0,5 ngày làm việc``,
    ``2 giờ làm việc``, ``1 giờ 45 phút làm việc``, ``30 phút``; the number and unit the step's box in the diagram says
    (:func:`engine.render.step_time_text`: never in days against a ``limit`` that is not in days), so that
    the table, the annex and the diagram agree ("2 giờ" in the box is "2 giờ làm việc" in the table, not
    "0,25 ngày làm việc"). ``padded=False``: ``3 ngày làm việc``, as a page says it beside a remaining time."""
    from engine.render import step_time_text

    if minutes is None:
        return "–"
    return _working_words(step_time_text(minutes, limit), padded=padded)


def _working_words(text: str, *, padded: bool = True) -> str:
    """``3 ngày`` -> ``03 ngày làm việc`` (days under 10 zero-padded, as the decisions write them, unless
    ``padded`` is False), ``2 giờ`` -> ``2 giờ làm việc``, ``1 giờ 45 phút`` -> ``1 giờ 45 phút làm việc``;
    minutes alone as they are ("15 phút": not said "phút làm việc")."""
    number, _, unit = text.partition(" ")
    if unit.startswith("giờ ") and unit.endswith(" phút"):  # hours and minutes: the words after the whole
        return f"{text} làm việc"
    if unit.startswith("ngày"):
        if padded and number.isdigit() and 0 < int(number) < 10:
            number = f"{int(number):02d}"
        return f"{number} ngày làm việc"
    if unit.startswith("giờ"):
        return f"{number} giờ làm việc"
    return text


def limit_text(limit: Any) -> str:
    """A legal time limit as the annex writes it, zero-padded like the step times: ``06 ngày làm việc``,
    ``15 ngày làm việc``, ``0,5 ngày làm việc``, ``4 giờ làm việc``, ``15 ngày`` (calendar days, as the law
    writes them); a same-day limit and a missing one as
    :meth:`TimeLimit.describe` says them."""
    if limit.unit == "same_day" or limit.value is None:
        return limit.describe()
    number = format_number(limit.value)
    if limit.unit == "working_hours":
        return f"{number} giờ làm việc"
    if float(limit.value).is_integer() and 0 < limit.value < 10:
        number = f"{int(limit.value):02d}"
    return f"{number} ngày" if limit.unit == "calendar_days" else f"{number} ngày làm việc"


def duration_short(minutes: int | None) -> str:
    """A short duration for the control sheet: ``1 ngày 2 giờ``, ``30 phút``."""
    if minutes is None:
        return ""
    days, rest = divmod(minutes, MINUTES_PER_DAY)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} ngày")
    if hours:
        parts.append(f"{hours} giờ")
    if mins or not parts:
        parts.append(f"{mins} phút")
    return " ".join(parts)


def _allotted_text(minutes: int | None, limit: Any = None) -> str:
    """A step's allotted working time on the control sheet, as the step's box in the diagram and the step
    table (less "làm việc") say it (:func:`engine.render.step_time_text`: ``0,5 ngày``, ``1 giờ 45 phút``;
    "1,5 ngày", not the ``1 ngày 4 giờ`` of :func:`duration_short`, which the sheet keeps for the time
    spent)."""
    from engine.render import step_time_text

    return "" if minutes is None else step_time_text(minutes, limit)


def code_note(defn: Definition, label: str = "Mã TTHC") -> str:
    """`` (Mã TTHC: 1.001193)`` after a procedure's name, or nothing for a procedure without its national
    code (never an empty "(Mã TTHC: )", nor its file's name)."""
    return f" ({label}: {defn.code})" if defn.code else ""


_PLACE_PREFIXES = ("ủy ban nhân dân", "uỷ ban nhân dân", "ubnd")
_ADMIN_WORDS = ("thành phố", "thị trấn", "thị xã", "huyện", "quận", "phường", "xã", "tỉnh")


def agency_lines(organisation_name: str) -> list[str]:
    """The agency block of the header: ``["ỦY BAN NHÂN DÂN", "HUYỆN GIA LÂM"]``."""
    name = organisation_name.strip()
    if not name:
        return ["ỦY BAN NHÂN DÂN", "……………"]
    low = name.lower()
    for prefix in _PLACE_PREFIXES:
        if low.startswith(prefix):
            rest = name[len(prefix):].strip()
            return ["ỦY BAN NHÂN DÂN", rest.upper() or "……………"]
    return [name.upper()]


def place_from_organisation(organisation_name: str) -> str:
    """The place name of the date line: ``Ủy ban nhân dân huyện Gia Lâm`` -> ``Gia Lâm`` (blank if unknown)."""
    low = organisation_name.strip()
    for prefix in _PLACE_PREFIXES:
        if low.lower().startswith(prefix):
            low = low[len(prefix):].strip()
            break
    else:
        return ""
    for word in _ADMIN_WORDS:
        if low.lower().startswith(word + " "):
            return low[len(word):].strip()
    return low


def _local_area(organisation_name: str) -> str:
    """``huyện Gia Lâm`` out of ``Ủy ban nhân dân huyện Gia Lâm``."""
    low = organisation_name.strip()
    for prefix in _PLACE_PREFIXES:
        if low.lower().startswith(prefix):
            return low[len(prefix):].strip()
    return low


# --------------------------------------------------------------------------- layout model


@dataclass
class Run:
    """A piece of text with one style."""

    text: str
    bold: bool = False
    italic: bool = False
    size: float | None = None  # points; None: the document's body size


@dataclass
class Para:
    """A paragraph."""

    runs: list[Run]
    align: str = "justify"  # left | center | right | justify
    indent: bool = False  # first-line indent (1,27 cm)
    size: float | None = None
    space_after: float = 6
    css: str = ""  # extra HTML class
    nowrap: bool = False  # Word: its column is widened to hold it on one line (the national name)


def P(text: str = "", *, bold: bool = False, italic: bool = False, align: str = "justify", indent: bool = False,
      size: float | None = None, space_after: float = 6, css: str = "", nowrap: bool = False) -> Para:
    """A one-run paragraph."""
    return Para([Run(text, bold, italic)], align, indent, size, space_after, css, nowrap)


@dataclass
class Rule:
    """A horizontal line under a heading block (``fraction`` of the column width)."""

    fraction: float = 0.4


@dataclass
class Cell:
    """A table cell: paragraphs, and spans for merged header cells."""

    paras: list[Para]
    colspan: int = 1
    rowspan: int = 1
    bold: bool = False


def C(text: str = "", *, bold: bool = False, italic: bool = False, align: str = "left", colspan: int = 1,
      rowspan: int = 1) -> Cell:
    """A cell holding one paragraph per line of ``text``."""
    lines = text.split("\n") if text else [""]
    return Cell([Para([Run(line, bold, italic)], align, space_after=0) for line in lines], colspan, rowspan, bold)


@dataclass
class Table:
    """A ruled table: header rows (with spans), body rows, relative column widths."""

    header: list[list[Cell]]
    rows: list[list[Cell]]
    widths: Sequence[float]
    size: float | None = None
    css: str = ""


@dataclass
class Columns:
    """An unruled two-column block (document header, signatures): each column a list of blocks."""

    columns: list[list[Any]]
    widths: Sequence[float] = (1.0, 1.0)


@dataclass
class Picture:
    """A diagram: SVG for HTML, PNG for Word; ``width`` mm when given (already fitted by whoever sized it),
    else fitted to the text width."""

    svg: Callable[[], bytes]
    png: Callable[[], bytes]
    alt: str = ""
    width: float | None = None


@dataclass
class PageBreak:
    """Start a new page."""


@dataclass
class Section:
    """Start a new page with its own paper (a landscape page for a wide diagram) and, with ``restart``,
    its own page numbering from 1 (an annex: Decree 30 paginates annexes separately). ``first_numbered``:
    whether the first page of a restarted numbering shows its number (Decree 30: not on page 1).

    Word: a new section. HTML: a named ``@page`` (size, margins) for the pages of what follows, numbered
    by a CSS counter of its own from the last restart (see :func:`to_html`)."""

    paper: "Paper"
    restart: bool = False
    first_numbered: bool = False


@dataclass
class Paper:
    """Paper and margins (mm)."""

    name: str
    width: float
    height: float
    top: float
    bottom: float
    left: float
    right: float

    @property
    def text_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def text_height(self) -> float:
        return self.height - self.top - self.bottom


#: Decree 30/2020: top/bottom 20–25 mm, left 30–35 mm, right 15–20 mm.
A4 = Paper("A4", 210, 297, 20, 20, 30, 17)
A4_LANDSCAPE = Paper("A4 landscape", 297, 210, 20, 15, 20, 15)
A5 = Paper("A5", 148, 210, 10, 10, 15, 10)


@dataclass
class Doc:
    """A document: paper, body font size and blocks."""

    title: str
    paper: Paper
    blocks: list[Any]
    size: float = 14
    draft: bool = False  # print the "DỰ THẢO" mark
    page_numbers: bool = False  # Decree 30: centred in the top margin, none on page 1
    note: str = ""  # shown on screen only (HTML), e.g. that the form wording is unverified


FONT = "Times New Roman"


# --------------------------------------------------------------------------- HTML writer

_ALIGN_CSS = {"left": "left", "center": "center", "right": "right", "justify": "justify"}


def _h(text: str) -> str:
    return html.escape(text, quote=True)


def _html_para(p: Para, tag: str = "p") -> str:
    style = [f"text-align:{_ALIGN_CSS[p.align]}", f"margin:0 0 {p.space_after}pt 0"]
    if p.indent:
        style.append("text-indent:1.27cm")
    if p.size:
        style.append(f"font-size:{p.size}pt")
    inner = []
    for r in p.runs:
        t = re.sub(r"  +", lambda m: "&nbsp;" * len(m.group(0)), _h(r.text))  # blanks to fill in keep their width
        rs = []
        if r.size:
            rs.append(f"font-size:{r.size}pt")
        if r.bold:
            t = f"<b>{t}</b>"
        if r.italic:
            t = f"<i>{t}</i>"
        inner.append(f'<span style="{";".join(rs)}">{t}</span>' if rs else t)
    cls = f' class="{p.css}"' if p.css else ""
    return f'<{tag}{cls} style="{";".join(style)}">{"".join(inner) or "&nbsp;"}</{tag}>'


def _svg_inline(data: bytes) -> str:
    text = data.decode("utf-8")
    text = re.sub(r"<\?xml[^>]*\?>", "", text)
    text = re.sub(r"<!DOCTYPE[^>]*>", "", text, flags=re.S)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    return text.strip()


def _html_blocks(blocks: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Para):
            out.append(_html_para(b))
        elif isinstance(b, Rule):
            out.append(f'<hr class="rule" style="width:{b.fraction * 100:.0f}%">')
        elif isinstance(b, Table):
            widths = sum(b.widths)
            cols = "".join(f'<col style="width:{w / widths * 100:.1f}%">' for w in b.widths)
            size = f' style="font-size:{b.size}pt"' if b.size else ""
            rows = []
            for tr in b.header:
                rows.append("<tr>" + "".join(_html_cell(c, "th") for c in tr) + "</tr>")
            head = f"<thead>{''.join(rows)}</thead>" if rows else ""
            body = "".join("<tr>" + "".join(_html_cell(c, "td") for c in tr) + "</tr>" for tr in b.rows)
            cls = f"grid {b.css}".strip()
            out.append(f'<table class="{cls}"{size}><colgroup>{cols}</colgroup>{head}<tbody>{body}</tbody></table>')
        elif isinstance(b, Columns):
            total = sum(b.widths)
            cells = "".join(f'<td style="width:{w / total * 100:.1f}%">{"".join(_html_blocks(col))}</td>'
                            for col, w in zip(b.columns, b.widths))
            out.append(f'<table class="cols"><tr>{cells}</tr></table>')
        elif isinstance(b, Picture):
            width = f' style="width:{b.width:.1f}mm"' if b.width else ""
            out.append(f'<figure class="diagram"{width} aria-label="{_h(b.alt)}">{_svg_inline(b.svg())}</figure>')
        elif isinstance(b, PageBreak):
            out.append('<div class="page-break"></div>')
        else:  # pragma: no cover - a programming error
            raise TypeError(f"unknown block {b!r}")
    return out


def _html_cell(c: Cell, tag: str) -> str:
    span = ""
    if c.colspan > 1:
        span += f' colspan="{c.colspan}"'
    if c.rowspan > 1:
        span += f' rowspan="{c.rowspan}"'
    inner = "".join(_html_para(p, "div") for p in c.paras)
    return f"<{tag}{span}>{inner}</{tag}>"


def _segments(doc: Doc) -> list[tuple[Section | None, list[Any]]]:
    """The document cut at its :class:`Section` blocks: (the section or None for the start, its blocks)."""
    out: list[tuple[Section | None, list[Any]]] = [(None, [])]
    for b in doc.blocks:
        if isinstance(b, Section):
            out.append((b, []))
        else:
            out[-1][1].append(b)
    return out


def _page_css(name: str, p: Paper, counter: str | None, numbered: bool) -> str:
    """A named ``@page`` rule: paper, margins and, when numbered, the number centred in the top margin."""
    number = f' @top-center {{ content: counter({counter}); font-size: 13pt; vertical-align: middle; }}' \
        if counter and numbered else ""
    inc = f" counter-increment: {counter};" if counter and counter != "page" else ""
    return (f"@page {name} {{ size: {p.width:g}mm {p.height:g}mm; margin: {p.top:g}mm {p.right:g}mm "
            f"{p.bottom:g}mm {p.left:g}mm;{inc}{number} }}")


def to_html(doc: Doc) -> bytes:
    """Write a document as one self-contained HTML page (print CSS for its paper size).

    Each :class:`Section` starts a new sheet on screen and, in print, a named page of its own paper
    (CSS ``page``; a change of named page is a page break). Page numbers (``doc.page_numbers``) are
    printed in the ``@top-center`` margin box: ``counter(page)`` until the first restarting section, none
    on page 1; after a restart a counter of its own (``counter-increment`` in the ``@page`` rule), so an
    annex counts from 1. CSS cannot single out the first page of such a group in Chromium, so the
    annex's first page shows its "1".

    On screen the sheets keep their paper's width inside a box of the window's width that scrolls
    sideways (``.pages``; a phone scrolls the sheet, not the page). A draft's "DỰ THẢO" mark sits in
    the first sheet's top padding on screen, and in print at the top of page 1's text area, in the flow
    (Chromium clips what is drawn in a page margin).
    """
    p = doc.paper
    size = f"{p.width:g}mm {p.height:g}mm"
    segments = _segments(doc)
    pages = []
    group = None  # the counter of the current numbering (None: the document's own, "page")
    for i, (sec, _) in enumerate(segments[1:], 1):
        if sec.restart:
            group = f"pages{i}"
        pages.append(_page_css(f"s{i}", sec.paper, group or "page", doc.page_numbers))
    numbering = ""
    if doc.page_numbers:
        numbering = ("@page { @top-center { content: counter(page); font-size: 13pt; vertical-align: middle; } }\n"
                     "@page :first { @top-center { content: none; } }\n")
    for i, (sec, _) in enumerate(segments[1:], 1):
        sp = sec.paper
        pages.append(f".s{i} {{ page: s{i}; }}\n@media screen {{ .sheet.s{i} {{ width: {sp.text_width:g}mm; "
                     f"min-height: {sp.text_height:g}mm; padding: {sp.top:g}mm {sp.right:g}mm {sp.bottom:g}mm "
                     f"{sp.left:g}mm; }} }}")
    named = "\n".join(pages)
    css = f"""
@page {{ size: {size}; margin: {p.top:g}mm {p.right:g}mm {p.bottom:g}mm {p.left:g}mm; }}
{numbering}{named}
html {{ background: #e6e6e6; }}
body {{ font-family: "{FONT}", "Liberation Serif", "DejaVu Serif", serif; font-size: {doc.size:g}pt;
  line-height: 1.2; color: #000; margin: 0; }}
.sheet {{ background: #fff; width: {p.text_width:g}mm; min-height: {p.text_height:g}mm; margin: 8mm auto;
  padding: {p.top:g}mm {p.right:g}mm {p.bottom:g}mm {p.left:g}mm; box-shadow: 0 0 4px #999; position: relative; }}
table {{ border-collapse: collapse; width: 100%; }}
table.cols td {{ vertical-align: top; padding: 0; border: none; }}
table.grid {{ margin: 0 0 6pt 0; page-break-inside: auto; }}
table.grid th, table.grid td {{ border: 0.6pt solid #000; padding: 2pt 4pt; vertical-align: top; }}
table.grid th {{ font-weight: bold; text-align: center; vertical-align: middle; }}
table.grid tr {{ page-break-inside: avoid; }}
table.grid thead {{ display: table-header-group; }}
hr.rule {{ border: none; border-top: 0.8pt solid #000; margin: 3.5pt auto 6pt auto; height: 0; }}
figure.diagram {{ margin: 6pt auto; page-break-inside: avoid; }}
figure.diagram svg {{ width: 100%; height: auto; max-height: {p.text_height - 20:g}mm; }}
figure.diagram[style] {{ margin: 0 auto; }}
figure.diagram[style] svg {{ max-height: none; display: block; }}
.page-break {{ page-break-after: always; break-after: page; height: 0; }}
.draft-mark {{ position: absolute; top: 6mm; right: {p.right:g}mm; border: 1.2pt solid #000; padding: 1pt 6pt;
  font-weight: bold; }}
.screen-note {{ font-family: sans-serif; font-size: 9pt; color: #8a4b00; background: #fff6e0;
  padding: 4pt 8pt; margin: 0 auto; width: {p.text_width:g}mm; max-width: 100%; box-sizing: border-box; }}
@media screen {{ .pages {{ overflow-x: auto; }} }}
@media print {{
  html {{ background: none; }}
  .sheet {{ box-shadow: none; margin: 0; padding: 0; width: auto; min-height: 0; }}
  .draft-mark {{ position: static; width: max-content; margin: 0 2pt 6pt auto; }}  /* its right border clear of the clip */
  .screen-note {{ display: none; }}
}}
"""
    parts = ['<!DOCTYPE html>', '<html lang="vi">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{_h(doc.title)}</title>", f"<style>{css}</style>", "</head>", "<body>", '<div class="pages">']
    if doc.note:
        parts.append(f'<div class="screen-note">{_h(doc.note)}</div>')
    for i, (sec, blocks) in enumerate(segments):
        if sec is None:
            parts.append('<div class="sheet">')
            if doc.draft:
                parts.append('<div class="draft-mark">DỰ THẢO</div>')
        else:
            parts.append(f'<div class="sheet s{i}">')
        parts.extend(_html_blocks(blocks))
        parts.append("</div>")
    parts.append("</div></body></html>")
    return "\n".join(parts).encode("utf-8")


# --------------------------------------------------------------------------- Word writer


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height in pixels of a PNG image."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise DocumentError("the diagram is not a PNG image")
    return struct.unpack(">II", data[16:24])


def to_docx(doc: Doc) -> bytes:
    """Write a document as a Word file (python-docx): paper, margins, Times New Roman, tables, pictures."""
    import docx
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.shared import Mm, Pt

    d = docx.Document()
    sec = d.sections[0]
    p = doc.paper
    _paper(sec, p)
    for style_name in ("Normal", "Table Grid"):
        try:
            st = d.styles[style_name]
        except KeyError:  # pragma: no cover - present in python-docx's template
            continue
        st.font.name = FONT
        st.font.size = Pt(doc.size)
        _east_asian_font(st.element)
    d.styles["Normal"].paragraph_format.space_after = Pt(6)
    # Single spacing, as the HTML's line-height: python-docx's template defaults to 1.15 lines.
    d.styles["Normal"].paragraph_format.line_spacing = 1.0
    _core_properties(d, doc.title)
    if doc.page_numbers:
        _page_numbers(sec, doc.size)
    body = d
    if doc.draft:
        para = body.add_paragraph()
        para.alignment = _docx_align("center")
        r = para.add_run("DỰ THẢO")
        r.bold = True
        _box(para)
    _docx_blocks(body, doc.blocks, doc, Mm(p.text_width), WD_TABLE_ALIGNMENT)
    return _save(d)


#: The language of the Word files' text (Word's proofing language).
LANGUAGE = "vi-VN"


def _core_properties(d: Any, title: str) -> None:
    """The file's properties (Word's File > Info) and language: its title, in Vietnamese; none of python-docx's template
    ("python-docx" as the author, "generated by python-docx", a creation date of 2013), which a leader
    opening the draft decision would see. No dates: the same document gives the same file."""
    cp = d.core_properties
    cp.title = title
    cp.author = ""
    cp.comments = ""
    cp.last_modified_by = ""
    cp.language = LANGUAGE
    # The text's language: Vietnamese, not the template's en-US, under which Word underlines every word of a
    # Vietnamese document as a spelling mistake and offers English corrections.
    from docx.oxml.ns import qn

    for lang in d.styles.element.iter(qn("w:lang")):
        lang.set(qn("w:val"), LANGUAGE)
    for lang in d.settings.element.iter(qn("w:themeFontLang")):
        lang.set(qn("w:val"), LANGUAGE)
    element = cp._element
    for name in ("created", "modified", "lastPrinted"):
        for child in list(element):
            if child.tag.endswith("}" + name):
                element.remove(child)


#: Parts stored in the Word file's zip as they are: images are compressed already (deflating the draft
#: decision's 15 MB of PNG diagrams again took a third of a second and saved nothing).
STORED_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "gif"})


class _ZipWriter:
    """python-docx's zip writer (its ``PhysPkgWriter`` interface), but with images stored, not deflated."""

    def __init__(self, zf: zipfile.ZipFile):
        self.zf = zf

    def write(self, pack_uri: Any, blob: bytes) -> None:
        stored = pack_uri.ext.lower() in STORED_EXTENSIONS
        self.zf.writestr(pack_uri.membername, blob, compress_type=zipfile.ZIP_STORED if stored else None)


def _save(d: Any) -> bytes:
    """The bytes of a python-docx document: what ``Document.save`` writes, the same members in the same
    order, with images stored (:data:`STORED_EXTENSIONS`)."""
    from docx.opc.pkgwriter import PackageWriter

    package = d.part.package
    parts = package.parts
    for part in parts:
        part.before_marshal()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        writer = _ZipWriter(zf)
        PackageWriter._write_content_types_stream(writer, parts)
        PackageWriter._write_pkg_rels(writer, package.rels)
        PackageWriter._write_parts(writer, parts)
    return buf.getvalue()


def _paper(sec: Any, p: Paper) -> None:
    """Page size, orientation and margins of a Word section."""
    from docx.enum.section import WD_ORIENT
    from docx.shared import Mm

    sec.orientation = WD_ORIENT.LANDSCAPE if p.width > p.height else WD_ORIENT.PORTRAIT
    sec.page_width, sec.page_height = Mm(p.width), Mm(p.height)
    sec.top_margin, sec.bottom_margin = Mm(p.top), Mm(p.bottom)
    sec.left_margin, sec.right_margin = Mm(p.left), Mm(p.right)


def _docx_section(document: Any, b: Section) -> Any:
    """A new Word section on a new page: its paper; with ``restart``, page numbers from 1 (``w:pgNumType``),
    the first page without one unless ``first_numbered``. Headers stay linked to the previous section's
    (the centred PAGE field), so numbering otherwise runs on."""
    from docx.enum.section import WD_SECTION
    from docx.oxml.ns import qn

    sec = document.add_section(WD_SECTION.NEW_PAGE)
    _paper(sec, b.paper)
    sectpr = sec._sectPr
    for old in sectpr.findall(qn("w:pgNumType")):
        sectpr.remove(old)
    if b.restart:
        num = sectpr.makeelement(qn("w:pgNumType"), {qn("w:start"): "1"})
        # CT_SectPr order: ... pgMar, paperSrc, pgBorders, lnNumType, pgNumType, cols ...
        cols = sectpr.find(qn("w:cols"))
        if cols is not None:
            cols.addprevious(num)
        else:
            sectpr.append(num)
    sec.different_first_page_header_footer = b.restart and not b.first_numbered
    return sec


def _page_numbers(sec: Any, size: float) -> None:
    """A PAGE field centred in the header of every page but the first."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Pt

    sec.different_first_page_header_footer = True
    para = sec.header.paragraphs[0]
    para.alignment = _docx_align("center")
    for kind, text in (("begin", None), (None, "PAGE"), ("end", None)):
        run = para.add_run()
        run.font.size = Pt(size)
        if kind:
            el = OxmlElement("w:fldChar")
            el.set(qn("w:fldCharType"), kind)
        else:
            el = OxmlElement("w:instrText")
            el.set(qn("xml:space"), "preserve")
            el.text = text
        run._r.append(el)


def _east_asian_font(element: Any) -> None:
    from docx.oxml.ns import qn

    rpr = element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.append(fonts)
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attr), FONT)


def _docx_align(align: str) -> Any:
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    return {"left": WD_ALIGN_PARAGRAPH.LEFT, "center": WD_ALIGN_PARAGRAPH.CENTER,
            "right": WD_ALIGN_PARAGRAPH.RIGHT, "justify": WD_ALIGN_PARAGRAPH.JUSTIFY}[align]


def _box(para: Any) -> None:
    """A single border around a paragraph (the DỰ THẢO mark), at the right of the line."""
    from docx.oxml.ns import qn
    from docx.shared import Mm

    para.paragraph_format.left_indent = Mm(125)
    ppr = para._p.get_or_add_pPr()
    bdr = ppr.makeelement(qn("w:pBdr"), {})
    for side in ("top", "left", "bottom", "right"):
        bdr.append(bdr.makeelement(qn(f"w:{side}"), {qn("w:val"): "single", qn("w:sz"): "8", qn("w:space"): "1",
                                                      qn("w:color"): "000000"}))
    ppr.insert(0, bdr)


def _fill_para(para: Any, p: Para, doc: Doc, size: float | None = None) -> None:
    """Write ``p`` into a new, empty Word paragraph (python-docx's ``Paragraph``); ``size``: the points of
    runs that name none (a table's size).

    The XML is written directly, element for element what python-docx's setters write (alignment,
    spacing, indent; a run per :class:`Run` with its ``w:rPr`` and text, a tab as ``w:tab``, a line
    break as ``w:br``): those setters look each child up in the schema's order at every call, which made
    the paragraphs of the draft decision (6,300, most in the annex tables) a third of its Word file's time.
    """
    from docx.oxml.ns import qn

    el = para._p
    if len(el):  # pragma: no cover - a programming error
        raise TypeError("_fill_para writes into a new, empty paragraph")
    fmt = _para_xml(p.align, p.space_after, p.indent)
    ppr = el.makeelement(qn("w:pPr"), {})
    el.append(ppr)
    spacing = ppr.makeelement(qn("w:spacing"), {})
    spacing.set(qn("w:after"), fmt[0])
    spacing.set(qn("w:before"), fmt[1])
    ppr.append(spacing)
    if fmt[2] is not None:
        ind = ppr.makeelement(qn("w:ind"), {})
        ind.set(qn("w:firstLine"), fmt[2])
        ppr.append(ind)
    jc = ppr.makeelement(qn("w:jc"), {})
    jc.set(qn("w:val"), fmt[3])
    ppr.append(jc)
    for r in p.runs:
        run = el.makeelement(qn("w:r"), {})
        el.append(run)
        rpr = run.makeelement(qn("w:rPr"), {})
        run.append(rpr)
        if r.bold:
            rpr.append(rpr.makeelement(qn("w:b"), {}))
        if r.italic:
            rpr.append(rpr.makeelement(qn("w:i"), {}))
        sz = r.size or p.size or size
        if sz:
            rpr.append(rpr.makeelement(qn("w:sz"), {qn("w:val"): _half_points(sz)}))
        if r.text:
            _run_text(run, r.text)


def _para_xml(align: str, space_after: float, indent: bool) -> tuple[str, str, str | None, str]:
    """The attribute values python-docx writes for a paragraph's format: spacing after and before
    (twips), first-line indent (twips, or None) and ``w:jc``."""
    key = (align, space_after, indent)
    hit = _PARA_XML.get(key)
    if hit is None:
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.oxml.simpletypes import ST_SignedTwipsMeasure, ST_TwipsMeasure
        from docx.shared import Cm, Pt

        hit = (ST_TwipsMeasure.convert_to_xml(Pt(space_after)), ST_TwipsMeasure.convert_to_xml(Pt(0)),
               ST_SignedTwipsMeasure.convert_to_xml(Cm(1.27)) if indent else None,
               WD_ALIGN_PARAGRAPH.to_xml(_docx_align(align)))
        _PARA_XML[key] = hit
    return hit


_PARA_XML: dict[tuple[str, float, bool], tuple[str, str, str | None, str]] = {}
_HALF_POINTS: dict[float, str] = {}


def _half_points(size: float) -> str:
    """``w:sz`` of a font size (points), as python-docx writes it."""
    hit = _HALF_POINTS.get(size)
    if hit is None:
        from docx.oxml.simpletypes import ST_HpsMeasure
        from docx.shared import Pt

        hit = _HALF_POINTS[size] = ST_HpsMeasure.convert_to_xml(Pt(size))
    return hit


def _run_text(run: Any, text: str) -> None:
    """A run's text as python-docx's ``Run.text`` writes it: ``w:t`` pieces (``xml:space="preserve"``
    when one starts or ends with white space), a tab as ``w:tab``, a line break as ``w:br``."""
    from docx.oxml.ns import qn

    for piece in re.split(r"([\t\r\n])", text):
        if piece == "\t":
            run.append(run.makeelement(qn("w:tab"), {}))
        elif piece in ("\r", "\n"):
            run.append(run.makeelement(qn("w:br"), {}))
        elif piece:
            t = run.makeelement(qn("w:t"), {})
            t.text = piece
            if len(piece.strip()) < len(piece):
                t.set(qn("xml:space"), "preserve")
            run.append(t)


#: The gap (pt) between a short rule and the line above it (HTML: ``hr.rule`` margin-top).
RULE_GAP_PT = 3.5
#: Word cell margins (twips): left/right of a ruled table (the HTML pads 4 pt; Word's default is 108 = 1,9 mm);
#: the header columns (``Columns``) have none, as the HTML's ``padding: 0``.
GRID_CELL_MARGIN = 57
COLUMNS_CELL_MARGIN = 0

#: Approximate advance widths (em) of Times New Roman, to widen a fixed Word column to its longest word.
_NARROW = set("/.,:;!|'’iIjJlft")
_PAREN = set("()[]-")
_WIDE = {"m": 0.78, "w": 0.72, "M": 0.89, "W": 0.94}


def text_width_pt(text: str, size: float, bold: bool = False) -> float:
    """An estimate, on the generous side, of the width (pt) of ``text`` in Times New Roman."""
    import unicodedata

    em = 0.0
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch):
            continue
        if ch == " ":
            em += 0.25
        elif ch in _WIDE:
            em += _WIDE[ch]
        elif ch in _NARROW:
            em += 0.3
        elif ch in _PAREN:
            em += 0.34
        elif ch.isdigit():
            em += 0.5
        elif ch.isupper():
            em += 0.72
        else:
            em += 0.5
    return em * size * (1.04 if bold else 1.0)


def _para_need(p: Para, size: float, bold: bool = False, whole: bool = False) -> float:
    """Width (pt) a paragraph needs: its longest word, or with ``whole`` its whole text."""
    need = 0.0
    for r in p.runs:
        sz = r.size or p.size or size
        parts = [r.text] if whole else r.text.split()
        for w in parts:
            need = max(need, text_width_pt(w, sz, bold or r.bold))
    return need


def _table_needs(b: Any, doc: Doc, ncols: int) -> list[float]:
    """Per column, the width (pt, cell margins included) its longest unbreakable text needs: in a ruled
    table the longest word of a cell of one column; in header columns a ``nowrap`` paragraph whole."""
    needs = [0.0] * ncols
    if isinstance(b, Columns):
        for i, col in enumerate(b.columns):
            for p in col:
                if isinstance(p, Para) and p.nowrap:
                    needs[i] = max(needs[i], _para_need(p, doc.size, whole=True) + 2 * COLUMNS_CELL_MARGIN / 20)
        return needs
    occupied: set[tuple[int, int]] = set()
    all_rows = [(True, r) for r in b.header] + [(False, r) for r in b.rows]
    for ri, (is_head, cells) in enumerate(all_rows):
        ci = 0
        for c in cells:
            while (ri, ci) in occupied:
                ci += 1
            if ci >= ncols:
                break
            for dr in range(c.rowspan):
                for dc in range(c.colspan):
                    occupied.add((ri + dr, ci + dc))
            if c.colspan == 1:
                for p in c.paras:
                    needs[ci] = max(needs[ci], _para_need(p, b.size or doc.size, bold=is_head)
                                    + 2 * GRID_CELL_MARGIN / 20 + 1)
            ci += c.colspan
    return needs


def fit_widths(col_w: list[int], needs: list[int]) -> list[int]:
    """Widen the columns narrower than they need, taking the width from the others in proportion to what
    they can spare (the browser's automatic table layout does so in the HTML). Unchanged if nothing can give."""
    total = sum(col_w)
    short = [i for i, (w, n) in enumerate(zip(col_w, needs)) if w < n]
    if not short:
        return list(col_w)
    deficit = sum(needs[i] - col_w[i] for i in short)
    slack = {i: col_w[i] - needs[i] for i in range(len(col_w)) if i not in short and col_w[i] > needs[i]}
    spare = sum(slack.values())
    if spare < deficit:
        return list(col_w)
    out = list(col_w)
    for i in short:
        out[i] = needs[i]
    for i, sl in slack.items():
        out[i] -= int(deficit * sl / spare)
    widest = max(slack, key=lambda i: out[i])
    out[widest] += total - sum(out)
    return out


def _cell_margins(table: Any, side: int) -> None:
    """Left/right cell margins (twips) of a whole table, top/bottom 0 (``w:tblCellMar``)."""
    from docx.oxml.ns import qn

    tblpr = table._tbl.tblPr
    for old in tblpr.findall(qn("w:tblCellMar")):
        tblpr.remove(old)
    mar = tblpr.makeelement(qn("w:tblCellMar"), {})
    for name, w in (("top", 0), ("left", side), ("bottom", 0), ("right", side)):
        mar.append(mar.makeelement(qn(f"w:{name}"), {qn("w:w"): str(w), qn("w:type"): "dxa"}))
    look = tblpr.find(qn("w:tblLook"))
    # CT_TblPr order: ... tblBorders, shd, tblLayout, tblCellMar, tblLook, tblCaption, tblDescription
    if look is not None:
        look.addprevious(mar)
    else:
        tblpr.append(mar)


def _rule_para(container: Any, fraction: float, width: int) -> None:
    """A short centred line: an empty paragraph with a top border, indented to ``fraction`` of ``width`` (EMU)."""
    from docx.oxml.ns import qn
    from docx.shared import Emu, Pt

    para = container.add_paragraph()
    fmt = para.paragraph_format
    # 3.5 pt between the line above and the rule, as the HTML's hr.rule: clear of the dots under "Ệ", "ạ".
    fmt.space_after, fmt.space_before = Pt(4), Pt(RULE_GAP_PT)
    fmt.line_spacing = Pt(2)
    side = int(width * max(0.0, (1 - fraction) / 2))
    fmt.left_indent, fmt.right_indent = Emu(side), Emu(side)
    ppr = para._p.get_or_add_pPr()
    bdr = ppr.makeelement(qn("w:pBdr"), {})
    bdr.append(bdr.makeelement(qn("w:top"), {qn("w:val"): "single", qn("w:sz"): "6", qn("w:space"): "1",
                                             qn("w:color"): "000000"}))
    # pBdr must come before spacing/ind in CT_PPr's sequence.
    ppr.insert(0, bdr)


def _style_id(part: Any, name: str) -> str | None:
    """The id of the table style ``name`` in the document of ``part``, looked up once per document (python-docx
    reads the whole styles part at every ``table.style = name``)."""
    from docx.enum.style import WD_STYLE_TYPE

    ids = _STYLE_IDS.get(part)
    if ids is None:
        ids = _STYLE_IDS[part] = {}
    if name not in ids:
        ids[name] = part.get_style_id(name, WD_STYLE_TYPE.TABLE)
    return ids[name]


_STYLE_IDS: "weakref.WeakKeyDictionary[Any, dict[str, str | None]]" = weakref.WeakKeyDictionary()


def _table_style(table: Any, name: str) -> None:
    """``table.style = name``, the style's id looked up once per document."""
    table._tbl.tblStyle_val = _style_id(table.part, name)


def _cell_widths(table: Any, col_w: list[int]) -> None:
    """Every cell of a new python-docx table (one ``w:tc`` with a ``w:tcW`` per column) ``col_w`` EMU wide, as
    ``cell.width = Emu(w)`` writes it (in twips)."""
    from docx.oxml.ns import qn
    from docx.shared import Emu

    tc_w = [str(Emu(w).twips) for w in col_w]
    for tr in table._tbl.tr_lst:
        for tc, w in zip(tr.tc_lst, tc_w):
            tc.tcPr.tcW.set(qn("w:w"), w)


def _docx_blocks(container: Any, blocks: Iterable[Any], doc: Doc, width: int, table_align: Any) -> None:
    from docx.enum.text import WD_BREAK
    from docx.shared import Emu, Mm, Pt

    first = [True]
    text_height = doc.paper.text_height

    def new_para() -> Any:
        # A fresh table cell already holds one empty paragraph: use it first.
        if first[0] and hasattr(container, "paragraphs") and not hasattr(container, "sections") \
                and len(container.paragraphs) == 1 and not container.paragraphs[0].text:
            first[0] = False
            return container.paragraphs[0]
        first[0] = False
        return container.add_paragraph()

    for b in blocks:
        if isinstance(b, Section):
            if not hasattr(container, "sections"):  # pragma: no cover - a programming error
                raise TypeError("a Section may only be a top-level block")
            _docx_section(container, b)
            width = Mm(b.paper.text_width)
            text_height = b.paper.text_height
            continue
        if isinstance(b, Para):
            _fill_para(new_para(), b, doc)
        elif isinstance(b, Rule):
            if first[0] and hasattr(container, "paragraphs") and not hasattr(container, "sections"):
                first[0] = False
            _rule_para(container, b.fraction, width)
        elif isinstance(b, PageBreak):
            para = new_para()
            para.add_run().add_break(WD_BREAK.PAGE)
        elif isinstance(b, Picture):
            data = b.png()
            w, h = png_size(data)
            if b.width:
                pic_w = min(int(Mm(b.width)), width)
            else:
                max_h = Mm(min(200, text_height - 20))
                pic_w = width
                if h * pic_w / w > max_h:
                    pic_w = int(max_h * w / h)
            para = new_para()
            para.alignment = _docx_align("center")
            _add_picture(para, data, Emu(pic_w), b.alt)
        elif isinstance(b, (Table, Columns)):
            if isinstance(b, Table):
                ncols = len(b.widths)
                nrows = len(b.header) + len(b.rows)
                widths = b.widths
            else:
                ncols, nrows, widths = len(b.columns), 1, b.widths
            if first[0] and hasattr(container, "paragraphs") and not hasattr(container, "sections"):
                first[0] = False
            table = container.add_table(rows=nrows, cols=ncols)
            table.alignment = table_align.CENTER
            table.autofit = False
            total = sum(widths)
            col_w = [int(width * w / total) for w in widths]
            # Fixed widths: a column too narrow for its longest word would break it ("T/T", "28/11/202/6").
            col_w = fit_widths(col_w, [int(Pt(n)) for n in _table_needs(b, doc, ncols)])
            for i, col in enumerate(table.columns):
                col.width = Emu(col_w[i])
            _cell_widths(table, col_w)
            _cell_margins(table, COLUMNS_CELL_MARGIN if isinstance(b, Columns) else GRID_CELL_MARGIN)
            if isinstance(b, Columns):
                table.style = None
                for i, col_blocks in enumerate(b.columns):
                    cell = table.cell(0, i)
                    _docx_blocks(cell, col_blocks, doc, col_w[i], table_align)
            else:
                _table_style(table, "Table Grid")
                _fill_grid(table, b, doc, col_w, table_align)
        else:  # pragma: no cover
            raise TypeError(f"unknown block {b!r}")


class _Images:
    """The pictures of one Word document being written: its image parts by SHA-1, and the next shape id.

    python-docx's ``Run.add_picture`` hashes every image already in the package to find a duplicate, and
    searches the whole document for the largest id, at every picture: the 81 diagrams of the draft
    decision (15 MB) cost 1.5 s that way. Here both are taken once, at the document's first picture, and
    kept up to date as pictures are added (the pictures are the only elements with ids written)."""

    def __init__(self, part: Any):
        self.parts: dict[str, Any] = {}
        for image_part in part.package.image_parts:
            self.parts.setdefault(image_part.sha1, image_part)
        self.next_id: int = part.next_id
        # The numbers of the image parts' names (python-docx's _next_image_partname lists them at every
        # picture and looks each candidate up in that list: cubic in the pictures, 0,2 s for the ~150 pages
        # of diagrams of the district decision).
        self.numbers: set[int] = {image_part.partname.idx for image_part in part.package.image_parts}

    def add(self, package: Any, image: Any) -> Any:
        """A new image part for ``image``, named as python-docx names it: ``/word/media/image<n>.<ext>``
        with the smallest number not used yet."""
        from docx.opc.packuri import PackURI
        from docx.parts.image import ImagePart

        n = 1
        while n in self.numbers:
            n += 1
        image_part = ImagePart.from_image(image, PackURI(f"/word/media/image{n}.{image.ext}"))
        package.image_parts.append(image_part)
        self.numbers.add(n)
        self.parts[image.sha1] = image_part
        return image_part


#: Per document part being written (weakly: a part is forgotten with its document).
_IMAGES: "weakref.WeakKeyDictionary[Any, _Images]" = weakref.WeakKeyDictionary()


def _add_picture(para: Any, data: bytes, width: int, alt: str = "") -> None:
    """Append to ``para`` a run holding the picture ``data`` (PNG) ``width`` EMU wide, its height in
    proportion, with the alternative text ``alt``: what ``para.add_run().add_picture(...)`` writes (an
    image seen before in the document shares its part and relationship), in time proportional to the
    pictures' size. The image's bytes go into the file as they are."""
    from docx.image.image import Image
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.oxml.shape import CT_Inline

    part = para.part
    images = _IMAGES.get(part)
    if images is None:
        images = _IMAGES[part] = _Images(part)
    image = Image.from_blob(data)
    image_part = images.parts.get(image.sha1)
    if image_part is None:
        image_part = images.add(part.package, image)
    rid = part.relate_to(image_part, RT.IMAGE)
    cx, cy = image_part.image.scaled_dimensions(width, None)
    shape_id, images.next_id = images.next_id, images.next_id + 1
    inline = CT_Inline.new_pic_inline(shape_id, rid, image_part.image.filename, cx, cy)
    if alt:  # the alternative text, as the HTML's aria-label
        inline.docPr.set("descr", alt)
    para.add_run()._r.add_drawing(inline)


def grid_layout(b: Table, ncols: int) -> list[tuple[int, int, Cell]]:
    """Where each cell of a ruled table goes: (row, grid column, cell) of its top-left corner, header rows
    first, a cell taking the first column its row has free (rows above may span into it); cells past the
    last column are dropped."""
    out: list[tuple[int, int, Cell]] = []
    occupied: set[tuple[int, int]] = set()
    for ri, cells in enumerate([*b.header, *b.rows]):
        ci = 0
        for c in cells:
            while (ri, ci) in occupied:
                ci += 1
            if ci >= ncols:
                break
            if c.rowspan > 1 or c.colspan > 1:
                for dr in range(c.rowspan):
                    for dc in range(c.colspan):
                        occupied.add((ri + dr, ci + dc))
            out.append((ri, ci, c))
            ci += c.colspan
    return out


def _fill_grid(table: Any, b: Table, doc: Doc, col_w: list[int], table_align: Any) -> None:
    """Fill a new python-docx table of one cell per grid position with ``b``'s rows.

    Merged cells are written as Word stores them, as python-docx's ``_Cell.merge`` leaves them: the first
    ``w:tc`` of a span gets ``w:gridSpan`` and the widths of the cells it takes in (which go), the top one of
    a vertical span ``w:vMerge="restart"`` and those under it ``w:vMerge``. Each cell is addressed through
    its row's list: ``merge`` and ``Table.cell()`` walk the whole grid at every call, which made the 607
    merged rows of the draft decision's annex tables cost 2 s (and, before, a long ledger minutes)."""
    from docx.oxml.ns import qn
    from docx.oxml.simpletypes import ST_Merge
    from docx.shared import Length

    nhead = len(b.header)
    trs = table._tbl.tr_lst
    grid = [list(tr.tc_lst) for tr in trs]  # one w:tc per column, as add_table made them
    layout = grid_layout(b, len(col_w))
    for ri, ci, c in layout:
        if c.colspan == 1 and c.rowspan == 1:
            continue
        for dr in range(c.rowspan):
            row = grid[ri + dr]
            first = row[ci]
            tcpr = first.get_or_add_tcPr()
            if c.colspan > 1:
                taken = row[ci + 1:ci + c.colspan]
                if len(taken) < c.colspan - 1:  # pragma: no cover - python-docx's error, as merge raised it
                    from docx.exceptions import InvalidSpanError

                    raise InvalidSpanError("not enough grid columns")
                widths = [tc.width for tc in (first, *taken)]
                if all(widths):
                    tcpr.width = Length(sum(widths))
                tcpr.grid_span = c.colspan
                for tc in taken:
                    tc.getparent().remove(tc)
            if c.rowspan > 1:
                tcpr.vMerge_val = ST_Merge.RESTART if dr == 0 else ST_Merge.CONTINUE
    size = b.size
    for ri, ci, c in layout:
        tc = grid[ri][ci]
        is_head = ri < nhead
        for k, p in enumerate(c.paras):
            if k == 0:
                para_el = tc.p_lst[0]
            else:
                para_el = tc.makeelement(qn("w:p"), {})
                tc.append(para_el)
            if is_head:
                p = Para([Run(r.text, True, r.italic, r.size) for r in p.runs], "center", space_after=0)
            _fill_para(_Para(para_el), p, doc, size)
    for ri, tr in enumerate(trs):
        trpr = tr.get_or_add_trPr()
        # a row is never cut at the page foot (HTML: page-break-inside: avoid)
        trpr.append(trpr.makeelement(qn("w:cantSplit"), {}))
        if ri < nhead:  # repeat header rows on each page
            trpr.append(trpr.makeelement(qn("w:tblHeader"), {qn("w:val"): "true"}))


class _Para:
    """A bare paragraph element where :func:`_fill_para` wants python-docx's ``Paragraph``."""

    __slots__ = ("_p",)

    def __init__(self, p: Any):
        self._p = p


# --------------------------------------------------------------------------- common headers


NATIONAL = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"


def official_header(agency: list[str], *, number: str | None, place: str, date: dt.date | None,
                    parent: str | None = None, size: float = 13) -> Columns:
    """The Decree 30 header table: agency block and number left; national name, motto, place and date right."""
    left: list[Any] = []
    if parent:
        left.append(P(parent.upper(), align="center", size=size - 1, space_after=0))
    for line in agency:  # the issuing body: UPPER bold, every line of it (FORMS.md §A)
        left.append(P(line, bold=True, align="center", size=size - 1, space_after=0))
    left.append(Rule(0.35))
    if number is not None:
        left.append(P(number, align="center", size=size, space_after=0))
    right: list[Any] = [
        P(NATIONAL, bold=True, align="center", size=size - 1, space_after=0, nowrap=True),
        P(MOTTO, bold=True, align="center", size=size, space_after=0),
        Rule(0.75),
        P(f"{place or '……'}, {vn_date(date)}", italic=True, align="center", size=size, space_after=0),
    ]
    return Columns([left, right], (2, 3))


# --------------------------------------------------------------------------- the draft decision


@dataclass
class DecisionOptions:
    """What the draft decision says beyond the procedures."""

    level: str = "district"
    place: str | None = None  # None: derived from the organisation's name
    deputy: bool = False  # signed "KT. CHỦ TỊCH / PHÓ CHỦ TỊCH"
    date: dt.date | None = None  # left blank on a draft


def _responsible(step: Step, units: Mapping[str, Any]) -> str:
    if step.paused:
        return "Tổ chức, cá nhân"
    unit = units.get(step.unit or "")
    if unit is None:
        return step.unit or "Hệ thống"
    role = unit.roles.get(step.role or "") if step.role else None
    if unit.kind == "leadership" and role:
        return role
    if role and (role == unit.name or unit.name in role):  # "Công chức Tư pháp – Hộ tịch": the unit is one post
        return role
    return f"{role}, {unit.name}" if role else unit.name


def _produces(step: Step, forms: "FormSet | None" = None) -> str:
    """The forms and results of a step. ``BM01`` … ``BM06`` are the 2018 set's numbers (as definitions
    write them); ``forms`` is the set the decision cites, whose number and title are printed
    (``BM05``, the control sheet, is "Mẫu 06" of Circular 03/2025)."""
    out = []
    for item in step.produces:
        code = item.upper()
        spec = FORMS_2018.by_number(code[2:]) if code.startswith("BM") and code[2:].isdigit() else None
        if spec is not None and forms is not None and forms is not FORMS_2018:
            spec = forms.by_kind(spec.kind) or spec
        out.append(f"Mẫu {spec.number}: {spec.title.capitalize()}" if spec is not None else item)
    return "\n".join(out)


def _step_time(step: Step, limit: Any = None) -> str:
    if step.paused:
        return "Không tính thời gian"
    return working_time_text(step.duration, limit)


#: Column headers of the annex table.
ANNEX_COLUMNS = ("Bước", "Nội dung công việc", "Trách nhiệm thực hiện", "Thời gian thực hiện", "Biểu mẫu/Kết quả")


def total_line(defn: Definition) -> str:
    """``Tổng thời gian giải quyết TTHC: 03 ngày làm việc / thời hạn theo quy định: 03 ngày làm việc``."""
    from engine.render import total_text

    total = allocated_minutes(defn)
    legal = limit_text(defn.time_limit)
    said = "–" if total is None else _working_words(total_text(total, defn.time_limit))
    return f"Tổng thời gian giải quyết TTHC: {said} / thời hạn theo quy định: {legal}"


def decision_gap_groups(definitions: Sequence[Definition]) -> list[tuple[str, list[Definition]]]:
    """What the draft decision prints as a blank for want of data: (what, in Vietnamese, the procedures
    concerned), one per kind: procedures without their national code (printed "Mã TTHC: ……") or without
    a legal time limit ("thời hạn theo quy định: chưa xác định"). The reform office completes them before
    it is signed. The web page's bar names the procedures, the CLI their files (:func:`decision_gaps`)."""
    no_code = [d for d in definitions if not d.code]
    no_limit = [d for d in definitions if d.time_limit.unit != "same_day" and d.time_limit.minutes is None]
    out = []
    if no_code:
        out.append((f"{len(no_code)} quy trình chưa có mã TTHC (in “Mã TTHC: ……”)", no_code))
    if no_limit:
        out.append((f"{len(no_limit)} quy trình chưa xác định thời hạn giải quyết theo quy định", no_limit))
    return out


def decision_gaps(definitions: Sequence[Definition]) -> list[str]:
    """:func:`decision_gap_groups` as lines naming the procedures by their file (``ho-kinh-doanh``)."""
    return [f"{what}: {', '.join(d.key for d in defs)}" for what, defs in decision_gap_groups(definitions)]


#: The cases branch steps are grouped under in the annex, in this order (FORMS.md §C: "a) Đối với
#: trường hợp …").
ANNEX_CASES = {
    "supplement": "Đối với trường hợp hồ sơ chưa đầy đủ, hợp lệ, cần bổ sung, hoàn thiện",
    "refuse_reception": "Đối với trường hợp hồ sơ không đủ điều kiện tiếp nhận",
    "refuse": "Đối với trường hợp hồ sơ không đủ điều kiện giải quyết",
    "financial": "Đối với trường hợp phải thực hiện nghĩa vụ tài chính",
    "other": "Đối với các trường hợp khác",
}

#: The row that introduces the cases, under the total.
ANNEX_CASES_LEAD = "Các bước theo từng trường hợp (không cộng vào tổng thời gian giải quyết):"


@dataclass
class AnnexPlan:
    """How the annex lays out a procedure's steps.

    ``main``: the main path to the normal result, numbered Bước 1..n; its working times add up to the
    total row. ``parallel``: per main step id, the steps run at the same time as it (a parallel
    branch's shorter arm), each with the numbers of the main steps it runs alongside. ``cases``: the
    other steps (supplementation, refusal…), grouped by case: (case label, [(step, entered after these
    main step numbers; empty: after the step before it in the case)]).
    """

    main: list[Step]
    parallel: dict[str, list[tuple[Step, list[int]]]]
    cases: list[tuple[str, list[tuple[Step, list[int]]]]]

    def number(self, step_id: str) -> int | None:
        return next((i for i, s in enumerate(self.main, 1) if s.id == step_id), None)


def annex_plan(defn: Definition) -> AnnexPlan:
    """Split a definition's steps into the main path, its parallel arms and the cases (see :class:`AnnexPlan`).

    The main path is the longest working-time path (:func:`engine.graph.forward_graph`, citizen steps
    counting 0) from the start to a step returning the result, among the steps that lead to that result;
    ties go to the path with more steps (a citizen step paying fees is part of it), then to the table
    order. It is the critical path of :func:`engine.graph.critical_path` whenever the result path is the
    longest (every definition of the catalogue). A definition without a result step keeps its steps in
    table order.
    """
    import networkx as nx

    from engine.graph import forward_graph, result_terminals, step_graph, step_minutes

    steps = list(defn.steps)
    if not steps:
        return AnnexPlan([], {}, [])
    by_id = defn.steps_by_id()
    index = {st.id: i for i, st in enumerate(steps)}
    g = step_graph(defn)
    fwd = forward_graph(defn, g)
    results = [st.id for st in result_terminals(defn)]
    start = defn.start.id
    if not nx.is_directed_acyclic_graph(fwd):
        return AnnexPlan(steps, {}, [])
    reach = nx.descendants(fwd, start) | {start}
    leads = set(results).union(*(nx.ancestors(fwd, r) for r in results)) if results else set()
    main_set = reach & leads
    if not main_set or not (set(results) & main_set):
        return AnnexPlan(steps, {}, [])

    # Every step of main_set is reached from the start through main_set (the steps on the way to it
    # lead to the result too), so each one after the start has a predecessor already scored.
    sub = fwd.subgraph(main_set)
    best: dict[str, tuple[int, int, str | None]] = {}  # minutes, steps, predecessor on the best path
    for n in nx.topological_sort(sub):
        own = step_minutes(by_id[n])
        if n == start:
            best[n] = (own, 1, None)
            continue
        m, k, _, q = max((best[q][0], best[q][1], -index[q], q) for q in sub.predecessors(n))
        best[n] = (m + own, k + 1, q)
    ends = [r for r in results if r in best]
    end = max(ends, key=lambda r: (best[r][0], best[r][1], -index[r]))
    path = [end]
    while best[path[-1]][2] is not None:
        path.append(best[path[-1]][2])  # type: ignore[arg-type]
    path.reverse()
    on_path = set(path)
    number = {sid: i for i, sid in enumerate(path, 1)}

    parallel: dict[str, list[tuple[Step, list[int]]]] = {}
    alternatives: list[Step] = []
    forks = {t for st in steps for r in st.routes if r.parallel for t in r.targets}
    for st in steps:
        if st.id not in main_set or st.id in on_path:
            continue
        up, down = nx.ancestors(sub, st.id), nx.descendants(sub, st.id)
        alongside = [sid for sid in path if sid not in up and sid not in down]
        in_arm = any(f == st.id or f in up for f in forks if f not in on_path)
        if in_arm and alongside:
            parallel.setdefault(alongside[-1], []).append((st, [number[a] for a in alongside]))
        else:
            alternatives.append(st)

    def entries(st: Step) -> list[int]:
        return sorted({number[q] for q in g.predecessors(st.id) if q in number})

    branch = g.subgraph(set(g) - main_set)

    def roots(st: Step) -> set[str]:
        """The main steps a branch step is reached from, through branch steps only."""
        found: set[str] = set()
        for b in nx.ancestors(branch, st.id) | {st.id}:
            found.update(q for q in g.predecessors(b) if q in main_set)
        return found

    refusal_ends = {st.id for st in steps if st.terminal and st.ends == "refusal"}
    buckets: dict[str, list[tuple[Step, list[int]]]] = {}
    alt_cases: dict[str, list[tuple[Step, list[int]]]] = {}
    for st in alternatives:  # a shorter alternative way to the result: its case is the outcome taken into it
        route = next((r for q in g.predecessors(st.id) if q in on_path for r in by_id[q].routes
                      if st.id in r.targets), None)
        what = route.display if route is not None else ""
        label = f"Đối với trường hợp {what[:1].lower() + what[1:]}" if what else ANNEX_CASES["other"]
        alt_cases.setdefault(label, []).append((st, entries(st)))
    for st in steps:
        if st.id in main_set:
            continue
        after = entries(st)
        if st.paused:
            kind = "financial" if st.financial else "supplement"
        elif any(t == st.id or nx.has_path(branch, st.id, t) for t in refusal_ends):
            kind = "refuse_reception" if roots(st) == {start} else "refuse"
        else:
            kind = "other"
        buckets.setdefault(kind, []).append((st, after))
    cases = [(ANNEX_CASES[k], buckets[k]) for k in ("supplement", "refuse_reception", "refuse", "financial")
             if k in buckets]
    cases += list(alt_cases.items())
    if "other" in buckets:
        cases.append((ANNEX_CASES["other"], buckets["other"]))
    return AnnexPlan([by_id[sid] for sid in path], parallel, cases)


def _letter(i: int) -> str:
    return "abcdefghijklmnopqrstuvwxyz"[i] if i < 26 else str(i + 1)


def _after(numbers: Sequence[int]) -> str:
    return ("Sau Bước " + ", ".join(str(n) for n in numbers)) if numbers else "Tiếp theo"


@dataclass
class AnnexRow:
    """A row of a procedure's step table, as the annex numbers it (:func:`annex_rows`).

    ``kind``: ``step`` (``label`` "Bước 3", "Song song", "Sau Bước 2, 4" or "Tiếp theo"; ``time`` as the
    annex writes it), ``total`` (the total row's place), ``lead`` (the line introducing the cases),
    ``case`` ("a) Đối với trường hợp …") or ``loop`` (a bounded rework loop, one sentence in ``label``)."""

    kind: str
    label: str
    step: Step | None = None
    time: str = ""


def annex_rows(defn: Definition) -> list[AnnexRow]:
    """The rows of a procedure's step table in the annex's order and numbering (:func:`annex_plan`): the
    main path "Bước 1..n" with the steps run in parallel beside it, the total, then the cases. The leader's
    page (``quytrinh.web.routes_leader.step_rows``) numbers its table with it, so "Bước 5" is the same step
    on the page and on the signed paper."""
    plan = annex_plan(defn)
    limit = defn.time_limit
    rows: list[AnnexRow] = []
    for i, step in enumerate(plan.main, 1):
        rows.append(AnnexRow("step", f"Bước {i}", step, _step_time(step, limit)))
        for other, alongside in plan.parallel.get(step.id, []):
            with_ = ", ".join(str(n) for n in alongside)
            rows.append(AnnexRow("step", "Song song", other,
                                 f"{_step_time(other, limit)} (đồng thời với Bước {with_})"))
    rows.append(AnnexRow("total", ""))
    loops = _loops(plan)
    if plan.cases or loops:
        rows.append(AnnexRow("lead", ANNEX_CASES_LEAD))
        for k, (label, members) in enumerate(plan.cases):
            rows.append(AnnexRow("case", f"{_letter(k)}) {label}"))
            rows.extend(AnnexRow("step", _after(after), step, _step_time(step, limit)) for step, after in members)
        if loops:  # the bounded rework loops the diagram draws: the signed table names them too
            rows.append(AnnexRow("case", f"{_letter(len(plan.cases))}) {ANNEX_LOOPS}"))
            rows.extend(AnnexRow("loop", text) for text in loops)
    return rows


#: The case of the bounded rework loops (a check sends the dossier back, a leader does not approve).
ANNEX_LOOPS = "Đối với trường hợp phải làm lại hoặc không được phê duyệt"


def _loops(plan: AnnexPlan) -> list[str]:
    """One sentence per bounded route from a main-path step back to an earlier one: "Tại Bước 6, nếu
    “Làm lại”: trở lại Bước 3 (tối đa 2 lần)"."""
    out = []
    for i, step in enumerate(plan.main, 1):
        for route in step.routes:
            back = [plan.number(t) for t in route.targets]
            if route.max is not None and back and all(n is not None and n <= i for n in back):
                to = ", ".join(f"Bước {n}" for n in back)
                out.append(f"Tại Bước {i}, nếu “{route.display}”: trở lại {to} (tối đa {route.max} lần); thời gian "
                           "làm lại nằm trong thời hạn giải quyết")
    return out


def produces_text(step: Step, forms: "FormSet | None" = None, sep: str = "\n") -> str:
    """The forms and results of a step as the annex names them ("Mẫu 07: Sổ theo dõi hồ sơ" for ``BM06``
    in the 2025 set), joined by ``sep``."""
    return _produces(step, forms).replace("\n", sep)


def annex_table(defn: Definition, units: Mapping[str, Any], forms: "FormSet | None" = None) -> Table:
    """The step table of one procedure (``forms``: the set the decision cites).

    The main path first, numbered Bước 1..n, with the steps run in parallel beside the one they run
    alongside ("Song song", not counted); then the total row, which those numbered rows add up to;
    then, after a lead-in row, the other steps by case, "a) Đối với trường hợp …", each saying after
    which step it happens (:func:`annex_plan`).
    """
    rows = []
    for r in annex_rows(defn):
        if r.step is not None:
            rows.append([C(r.label, align="center"), C(r.step.name), C(_responsible(r.step, units)),
                         C(r.time, align="center"), C(_produces(r.step, forms))])
        elif r.kind == "total":
            rows.append([C(total_line(defn), bold=True, colspan=5)])
        elif r.kind == "lead":
            rows.append([C(r.label, italic=True, colspan=5)])
        elif r.kind == "loop":
            rows.append([C(r.label, colspan=5)])
        else:
            rows.append([C(r.label, bold=True, italic=True, colspan=5)])
    return Table([[C(h, bold=True, align="center") for h in ANNEX_COLUMNS]], rows, (1.3, 5, 3.6, 2.2, 2.6), size=12,
                 css="annex")


def _roman(n: int) -> str:
    vals = ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))
    out = ""
    for v, s in vals:
        while n >= v:
            out += s
            n -= v
    return out


def _count_text(n: int) -> str:
    return f"{n:02d}"


def select_procedures(catalogue: Catalogue, *, level: str = "district", codes: Sequence[str] | None = None
                      ) -> list[Definition]:
    """The procedures a draft decision covers.

    Parameters
    ----------
    catalogue:
        The loaded catalogue.
    level:
        ``district`` or ``commune``.
    codes:
        National codes (or file stems) to include; None: every procedure of the
        level that has no approving decision yet (``approval`` is None).

    Returns
    -------
    list[Definition]
        In catalogue order.

    Raises
    ------
    DocumentError
        Unknown level, unknown code, a code of another level, or nothing to approve.
    """
    if level not in LEVEL_AUTHORITY:
        raise DocumentError(f"unknown level '{level}'; use district or commune")
    if codes:
        out = []
        for code in codes:
            defn = catalogue.find(code)
            if defn is None:
                raise DocumentError(f"procedure '{code}' is not in the catalogue ({catalogue.root}); "
                                    "see `quytrinh catalogue` for the codes")
            if defn.level != level:
                raise DocumentError(f"procedure '{code}' ({defn.source}) is {defn.level}-level; "
                                    f"use --level {defn.level} or leave it out")
            if defn not in out:
                out.append(defn)
        return out
    out = [d for d in catalogue.definitions if d.level == level and d.approval is None]
    if not out:
        raise DocumentError(f"every {level}-level procedure of the catalogue already has an approving decision; "
                            "name procedures with --codes")
    return out


#: Direction of the annex diagrams: top to bottom, the lanes side by side, to fit an A4 page (the
#: catalogue's own diagrams, ``quytrinh render``, stay left to right).
ANNEX_DIRECTION = "TB"

#: The pages a diagram of the annex may get: A4 portrait (Decree 30 margins) or A4 landscape.
DIAGRAM_PAPERS = (A4, A4_LANDSCAPE)

#: Height (mm) kept on a diagram page for its caption: one short 12 pt line ("Sơ đồ Quy trình số 01", the
#: name is in the heading above the table) and its spacing, with a margin for Word's line metrics.
DIAGRAM_CAPTION_MM = 10
#: Room (mm) kept under the last diagram for the end mark "./." (a 14 pt line).
END_MARK_MM = 10
#: Height (mm) of one line of the badge under the caption of a diagram's first page (:func:`diagram_badge`):
#: a 12 pt line at the HTML page's 1,2 line height (5,1 mm; Word's single spacing of Times New Roman, 1,15,
#: is less) and its spacing.
BADGE_LINE_MM = 6

#: The largest enlargement of a diagram: a small process (or a page of a split one holding few steps) would
#: otherwise print its 11 pt text at 20 pt and more, and Word's 96 dpi PNG would blur.
DIAGRAM_MAX_SCALE = 1.5

#: The size (pt) of a step's name in a drawn diagram (``engine.render``: the nodes' fontsize); its
#: responsible role and working time are 10 pt, the routes' labels 9 pt.
STEP_TEXT_PT = 11.0
#: The smallest size (pt) a step's name may print at in the annex. A diagram that would print it smaller on
#: one page is split over several (:func:`diagram_pages`). 7 pt: the 91 procedures of the catalogue printed
#: their step names at 3,7–9,1 pt on one page, and under about 7 pt a leader reading the paper cannot make
#: out the stacked Vietnamese diacritics ("ệ", "ở"); DejaVu Sans has a large x-height (0,55 em against
#: Times New Roman's 0,45), so 7 pt reads as about 8,5 pt of the decision's own face. The 10 pt lines
#: (role and working time) then print at 6,4 pt or more, the 9 pt route labels at 5,7 pt or more.
MIN_PRINTED_PT = 7.0


def diagram_badge(defn: Definition) -> str:
    """The badge of a procedure's diagram in the annex, said on its first page's caption line (or under it,
    when the two do not fit on one line): the total working time against the legal limit, as the web
    diagram's header says it (:func:`engine.render.header_lines`: the critical path's working time, in
    working days when the limit is in days), with "(vượt thời hạn)" when the total exceeds the limit; its
    figures written as the annex writes them, in the step table's total row (:func:`total_line`) and the
    line "Thời hạn giải quyết theo quy định" (:func:`limit_text`): "03 ngày làm việc", not the header's
    "3 ngày làm việc", so that the document says one total one way."""
    from engine.graph import critical_path
    from engine.render import total_text

    cp = critical_path(defn)
    total = "–" if cp is None else _working_words(total_text(cp.minutes, defn.time_limit))
    time = f"Thời gian giải quyết: tổng {total} / thời hạn {limit_text(defn.time_limit)}"
    limit = defn.time_limit.minutes
    over = cp is not None and limit is not None and cp.minutes > limit
    return time + (" (vượt thời hạn)" if over else "")


def badge_mm(text: str) -> float:
    """The room (mm) the badge ``text`` takes under a caption: :data:`BADGE_LINE_MM` per line it takes on
    the narrowest diagram page (A4 portrait), its width estimated on the generous side
    (:func:`text_width_pt`, 12 pt)."""
    narrowest = min(p.text_width for p in DIAGRAM_PAPERS) * 72 / 25.4
    return BADGE_LINE_MM * max(1, -(-text_width_pt(text, 12) // narrowest))


def diagram_fit(width_pt: float, height_pt: float, reserve_mm: float = 0) -> tuple[Paper, float]:
    """The page and scale of an annex diagram of this natural size (points): the paper of
    :data:`DIAGRAM_PAPERS` on which it is drawn largest, as large as its text area less the caption
    allows (enlarged up to :data:`DIAGRAM_MAX_SCALE`). Returns (paper, scale); the printed width is
    ``scale`` × the natural width. ``reserve_mm`` more is kept free under it (the end mark "./." after
    the last diagram, so that it does not go to a page of its own)."""
    mm = 25.4 / 72
    best: tuple[float, Paper] | None = None
    for paper in DIAGRAM_PAPERS:
        scale = min(paper.text_width / (width_pt * mm), (paper.text_height - DIAGRAM_CAPTION_MM - reserve_mm)
                    / (height_pt * mm),
                    DIAGRAM_MAX_SCALE)
        if best is None or scale > best[0] + 1e-9:
            best = (scale, paper)
    assert best is not None
    return best[1], best[0]


def fitted_text_pt(width_pt: float, height_pt: float, reserve_mm: float = 0) -> float:
    """The size (pt) a step's name prints at when a diagram of this natural size (points) is fitted to an
    annex page by :func:`diagram_fit`."""
    return STEP_TEXT_PT * diagram_fit(width_pt, height_pt, reserve_mm)[1]


def _svg_size(data: bytes) -> tuple[float, float]:
    m = re.search(rb'<svg[^>]*?width="([\d.]+)pt"[^>]*?height="([\d.]+)pt"', data, re.S)
    if not m:
        raise DocumentError("the diagram has no size in points")
    return float(m.group(1)), float(m.group(2))


def _halves(ids: Sequence[str]) -> list[tuple[str, ...]]:
    cut = (len(ids) + 1) // 2
    return [tuple(ids[:cut]), tuple(ids[cut:])]


def diagram_pages(defn: Definition, size_of: Callable[[list[Any]], list[tuple[float, float]]],
                  reserve_mm: float = 0) -> list[Any]:
    """The pages of a procedure's diagram in the annex: ``[None]`` (the whole, on one page) when its step
    names print at :data:`MIN_PRINTED_PT` or more, else one :class:`engine.render.DiagramPart` per page.

    Split, the process is cut into consecutive parts along the main path to the result (the table's
    "Bước 1 … n"): each page holds some of its steps, with the steps run alongside them ("Song song") and
    the other steps entered from them (supplementation, refusal, financial obligations…; :func:`_blocks`).
    First into 2 parts of about as many steps, then 3, … until every page prints its step names at
    :data:`MIN_PRINTED_PT` or more (a page holding one main step and still too large is cut in two); then
    two neighbouring pages are put back together wherever the two fit on one. A route between pages is
    drawn on both, to an off-page connector naming the step, its number in the step table and where it is
    ("↪ Bước 7 · trang 2/3", "↪ Song song với Bước 4 · trang 2/3", a case's step "↪ trang 3/3"), so every
    step is on one page and every route on each page holding one of its ends.

    ``size_of`` draws pages (a list of ``DiagramPart``, or ``[None]`` for the whole) and gives their natural
    sizes in points; ``reserve_mm``: room kept under the last page (the end mark)."""
    from engine.render import DiagramPart

    def fits(size: tuple[float, float], last: bool) -> bool:
        return fitted_text_pt(*size, reserve_mm=reserve_mm if last else 0) >= MIN_PRINTED_PT - 1e-9

    [whole] = size_of([None])
    if fits(whole, True) or len(defn.steps) < 2:
        return [None]
    blocks = _blocks(defn)
    plan = annex_plan(defn)
    numbers = {st.id: f"Bước {i}" for i, st in enumerate(plan.main, 1)}  # as the step table numbers them
    numbers.update((other.id, "Song song với Bước " + ", ".join(str(n) for n in alongside))
                   for arms in plan.parallel.values() for other, alongside in arms)

    def parts_of(groups: Sequence[tuple[str, ...]]) -> list[Any]:
        n = len(groups)
        page_of = {sid: j for j, group in enumerate(groups, 1) for sid in group}
        return [DiagramPart(group, tuple((st.id, " · ".join(x for x in (numbers.get(st.id),
                                                                        f"trang {page_of[st.id]}/{n}") if x))
                                         for st in defn.steps if page_of[st.id] != j))
                for j, group in enumerate(groups, 1)]

    def check(groups: Sequence[tuple[str, ...]]) -> list[bool]:
        return [fits(size, j == len(groups)) for j, size in enumerate(size_of(parts_of(groups)), 1)]

    def all_fit(groups: Sequence[tuple[str, ...]], first: int = -1) -> bool:
        """``all(check(groups))``, the pages drawn one at a time up to the first that does not fit (most
        candidates do not: each costs a ``dot`` run): the page ``first`` (the one just put together), then
        the others from the one with the most steps down, the likeliest not to fit."""
        parts = parts_of(groups)
        for j in sorted(range(len(parts)), key=lambda j: (j != first, -len(groups[j]), j)):
            [size] = size_of([parts[j]])
            if not fits(size, j == len(parts) - 1):
                return False
        return True

    k = 2
    groups = [tuple(g) for g in _chunks(blocks, k)]
    while True:
        if k < len(blocks):
            if all_fit(groups):
                break
            k += 1  # one more page: the process cut again into runs of about as many steps
            groups = [tuple(g) for g in _chunks(blocks, k)]
            continue
        # As many pages as steps of the main path: a page still too large is cut in two.
        ok = check(groups)
        if all(ok):
            break
        again = [h for group, good in zip(groups, ok) for h in ([group] if good or len(group) < 2 else _halves(group))]
        if len(again) == len(groups):
            return parts_of(groups)  # the best there is (a single step too large for a page)
        groups = again
    j = 0
    while j + 1 < len(groups) and len(groups) > 2:  # put neighbours back together where they fit on one page
        # (not the last two: the whole did not fit)
        merged = groups[:j] + [groups[j] + groups[j + 1]] + groups[j + 2:]
        if all_fit(merged, first=j):
            groups = merged
        else:
            j += 1
    return parts_of(groups)


def _blocks(defn: Definition) -> list[list[str]]:
    """The steps in the order the pages of a split diagram take them: per step of the main path (the
    table's "Bước n"), itself, the steps run alongside it and the other steps entered from it (a case's
    step entered from several main steps goes with the first; one that follows another step of its case,
    with that one); steps the plan does not place come last."""
    plan = annex_plan(defn)
    blocks = [[st.id] + [o.id for o, _ in plan.parallel.get(st.id, [])] for st in plan.main]
    tail: list[str] = []
    for _, members in plan.cases:
        where: list[str] | None = None
        for st, after in members:
            if after and blocks:
                where = blocks[min(after) - 1]
            (where if where is not None else tail).append(st.id)
    placed = {sid for block in blocks for sid in block} | set(tail)
    tail += [st.id for st in defn.steps if st.id not in placed]
    return [b for b in blocks + [tail] if b]


def _chunks(blocks: list[list[str]], k: int) -> list[list[str]]:
    """``blocks`` cut into ``k`` runs of about as many steps each (a block is never cut)."""
    total = sum(len(b) for b in blocks)
    out: list[list[str]] = [[]]
    done = 0
    for b in blocks:
        if out[-1] and len(out) < k and done + len(b) / 2 > total * len(out) / k:
            out.append([])
        out[-1] += b
        done += len(b)
    return out


@dataclass
class PrintedDiagram:
    """How one diagram page of the annex prints (:func:`printed_diagrams`): its caption, paper, printed size
    (mm), the room its page gives it (mm) and the size its step names print at (pt)."""

    caption: str
    paper: Paper
    width_mm: float
    height_mm: float
    room_mm: tuple[float, float]
    text_pt: float

    @property
    def fits(self) -> bool:
        return self.width_mm <= self.room_mm[0] + 0.01 and self.height_mm <= self.room_mm[1] + 0.01


def printed_diagrams(doc: "Doc") -> list[PrintedDiagram]:
    """Measure, as laid out, every diagram of a document (the draft decision's annex): the paper of the
    section it is on, its caption (the first paragraph of its section), the width the document gives it, its
    height at that width (the drawn SVG's aspect) and the room left on its page (the text area less the
    caption, the lines under it (the badge of a first page, :func:`badge_mm`) and, after the last one, the
    end mark). ``text_pt`` = :data:`STEP_TEXT_PT` × printed width ÷ drawn width: the
    size of its steps' names on paper, in the HTML page (the SVG at the figure's width) and in the Word file
    (the PNG at the picture's width)."""
    paper, caption, under = doc.paper, "", 0.0
    out: list[PrintedDiagram] = []
    pictures = [i for i, b in enumerate(doc.blocks) if isinstance(b, Picture)]
    fresh = False  # no paragraph yet in this section
    for i, b in enumerate(doc.blocks):
        if isinstance(b, Section):
            paper, fresh, under = b.paper, True, 0.0
        elif isinstance(b, Para):
            text = "".join(r.text for r in b.runs)
            if fresh or not caption:
                caption, fresh, under = text, False, 0.0
            else:
                under += badge_mm(text)
        elif isinstance(b, Picture):
            w_pt, h_pt = _svg_size(b.svg())
            width = b.width if b.width else paper.text_width
            height = width * h_pt / w_pt
            reserve = (END_MARK_MM if pictures and i == pictures[-1] else 0) + under
            out.append(PrintedDiagram(caption, paper, width, height,
                                      (paper.text_width, paper.text_height - DIAGRAM_CAPTION_MM - reserve),
                                      STEP_TEXT_PT * width / (w_pt * 25.4 / 72)))
    return out


#: How many definitions' page plans the process keeps (:meth:`AnnexDiagrams.plan`): a few per definition
#: of the catalogue (one per legal regime, reserve…); each is a short list of step ids.
PLANS_KEPT = 2048
_PLANS: "OrderedDict[tuple, list[Any]]" = OrderedDict()
_PLANS_LOCK = threading.Lock()


def clear_plans() -> None:
    """Forget the page plans of the annex diagrams (the next decision tries the pages out again)."""
    with _PLANS_LOCK:
        _PLANS.clear()


class AnnexDiagrams:
    """The diagrams of a decision's annex, top to bottom (:data:`ANNEX_DIRECTION`) and without the header
    (the heading above the table names the procedure, the table and the caption give the total), drawn on
    demand or all at once (one ``dot`` process each, in parallel); each one whole or split over pages
    (:func:`diagram_pages`, decided on the SVG's size in both formats)."""

    def __init__(self, definitions: Sequence[Definition], org: Organisation | None):
        self.definitions = list(definitions)
        self.org = org
        self.cache: dict[tuple[str, Any, str], bytes] = {}
        self._pages: dict[str, list[Any]] = {}

    def _draw(self, items: Sequence[tuple[Definition, Any]], fmt: str, jobs: int | None = None) -> list[bytes]:
        from engine.render import render_many

        todo = [(d, p) for d, p in items if (d.key, p, fmt) not in self.cache]
        if not todo:
            return [self.cache[(d.key, p, fmt)] for d, p in items]
        for (d, p), data in zip(todo, render_many([d for d, _ in todo], self.org, fmt, direction=ANNEX_DIRECTION,
                                                  header=False, parts=[p for _, p in todo], jobs=jobs)):
            self.cache[(d.key, p, fmt)] = data
        return [self.cache[(d.key, p, fmt)] for d, p in items]

    def plan(self) -> None:
        """Decide every diagram's pages: the whole diagrams drawn at once; the pages of those too large
        tried out (:func:`diagram_pages`), one definition per CPU at a time. A definition's pages are
        remembered for the process (:data:`_PLANS`, by content, as the drawings are), so a decision drawn
        again does not try them out again."""
        from concurrent.futures import ThreadPoolExecutor

        from engine.render import _content_hash, carry_background, definition_hash, graphviz_version, parallel_jobs

        todo = [d for d in self.definitions if d.key not in self._pages]
        units_hash, version = _content_hash(dict(self.org.units) if self.org else {}), graphviz_version()
        keys = {}
        for defn in todo:
            reserve = END_MARK_MM if defn is self.definitions[-1] else 0
            defn_hash = definition_hash(defn)
            keys[defn.key] = (defn_hash, units_hash, version, reserve, MIN_PRINTED_PT) \
                if defn_hash is not None and units_hash is not None and version else None
            with _PLANS_LOCK:
                known = _PLANS.get(keys[defn.key]) if keys[defn.key] is not None else None
            if known is not None:
                self._pages[defn.key] = known
        todo = [d for d in todo if d.key not in self._pages]
        self._draw([(d, None) for d in todo], "svg")

        def one(defn: Definition) -> list[Any]:
            reserve = END_MARK_MM if defn is self.definitions[-1] else 0
            return diagram_pages(
                defn, lambda parts: [_svg_size(x) for x in self._draw([(defn, p) for p in parts], "svg", jobs=1)],
                reserve)

        # one per CPU; under engine.render.background (the web app's warm-up) its jobs, its dot niced. One job:
        # in this thread (no pool, which the interpreter's exit would wait for and refuse new work to)
        workers = parallel_jobs(None, len(todo))
        pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
        try:
            for defn, pages in zip(todo, pool.map(carry_background(one), todo) if pool else map(one, todo)):
                self._pages[defn.key] = pages
                if keys[defn.key] is not None:
                    with _PLANS_LOCK:
                        _PLANS[keys[defn.key]] = pages
                        while len(_PLANS) > PLANS_KEPT:
                            _PLANS.popitem(last=False)
        finally:
            if pool is not None:
                pool.shutdown()

    def pages(self, defn: Definition) -> list[Any]:
        """The pages of a definition's diagram: ``[None]`` (whole) or its :class:`DiagramPart`s."""
        if defn.key not in self._pages:
            if defn not in self.definitions:
                self.definitions.append(defn)
            self.plan()
        return self._pages[defn.key]

    def prefetch(self, fmt: str) -> None:
        self.plan()
        self._draw([(d, p) for d in self.definitions for p in self._pages[d.key]], fmt)

    def get(self, defn: Definition, fmt: str, part: Any = None) -> bytes:
        return self._draw([(defn, part)], fmt)[0]

    def size(self, defn: Definition, part: Any = None) -> tuple[float, float]:
        """Natural size in points, from the SVG (the same for both formats: graphviz draws the PNG at 96 dpi,
        a pixel 0,75 pt, rounded up)."""
        return _svg_size(self.get(defn, "svg", part))


#: The day Circular 03/2025/TT-VPCP was issued: a decision dated before it cannot cite it.
CIRCULAR_2025_ISSUED = dt.date(2025, 9, 15)

#: Decree 118/2025/NĐ-CP, in force from 1/7/2025 (replaces Decrees 61/2018 and 107/2021).
DECREE_118 = ("Nghị định số 118/2025/NĐ-CP ngày 09 tháng 6 năm 2025 của Chính phủ về thực hiện thủ tục hành "
              "chính theo cơ chế một cửa, một cửa liên thông tại Bộ phận Một cửa và Cổng Dịch vụ công quốc gia")


#: The subject of Circular 03/2025/TT-VPCP as the decision cites it. **[unverified]**: given by analogy
#: with Circular 01/2018 ("hướng dẫn thi hành một số quy định của Nghị định số 61/2018/NĐ-CP"); the
#: circular itself is unverified (DOMAIN.md §1.4).
CIRCULAR_2025_SUBJECT = "hướng dẫn thi hành một số quy định của Nghị định số 118/2025/NĐ-CP"


def today_hanoi() -> dt.date:
    """Today in Hanoi (the only wall-clock read of this module: the regime of an undated draft decision)."""
    from engine.calendar import LOCAL_TZ

    return dt.datetime.now(LOCAL_TZ).date()


def decision_forms(day: dt.date) -> FormSet:
    """The form set a decision dated ``day`` refers to (the same switch as :func:`form_set_for`)."""
    return FORMS_2025 if day >= REGIME_2025_FROM else FORMS_2018


def legal_bases(day: dt.date) -> list[str]:
    """The "Căn cứ …" lines of a decision dated ``day`` (without their final ";" or ".").

    Before 1/7/2025: Decrees 61/2018 and 107/2021 and Circular 01/2018/TT-VPCP; from 1/7/2025: Decree
    118/2025/NĐ-CP and, once issued (15/9/2025), Circular 03/2025/TT-VPCP (**[unverified]**, DOMAIN.md
    §1.4). The other bases (local-government law, procedure-control decrees, Hanoi's one-stop rules)
    are the same in both.
    """
    bases = [
        # The local-government law as cited here (2015, amended 2019) is not verified against
        # /work/shared/DOMAIN.md (FORMS.md §C only says "local-government law"); a decision dated after
        # the 2025 reform may need the 2025 law instead. Left as is until a source confirms it.
        "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015; Luật sửa đổi, bổ sung một số điều "
        "của Luật Tổ chức Chính phủ và Luật Tổ chức chính quyền địa phương ngày 22 tháng 11 năm 2019",
        # Decrees 63/2010, 48/2013 and 92/2017 on the control of administrative procedures (FORMS.md §C).
        "Căn cứ Nghị định số 63/2010/NĐ-CP ngày 08 tháng 6 năm 2010 của Chính phủ về kiểm soát thủ tục hành chính; "
        "Nghị định số 48/2013/NĐ-CP ngày 14 tháng 5 năm 2013 của Chính phủ sửa đổi, bổ sung một số điều của các "
        "nghị định liên quan đến kiểm soát thủ tục hành chính; "
        "Nghị định số 92/2017/NĐ-CP ngày 07 tháng 8 năm 2017 của Chính phủ sửa đổi, bổ sung một số điều của các "
        "nghị định liên quan đến kiểm soát thủ tục hành chính",
    ]
    if day < REGIME_2025_FROM:
        bases += [
            "Căn cứ Nghị định số 61/2018/NĐ-CP ngày 23 tháng 4 năm 2018 của Chính phủ về thực hiện cơ chế một cửa, "
            "một cửa liên thông trong giải quyết thủ tục hành chính; Nghị định số 107/2021/NĐ-CP ngày 06 tháng 12 "
            "năm 2021 của Chính phủ sửa đổi, bổ sung một số điều của Nghị định số 61/2018/NĐ-CP",
            f"Căn cứ {FORMS_2018.circular_full} hướng dẫn thi hành một số quy định của Nghị định số "
            "61/2018/NĐ-CP",
        ]
    else:
        bases.append(f"Căn cứ {DECREE_118}")
        if day >= CIRCULAR_2025_ISSUED:
            # [unverified] The subject is given by analogy with Circular 01/2018 (DOMAIN.md §1.4 marks
            # Circular 03/2025 itself unverified); check it against the circular's own title.
            bases.append(f"Căn cứ {FORMS_2025.circular_full} {CIRCULAR_2025_SUBJECT}")
    bases.append(
        "Căn cứ Quyết định số 18/2020/QĐ-UBND ngày 04 tháng 9 năm 2020 của Ủy ban nhân dân Thành phố Hà Nội ban "
        "hành Quy định thực hiện cơ chế một cửa, một cửa liên thông trong giải quyết thủ tục hành chính trên địa "
        "bàn Thành phố Hà Nội; Quyết định số 27/2023/QĐ-UBND ngày 22 tháng 11 năm 2023 sửa đổi, bổ sung Quy định "
        "này")
    return bases


def decision_doc(catalogue: Catalogue, definitions: Sequence[Definition], options: DecisionOptions | None = None,
                 diagrams: AnnexDiagrams | None = None) -> Doc:
    """The draft decision as a layout (see :func:`render_decision`)."""
    opt = options or DecisionOptions()
    regime_day = opt.date or today_hanoi()
    forms = decision_forms(regime_day)
    org: Organisation | None = catalogue.organisation
    org_name = (org.name if org else "") or "Ủy ban nhân dân huyện ……"
    units = dict(org.units) if org else {}
    pictures = diagrams or AnnexDiagrams(definitions, org)
    area = _local_area(org_name)  # "huyện Gia Lâm"
    place = opt.place if opt.place is not None else place_from_organisation(org_name)
    agency = agency_lines(org_name)
    chairman_of = f"Chủ tịch Ủy ban nhân dân {area}"
    if opt.level == "commune":
        scope = f"thuộc thẩm quyền giải quyết của Ủy ban nhân dân cấp xã trên địa bàn {area}"
    else:
        scope = f"thuộc thẩm quyền giải quyết của Ủy ban nhân dân {area}"
    title = f"Phê duyệt quy trình nội bộ giải quyết thủ tục hành chính {scope}"
    n = len(definitions)
    blocks: list[Any] = [official_header(agency, number="Số:        /QĐ-UBND", place=place, date=opt.date)]
    blocks += [
        P("", space_after=6),
        P("QUYẾT ĐỊNH", bold=True, align="center", space_after=0),
        P(title, bold=True, align="center", space_after=0),
        Rule(0.3),
        P(f"CHỦ TỊCH ỦY BAN NHÂN DÂN {area.upper()}", bold=True, align="center", space_after=12),
    ]
    bases = legal_bases(regime_day)
    for i, basis in enumerate(bases):
        blocks.append(P(basis + (";" if i < len(bases) - 1 else "."), italic=True, indent=True))
    blocks.append(P(f"Theo đề nghị của Chánh Văn phòng Hội đồng nhân dân và Ủy ban nhân dân {area} tại Tờ trình "
                    f"số ……/TTr-VP {vn_date(None)}.", italic=True, indent=True))
    blocks.append(P("QUYẾT ĐỊNH:", bold=True, align="center", space_after=12))
    art = [
        ("Điều 1. ", f"Phê duyệt kèm theo Quyết định này {_count_text(n)} quy trình nội bộ giải quyết thủ tục hành "
                     f"chính {scope} (chi tiết tại Phụ lục kèm theo)."),
        ("Điều 2. ", f"Văn phòng Hội đồng nhân dân và Ủy ban nhân dân {area} chủ trì, phối hợp với các cơ quan, "
                     "đơn vị có liên quan lập danh sách tài khoản của cán bộ, công chức được phân công thực hiện các "
                     "bước xử lý công việc quy định tại các quy trình nội bộ ban hành kèm theo Quyết định này; xây dựng "
                     "quy trình điện tử và thiết lập cấu hình trên phần mềm một cửa điện tử (Hệ thống thông tin giải "
                     "quyết thủ tục hành chính của Thành phố) theo quy định."),
        ("Điều 3. ", "Quyết định này có hiệu lực kể từ ngày ký. "
                     f"Chánh Văn phòng Hội đồng nhân dân và Ủy ban nhân dân {area}; Thủ trưởng các cơ quan chuyên môn "
                     f"thuộc Ủy ban nhân dân {area}; Chủ tịch Ủy ban nhân dân các xã, thị trấn và các tổ chức, cá nhân "
                     "có liên quan chịu trách nhiệm thi hành Quyết định này./."),
    ]
    for label, text in art:
        blocks.append(Para([Run(label, bold=True), Run(text)], indent=True))
    recipients = [
        P("Nơi nhận:", bold=True, italic=True, align="left", size=12, space_after=0),
        P("- Như Điều 3;", align="left", size=11, space_after=0),
        P("- UBND Thành phố Hà Nội (để báo cáo);", align="left", size=11, space_after=0),
        P("- Văn phòng UBND Thành phố (Phòng Kiểm soát TTHC);", align="left", size=11, space_after=0),
        P(f"- Chủ tịch, các Phó Chủ tịch UBND {area};", align="left", size=11, space_after=0),
        P("- Lưu: VT, VP.", align="left", size=11, space_after=0),
    ]
    sign = ([P("KT. CHỦ TỊCH", bold=True, align="center", space_after=0),
             P("PHÓ CHỦ TỊCH", bold=True, align="center", space_after=0)] if opt.deputy else
            [P("CHỦ TỊCH", bold=True, align="center", space_after=0)])
    sign += [P("", space_after=40), P("……………………", bold=True, align="center")]
    blocks.append(P("", space_after=6))
    blocks.append(Columns([recipients, sign], (1, 1)))

    # The annex: its own pagination from 1 (Decree 30), each diagram on a page of its own.
    blocks.append(Section(A4, restart=True))
    blocks += [
        P("Phụ lục", bold=True, align="center", space_after=0),
        P(f"QUY TRÌNH NỘI BỘ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH {scope.upper()}", bold=True, align="center",
          space_after=0),
        P(f"(Kèm theo Quyết định số ……/QĐ-UBND {vn_date(opt.date)} của {chairman_of})", italic=True,
          align="center", space_after=0),
        Rule(0.3),
    ]
    groups: dict[str, list[Definition]] = {}
    for defn in definitions:
        groups.setdefault(defn.field or "Khác", []).append(defn)
    number = 0
    for gi, (fld, defs) in enumerate(groups.items(), 1):
        blocks.append(P(f"{_roman(gi)}. LĨNH VỰC {fld.upper()} ({_count_text(len(defs))} TTHC)", bold=True,
                        align="left"))
        for k, defn in enumerate(defs, 1):
            number += 1
            blocks.append(P(f"Quy trình số {number:02d}", bold=True, align="left", space_after=0))
            blocks.append(Para([Run(f"{k}. Quy trình nội bộ giải quyết TTHC: “{defn.name}” ", bold=True),
                                Run(f"(Mã TTHC: {defn.code or '……'})")], align="justify"))
            blocks.append(P(f"Thời hạn giải quyết theo quy định: {limit_text(defn.time_limit)}"
                            + (f" ({defn.time_limit.basis})" if defn.time_limit.basis else "") + ".",
                            italic=True, align="justify", size=12))
            blocks.append(annex_table(defn, units, forms))
            last = number == len(definitions)
            pages = pictures.pages(defn)
            for j, part in enumerate(pages, 1):
                end = last and j == len(pages)
                size = pictures.size(defn, part)
                paper, scale = diagram_fit(*size, reserve_mm=END_MARK_MM if end else 0)
                blocks.append(Section(paper))
                where = "" if len(pages) == 1 else f" (trang {j}/{len(pages)})" if j == 1 else \
                    f" (tiếp theo, trang {j}/{len(pages)})"
                caption = f"Sơ đồ Quy trình số {number:02d}{where}"
                badge = diagram_badge(defn) if j == 1 else ""  # the first page only
                if badge and text_width_pt(f"{caption} — {badge}", 12) <= paper.text_width * 72 / 25.4:
                    caption, badge = f"{caption} — {badge}", ""  # on the caption's line (every shipped one)
                blocks.append(P(caption, italic=True, align="center", size=12, space_after=0 if badge else 2))
                if badge:  # too long for the caption's line: a line of its own under it, the diagram made
                    # smaller if the page has not the room for both (the page plan is the same)
                    blocks.append(P(badge, italic=True, align="center", size=12, space_after=2))
                    room = paper.text_height - DIAGRAM_CAPTION_MM - (END_MARK_MM if end else 0) - badge_mm(badge)
                    scale = min(scale, room / (size[1] * 25.4 / 72))
                blocks.append(Picture(svg=(lambda d=defn, q=part: pictures.get(d, "svg", q)),
                                      png=(lambda d=defn, q=part: pictures.get(d, "png", q)),
                                      alt=f"Sơ đồ quy trình {defn.code + ' ' if defn.code else ''}{defn.name}{where}",
                                      width=size[0] * 25.4 / 72 * scale))
            if not last:
                blocks.append(Section(A4))
    blocks.append(P("./.", align="right", space_after=0))
    return Doc(title=f"Dự thảo Quyết định {title}", paper=A4, blocks=blocks, size=14, draft=True,
               page_numbers=True)


def decision_file_stem(level: str) -> str:
    """The draft decision's file name without its extension, as the web app and ``quytrinh decision`` give it:
    the level in Vietnamese without diacritics, as the other files' names (``so-theo-doi-…``):
    ``du-thao-quyet-dinh-cap-huyen``, ``du-thao-quyet-dinh-cap-xa``."""
    return "du-thao-quyet-dinh-" + _DECISION_LEVEL_NAMES.get(level, "cap-huyen")


_DECISION_LEVEL_NAMES = {"district": "cap-huyen", "commune": "cap-xa"}


def render_decision(catalogue: Catalogue, *, level: str = "district", codes: Sequence[str] | None = None,
                    place: str | None = None, deputy: bool = False, fmt: str = "docx",
                    date: dt.date | None = None) -> bytes:
    """The draft decision approving the internal processes, with its annex.

    Parameters
    ----------
    catalogue:
        The loaded catalogue (organisation name from units.yaml).
    level, codes:
        Which procedures (see :func:`select_procedures`).
    place:
        Place name of the date line; None: derived from the organisation
        (``Ủy ban nhân dân huyện Gia Lâm`` -> ``Gia Lâm``).
    deputy:
        Signed by a vice-chairman (``KT. CHỦ TỊCH / PHÓ CHỦ TỊCH``) instead of ``CHỦ TỊCH``.
    fmt:
        ``docx`` or ``html``.
    date:
        The decision's date, printed in the date line and the annex's "(Kèm theo …)" line; it picks the
        legal regime cited (:func:`legal_bases`) and the form set the annex names. None: left blank on
        the draft, the regime is today's in Hanoi.

    Returns
    -------
    bytes
        The Word file, or a self-contained HTML page with inline SVG diagrams.

    Raises
    ------
    DocumentError
        Bad level, code or format; engine.render.RenderError when graphviz fails.
    """
    _check_fmt(fmt)
    defs = select_procedures(catalogue, level=level, codes=codes)
    diagrams = AnnexDiagrams(defs, catalogue.organisation)
    diagrams.prefetch("png" if fmt == "docx" else "svg")
    doc = decision_doc(catalogue, defs, DecisionOptions(level=level, place=place, deputy=deputy, date=date),
                       diagrams)
    return to_docx(doc) if fmt == "docx" else to_html(doc)


def diagrams_to_draw(definitions: Sequence[Definition], org: Organisation | None) -> int:
    """How many of the annex's diagrams graphviz has not drawn yet (whole, in neither this process's memory
    nor the on-disk cache): each costs ~0.2 s (HTML) to ~0.5 s (Word) on two cores, its pages tried out and
    printed; the others are read back. ``quytrinh decision`` says it is drawing when most are missing."""
    from engine.render import missing

    return missing(definitions, org, "svg", direction=ANNEX_DIRECTION, header=False)


def _check_fmt(fmt: str) -> None:
    if fmt not in ("html", "docx"):
        raise DocumentError(f"unknown format '{fmt}'; use html or docx")


# --------------------------------------------------------------------------- form sets (legal regimes)


#: The day Decree 118/2025 and Circular 03/2025/TT-VPCP's forms apply from.
REGIME_2025_FROM = dt.date(2025, 7, 1)


@dataclass(frozen=True)
class FormSpec:
    """One form of a set: its number in the set, what it is, its title and paper."""

    number: str  # "01" ...
    kind: str  # receipt | supplement | refusal | apology | stop | control | ledger
    title: str
    paper: str  # A5 | A4 | A4 landscape
    verified: bool = False  # wording checked against the official annex


@dataclass(frozen=True)
class FormSet:
    """The forms of one legal regime."""

    key: str  # "2018" | "2025"
    circular: str
    circular_full: str
    forms: tuple[FormSpec, ...]
    note: str = ""

    def by_number(self, number: str) -> FormSpec | None:
        number = number.strip().upper().removeprefix("BM").removeprefix("MẪU").strip()
        if number.isdigit():
            number = f"{int(number):02d}"
        return next((f for f in self.forms if f.number == number), None)

    def by_kind(self, kind: str) -> FormSpec | None:
        return next((f for f in self.forms if f.kind == kind), None)


FORMS_2018 = FormSet(
    "2018", "Thông tư số 01/2018/TT-VPCP",
    "Thông tư số 01/2018/TT-VPCP ngày 23 tháng 11 năm 2018 của Văn phòng Chính phủ",
    (
        FormSpec("01", "receipt", "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ", "A5"),
        FormSpec("02", "supplement", "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ", "A5"),
        FormSpec("03", "refusal", "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ", "A5"),
        FormSpec("04", "apology", "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ", "A5"),
        FormSpec("05", "control", "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ", "A5"),
        FormSpec("06", "ledger", "SỔ THEO DÕI HỒ SƠ", "A4"),
    ),
    note="Nội dung mẫu ghép từ các mẫu in của phần mềm một cửa địa phương; chưa đối chiếu với phụ lục "
         "Thông tư 01/2018/TT-VPCP.",
)

FORMS_2025 = FormSet(
    "2025", "Thông tư số 03/2025/TT-VPCP",
    "Thông tư số 03/2025/TT-VPCP ngày 15 tháng 9 năm 2025 của Văn phòng Chính phủ",
    (
        FormSpec("01", "receipt", "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ", "A5"),
        FormSpec("02", "supplement", "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ", "A5"),
        FormSpec("03", "refusal", "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ", "A5"),
        FormSpec("04", "apology", "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT", "A5"),
        FormSpec("05", "stop", "THÔNG BÁO DỪNG GIẢI QUYẾT HỒ SƠ", "A5"),
        FormSpec("06", "control", "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ", "A5"),
        FormSpec("07", "ledger", "SỔ THEO DÕI HỒ SƠ", "A4"),
    ),
    note="Bộ 7 mẫu theo Thông tư 03/2025/TT-VPCP: tên và nội dung mẫu chưa đối chiếu với văn bản gốc "
         "của Thông tư.",
)

FORM_SETS = {"2018": FORMS_2018, "2025": FORMS_2025}


def form_set_for(received_at: dt.date | dt.datetime | None) -> FormSet:
    """The form set of the regime in force on the day a dossier was received.

    Before 1/7/2025: Circular 01/2018/TT-VPCP (6 forms); from 1/7/2025:
    Circular 03/2025/TT-VPCP (7 forms). ``None`` (never received) raises.

    Raises
    ------
    DocumentError
        When ``received_at`` is None.
    """
    if received_at is None:
        raise DocumentError("the dossier has no reception date: no form set applies")
    day = to_local(received_at).date() if isinstance(received_at, dt.datetime) else received_at
    return FORMS_2025 if day >= REGIME_2025_FROM else FORMS_2018


# --------------------------------------------------------------------------- dossier data


@dataclass
class FormContext:
    """What the forms of one dossier are filled from."""

    sheet: Any  # engine.services.DossierSheet
    organisation: Organisation | None
    units: dict[str, Any]  # unit id -> engine.store.UnitRow
    users: dict[str, str]  # username -> full name
    form_set: FormSet
    now: dt.datetime | None
    book: "BookEntry | None" = None  # the dossier's entry in its one-stop unit's ledger (book_number)

    @property
    def dossier(self) -> Any:
        return self.sheet.dossier

    @property
    def definition(self) -> Definition:
        return self.sheet.definition

    def unit_name(self, unit_id: str | None) -> str:
        if not unit_id:
            return "Tổ chức, cá nhân"
        row = self.units.get(unit_id)
        return row.name if row is not None else unit_id


# Catalogue files parsed once per process and again only when they change: form 01 is printed at every
# acceptance, and parsing units.yaml took 47 ms of it; the draft decision re-read the whole catalogue.

#: (path as given, absolute path) -> ((mtime_ns, size), the organisation or None when the file is broken).
_ORGANISATIONS: dict[tuple[str, str], tuple[tuple[int, int], Organisation | None]] = {}
#: (absolute root, working directory) -> (the files' stamps, the catalogue). A few roots at most.
_CATALOGUES: dict[tuple[str, str], tuple[tuple[Any, ...], Catalogue]] = {}
_CATALOGUES_MAX = 8


def _stamp(path: Path) -> tuple[int, int] | None:
    """What tells an edited file from the one loaded: (modification time in ns, size); None when absent."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size) if stat.S_ISREG(st.st_mode) else None


def cached_units(path: str | os.PathLike) -> Organisation | None:
    """``load_units(path)``, parsed again only when the file's modification time or size changed since
    the last call (the loaded organisation is shared: read it, do not change it). None when the file
    is missing.

    A file with problems (the reform office's mistake: the command or page that prints the form said so
    once, and works with the units the database stores) does not blank the forms' header: this process's
    last organisation read from the same file without problems when there is one (a web app or worker
    running when the file was broken), else the name, levels and communes the file still gives
    (:func:`engine.definition.units_file_header`; no units: the forms name units from the database).
    """
    from engine.definition import load_units, units_file_header

    p = Path(path)
    stamp = _stamp(p)
    if stamp is None:
        return None
    key = (str(p), os.path.abspath(p))
    hit = _ORGANISATIONS.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    try:
        org: Organisation | None = load_units(str(p))
        _GOOD_ORGANISATIONS[key] = org
    except QuytrinhError:
        org = _GOOD_ORGANISATIONS.get(key) or units_file_header(p)
    _ORGANISATIONS[key] = (stamp, org)
    return org


#: (path as given, absolute path) -> the last organisation :func:`cached_units` read from it without problems.
_GOOD_ORGANISATIONS: dict[tuple[str, str], Organisation] = {}


def _catalogue_stamps(root: Path) -> tuple[Any, ...]:
    """The stamps of every file ``load_catalogue([root])`` reads (added and removed files change it too)."""
    from engine.definition import find_catalogue_root

    paths: set[Path] = set()
    if root.is_dir():
        paths.update(p for p in root.rglob("*.y*ml"))
    elif root.exists():
        paths.add(root)
    base = find_catalogue_root(root.resolve()) if root.exists() else None
    if base is not None:
        paths.add(base / "units.yaml")
        paths.update((base / "templates").rglob("*.y*ml"))
    return tuple(sorted((str(p), _stamp(p)) for p in paths))


def cached_catalogue(root: str | os.PathLike) -> Catalogue:
    """``load_catalogue([root])``, loaded again only when a file under it (or its units.yaml and
    templates) was added, removed, or changed its modification time or size. Each call gets its own
    copy of the lists; the definitions, organisation and templates are shared (they are only read)."""
    from dataclasses import replace

    from engine.definition import load_catalogue

    r = Path(root)
    key = (os.path.abspath(r), os.getcwd())  # sources are named relative to the working directory
    stamps = _catalogue_stamps(r)
    hit = _CATALOGUES.get(key)
    if hit is None or hit[0] != stamps:
        hit = (stamps, load_catalogue([r]))
        if key not in _CATALOGUES and len(_CATALOGUES) >= _CATALOGUES_MAX:
            _CATALOGUES.pop(next(iter(_CATALOGUES)))
        _CATALOGUES[key] = hit
    cat = hit[1]
    return replace(cat, templates=dict(cat.templates), definitions=list(cat.definitions),
                   problems=list(cat.problems), files=list(cat.files))


def _organisation() -> Organisation | None:
    from engine.calendar import catalogue_dir

    return cached_units(catalogue_dir() / "units.yaml")


def _context(db: Any, dossier_ref: int | str, now: dt.datetime | None,
             organisation: Organisation | None = None, sheet: Any = None) -> FormContext:
    from sqlmodel import select

    from engine.services import _reading, dossier_sheet
    from engine.store import UnitRow, User

    try:
        if sheet is None:
            sheet = dossier_sheet(db, dossier_ref, now=now)
    except NotFound:
        raise NotFound(f"dossier '{dossier_ref}' does not exist; see `quytrinh tasks` or the ledger") from None
    d = sheet.dossier
    with _reading(db) as s:
        units = {u.id: u for u in s.exec(select(UnitRow)).all()}
        users = {u.username: (u.full_name or u.username) for u in s.exec(select(User)).all()}
        book = book_number(s, d)
    return FormContext(sheet, organisation or _organisation(), units, users,
                       form_set_for(d.received_at or d.registered_at), now, book)


def _org_name(ctx_org: Organisation | None) -> str:
    return (ctx_org.name if ctx_org else "") or "Ủy ban nhân dân ……"


def one_stop_unit_id(sheet: Any, units: Mapping[str, Any]) -> str | None:
    """The one-stop unit that received a dossier, whose forms (01, 02, 03, 04's reception, the stop notice,
    row 1 of the control sheet) it issues: the unit of the staff member who accepted it (its ``accept``
    event), else of the first act on its reception step (a refusal, or a supplement asked for at the
    counter). A dossier received by the merged one-stop unit before the merge keeps that unit; one received
    after it, by the successor, names the successor. A dossier no one acted on yet: its reception step's
    unit, or the unit that unit was merged into (``units``: unit id -> row with ``merged_into``)."""
    start = sheet.definition.start.id
    accept = next((e for e in sheet.events if e.action == "accept" and e.actor_unit), None)
    if accept is None:
        accept = next((e for e in sheet.events if e.step_id == start and e.actor_unit), None)
    if accept is not None:
        return accept.actor_unit
    unit = sheet.definition.start.unit
    merged = {uid: u.merged_into for uid, u in units.items() if getattr(u, "merged_into", None)}
    return resolve_successor(unit, merged) or unit


def _one_stop_unit(ctx: FormContext) -> str:
    return ctx.unit_name(one_stop_unit_id(ctx.sheet, ctx.units))


def item_handovers(sheet: Any, unit_name: Callable[[str], str]) -> dict[int, str]:
    """Work item id -> how a transferred item came to its unit (``quytrinh unit transfer``, its ``transfer``
    events): ``từ Phòng Quản lý đô thị, chuyển ngày 28/11/2026`` (several, oldest first, joined by ``; ``).
    Items never transferred are absent. The control sheet shows it beside the unit that has the item: the
    item's unit is the one it was moved to, and its times run from its opening (the clock runs on across a
    transfer)."""
    out: dict[int, list[str]] = {}
    for e in sheet.events:
        data = e.data or {}
        if e.action == "transfer" and e.work_item_id is not None and data.get("from_unit"):
            out.setdefault(e.work_item_id, []).append(
                f"từ {unit_name(data['from_unit'])}, chuyển ngày {to_local(e.at):%d/%m/%Y}")
    return {item: "; ".join(parts) for item, parts in out.items()}


def _issuer(ctx: FormContext) -> str:
    """The People's Committee a dossier's forms are issued by: the organisation's (units.yaml), or, for a
    commune-level dossier of an organisation with communes (a district), its commune's (``Ủy ban nhân dân
    xã ……`` when the dossier names none)."""
    org = _org_name(ctx.organisation)
    if ctx.definition.level == "commune" and ctx.organisation is not None and ctx.organisation.communes:
        commune = (getattr(ctx.dossier, "commune", "") or "").strip()
        return f"Ủy ban nhân dân {commune[0].lower() + commune[1:]}" if commune else "Ủy ban nhân dân xã ……"
    return org


#: The bodies a People's Committee or Council's name begins with: a parent body's name too wide for its line is
#: cut after them ("ỦY BAN NHÂN DÂN" / "HUYỆN GIA LÂM", as official headers print it), never abbreviated.
_PARENT_BODIES = ("ỦY BAN NHÂN DÂN", "UỶ BAN NHÂN DÂN", "HỘI ĐỒNG NHÂN DÂN")


def parent_lines(name: str, size: float, room: float) -> list[str]:
    """An upper-case parent body's name in lines of at most ``room`` pt: whole when it fits, else cut after
    its body ("ỦY BAN NHÂN DÂN" / "HUYỆN GIA LÂM") when both parts fit, else :func:`balanced_lines`."""
    if text_width_pt(name, size) <= room:
        return [name]
    for body in _PARENT_BODIES:
        rest = name[len(body):].strip()
        if name.startswith(body + " ") and max(text_width_pt(body, size), text_width_pt(rest, size)) <= room:
            return [body, rest]
    return balanced_lines(name, size, room, False)


def balanced_lines(text: str, size: float, room: float, bold: bool = False) -> list[str]:
    """``text`` cut at spaces into the fewest lines each ``room`` pt wide at most (:func:`text_width_pt`),
    at the phrase breaks when it can (after a dash or a comma, before "VÀ"), then the widest as short as can
    be; no line starts with a dash. One line if it fits or cannot be cut so."""
    words = text.split()
    if text_width_pt(text, size, bold) <= room or len(words) < 2:
        return [text]

    def width(ws: Sequence[str]) -> float:
        return text_width_pt(" ".join(ws), size, bold)

    def cuts(ws: list[str], k: int) -> Iterable[list[list[str]]]:
        if k == 1:
            yield [ws]
            return
        for i in range(1, len(ws) - k + 2):
            if ws[i] in ("–", "-"):
                continue
            for rest in cuts(ws[i:], k - 1):
                yield [ws[:i]] + rest

    def rough(ls: list[list[str]]) -> int:  # breaks inside a phrase
        return sum(1 for a, b in zip(ls, ls[1:]) if a[-1][-1] not in "–-," and b[0].upper() != "VÀ")

    for k in range(2, min(len(words), 4) + 1):
        fit = [ls for ls in cuts(words, k) if max(width(x) for x in ls) <= room]
        if fit:
            return [" ".join(x) for x in min(fit, key=lambda ls: (rough(ls), max(width(x) for x in ls)))]
    return [text]


def _fitted_left(header: Columns, paper: Paper, size: float) -> None:
    """Lines of the header's left block that keep to one line beside the national name on ``paper``
    (the forms on A5): the parent body's name, when whole it is too wide, cut after its body ("ỦY BAN NHÂN
    DÂN" / "HUYỆN GIA LÂM"), the issuing unit's name cut into balanced lines of its own instead of where Word
    would wrap it ("PHÒNG TÀI CHÍNH –" / "KẾ HOẠCH"); each line ``nowrap``, its column widened to hold it."""
    right_need = max(_para_need(p, size, whole=True) for p in header.columns[1] if isinstance(p, Para)
                     and p.nowrap)
    room = paper.text_width * 72 / 25.4 - right_need - 1
    left: list[Any] = []
    for b in header.columns[0]:
        if not isinstance(b, Para) or not b.runs or b.runs[0].text.startswith("Số"):
            left.append(b)
            continue
        text, bold, sz = b.runs[0].text, b.runs[0].bold, b.size or size
        lines = parent_lines(text, sz, room) if not bold else balanced_lines(text, sz, room, bold)
        for line in lines:
            left.append(P(line, bold=bold, align=b.align, size=b.size, space_after=0, nowrap=True))
    header.columns[0] = left


def _form_header(ctx: FormContext, spec: FormSpec, *, number: str | None = None,
                 date: dt.datetime | None = None, agency: str | None = None) -> list[Any]:
    org = _issuer(ctx)
    place = place_from_organisation(org)
    header = official_header([(agency or _one_stop_unit(ctx)).upper()], number=number, place=place, date=date,
                             parent=org, size=11)
    header.columns[0][0] = P(org.upper(), align="center", size=10, space_after=0)
    _fitted_left(header, {"A5": A5, "A4": A4, "A4 landscape": A4_LANDSCAPE}[spec.paper], 11)
    return [
        P(f"Mẫu số {spec.number} ({ctx.form_set.circular})", italic=True, align="right", size=10, space_after=2),
        header,
        P("", space_after=4),
        P(spec.title, bold=True, align="center", size=13, space_after=2),
    ]


def _signature(left: tuple[str, str] | None, right: tuple[str, str]) -> Columns:
    def col(title: str, name: str) -> list[Any]:
        return [P(title, bold=True, align="center", space_after=0),
                P("(Ký và ghi rõ họ tên)", italic=True, align="center", size=10, space_after=28),
                P(name, bold=True, align="center")]
    return Columns([col(*left) if left else [P("")], col(*right)], (1, 1))


def _last_event(sheet: Any, *actions: str, outcome: str | None = None) -> Any:
    for e in reversed(sheet.events):
        if e.action in actions or (outcome is not None and e.outcome == outcome):
            return e
    return None


def _event(ctx: FormContext, *actions: str, outcome: str | None = None) -> Any:
    return _last_event(ctx.sheet, *actions, outcome=outcome)


#: Per form kind: whether a dossier (its sheet) has that form, what it is called in English, and when
#: it is produced, in English and in Vietnamese.
_APPLICABLE: dict[str, tuple[Callable[[Any], bool], str, str, str]] = {
    "receipt": (lambda sh: sh.dossier.received_at is not None, "receipt (form {n}): it was never received",
                "print the refusal or the supplementation request",
                "hồ sơ chưa được tiếp nhận (xem phiếu từ chối hoặc phiếu yêu cầu bổ sung, nếu có)"),
    "supplement": (lambda sh: _last_event(sh, "request_supplement") is not None, "supplementation request (form {n})",
                   "it is produced when a step asks the applicant to complete the dossier",
                   "phiếu này chỉ lập khi có yêu cầu tổ chức, cá nhân bổ sung, hoàn thiện hồ sơ"),
    "refusal": (lambda sh: sh.dossier.received_at is None and _last_event(sh, "refuse", outcome="refuse") is not None,
                "refusal (form {n})",
                "it is produced when the one-stop unit refuses to receive the dossier (a refusal after "
                "reception is the written reply of the refusal step)",
                "phiếu này chỉ lập khi Bộ phận tiếp nhận và trả kết quả từ chối tiếp nhận hồ sơ (hồ sơ đã tiếp "
                "nhận mà không giải quyết được thì trả lời bằng văn bản nêu rõ lý do)"),
    "apology": (lambda sh: bool(sh.apologies), "apology (form {n})",
                "the timer sweep drafts one a working day before an appointment that cannot be kept",
                "văn bản này được lập (dự thảo tự động) trước một ngày làm việc khi hồ sơ không kịp hẹn trả "
                "kết quả"),
    "stop": (lambda sh: _last_event(sh, "stop") is not None, "stop notice (form {n})",
             "it is produced when processing of the dossier is stopped",
             "thông báo này chỉ lập khi hồ sơ bị dừng giải quyết"),
    "control": (lambda sh: True, "", "", ""),
}


def available_forms(sheet: Any) -> list[FormSpec]:
    """The forms a dossier has now (its regime's set, the ledger left out), in the set's order.

    ``sheet`` is :func:`engine.services.dossier_sheet`'s answer. A dossier never received has none.
    """
    d = sheet.dossier
    if (d.received_at or d.registered_at) is None:
        return []
    fs = form_set_for(d.received_at or d.registered_at)
    return [f for f in fs.forms if f.kind in _APPLICABLE and _APPLICABLE[f.kind][0](sheet)]


def _check_applicable(ctx: FormContext, spec: FormSpec) -> None:
    """Raise :class:`FormNotApplicable` when the dossier has no ``spec`` form."""
    from engine.machine import Status

    has, what, hint, hint_vi = _APPLICABLE[spec.kind]
    if has(ctx.sheet):
        return
    d = ctx.dossier
    status = Status(d.status)
    raise FormNotApplicable(
        f"dossier {d.code} ({status.label}) has no {what.format(n=spec.number)}; {hint}",
        f"Hồ sơ {d.code} ({status.label}) chưa có {spec.title.capitalize()} (mẫu {spec.number}): {hint_vi}.")


def _staff_name(ctx: FormContext, username: str | None) -> str:
    if not username or username == "system":
        return ""
    return ctx.users.get(username, username)


def split_contact(contact: str | None) -> tuple[str, str]:
    """(phone, e-mail) out of the one stored contact field: the tokens holding ``@`` are the e-mail, the
    rest, as typed, the phone (``"0912 345 678, an@x.vn"`` -> ``("0912 345 678", "an@x.vn")``); without an
    ``@`` it is all phone. Empty strings for what is absent."""
    text = (contact or "").strip()
    mails = [t for t in re.split(r"[\s,;/]+", text) if "@" in t]
    for m in mails:
        text = text.replace(m, " ")
    phone = re.sub(r"^[\s,;/]+|[\s,;/]+$", "", re.sub(r"\s+", " ", text))
    return phone, ", ".join(mails)


def _contact_lines(d: Any) -> list[Para]:
    phone, mail = split_contact(d.applicant_contact)
    return [P("Địa chỉ: ……………………………………………………", align="left", space_after=2),
            P(f"Số điện thoại: {phone or '……………………'}    Email: {mail or '……………………'}", align="left",
              space_after=2)]


def _form_receipt(ctx: FormContext, spec: FormSpec) -> Doc:
    d, defn = ctx.dossier, ctx.definition
    accept = _event(ctx, "accept")
    receiver = _staff_name(ctx, accept.actor if accept else None)
    channel = {"counter": "Bộ phận tiếp nhận và trả kết quả", "online": "Cổng Dịch vụ công (trực tuyến)",
               "post": "Dịch vụ bưu chính công ích"}.get(d.channel, d.channel)
    b: list[Any] = _form_header(ctx, spec, date=d.received_at)
    b += [
        P(f"Mã hồ sơ: {d.code}", bold=True, align="center", space_after=0),
        P("(Liên: Lưu/giao khách hàng)", italic=True, align="center", size=11),
        P(f"Bộ phận tiếp nhận và trả kết quả: {_one_stop_unit(ctx)}", align="left", space_after=2),
        P(f"Tiếp nhận hồ sơ của: {d.applicant}", align="left", space_after=2),
        *_contact_lines(d),
        P(f"Nội dung yêu cầu giải quyết: {defn.name}{code_note(defn)}", align="left", space_after=2),
        P("1. Thành phần hồ sơ nộp gồm: theo danh mục thành phần hồ sơ của thủ tục hành chính đã công bố.",
          align="left", space_after=2),
        P("2. Số lượng hồ sơ: 01 (bộ)", align="left", space_after=2),
        P(f"3. Thời gian giải quyết hồ sơ theo quy định là: {limit_text(defn.time_limit)}", align="left",
          space_after=2),
        P(f"4. Thời gian nhận hồ sơ: {vn_instant(d.received_at)}", align="left", space_after=2),
        P(f"5. Thời gian trả kết quả giải quyết hồ sơ: {vn_instant(d.due_at or d.original_due_at)}", bold=True,
          align="left", space_after=2),
        *([P(f"(Đã hẹn lại; thời gian hẹn trả lần đầu: {vn_instant(d.original_due_at)})", italic=True,
             align="left", size=11, space_after=2)]
          if d.original_due_at is not None and d.due_at is not None and d.original_due_at != d.due_at else []),
        P(f"6. Đăng ký nhận kết quả tại: {channel}", align="left", space_after=2),
        P(f"Vào Sổ theo dõi hồ sơ, Quyển số: {ctx.book.volume}  Số thứ tự: {ctx.book.number}" if ctx.book else
          "Vào Sổ theo dõi hồ sơ, Quyển số: ……  Số thứ tự: ……", align="left"),
        _signature(("NGƯỜI NỘP HỒ SƠ", d.applicant), ("NGƯỜI TIẾP NHẬN HỒ SƠ", receiver)),
        P("Ghi chú:", bold=True, italic=True, align="left", size=10, space_after=0),
        P("- Giấy tiếp nhận và hẹn trả kết quả được lập thành 2 liên; một liên chuyển kèm theo Phiếu kiểm soát quá "
          "trình giải quyết hồ sơ và được lưu tại Bộ phận tiếp nhận và trả kết quả; một liên giao cho cá nhân, "
          "tổ chức nộp hồ sơ;", size=10, space_after=0),
        P("- Cá nhân, tổ chức có thể đăng ký nhận kết quả tại Bộ phận tiếp nhận và trả kết quả hoặc tại nhà "
          "(trụ sở tổ chức) qua dịch vụ bưu chính.", size=10, space_after=0),
    ]
    return _form_doc(ctx, spec, b)


def _form_doc(ctx: FormContext, spec: FormSpec, blocks: list[Any]) -> Doc:
    paper = {"A5": A5, "A4": A4, "A4 landscape": A4_LANDSCAPE}[spec.paper]
    note = ctx.form_set.note if not spec.verified else ""
    return Doc(title=f"{spec.title.capitalize()} – {ctx.dossier.code}", paper=paper, blocks=blocks,
               size=11 if paper is A5 else 12, note=note)


def _form_supplement(ctx: FormContext, spec: FormSpec) -> Doc:
    d, defn = ctx.dossier, ctx.definition
    ev = _event(ctx, "request_supplement")
    guide = _staff_name(ctx, ev.actor)
    unit = ctx.unit_name(ev.actor_unit)
    b: list[Any] = _form_header(ctx, spec, number="Số: ……/PYCBS", date=ev.at)
    b += [
        P(f"Mã hồ sơ: {d.code}", bold=True, align="center"),
        P(f"Hồ sơ của: {d.applicant}", align="left", space_after=2),
        P(f"Nội dung yêu cầu giải quyết: {defn.name}{code_note(defn)}", align="left", space_after=2),
        *_contact_lines(d),
        P("Yêu cầu hoàn thiện hồ sơ gồm những nội dung sau:", align="left", space_after=2),
        P(f"1. {ev.comment.strip() or '……………………………………'}", align="left", space_after=2),
        P("Lý do: hồ sơ chưa đầy đủ, hợp lệ theo quy định của thủ tục hành chính.", align="left", space_after=2),
        P(f"Thời điểm yêu cầu: {vn_instant(ev.at)}.", align="left", space_after=2),
        P(f"Trong quá trình hoàn thiện hồ sơ nếu có vướng mắc, ông (bà) liên hệ với {unit}, "
          f"{guide or '……………'}, số điện thoại …………… để được hướng dẫn./.", align="justify"),
        _signature(None, ("NGƯỜI HƯỚNG DẪN", guide)),
    ]
    return _form_doc(ctx, spec, b)


def _form_refusal(ctx: FormContext, spec: FormSpec) -> Doc:
    d, defn = ctx.dossier, ctx.definition
    ev = _event(ctx, "refuse", outcome="refuse")
    who = _staff_name(ctx, ev.actor)
    one_stop = _one_stop_unit(ctx)
    b: list[Any] = _form_header(ctx, spec, date=ev.at)
    b += [
        P(f"Mã hồ sơ: {d.code}", bold=True, align="center"),
        P(f"Bộ phận tiếp nhận và trả kết quả: {one_stop}", align="left", space_after=2),
        P(f"Tiếp nhận hồ sơ của: {d.applicant}", align="left", space_after=2),
        *_contact_lines(d),
        P(f"Nội dung yêu cầu giải quyết: {defn.name}{code_note(defn)}", align="left", space_after=2),
        P(f"Qua xem xét, {one_stop} thông báo không tiếp nhận, giải quyết hồ sơ này với lý do cụ thể như sau:",
          align="justify", space_after=2),
        P(f"Lý do: {ev.comment.strip() or '……………………'}", bold=True, align="left", space_after=2),
        P("Xin thông báo cho Ông/Bà được biết và thực hiện./.", align="justify"),
        _signature(None, ("NGƯỜI TIẾP NHẬN HỒ SƠ", who)),
    ]
    return _form_doc(ctx, spec, b)


def _form_apology(ctx: FormContext, spec: FormSpec) -> Doc:
    d, defn = ctx.dossier, ctx.definition
    ap = ctx.sheet.apologies[-1]
    before = ctx.sheet.apologies[-2] if len(ctx.sheet.apologies) > 1 else None  # the date it gave was missed too
    unit = ctx.unit_name(apology_unit_id(ap, ctx.units))
    extension = ctx.form_set.key == "2025"
    b: list[Any] = _form_header(ctx, spec, number="Số: ……/PXL", date=ap.drafted_at, agency=unit)
    b += [
        P(f"Kính gửi: {_addressee(d.applicant)}", bold=True, align="center"),
        P(f"{vn_date(d.received_at).capitalize()}, {_one_stop_unit(ctx)} tiếp nhận hồ sơ của Ông/Bà đề nghị "
          f"giải quyết thủ tục hành chính “{defn.name}”.", indent=True),
        P(f"Mã hồ sơ: {d.code}.", indent=True, space_after=2),
        P(f"Ngày hẹn trả kết quả giải quyết hồ sơ: {vn_instant(ap.due_at)}.", indent=True),
        P(_late_clause(unit, ap.due_at, ap.drafted_at, before.drafted_at if before is not None else None),
          indent=True),
        P(f"Lý do: {ap.reason.strip() or '……………………………………'}", indent=True),
        P("Sự chậm trễ này đã gây phiền hà cho Ông/Bà. Chúng tôi xin lỗi Ông/Bà và "
          + ("đề nghị được gia hạn thời gian giải quyết hồ sơ; thời hạn trả kết quả mới là "
             if extension else "xin hẹn lại thời gian trả kết quả vào ")
          + f"{vn_instant(ap.proposed_due_at)}.", bold=False, indent=True),
        P("Trân trọng./.", indent=True),
        Columns([[P("Nơi nhận:", bold=True, italic=True, align="left", size=11, space_after=0),
                  P("- Như trên;", align="left", size=10, space_after=0),
                  P(f"- {_one_stop_unit(ctx)};", align="left", size=10, space_after=0),
                  P("- Lưu: VT.", align="left", size=10, space_after=0)],
                 [P(head_title(unit), bold=True, align="center", space_after=0),
                  P("(Ký, ghi rõ họ tên và đóng dấu)", italic=True, align="center", size=11)]], (1, 1)),
    ]
    return _form_doc(ctx, spec, b)


def apology_unit_id(apology: Any, units: Mapping[str, Any]) -> str | None:
    """The unit that issues an apology (form 04), whose head signs it: a signed one, the unit whose head
    signed it (its ``unit_id`` since then); a draft, the unit it was drafted for, or, when that unit was merged
    into another (``units``: unit id -> row with ``merged_into``), the unit that signs it now, before
    ``quytrinh unit transfer`` moves the draft as after (``engine.services.apology_signer``)."""
    if apology.state != "draft" or not apology.unit_id:
        return apology.unit_id
    merged = {uid: u.merged_into for uid, u in units.items() if getattr(u, "merged_into", None)}
    return resolve_successor(apology.unit_id, merged) or apology.unit_id


def _addressee(applicant: str) -> str:
    """``Ông/Bà Trần Thị Bình`` (the letters say Ông/Bà); a name already titled is left as it is."""
    name = (applicant or "").strip()
    if not name:
        return "Ông/Bà ……………………"
    if re.match(r"(ông|bà|anh|chị)\b", name, flags=re.I | re.U):
        return name
    return f"Ông/Bà {name}"


def _late_clause(unit: str, due_at: dt.datetime, drafted_at: dt.datetime,
                 earlier_letter: dt.datetime | None) -> str:
    """The sentence saying the appointment is missed (``earlier_letter``: when the appointment was given by
    an earlier apology, the day that one was drafted). Drafted before the appointment (the timers draft
    the letter a working day ahead), it is still to come: the unit *will not* return the result then.
    Drafted on or after it: it *has not* returned the result."""
    given = (f"đã hẹn lại tại văn bản xin lỗi lập {vn_date(earlier_letter)}" if earlier_letter is not None
             else "ghi trên Giấy tiếp nhận hồ sơ và hẹn trả kết quả")
    if drafted_at < due_at:
        return (f"Tuy nhiên, {unit} dự kiến không trả được kết quả giải quyết hồ sơ của Ông/Bà đúng hẹn vào "
                f"{vn_instant(due_at)} như {given if earlier_letter is not None else 'đã ' + given}.")
    return (f"Tuy nhiên đến nay, {unit} chưa trả kết quả giải quyết hồ sơ của Ông/Bà đúng thời hạn "
            f"{given if earlier_letter is not None else 'quy định ' + given}.")


def head_title(unit_name: str) -> str:
    """The signing title of the head of a unit, upper case: ``TRƯỞNG PHÒNG TÀI CHÍNH – KẾ HOẠCH``,
    ``CHÁNH VĂN PHÒNG …``, ``TRƯỞNG BỘ PHẬN …``; ``THỦ TRƯỞNG …`` for any other kind of unit."""
    name = unit_name.strip()
    for prefix, title in (("văn phòng", "CHÁNH"), ("phòng", "TRƯỞNG"), ("bộ phận", "TRƯỞNG"), ("ban", "TRƯỞNG")):
        if name.lower().startswith(prefix + " "):
            return f"{title} {name.upper()}"
    return f"THỦ TRƯỞNG {name.upper()}"


def _form_stop(ctx: FormContext, spec: FormSpec) -> Doc:
    d, defn = ctx.dossier, ctx.definition
    ev = _event(ctx, "stop")
    b: list[Any] = _form_header(ctx, spec, number="Số: ……/TB", date=ev.at)
    b += [
        P(f"Kính gửi: {_addressee(d.applicant)}", bold=True, align="center"),
        P(f"Mã hồ sơ: {d.code}; thủ tục hành chính: {defn.name}{code_note(defn)}; tiếp nhận "
          f"{vn_instant(d.received_at)}.", indent=True),
        P(f"{_one_stop_unit(ctx)} thông báo dừng giải quyết hồ sơ nêu trên kể từ {vn_instant(ev.at)}.", indent=True),
        P(f"Lý do: {ev.comment.strip() or '……………………'}", bold=True, indent=True),
        P("Xin thông báo cho Ông/Bà được biết./.", indent=True),
        _signature(None, ("NGƯỜI THÔNG BÁO", _staff_name(ctx, ev.actor))),
    ]
    return _form_doc(ctx, spec, b)


def _timeliness_label(row: Any) -> str:
    from engine.sla import Timeliness

    if row.kind == "citizen":
        return "Tạm dừng tính thời gian"
    if row.state == "cancelled":
        return "Đã hủy"
    if row.timeliness:
        try:
            cls = Timeliness(row.timeliness)
        except ValueError:
            return row.timeliness
        return "Quá hạn" if cls == Timeliness.LATE else cls.label  # the form's own words: Trước/Đúng/Quá hạn
    return "Đang xử lý" if row.state in ("open", "claimed") else ""


def _senders(ctx: FormContext) -> dict[int, int | None]:
    """Work item id -> the work item whose completion opened it (None: opened by the reception)."""
    out: dict[int, int | None] = {}
    rows = ctx.sheet.rows
    for row in rows:
        best = None
        for e in ctx.sheet.events:
            if row.step_id in (e.to_steps or []) and e.at <= row.opened_at:
                best = e
        out[row.item_id] = best.work_item_id if best is not None and best.work_item_id != row.item_id else None
    return out


def partner_units(ctx: FormContext) -> list[str]:
    """The agencies the dossier's process goes through besides the handling one (liên thông), by name, in
    the order of the definition's steps, whether or not their work has started: units of kind
    ``external`` (tax office, land registry, the commune where the land lies…) and units of another level
    than the procedure's (a district office in a commune-level process). Then any such unit a work item
    was opened at that the definition does not name (a process changed since)."""
    out: list[str] = []

    def add(unit_id: str | None) -> None:
        row = ctx.units.get(unit_id or "")
        if row is None:
            return
        other_level = row.level not in ("any", ctx.definition.level) and row.kind not in ("citizen",)
        if (row.kind == "external" or other_level) and row.name not in out:
            out.append(row.name)

    for st in ctx.definition.steps:
        if not st.paused:
            add(st.unit)
    for r in ctx.sheet.rows:
        if r.kind != "citizen":
            add(r.unit_id)
    return out


#: Column headers of the process-control sheet.
CONTROL_COLUMNS = ("TT", "Bước xử lý", "Giao / Nhận hồ sơ", "Thời gian giao, nhận", "Thời gian được giao",
                   "Thời gian thực hiện", "Kết quả (Trước hạn/Đúng hạn/Quá hạn)", "Ghi chú")


def _form_control(ctx: FormContext, spec: FormSpec) -> Doc:
    d, defn = ctx.dossier, ctx.definition
    senders = _senders(ctx)
    by_id = {r.item_id: r for r in ctx.sheet.rows}
    handovers = item_handovers(ctx.sheet, ctx.unit_name)
    rows = []
    for i, r in enumerate(ctx.sheet.rows, 1):
        src = by_id.get(senders.get(r.item_id) or -1)
        giver = ctx.unit_name(src.unit_id) if src is not None else (
            "Tổ chức, cá nhân" if i == 1 else _one_stop_unit(ctx))
        taker = ctx.unit_name(r.unit_id) if r.kind != "citizen" else "Tổ chức, cá nhân"
        if r.item_id in handovers:  # moved from a merged unit: who had it before, and since when this one
            taker += f" ({handovers[r.item_id]})"
        times = f"Giao: {short_instant(r.opened_at)}"
        if r.closed_at:
            times += f"\nXong: {short_instant(r.closed_at)}"
        note = []
        if r.assignee:
            note.append(_staff_name(ctx, r.assignee))
        if r.outcome:
            note.append(ctx.sheet.definition.outcome_label(r.step_id, r.outcome))
        rows.append([C(str(i), align="center"), C(r.step_name), C(f"Giao: {giver}\nNhận: {taker}"), C(times),
                     C(_allotted_text(r.allotted_minutes, defn.time_limit) if r.kind != "citizen" else "Không tính", align="center"),
                     C(duration_short(r.spent_minutes), align="center"),
                     C(_timeliness_label(r), align="center"), C("\n".join(note))])
    from engine.machine import Status
    from engine.sla import Timeliness

    overall = ""
    if ctx.sheet.timeliness:
        try:
            overall = Timeliness(ctx.sheet.timeliness).label
        except ValueError:
            overall = ctx.sheet.timeliness
    coop = partner_units(ctx)
    b: list[Any] = _form_header(ctx, spec, date=d.received_at or d.registered_at)
    b += [
        P(f"Mã hồ sơ: {d.code}", bold=True, align="center"),
        P(f"Kèm theo hồ sơ của: {d.applicant}", align="left", space_after=2),
        P(f"Thủ tục hành chính: {defn.name}{code_note(defn)}", align="left", space_after=2),
        P(f"Cơ quan (bộ phận) giải quyết hồ sơ: {defn.authority or '……'}", align="left", space_after=2),
        P(f"Cơ quan phối hợp giải quyết hồ sơ: {', '.join(coop) if coop else 'Không'}", align="left", space_after=2),
        P(f"Nhận hồ sơ: {short_instant(d.received_at) or '…'}; hẹn trả: {short_instant(d.due_at) or '…'}; "
          f"trạng thái: {Status(d.status).label}" + (f"; {overall}" if overall else "") + ".", align="left"),
        Table([[C(h) for h in CONTROL_COLUMNS]], rows, (0.7, 3.2, 3.2, 2.8, 1.6, 1.6, 1.8, 1.9), size=9,
              css="control"),
        P("Thời gian tính theo giờ làm việc (1 ngày = 8 giờ); thời gian tạm dừng để tổ chức, cá nhân bổ sung hồ sơ "
          "hoặc thực hiện nghĩa vụ tài chính không tính.", italic=True, size=9),
    ]
    return _form_doc(ctx, spec, b)


_BUILDERS = {"receipt": _form_receipt, "supplement": _form_supplement, "refusal": _form_refusal,
             "apology": _form_apology, "stop": _form_stop, "control": _form_control}

#: Kinds accepted in place of a number (the same in both sets).
FORM_KINDS = tuple(_BUILDERS) + ("ledger",)


def form_doc(db: Any, form_code: str, dossier_ref: int | str, *, now: dt.datetime | None = None,
             organisation: Organisation | None = None, sheet: Any = None) -> Doc:
    """One form of one dossier as a layout (see :func:`render_form`)."""
    ctx = _context(db, dossier_ref, now, organisation, sheet)
    fs = ctx.form_set
    spec = fs.by_kind(form_code) if form_code in FORM_KINDS else fs.by_number(form_code)
    if spec is None:
        numbers = ", ".join(f"{f.number} ({f.kind})" for f in fs.forms)
        raise DocumentError(f"form '{form_code}' is not in the set of {fs.circular} that applies to dossier "
                            f"{ctx.dossier.code}; use one of {numbers}")
    if spec.kind == "ledger":
        raise DocumentError(f"form {spec.number} is the ledger of many dossiers; use `quytrinh ledger` "
                            "(render_ledger)")
    _check_applicable(ctx, spec)
    return _BUILDERS[spec.kind](ctx, spec)


def render_form(db: Any, form_code: str, dossier_ref: int | str, *, fmt: str = "html",
                now: dt.datetime | None = None, organisation: Organisation | None = None,
                sheet: Any = None) -> bytes:
    """One one-stop form filled from a dossier's data.

    Parameters
    ----------
    db:
        Store, engine or URL.
    form_code:
        The form's number in the dossier's set (``01`` ... ``06``/``07``; the
        set is chosen by :func:`form_set_for` from the reception date), or its
        kind: ``receipt``, ``supplement``, ``refusal``, ``apology``, ``stop``,
        ``control``.
    dossier_ref:
        Dossier code or id.
    fmt:
        ``html`` (print CSS, A5) or ``docx``.
    now:
        For the control sheet: open steps' spent time and class at this instant.
    organisation:
        The organisation (header); default: the catalogue's units.yaml.
    sheet:
        The dossier's ``engine.services.dossier_sheet`` at ``now`` when the caller already has it (the
        web page reads it to check access); default: read here.

    Returns
    -------
    bytes

    Raises
    ------
    NotFound
        Unknown dossier.
    DocumentError
        Unknown form or format; the dossier has no such form yet (e.g. no refusal).
    """
    _check_fmt(fmt)
    doc = form_doc(db, form_code, dossier_ref, now=now, organisation=organisation, sheet=sheet)
    return to_docx(doc) if fmt == "docx" else to_html(doc)


# --------------------------------------------------------------------------- the ledger


def book_volume(year: int) -> str:
    """"Quyển số" as form 01 and the ledger print it: ``01/2026``. A one-stop unit opens one book a year
    (the electronic book never fills up, so there is no second one in a year), numbered as Vietnamese
    registers are, number/year of opening."""
    return f"01/{year}"


@dataclass(frozen=True)
class BookEntry:
    """Where a dossier is entered in the Sổ theo dõi hồ sơ: the book (a one-stop unit's, and for a
    commune-level dossier its commune's: ``dossiers.ledger_book``; and the year of registration) and
    the entry's number in it."""

    key: str  # dossiers.ledger_book: engine.store.ledger_book_key
    year: int  # of registration, Hanoi time
    number: int  # "Số thứ tự": given at registration (dossiers.ledger_no)

    @property
    def volume(self) -> str:
        """"Quyển số": ``01/<year>``."""
        return book_volume(self.year)


def book_number(s: Any, dossier: Any) -> BookEntry:
    """A dossier's entry in the ledger: the book is its one-stop unit's (``dossiers.ledger_book``: the
    unit that registered it, and for a commune-level dossier its commune) for the year of its
    registration (Hanoi time); the number is the one it was given when registered (``dossiers.ledger_no``:
    the book's last number plus one, every channel counted: counter, online, post).

    Form 01 prints it ("Vào Sổ theo dõi hồ sơ, Quyển số: 01/2026 Số thứ tự: 123"); the ledger's first
    column is the same number, whatever period is printed. It is stored, so it never changes, whatever is
    registered later (even a dossier entered afterwards with an earlier instant of receipt).

    A row written by other means than the services (a bulk load) has no stored number: it gets its rank
    among the book's registrations of the year (by instant, then id), counted on ``ix_dossiers_ledger_book``.
    ``dossier``: anything with ``ledger_book``, ``ledger_year``, ``ledger_no``, ``registered_at`` and ``id``.
    """
    from sqlmodel import func, select

    from engine.store import Dossier

    key = dossier.ledger_book or ""
    if getattr(dossier, "ledger_no", None) is not None:
        return BookEntry(key, int(dossier.ledger_year), int(dossier.ledger_no))
    year = to_local(dossier.registered_at).year
    start, _ = _day_bounds(dt.date(year, 1, 1), dt.date(year, 1, 1))
    at = dossier.registered_at
    # Two counts rather than one with an OR: the first is a range of ix_dossiers_ledger_book (ledger_book,
    # registered_at, id), counted by PostgreSQL with an index-only scan, the second the few registered at
    # the same instant up to this one (index-only too: the id is in the index).
    earlier = select(func.count()).select_from(Dossier).where(
        Dossier.ledger_book == key, Dossier.registered_at >= start, Dossier.registered_at < at).scalar_subquery()
    same = select(func.count()).select_from(Dossier).where(
        Dossier.ledger_book == key, Dossier.registered_at == at, Dossier.id <= dossier.id).scalar_subquery()
    n = s.exec(select(earlier + same)).one()
    return BookEntry(key, year, int(n))


def book_name(key: str, units: Mapping[str, Any]) -> str:
    """A book as the ledger names it: its one-stop unit's name (``units``: id -> row or unit with ``name``),
    followed by the commune for a commune's book: "Bộ phận Tiếp nhận và Trả kết quả cấp xã – Xã Bát Tràng"."""
    from engine.store import split_ledger_book

    unit, commune = split_ledger_book(key)
    row = units.get(unit)
    name = getattr(row, "name", "") or unit or "Bộ phận tiếp nhận và trả kết quả"
    return f"{name} – {commune}" if commune else name


def _day_bounds(date_from: dt.date, date_to: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = dt.timezone(dt.timedelta(hours=7))
    start = dt.datetime.combine(date_from, dt.time(0, 0), tz)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(0, 0), tz)
    return start, end


#: The ledger's column headers: (top header, sub-headers or None).
LEDGER_COLUMNS: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("TT", None), ("Mã hồ sơ", None), ("Tên TTHC", None), ("Số lượng hồ sơ (bộ)", None),
    ("Tên cá nhân, tổ chức", None), ("Địa chỉ, số điện thoại", None), ("Cơ quan chủ trì giải quyết", None),
    ("Ngày, tháng, năm", ("Nhận hồ sơ", "Hẹn trả kết quả", "Chuyển hồ sơ đến cơ quan giải quyết",
                          "Nhận kết quả từ cơ quan giải quyết", "Trả kết quả cho cá nhân, tổ chức")),
    ("Ký nhận", None), ("Ghi chú", None),
)


@dataclass
class LedgerRow:
    """One dossier of the ledger."""

    code: str
    procedure: str
    applicant: str
    contact: str
    lead_unit: str
    received_at: dt.datetime | None
    due_at: dt.datetime | None  # the appointment in force (moved by a pause, a restart)
    transferred_at: dt.datetime | None
    result_at: dt.datetime | None
    returned_at: dt.datetime | None
    note: str
    first_due_at: dt.datetime | None = None  # the appointment of the first receipt, when it was moved since
    number: int = 0  # the entry's number in its book (book_number), as form 01 prints it
    book: str = ""  # the book's key (dossiers.ledger_book)
    year: int = 0  # the book's year (of registration)
    book_name: str = ""  # the book's one-stop unit (and commune), as the ledger names it (book_name)

    @property
    def volume(self) -> str:
        """"Quyển số" of the entry's book: ``01/<year>``."""
        return book_volume(self.year)


@dataclass
class LedgerPage:
    """A slice of the ledger: its rows, the number of dossiers in the whole period (with the unit
    and book filters) and the position in the period of the first row (0 for the first)."""

    rows: list[LedgerRow]
    total: int
    offset: int = 0

    @property
    def partial(self) -> bool:
        """Whether the slice leaves some of the period's dossiers out."""
        return len(self.rows) < self.total

    @property
    def books(self) -> list[tuple[str, int, str]]:
        """(key, year, name) of the books the slice's rows are entered in, in the rows' order."""
        seen: dict[tuple[str, int], str] = {}
        for r in self.rows:
            seen.setdefault((r.book, r.year), r.book_name)
        return [(k, y, n) for (k, y), n in seen.items()]


def ledger_rows(db: Any, *, date_from: dt.date, date_to: dt.date, unit: str | None = None,
                book: str | None = None, now: dt.datetime | None = None, offset: int = 0,
                limit: int | None = None) -> list[LedgerRow]:
    """The dossiers registered between two days inclusive, Hanoi time, book by book (the books' keys in
    order), each book's oldest first.

    ``unit``: only dossiers with a step at this unit. ``book``: only the dossiers of this book (a
    ``dossiers.ledger_book`` key: ``bp_mot_cua``, ``xa_mot_cua/Xã Bát Tràng``; :func:`ledger_books`).
    ``now``: an open dossier's class is the one at that instant (else the one the timers last stored).
    ``offset``/``limit``: only that slice of the period's rows (the on-screen pages); each row keeps its
    number in its book.
    """
    return ledger_page(db, date_from=date_from, date_to=date_to, unit=unit, book=book, now=now, offset=offset,
                       limit=limit).rows


def ledger_books(db: Any, *, date_from: dt.date, date_to: dt.date,
                 unit: str | None = None) -> list[tuple[str, str]]:
    """(key, name) of the books with dossiers registered in the period (with a step at ``unit``), in the
    ledger's order: what the ledger's page offers to print one book of."""
    from sqlalchemy import exists
    from sqlmodel import select

    from engine.services import _reading
    from engine.store import Dossier, UnitRow, WorkItem

    if date_to < date_from:
        raise DocumentError(f"the ledger period ends ({date_to}) before it starts ({date_from})")
    start, end = _day_bounds(date_from, date_to)
    with _reading(db) as s:
        units = {u.id: u for u in s.exec(select(UnitRow)).all()}
        where: tuple[Any, ...] = (Dossier.registered_at >= start, Dossier.registered_at < end)
        if unit is not None:
            where += (exists().where(WorkItem.dossier_id == Dossier.id, WorkItem.unit_id == unit),)
        keys = s.exec(select(Dossier.ledger_book).where(*where).distinct().order_by(Dossier.ledger_book)).all()
    return [(k, book_name(k, units)) for k in keys]


def find_book(text: str, books: Iterable[tuple[str, str]]) -> str | None:
    """The key of the book of ``books`` ((key, name), :func:`ledger_books`) that ``text`` names: its key,
    its one-stop unit's id (a book without a commune), or its commune as units.yaml writes it or as
    :func:`engine.definition.find_commune` reads it ("Bát Tràng" for "Xã Bát Tràng"). None when none or
    several do."""
    from engine.definition import find_commune
    from engine.store import split_ledger_book

    keys = [k for k, _ in books]
    text = (text or "").strip()
    if text in keys:
        return text
    plain = [k for k in keys if split_ledger_book(k) == (text, "")]
    if len(plain) == 1:
        return plain[0]
    by_commune: dict[str, list[str]] = {}
    for k in keys:
        unit, commune = split_ledger_book(k)
        if commune:
            by_commune.setdefault(commune, []).append(k)
    commune = find_commune(text, by_commune) if text else None
    if commune is not None and len(by_commune[commune]) == 1:
        return by_commune[commune][0]
    return None


def ledger_page(db: Any, *, date_from: dt.date, date_to: dt.date, unit: str | None = None,
                book: str | None = None, now: dt.datetime | None = None, offset: int = 0,
                limit: int | None = None) -> LedgerPage:
    """The rows of :func:`ledger_rows` from ``offset`` (``limit`` of them; all without it) and the
    number of the period's dossiers (counted by one more statement when a limit is given).

    Only the slice's dossiers and their work items are read: the dossiers by (ledger_book,
    registered_at, id) with LIMIT/OFFSET (``ix_dossiers_registered_at`` for the period, or
    ``ix_dossiers_ledger_book`` for one book), the unit filter as an EXISTS on the work items; the
    numbers as given at registration (``dossiers.ledger_no``). Rows without one (written by a bulk
    load) are numbered from the first dossier's of their book and year in the slice
    (:func:`book_number`), counted on from there (with a unit filter, over the keys of every dossier of
    that book between the slice's first and last of it: the dossiers the filter hides keep their numbers).
    """
    from sqlalchemy import exists
    from sqlmodel import func, select

    from engine import sla
    from engine.machine import Status, load_clock
    from engine.services import _default_calendar, _reading, definition_of
    from engine.sla import Timeliness
    from engine.store import DefinitionVersion, Dossier, UnitRow, WorkItem, utc

    if date_to < date_from:
        raise DocumentError(f"the ledger period ends ({date_to}) before it starts ({date_from})")
    offset = max(0, offset)
    start, end = _day_bounds(date_from, date_to)
    out: list[LedgerRow] = []
    with _reading(db) as s:
        units = {u.id: u for u in s.exec(select(UnitRow)).all()}
        if unit is not None and unit not in units:
            raise DocumentError(f"unknown unit '{unit}'; see units.yaml")
        in_period: tuple[Any, ...] = (Dossier.registered_at >= start, Dossier.registered_at < end)
        if book is not None:
            in_period += (Dossier.ledger_book == book,)
        if unit is not None:
            in_period += (exists().where(WorkItem.dossier_id == Dossier.id, WorkItem.unit_id == unit),)
        query = select(Dossier).where(*in_period).order_by(Dossier.ledger_book, Dossier.registered_at, Dossier.id)
        if limit is not None:
            query = query.offset(offset).limit(max(0, limit))
        elif offset:
            query = query.offset(offset)
        dossiers = s.exec(query).all()
        if limit is None or (len(dossiers) < limit and (dossiers or not offset)):
            total = offset + len(dossiers)  # the slice reaches the period's end: nothing to count
        else:
            total = int(s.exec(select(func.count()).select_from(Dossier).where(*in_period)).one())
        # The slice's work items in one statement (not one per dossier: 13 s for a month of 4,300
        # dossiers on PostgreSQL), only the columns read below, grouped by dossier in id order.
        items_of: dict[int, list[Any]] = {}
        if dossiers:
            ids_in = ([d.id for d in dossiers] if limit is not None or offset
                      else select(Dossier.id).where(*in_period))
            rows = s.execute(
                select(WorkItem.dossier_id, WorkItem.step_id, WorkItem.state, WorkItem.kind, WorkItem.unit_id,
                       WorkItem.opened_at, WorkItem.closed_at)
                .where(WorkItem.dossier_id.in_(ids_in))
                .order_by(WorkItem.dossier_id, WorkItem.id)).all()
            for w in rows:
                items_of.setdefault(w.dossier_id, []).append(w)
        # Numbers: every dossier counts in its book, whether or not the unit filter shows it.
        groups: dict[tuple[str, int], list[Any]] = {}  # (book, year) -> the slice's dossiers of it, in order
        for d in dossiers:
            groups.setdefault((d.ledger_book, to_local(d.registered_at).year), []).append(d)
        stored = {d.id: d.ledger_no for d in dossiers if d.ledger_no is not None}  # given at registration
        number_of: dict[int, int] = {}
        for (key, _year), members in groups.items():
            if all(d.id in stored for d in members):
                continue  # (only rows a bulk load wrote have none: those are counted)
            first_number = book_number(s, members[0]).number
            if unit is None or len(members) == 1:  # the book's entries of the period are all there, in order
                number_of.update((d.id, first_number + i) for i, d in enumerate(members))
                continue
            first, last = members[0], members[-1]
            keys = s.execute(
                select(Dossier.registered_at, Dossier.id)
                .where(Dossier.ledger_book == key, Dossier.registered_at >= first.registered_at,
                       Dossier.registered_at <= last.registered_at)
                .order_by(Dossier.registered_at, Dossier.id)).all()
            ids = [k.id for k in keys]
            shown = ids[ids.index(first.id):ids.index(last.id) + 1]
            number_of.update((i, first_number + n) for n, i in enumerate(shown))
        number_of.update(stored)
        ids = sorted({d.definition_id for d in dossiers})
        versions = {v.id: v for v in s.exec(select(DefinitionVersion).where(
            DefinitionVersion.id.in_(ids))).all()} if ids else {}  # type: ignore[union-attr]
        defs: dict[int, Definition] = {}
        names: dict[str, str] = {}
        for d in dossiers:
            number = number_of[d.id]
            items = items_of.get(d.id, [])
            if d.definition_id not in defs:
                defs[d.definition_id] = definition_of(versions[d.definition_id])
            defn = defs[d.definition_id]
            start_item = next((w for w in items if w.step_id == defn.start.id and w.state == "done"), None)
            ret = [w for w in items if w.kind == "return"]
            lead = next((w.unit_id for w in items if w.unit_id and w.kind not in ("return", "citizen")
                         and getattr(units.get(w.unit_id), "kind", "") not in ("one_stop",)), None)
            note = [Status(d.status).label]
            cls = d.timeliness
            clock = load_clock(d.clock) if now is not None else None
            if clock is not None and not clock.closed and d.paused_at is None:
                cls = str(sla.timeliness_open(clock, _default_calendar(), utc(now), scope=sla.Scope.DOSSIER))
            if cls:
                try:
                    note.append(Timeliness(cls).label)
                except ValueError:
                    note.append(cls)
            due = d.due_at or d.original_due_at
            if d.ledger_book not in names:
                names[d.ledger_book] = book_name(d.ledger_book, units)
            out.append(LedgerRow(
                d.code, defn.name, d.applicant, d.applicant_contact,
                units[lead].name if lead in units else "",
                d.received_at, due,
                start_item.closed_at if start_item is not None and d.received_at else None,
                ret[-1].opened_at if ret and d.result == "result" else d.finished_at,
                d.closed_at if d.status == Status.RETURNED else None, "; ".join(note),
                d.original_due_at if d.original_due_at not in (None, due) else None, number,
                d.ledger_book, to_local(d.registered_at).year, names[d.ledger_book]))
    return LedgerPage(out, total, offset)


def ledger_doc(db: Any, *, date_from: dt.date, date_to: dt.date, unit: str | None = None,
               book: str | None = None, organisation: Organisation | None = None, now: dt.datetime | None = None,
               page: LedgerPage | None = None) -> Doc:
    """The ledger as a layout (see :func:`render_ledger`); ``page``: the rows already read by
    :func:`ledger_page` (a slice: its closing line gives the period's total and the slice's rows).

    Rows of one book: "Quyển số: 01/2026 – <its one-stop unit>" under the period, and the first column
    (TT) is each row's number in it. Rows of several books (the one-stop units of the district and of
    its communes, or two years): each book's rows under a line of the table naming it."""
    from engine.store import split_ledger_book

    if page is None:
        page = ledger_page(db, date_from=date_from, date_to=date_to, unit=unit, book=book, now=now)
    rows = page.rows
    fs = form_set_for(date_from)
    spec = fs.by_kind("ledger")
    assert spec is not None
    org = organisation or _organisation()
    org_name = _org_name(org)
    unit_name = ""
    if unit is not None:
        unit_name = org.units[unit].name if org and unit in org.units else unit
    if book is not None:  # one book: headed by its one-stop unit (and for a commune's, by the commune)
        book_unit, commune = split_ledger_book(book)
        if commune:
            org_name = f"Ủy ban nhân dân {commune[0].lower() + commune[1:]}"
        if not unit_name and org and book_unit in org.units:
            unit_name = org.units[book_unit].name
    books = page.books
    top: list[Cell] = []
    sub: list[Cell] = []
    for title, children in LEDGER_COLUMNS:
        if children:
            top.append(C(title, colspan=len(children)))
            sub.extend(C(c) for c in children)
        else:
            top.append(C(title, rowspan=2))
    ncols = sum(len(c) if c else 1 for _, c in LEDGER_COLUMNS)
    numbers = [C(f"({i})", align="center") for i in range(1, ncols + 1)]
    body: list[list[Cell]] = []
    heading: tuple[str, int] | None = None
    for r in rows:
        if len(books) > 1 and (r.book, r.year) != heading:
            heading = (r.book, r.year)
            body.append([C(f"Quyển số {r.volume} – {r.book_name}", bold=True, colspan=ncols)])
        body.append([C(str(r.number), align="center"), C(r.code), C(r.procedure), C("01", align="center"),
                     C(r.applicant), C(r.contact), C(r.lead_unit), C(short_instant(r.received_at)),
                     C(short_instant(r.due_at) + (f" (hẹn lần đầu {short_instant(r.first_due_at)})"
                                                  if r.first_due_at else "")),
                     C(short_instant(r.transferred_at)), C(short_instant(r.result_at)),
                     C(short_instant(r.returned_at)), C(""), C(r.note)])
    blocks: list[Any] = [
        P(f"Mẫu số {spec.number} ({fs.circular})", italic=True, align="right", size=9, space_after=2),
        Columns([[P(org_name.upper(), align="center", size=11, space_after=0),
                  P(unit_name.upper() or "BỘ PHẬN TIẾP NHẬN VÀ TRẢ KẾT QUẢ", bold=True, align="center", size=11,
                    space_after=0), Rule(0.35)],
                 [P(NATIONAL, bold=True, align="center", size=11, space_after=0, nowrap=True),
                  P(MOTTO, bold=True, align="center", size=12, space_after=0), Rule(0.6)]], (2, 3)),
        P(spec.title, bold=True, align="center", size=14, space_after=0),
        P(f"Từ {vn_date(date_from)} đến {vn_date(date_to)}", italic=True, align="center",
          size=12, space_after=0 if len(books) == 1 else 6),
        *([P(f"Quyển số: {book_volume(books[0][1])} – {books[0][2]}", align="center", size=12)]
          if len(books) == 1 else []),
        Table([top, sub, numbers], body, (0.5, 2.2, 3, 0.9, 1.8, 1.6, 1.8, 1.3, 1.3, 1.3, 1.3, 1.3, 0.9, 1.6),
              size=8, css="ledger"),
        P(f"Tổng số hồ sơ: {page.total}." if not page.partial else
          f"Tổng số hồ sơ của kỳ: {vn_count(page.total)}; trang này ghi các hồ sơ "
          f"{vn_count(page.offset + 1)}–{vn_count(page.offset + len(rows))}.", bold=True, align="left", size=11),
    ]
    note = fs.note
    return Doc(title=f"Sổ theo dõi hồ sơ {date_from:%d/%m/%Y}–{date_to:%d/%m/%Y}", paper=A4_LANDSCAPE,
               blocks=blocks, size=11, note=note)


def render_ledger(db: Any, *, date_from: dt.date, date_to: dt.date, unit: str | None = None, fmt: str = "html",
                  book: str | None = None, organisation: Organisation | None = None, now: dt.datetime | None = None,
                  page: LedgerPage | None = None) -> bytes:
    """The ledger (Sổ theo dõi hồ sơ) of the dossiers registered between two days, inclusive.

    Each one-stop unit keeps its book (a commune's one-stop unit its commune's), one a year: a row's
    first column is the dossier's number in its book, the number its form 01 prints (:func:`book_number`).

    Parameters
    ----------
    db:
        Store, engine or URL.
    date_from, date_to:
        Days in Hanoi time, inclusive.
    unit:
        Only dossiers with a step at this unit (unit id).
    book:
        Only the dossiers of this book (``dossiers.ledger_book``: ``bp_mot_cua``, ``xa_mot_cua/Xã Bát
        Tràng``; :func:`ledger_books`, :func:`find_book`), the header naming its unit (and commune);
        without it every book's, each under a line naming it when there are several.
    fmt:
        ``html`` (print CSS, A4 landscape) or ``docx``.
    now:
        The open dossiers' class (Chưa đến hạn / Sắp đến hạn / Quá hạn) at this instant; without it,
        the class the timers last stored.
    page:
        Only these rows (:func:`ledger_page` with a limit: the web's on-screen pages); without it,
        every dossier of the period (what is printed, filed and downloaded as Word).

    Returns
    -------
    bytes

    Raises
    ------
    DocumentError
        Bad period, unknown unit or format.
    """
    _check_fmt(fmt)
    doc = ledger_doc(db, date_from=date_from, date_to=date_to, unit=unit, book=book, organisation=organisation,
                     now=now, page=page)
    return to_docx(doc) if fmt == "docx" else to_html(doc)


__all__ = [
    "DocumentError", "FormSet", "FormSpec", "FORMS_2018", "FORMS_2025", "FORM_SETS", "REGIME_2025_FROM",
    "form_set_for", "render_form", "render_ledger", "render_decision", "select_procedures", "decision_doc",
    "form_doc", "ledger_doc", "ledger_rows", "ledger_page", "LedgerPage", "ledger_books", "find_book", "book_number",
    "BookEntry", "book_volume", "book_name", "vn_count", "annex_table", "total_line",
    "ANNEX_COLUMNS", "CONTROL_COLUMNS",
    "LEDGER_COLUMNS", "Doc", "to_html", "to_docx", "vn_date", "vn_instant", "working_time_text",
    "agency_lines", "place_from_organisation", "legal_bases", "decision_forms", "limit_text", "split_contact",
    "decision_gaps", "decision_gap_groups",
]
