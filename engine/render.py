"""Diagrams of internal processes, drawn with graphviz.

One diagram per definition: a swimlane (graphviz cluster) per unit, in the
order the units first appear along the process; a box per step with its
Vietnamese name, responsible role and working time; the outcomes on the
edges; citizen steps (clock paused), signature steps and terminal steps
(result or refusal) drawn distinctly; parallel splits as a "song song"
gateway; bounded rework loops dashed with their bound; and a header with the
code, name, version, status and the total working time against the legal
limit.

The renderer only reads the model (it never changes a definition). The same
input gives byte-identical output: node ids are the step ids, everything is
emitted in a fixed order, and the graphviz version comment is stripped. So
:func:`render` and :func:`render_many` keep what they drew in memory (a bounded
LRU, :data:`CACHE_ENTRIES`, :data:`CACHE_BYTES`) keyed by a hash of the
definition and units, the options and graphviz's version: the draft decision
redrew ~80 diagrams through ``dot`` on every request. Below it, what ``dot``
printed is kept on disk (:class:`DiskCache`, ``$XDG_CACHE_HOME/quytrinh/diagrams``,
bounded) keyed by a hash of the DOT source, the format and graphviz's version, so
a new process (the CLI's draft decision, the web app after a restart) does not
lay out again what an earlier one did.

Every text in a diagram is Vietnamese; identifiers and comments are English.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import shutil
import tempfile
import textwrap
import threading
import time
import weakref
from collections import OrderedDict, deque
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Sequence, TypeVar

import graphviz

from engine.definition import (
    MINUTES_PER_DAY,
    STATUS_LABELS,
    Definition,
    Organisation,
    Route,
    Step,
    TimeLimit,
    Unit,
    format_minutes,
    format_number,
)
from engine.errors import QuytrinhError
from engine.graph import critical_path

if TYPE_CHECKING:  # pragma: no cover
    from engine.reports import HeatCell

T = TypeVar("T")

#: Output formats `render` accepts.
FORMATS = ("svg", "png", "pdf")

#: The font every text is laid out with; it has every Vietnamese glyph (Debian
#: package fonts-dejavu-core). SVG viewers without it fall back to the next ones.
FONT = "DejaVu Sans"
SVG_FONT_FALLBACK = "DejaVu Sans, Arial, Helvetica, sans-serif"

#: Lane label of the steps the applicant performs (citizen steps).
CITIZEN_LANE = "Tổ chức, cá nhân"
#: Lane label of steps that name no unit.
NO_UNIT_LANE = "Chưa xác định đơn vị"

#: Characters per line of a step name inside its box.
NAME_WIDTH = 30
#: Most characters on the line of a step's responsible role and working time (10 pt); a longer one is cut
#: into lines of about even length (:func:`_balanced_lines`). Unwrapped, a long role ("Hội đồng xác định mức
#: độ khuyết tật (Chủ tịch UBND xã làm Chủ tịch Hội đồng) · 17,5 ngày", 88 characters) made its box, its lane
#: and the whole diagram twice as wide as the names need; the common ones ("Viên chức Chi nhánh Văn phòng
#: Đăng ký đất đai · 5,5 ngày", 56) stay on one line, so their boxes do not grow taller (the annex's top to
#: bottom diagrams are most often too tall, not too wide, for their page).
FACTS_WIDTH = 56
#: Characters per line of the procedure name in the header.
HEADER_WIDTH = 90

#: Layout directions: ``LR`` (the default: the process runs left to right, the lanes stacked) and
#: ``TB`` (top to bottom, the lanes side by side; the draft decision's annex uses it to fit an A4 page).
#: Per direction: graphviz rankdir, space between nodes of a rank and between ranks (inches).
DIRECTIONS: Mapping[str, tuple[str, str, str]] = {"LR": ("LR", "0.35", "0.45"), "TB": ("TB", "0.2", "0.3")}

#: Highlight styles for the web app and documents: name -> (Vietnamese tag
#: shown in the box, node attributes overriding the base style, extra style
#: keywords). The only place these looks are defined.
HIGHLIGHT_STYLES: Mapping[str, tuple[str, Mapping[str, str], tuple[str, ...]]] = {
    "current": ("● Đang xử lý", {"color": "#1f5fbf", "fillcolor": "#dbe8fb", "penwidth": "3"}, ()),
    "overdue": ("▲ Quá hạn", {"color": "#c0392b", "fillcolor": "#f9d6d2", "penwidth": "3"}, ()),
    "paused": ("‖ Đang tạm dừng", {"color": "#6e6e6e", "fillcolor": "#e6e6e6", "penwidth": "3"}, ("dashed",)),
    # Purple: no other look of a step is (green is a result step, red a refusal, blue the current step).
    "added": ("+ Bước mới", {"color": "#7d3c98", "fillcolor": "#ebdef0", "penwidth": "3"}, ()),
    "removed": ("− Bước bị bỏ", {"color": "#c0392b", "fillcolor": "#fdecea", "fontcolor": "#922b21",
                                 "penwidth": "2"}, ("dashed",)),
    "changed": ("✎ Bước thay đổi", {"color": "#b9770e", "fillcolor": "#fdebd0", "penwidth": "3"}, ()),
}

#: How an arrow to or from a step highlighted ``removed`` is drawn (a diff diagram: the route is gone too).
REMOVED_EDGE: Mapping[str, str] = {"color": "#c0392b", "fontcolor": "#922b21", "style": "dashed"}

# Lane colours by unit kind (units.yaml `kind`).
_LANE_FILL = {
    "one_stop": "#eaf2fb",
    "office": "#fdf6e3",
    "leadership": "#fbeaea",
    "clerk": "#eaf7ee",
    "external": "#f1eef6",
    "citizen": "#f7f7f7",
}

_INK = "#2c3e50"
_GREY = "#6e6e6e"
_REWORK = "#b9770e"
_REFUSAL = "#c0392b"
_RESULT = "#1e8449"

_GENERATOR_COMMENT = re.compile(rb"<!-- Generated by graphviz version [^>]*-->\n")
# cairo stamps PDFs with the time of drawing; the 14 digits are overwritten in
# place (same length, so the cross-reference offsets stay valid).
_PDF_DATES = re.compile(rb"(/(?:CreationDate|ModDate) \(D:)\d{14}")


class RenderError(QuytrinhError):
    """A diagram could not be drawn (graphviz missing or failed, bad highlight)."""


@dataclass(frozen=True)
class DiagramPart:
    """One page of a diagram split over several (the draft decision's annex, when the whole process would
    print too small on one A4 page).

    ``steps``: the ids of the steps drawn on this page. Every route between one of them and a step drawn on
    another page is drawn to an *off-page connector* (a dashed box in the other step's lane, id
    ``offpage-<step id>``) that names that step and where it is: ``elsewhere`` maps such a step id to that
    text ("Bước 7 · trang 2/3"). So each step is drawn on one page and each route on every page holding
    one of its ends, with its label and style.
    """

    steps: tuple[str, ...]
    elsewhere: tuple[tuple[str, str], ...] = ()


# --------------------------------------------------------------------------- helpers


def _units_map(units: Organisation | Mapping[str, Unit] | None) -> Mapping[str, Unit]:
    if units is None:
        return {}
    if isinstance(units, Organisation):
        return units.units
    return units


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _lines(text: str, width: int) -> list[str]:
    return textwrap.wrap(" ".join(text.split()), width=width, break_long_words=False,
                         break_on_hyphens=False) or [""]


def _balanced_lines(text: str, width: int) -> list[str]:
    """``text`` on one line when it has at most ``width`` characters, else on as few lines as
    :func:`_lines` at ``width`` gives, each about as long (not a full line and a short remainder)."""
    text = " ".join(text.split())
    if len(text) <= width:
        return [text]
    count = len(_lines(text, width))
    for narrower in range(-(-len(text) // count), width + 1):
        lines = _lines(text, narrower)
        if len(lines) <= count:
            return lines
    return _lines(text, width)


def _lane_key(step: Step) -> str:
    """The lane a step is drawn in: its unit id, or the citizen / no-unit lane."""
    if step.paused:
        return "_citizen"
    return step.unit or "_none"


def lane_order(defn: Definition) -> list[str]:
    """Lane keys in the order they first appear along the process.

    The process is walked breadth-first from the start step, following each
    step's routes in the order they are written; steps not reached that way
    follow in table order. A lane key is a unit id, ``_citizen`` or ``_none``.
    """
    by_id = defn.steps_by_id()
    order: list[str] = []
    seen: set[str] = set()
    queue: deque[str] = deque([defn.start.id] if defn.steps else [])
    walked = [s.id for s in defn.steps]

    def visit(step_id: str) -> None:
        lane = _lane_key(by_id[step_id])
        if lane not in order:
            order.append(lane)

    while queue:
        sid = queue.popleft()
        if sid in seen or sid not in by_id:
            continue
        seen.add(sid)
        visit(sid)
        for route in by_id[sid].routes:
            queue.extend(t for t in route.targets if t not in seen)
    for sid in walked:
        if sid not in seen:
            seen.add(sid)
            visit(sid)
    return order


def _lane_label(lane: str, units: Mapping[str, Unit]) -> tuple[str, str]:
    """(label, fill colour) of a lane."""
    if lane == "_citizen":
        return CITIZEN_LANE, _LANE_FILL["citizen"]
    if lane == "_none":
        return NO_UNIT_LANE, "#ffffff"
    unit = units.get(lane)
    if unit is None:
        return lane, "#ffffff"
    return unit.name, _LANE_FILL.get(unit.kind, "#ffffff")


def step_time_text(minutes: int | None, limit: TimeLimit | None = None) -> str:
    """A step's working time as its box in the diagram says it, and (with "làm việc") the step table and
    the decision's annex (:func:`engine.documents.working_time_text`): :func:`format_minutes` (``0,5 ngày``,
    ``2 giờ``, ``30 phút``), but in hours, never in days, when the legal limit is not in working days (a
    same-day limit, a limit in hours): ``4 giờ``, not ``0,5 ngày``, in a procedure done within the day."""
    text = format_minutes(minutes)
    if (minutes is not None and limit is not None and limit.unit not in ("working_days", "calendar_days")
            and text.endswith(" ngày")):
        return f"{format_number(minutes / 60)} giờ"
    return text


def total_text(minutes: int | None, limit: TimeLimit | None = None) -> str:
    """The allocated working time said in the legal limit's unit: against a limit in days, in working days
    as the annex writes them (``2,25 ngày làm việc``, not ``18 giờ``); against a same-day limit or one in
    hours, in hours and minutes (``2 giờ``, ``1 giờ 45 phút``; never ``0,25 ngày``), as :func:`step_time_text`
    says the steps. The diagram's header, the step table's foot and the annex's total row all say it so."""
    if minutes is not None and limit is not None and limit.unit in ("working_days", "calendar_days"):
        return f"{format_number(minutes / MINUTES_PER_DAY)} ngày làm việc"
    return step_time_text(minutes, limit)


def header_lines(defn: Definition, total_minutes: int | None = None) -> list[str]:
    """The header text of a diagram, one entry per line (without markup).

    Code and name (the name alone for a procedure without its national code, whose key is its file's
    name: a reader is never shown a file name); version and status (and "Chưa có mã thủ tục" for one
    without a code); ``tổng X / thời hạn Y`` where X is the critical path's working time
    (``total_minutes`` when already known), in days when Y, the legal limit, is in days
    (:func:`total_text`).
    """
    title = f"{defn.code} – {defn.name}" if defn.code else defn.name
    if total_minutes is None:
        cp = critical_path(defn)
        total_minutes = cp.minutes if cp else None
    total = total_text(total_minutes, defn.time_limit)
    status = STATUS_LABELS.get(defn.status, defn.status)
    meta = f"Phiên bản {defn.version} · Trạng thái: {status}"
    if not defn.code:
        meta += " · Chưa có mã thủ tục"
    elif not defn.code_verified:
        meta += " · Mã thủ tục chưa được xác minh"
    time = f"Thời gian giải quyết: tổng {total} / thời hạn {defn.time_limit.describe()}"
    return [title, meta, time]


def _header_label(defn: Definition) -> str:
    cp = critical_path(defn)
    title, meta, time = header_lines(defn, cp.minutes if cp else None)
    title_html = '<BR ALIGN="LEFT"/>'.join(_esc(line) for line in _balanced_lines(title, HEADER_WIDTH))
    limit = defn.time_limit.minutes
    over = None if cp is None or limit is None else cp.minutes > limit
    colour = _INK if over is None else (_REFUSAL if over else _RESULT)
    time_html = _esc(time) + (" (vượt thời hạn)" if over else "")
    return (
        '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="1">'
        f'<TR><TD ALIGN="LEFT" BALIGN="LEFT"><FONT POINT-SIZE="16"><B>{title_html}</B></FONT></TD></TR>'
        f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="11" COLOR="{_GREY}">{_esc(meta)}</FONT></TD></TR>'
        f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="12" COLOR="{colour}"><B>{time_html}</B></FONT></TD></TR>'
        "</TABLE>>"
    )


def _step_tags(step: Step) -> list[str]:
    """Short Vietnamese lines that say what kind of step this is."""
    tags: list[str] = []
    if step.paused:
        tags.append("‖ tạm dừng tính thời gian")
    elif step.kind == "sign":
        tags.append("✍ Ký duyệt")
    elif step.kind == "automated":
        tags.append("⚙ Tự động")
    if step.join:
        tags.append("⇉ chờ đủ các nhánh")
    if step.terminal:
        if step.ends == "refusal":
            tags.append("■ Kết thúc: từ chối")
        else:
            tags.append("■ Kết thúc: trả kết quả")
    return tags


def _step_label(step: Step, units: Mapping[str, Unit], tag: str | None, limit: TimeLimit | None = None) -> str:
    # One row per line: rows get more space between them than <BR/> lines,
    # which keeps stacked Vietnamese diacritics apart.
    rows = [f'<TR><TD ALIGN="LEFT"><B>{_esc(line)}</B></TD></TR>' for line in _lines(step.name, NAME_WIDTH)]
    unit = units.get(step.unit or "")
    role = unit.roles.get(step.role or "") if unit else None
    facts = []
    if role:
        facts.append(role)
    if not step.paused:
        facts.append(step_time_text(step.duration, limit))
    for line in _balanced_lines(" · ".join(facts), FACTS_WIDTH) if facts else []:
        rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="10">{_esc(line)}</FONT></TD></TR>')
    for line in _step_tags(step):
        rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="10"><I>{_esc(line)}</I></FONT></TD></TR>')
    if tag:
        rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="10"><B>{_esc(tag)}</B></FONT></TD></TR>')
    return '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">' + "".join(rows) + "</TABLE>>"


def _connector_label(step: Step, where: str) -> str:
    """An off-page connector: the step's name and where it is drawn ("↪ Bước 7 · trang 2/3")."""
    rows = [f'<TR><TD ALIGN="LEFT"><B>{_esc(line)}</B></TD></TR>' for line in _lines(step.name, NAME_WIDTH)]
    rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="10"><I>{_esc("↪ " + where if where else "↪ ở trang khác")}'
                "</I></FONT></TD></TR>")
    return '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">' + "".join(rows) + "</TABLE>>"


def _step_attrs(step: Step, highlight: str | None) -> dict[str, str]:
    style = ["rounded", "filled"]
    attrs = {"shape": "box", "color": _INK, "fillcolor": "#ffffff", "penwidth": "1.2", "fontcolor": _INK}
    if step.paused:
        style.append("dashed")
        attrs.update(color=_GREY, fillcolor="#eeeeee", fontcolor="#4d4d4d")
    elif step.kind == "sign":
        style = ["filled"]
        attrs.update(color="#9a7d0a", fillcolor="#fff3c4", peripheries="2")
    elif step.kind == "automated":
        style.append("dotted")
        attrs.update(fillcolor="#eef0fb")
    if step.terminal:
        if step.ends == "refusal":
            attrs.update(color=_REFUSAL, fillcolor="#fadbd8", penwidth="2.5")
        else:
            attrs.update(color=_RESULT, fillcolor="#d5f5e3", penwidth="2.5")
    if highlight is not None:
        _, extra, keywords = HIGHLIGHT_STYLES[highlight]
        attrs.update(extra)
        style.extend(k for k in keywords if k not in style)
    attrs["style"] = ",".join(style)
    return attrs


def _edge_attrs(route: Route, source: Step, target: Step | None) -> dict[str, str]:
    attrs = {"color": _INK, "fontcolor": _INK}
    if source.paused:
        # The way back from the applicant: drawn apart from the way there, so
        # the two labels do not sit on top of each other.
        attrs["constraint"] = "false"
    label = route.display
    if route.max is not None:
        label = f"{label} (tối đa {route.max} lần)"
        attrs.update(style="dashed", color=_REWORK, fontcolor=_REWORK, constraint="false")
    elif target is not None and target.paused:
        attrs.update(style="dashed", color=_GREY, fontcolor=_GREY)
    elif target is not None and target.ends == "refusal":
        attrs.update(color=_REFUSAL, fontcolor=_REFUSAL)
    attrs["label"] = label
    return attrs


# --------------------------------------------------------------------------- heatmap

#: Heatmap classes: name -> (Vietnamese legend, fill, border). The ratio is the
#: median working time spent over the allotted time of a step.
HEAT_CLASSES: Mapping[str, tuple[str, str, str]] = {
    "fast": ("≤ 75% thời gian được giao", "#abebc6", "#1e8449"),
    "tight": ("75–100% thời gian được giao", "#fad7a0", "#b9770e"),
    "slow": ("> 100% thời gian được giao (trễ)", "#f5b7b1", "#c0392b"),
    "untimed": ("không có thời gian được giao", "#e5e7e9", "#6e6e6e"),
    "nodata": ("chưa có số liệu", "#ffffff", "#aab7b8"),
}


def heat_class(cell: "HeatCell | None") -> str:
    """The heatmap class of a step: fast, tight, slow (by median spent / allotted), untimed or nodata."""
    if cell is None or cell.n == 0:
        return "nodata"
    if not cell.allotted:
        return "untimed"
    ratio = cell.median_spent / cell.allotted
    if ratio <= 0.75:
        return "fast"
    return "tight" if ratio <= 1.0 else "slow"


def _percent_vi(share: float) -> str:
    return format_number(round(share * 100, 1)) + "%"


def heat_lines(cell: "HeatCell | None") -> list[str]:
    """The Vietnamese lines a heatmap adds to a step's box."""
    if cell is None or cell.n == 0:
        return ["Thực tế: chưa có số liệu"]
    spent = format_minutes(int(round(cell.median_spent))) if round(cell.median_spent) else "0 phút"
    if cell.allotted:
        first = f"Thực tế: trung vị {spent} / {format_minutes(cell.allotted)} " \
                f"({_percent_vi(cell.median_spent / cell.allotted)})"
        return [first, f"Trễ hạn {_percent_vi(cell.share_late)} · {cell.n} lượt"]
    return [f"Thực tế: trung vị {spent}", f"{cell.n} lượt"]


def _heat_step(step: Step, units: Mapping[str, Unit], tag: str | None, cell: "HeatCell | None",
               style: str | None, limit: TimeLimit | None = None) -> tuple[str, dict[str, str]]:
    cls = heat_class(cell)
    _, fill, border = HEAT_CLASSES[cls]
    label = _step_label(step, units, tag, limit)
    rows = "".join(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="10" COLOR="{border}"><B>{_esc(line)}</B></FONT></TD></TR>'
                   for line in heat_lines(cell))
    label = label[:-len("</TABLE>>")] + rows + "</TABLE>>"
    attrs = _step_attrs(step, style)
    attrs.update(fillcolor=fill, color=border, penwidth="2.5")
    attrs["class"] = f"heat-{cls}"
    return label, attrs


def _heat_legend(title: str) -> str:
    rows = []
    for name, (text, fill, border) in HEAT_CLASSES.items():
        rows.append(f'<TR><TD BGCOLOR="{fill}" COLOR="{border}" BORDER="1" WIDTH="18" HEIGHT="12" FIXEDSIZE="TRUE"> </TD>'
                    f'<TD ALIGN="LEFT"><FONT POINT-SIZE="10">{_esc(text)}</FONT></TD></TR>')
    swatches = '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="3" CELLPADDING="2">' + "".join(rows) + "</TABLE>"
    head = _esc(title or "Bản đồ nhiệt theo số liệu thực tế")
    return ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2">'
            f'<TR><TD ALIGN="LEFT"><B>{head}</B></TD></TR><TR><TD ALIGN="LEFT">{swatches}</TD></TR></TABLE>>')


# --------------------------------------------------------------------------- building


def build_digraph(defn: Definition, units: Organisation | Mapping[str, Unit] | None,
                  *, highlight: Mapping[str, str] | None = None,
                  heat: Mapping[str, "HeatCell"] | None = None, heat_title: str = "",
                  direction: str = "LR", header: bool = True,
                  header_from: Definition | None = None, part: DiagramPart | None = None) -> graphviz.Digraph:
    """The graphviz graph of one definition (nothing is laid out yet).

    Parameters
    ----------
    defn:
        An expanded definition; it is only read.
    units:
        The organisation (or its units by id); lane labels are the units'
        Vietnamese names. A unit id not found is shown as is.
    highlight:
        Optional step id -> style name, one of :data:`HIGHLIGHT_STYLES`.
    heat:
        Optional step id -> measured performance (see :func:`render_heatmap`);
        None (the default) draws the plain diagram, unchanged.
    heat_title:
        The heatmap legend's first line (e.g. the period measured).
    direction:
        ``LR`` (default) or ``TB`` (see :data:`DIRECTIONS`).
    header:
        Draw the header (code, name, version, status, total against the limit); a document that
        prints them beside the diagram (the decision's annex) leaves it out.
    header_from:
        The definition the header describes, when not ``defn``: a diff diagram draws the new version
        with the removed steps put back (:func:`engine.approval.merged_for_diff`), but its header gives
        the new version's own total.
    part:
        Draw only one page of the diagram (see :class:`DiagramPart`); None: the whole.

    Returns
    -------
    graphviz.Digraph
        Node ids are the step ids; extra nodes start with ``_`` (off-page connectors ``_off_<step id>``).

    Raises
    ------
    RenderError
        When ``highlight`` names an unknown step or style.
    """
    unit_map = _units_map(units)
    by_id = defn.steps_by_id()
    marks = dict(highlight or {})
    for sid, style in sorted(marks.items()):
        if sid not in by_id:
            raise RenderError(f"highlight names step '{sid}', which {defn.key} does not have")
        if style not in HIGHLIGHT_STYLES:
            raise RenderError(f"unknown highlight style '{style}'; use one of {', '.join(HIGHLIGHT_STYLES)}")

    if direction not in DIRECTIONS:
        raise RenderError(f"unknown direction '{direction}'; use one of {', '.join(DIRECTIONS)}")
    drawn: set[str] = set(by_id)
    elsewhere: dict[str, str] = {}
    if part is not None:
        drawn = set(part.steps)
        elsewhere = dict(part.elsewhere)
        for sid in sorted(drawn | set(elsewhere)):
            if sid not in by_id:
                raise RenderError(f"the diagram's page names step '{sid}', which {defn.key} does not have")
    # Steps drawn elsewhere that a route links to a step of this page: each gets one connector.
    linked = {t for s in defn.steps if s.id in drawn for r in s.routes for t in r.targets if t in by_id}
    linked |= {s.id for s in defn.steps for r in s.routes if any(t in drawn for t in r.targets)}
    off = [s for s in defn.steps if s.id in linked and s.id not in drawn]

    def node(sid: str) -> str:
        return sid if sid in drawn else f"_off_{sid}"

    rankdir, nodesep, ranksep = DIRECTIONS[direction]
    # The graph's name is the SVG's <title>, a browser's tooltip over the diagram: the code, or the
    # procedure's name when it has none (its key is then its file's name, which a reader is never shown)
    g = graphviz.Digraph(name=defn.code or defn.name or "quy_trinh")
    g.attr("graph", rankdir=rankdir, labelloc="t", labeljust="l", label=_header_label(header_from or defn) if header else "",
           fontname=FONT, nodesep=nodesep, ranksep=ranksep, pad="0.3", bgcolor="#ffffff",
           newrank="true")
    g.attr("node", fontname=FONT, fontsize="11", margin="0.12,0.06")
    g.attr("edge", fontname=FONT, fontsize="9", arrowsize="0.7")

    lanes: dict[str, list[Step]] = {lane: [] for lane in lane_order(defn)}
    for s in defn.steps:
        if s.id in drawn:
            lanes[_lane_key(s)].append(s)
    connectors: dict[str, list[Step]] = {}
    for s in off:  # in the lane of the step it stands for
        connectors.setdefault(_lane_key(s), []).append(s)
    forks: list[tuple[Step, Route]] = [(s, r) for s in defn.steps for r in s.routes if r.parallel and s.id in drawn]
    if part is not None:  # a page draws the lanes of its steps and connectors only
        lanes = {lane: steps for lane, steps in lanes.items() if steps or lane in connectors}

    for index, (lane, steps) in enumerate(lanes.items()):
        label, fill = _lane_label(lane, unit_map)
        with g.subgraph(name=f"cluster_{index:02d}_{lane.strip('_')}") as c:
            citizen = lane == "_citizen"
            c.attr(id=f"lane-{lane.strip('_')}", label=label, labeljust="l",
                   style="filled,dashed" if citizen else "filled,rounded", fillcolor=fill,
                   color=_GREY if citizen else "#c8ccd0", fontsize="12", fontcolor=_INK, penwidth="1")
            if defn.steps and defn.start.id in drawn and lane == _lane_key(defn.start):
                c.node("_start", label="", shape="circle", width="0.22", height="0.22", fixedsize="true",
                       style="filled", fillcolor=_INK, color=_INK, id="start")
            for s in steps:
                style = marks.get(s.id)
                tag = HIGHLIGHT_STYLES[style][0] if style else None
                if heat is not None:
                    label, attrs = _heat_step(s, unit_map, tag, heat.get(s.id), style, defn.time_limit)
                    c.node(s.id, label=label, id=f"step-{s.id}", **attrs)
                    continue
                c.node(s.id, label=_step_label(s, unit_map, tag, defn.time_limit), id=f"step-{s.id}",
                       **_step_attrs(s, style))
            for s in connectors.get(lane, []):
                c.node(f"_off_{s.id}", label=_connector_label(s, elsewhere.get(s.id, "")), id=f"offpage-{s.id}",
                       shape="box", style="rounded,dashed,filled", fillcolor="#ffffff", color=_GREY, fontcolor=_INK,
                       penwidth="1.2")
            for s, r in forks:
                if _lane_key(s) == lane:
                    c.node(f"_fork_{s.id}_{r.outcome}", id=f"fork-{s.id}-{r.outcome}", label="+",
                           xlabel="song song", shape="diamond", width="0.4", height="0.4", fixedsize="true",
                           style="filled", fillcolor="#ffffff", color=_INK, fontsize="10")

    if heat is not None:
        g.node("_heat_legend", label=_heat_legend(heat_title), shape="plaintext", id="heat-legend")
    if defn.steps and defn.start.id in drawn:
        g.edge("_start", defn.start.id, color=_INK, arrowsize="0.7")
    for s in defn.steps:
        for r in s.routes:
            if r.parallel:
                if s.id in drawn:
                    fork = f"_fork_{s.id}_{r.outcome}"
                    g.edge(s.id, fork, label=r.display, color=_INK, fontcolor=_INK,
                           id=f"route-{s.id}-{r.outcome}")
                    for t in r.targets:
                        if t in by_id:
                            attrs = {"color": _INK}
                            if "removed" in (marks.get(s.id), marks.get(t)):
                                attrs.update(REMOVED_EDGE)
                            g.edge(fork, node(t), id=f"route-{s.id}-{r.outcome}-{t}", **attrs)
                else:  # the fork is on the page of its step: here, from its connector to each arm drawn here
                    for t in r.targets:
                        if t in drawn:
                            g.edge(node(s.id), t, id=f"route-{s.id}-{r.outcome}-{t}",
                                   label=f"{r.display} (song song)", color=_INK, fontcolor=_INK)
                continue
            t = r.targets[0]
            if t in by_id and (s.id in drawn or t in drawn):
                attrs = _edge_attrs(r, s, by_id[t])
                if direction == "TB" and s.paused:
                    # Top to bottom, the way back from the applicant laid out apart from the way there
                    # (constraint=false) runs along it and the two labels overprint (31 of 81 district
                    # diagrams). Ranked like any edge it takes its own path beside the other, and as an
                    # external label (xlabel, placed after layout away from other labels) its text stays
                    # clear of the outgoing edge's label.
                    if r.max is None:
                        attrs.pop("constraint", None)
                    attrs["xlabel"] = attrs.pop("label")
                if "removed" in (marks.get(s.id), marks.get(t)):  # an arrow to or from a removed step
                    attrs.update(REMOVED_EDGE)
                g.edge(node(s.id), node(t), id=f"route-{s.id}-{r.outcome}-{t}", **attrs)
    return g


def _clean(data: bytes, fmt: str) -> bytes:
    """Strip what graphviz puts in its output that varies between runs or versions."""
    if fmt == "svg":
        data = _GENERATOR_COMMENT.sub(b"", data)
        data = data.replace(f'font-family="{FONT}'.encode(), f'font-family="{SVG_FONT_FALLBACK}'.encode())
    elif fmt == "pdf":
        data = _PDF_DATES.sub(rb"\g<1>20000101000000", data)
    return data


# --------------------------------------------------------------------------- in-memory cache

#: Most diagrams the cache keeps (the draft decision of the district level draws ~80 of them, SVG for the
#: page, PNG for the Word file; ~160 pages once the large ones are split, and the pages tried out on the way),
#: and most bytes (PNGs of large processes reach a few hundred KB).
CACHE_ENTRIES = 2048
CACHE_BYTES = 64 * 1024 * 1024


class _DiagramCache:
    """A thread-safe LRU of rendered diagrams, bounded in entries and bytes."""

    def __init__(self, entries: int, max_bytes: int):
        self.entries, self.max_bytes = entries, max_bytes
        self._data: OrderedDict[tuple, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple) -> bytes | None:
        with self._lock:
            data = self._data.get(key)
            if data is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return data

    def put(self, key: tuple, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._data[key] = data
            self._bytes += len(data)
            while len(self._data) > self.entries or self._bytes > self.max_bytes:
                _, dropped = self._data.popitem(last=False)
                self._bytes -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._data)


_CACHE = _DiagramCache(CACHE_ENTRIES, CACHE_BYTES)


def clear_cache() -> None:
    """Forget every diagram drawn so far in this process (the next ones are read from the on-disk cache, or
    drawn by ``dot``; :func:`clear_disk_cache` empties that one) and the DOT sources built."""
    _CACHE.clear()
    with _SOURCES_LOCK:
        _SOURCES.clear()


# --------------------------------------------------------------------------- on-disk cache of dot's output

#: The variable naming the folder of the on-disk cache of ``dot``'s output ("off": none). Default:
#: ``$XDG_CACHE_HOME/quytrinh/diagrams``, ``~/.cache/quytrinh/diagrams`` without it.
DISK_CACHE_ENV = "QUYTRINH_DIAGRAM_CACHE"
#: The variable bounding that folder (megabytes, default :data:`DISK_CACHE_MB`).
DISK_CACHE_MB_ENV = "QUYTRINH_DIAGRAM_CACHE_MB"
#: The default bound: the district decision's Word file keeps ~30 MB there (its SVG drawings, whole and the
#: pages tried out, ~8 MB; its 153 PNG pages, ~21 MB), the commune one less, the web app's diagrams a little.
DISK_CACHE_MB = 256
#: The first bytes of an entry; then the SHA-256 of what follows (an entry cut short or damaged is not read).
_DISK_MAGIC = b"quytrinh-dot 1\n"
_DISK_NAME = re.compile(r"[0-9a-f]{64}\.(?:svg|png|pdf)")
#: A temporary file older than this (seconds) was left by a process that died while writing it.
_DISK_STALE_TMP = 3600


class DiskCache:
    """What ``dot`` printed, kept in a folder across processes (the CLI's draft decision, the web app after a
    restart), keyed by a SHA-256 of the DOT source, the format and graphviz's version: ``<k[:2]>/<k>.<fmt>``.

    Safe with concurrent processes: an entry is written to a temporary file of its folder and renamed over
    its name (readers see the old entry, the new one, or none). An entry that cannot be read, or whose
    checksum does not match, is a miss (the diagram is drawn again and the entry rewritten); no error of the
    folder (missing, read-only, full) reaches the caller: the diagram is then only drawn. Bounded: once more
    than ``max_bytes`` may be there, the entries used longest ago (by modification time, set again at each
    read) are removed until three quarters are left. A process looks at the folder's total when it first
    writes and again after writing an eighth of the bound, so concurrent writers exceed the bound by at most
    that much each, until the next look."""

    def __init__(self, folder: str | os.PathLike, max_bytes: int):
        self.folder, self.max_bytes = Path(folder), max_bytes
        self._lock = threading.Lock()
        self._total: int | None = None  # the folder's bytes at the last look, plus those written since
        self._since_look = 0
        self.hits = self.misses = self.writes = 0

    @staticmethod
    def key(source: str, fmt: str, version: str) -> str:
        return hashlib.sha256(b"\0".join((b"quytrinh-dot", version.encode(), fmt.encode(),
                                          source.encode("utf-8")))).hexdigest()

    def _path(self, key: str, fmt: str) -> Path:
        return self.folder / key[:2] / f"{key}.{fmt}"

    def get(self, key: str, fmt: str) -> bytes | None:
        path = self._path(key, fmt)
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError:
            self.misses += 1
            return None
        head = len(_DISK_MAGIC)
        data = raw[head + 32:]
        if not raw.startswith(_DISK_MAGIC) or hashlib.sha256(data).digest() != raw[head:head + 32]:
            self.misses += 1
            return None
        try:
            os.utime(path)  # used now: the last to go
        except OSError:
            pass
        self.hits += 1
        return data

    def has(self, key: str, fmt: str) -> bool:
        """Whether an entry is there (not read: it may still fail its checksum)."""
        return self._path(key, fmt).is_file()

    def put(self, key: str, fmt: str, data: bytes) -> None:
        path = self._path(key, fmt)
        size = len(_DISK_MAGIC) + 32 + len(data)
        if size > self.max_bytes:
            return
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(_DISK_MAGIC + hashlib.sha256(data).digest() + data)
            os.replace(tmp, path)
            tmp = None
        except OSError:
            return
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
        self.writes += 1
        with self._lock:
            if self._total is None or self._since_look + size > self.max_bytes // 8:
                self._total, self._since_look = self._look(), 0
            else:
                self._total += size
                self._since_look += size
            if self._total > self.max_bytes:
                self._total, self._since_look = self._prune(self.max_bytes * 3 // 4), 0

    def _entries(self) -> list[tuple[float, int, Path]]:
        """(modification time, size, path) of every entry; stale temporary files removed on the way."""
        out: list[tuple[float, int, Path]] = []
        now = time.time()
        try:
            shards = [e for e in os.scandir(self.folder) if e.is_dir(follow_symlinks=False) and len(e.name) == 2]
        except OSError:
            return out
        for shard in shards:
            try:
                files = list(os.scandir(shard.path))
            except OSError:
                continue
            for f in files:
                try:
                    st = f.stat(follow_symlinks=False)
                    if _DISK_NAME.fullmatch(f.name):
                        out.append((st.st_mtime, st.st_size, Path(f.path)))
                    elif f.name.endswith(".tmp") and now - st.st_mtime > _DISK_STALE_TMP:
                        os.unlink(f.path)
                except OSError:
                    continue
        return out

    def _look(self) -> int:
        return sum(size for _, size, _ in self._entries())

    def _prune(self, target: int) -> int:
        """Remove the entries used longest ago until at most ``target`` bytes are left; returns what is left."""
        entries = sorted(self._entries(), key=lambda e: e[0])
        total = sum(size for _, size, _ in entries)
        for _, size, path in entries:
            if total <= target:
                break
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                continue
            total -= size
        return total

    def clear(self) -> None:
        """Remove every entry (``quytrinh``'s own files only)."""
        self._prune(0)
        with self._lock:
            self._total, self._since_look = 0, 0


_DISKS: dict[tuple[str, int], DiskCache] = {}
_DISKS_LOCK = threading.Lock()


def clear_disk_cache() -> None:
    """Remove every entry of the on-disk cache the environment names (nothing when it is off)."""
    disk = disk_cache()
    if disk is not None:
        disk.clear()


def disk_cache_folder() -> Path | None:
    """The folder of the on-disk cache (:data:`DISK_CACHE_ENV`), None when it is "off"."""
    value = os.environ.get(DISK_CACHE_ENV, "").strip()
    if value.lower() == "off":
        return None
    if value:
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    if not (base and os.path.isabs(base)):  # the XDG rule: a relative path is ignored
        try:
            base = str(Path.home() / ".cache")
        except (RuntimeError, KeyError):  # no home folder: no cache
            return None
    return Path(base) / "quytrinh" / "diagrams"


def disk_cache() -> DiskCache | None:
    """The on-disk cache the environment names now (:data:`DISK_CACHE_ENV`, :data:`DISK_CACHE_MB_ENV`; one
    object per folder and bound), None when off."""
    folder = disk_cache_folder()
    if folder is None:
        return None
    try:
        mb = float(os.environ.get(DISK_CACHE_MB_ENV, "") or DISK_CACHE_MB)
    except ValueError:
        mb = DISK_CACHE_MB
    if not mb > 0:  # 0: no cache
        return None
    key = (str(folder), int(mb * 1024 * 1024))
    with _DISKS_LOCK:
        cache = _DISKS.get(key)
        if cache is None:
            cache = _DISKS[key] = DiskCache(folder, key[1])
        return cache


_DOT_VERSION: list[tuple[tuple[str, int, int], str]] = []


def graphviz_version() -> str:
    """The version of the ``dot`` on the PATH ("" when there is none), asked again only when that
    executable changes (another path, modification time or size): part of every cache key."""
    path = shutil.which("dot")
    if path is None:
        return ""
    try:
        st = os.stat(path)
    except OSError:
        return ""
    exe = (path, st.st_mtime_ns, st.st_size)
    if _DOT_VERSION and _DOT_VERSION[0][0] == exe:
        return _DOT_VERSION[0][1]
    try:
        version = ".".join(str(n) for n in graphviz.version())
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError, RuntimeError):
        return ""
    _DOT_VERSION[:] = [(exe, version)]
    return version


def _content_hash(value: object) -> bytes | None:
    """A digest of everything a frozen model object holds (its dataclass repr: every field, nested
    objects, mappings in their order); None when the repr shows an object by its address (not a content
    hash: such a value is not cached)."""
    text = repr(value)
    if " object at 0x" in text:
        return None
    return hashlib.sha256(text.encode("utf-8")).digest()


_DEFINITION_HASHES: dict[int, tuple["weakref.ref[Definition]", bytes | None]] = {}


def definition_hash(defn: Definition) -> bytes | None:
    """:func:`_content_hash` of a definition, worked out once per object (a definition is frozen; the
    catalogue's are shared between requests): the draft decision asks for ~80 of them several times (each
    page of a split diagram, its page plan), and each takes a millisecond of ``repr``."""
    key = id(defn)
    hit = _DEFINITION_HASHES.get(key)
    if hit is not None and hit[0]() is defn:
        return hit[1]
    digest = _content_hash(defn)
    try:
        ref = weakref.ref(defn, lambda _, k=key: _DEFINITION_HASHES.pop(k, None))
    except TypeError:  # pragma: no cover - a definition that cannot be weakly referenced
        return digest
    _DEFINITION_HASHES[key] = (ref, digest)
    return digest


def _cache_key(defn: Definition, units_hash: bytes | None, fmt: str, *, highlight: Mapping[str, str] | None,
               heat: Mapping[str, "HeatCell"] | None, heat_title: str, direction: str, header: bool,
               header_from: Definition | None, version: str, part: DiagramPart | None = None) -> tuple | None:
    """The key of a diagram in the cache, or None when it is not cached (measured data of a heatmap,
    no graphviz, a value without a content hash)."""
    if heat is not None or not version or units_hash is None:
        return None
    defn_hash = definition_hash(defn)
    from_hash = definition_hash(header_from) if header_from is not None else b""
    if defn_hash is None or from_hash is None:
        return None
    marks = tuple(sorted(highlight.items())) if highlight else ()
    return (defn_hash, units_hash, fmt, marks, heat_title, direction, header, from_hash, version, part)


#: How many DOT sources :func:`render_many` keeps (by the cache key less the format): the draft decision's
#: Word file draws each page of its annex in SVG (its size, to lay out the page) and in PNG, and building a
#: page's source costs ~6 ms, about what reading its drawing back from the on-disk cache does.
SOURCES_KEPT = 512
_SOURCES: "OrderedDict[tuple, str]" = OrderedDict()
_SOURCES_LOCK = threading.Lock()


def _source(key: tuple | None, build: Callable[[], str]) -> str:
    """The DOT source of a drawing keyed ``key`` (see :func:`_cache_key`) in any format: ``build()`` once."""
    if key is None:
        return build()
    bare = key[:2] + key[3:]
    with _SOURCES_LOCK:
        source = _SOURCES.get(bare)
        if source is not None:
            _SOURCES.move_to_end(bare)
            return source
    source = build()
    with _SOURCES_LOCK:
        _SOURCES[bare] = source
        while len(_SOURCES) > SOURCES_KEPT:
            _SOURCES.popitem(last=False)
    return source


# --------------------------------------------------------------------------- drawing in the background

#: How much lower than the server's requests a background drawing runs its ``dot`` processes (``nice -n``):
#: the web app's warm-up of the draft decision (:func:`background`), so that staff pages keep their CPU.
BACKGROUND_NICE = 10
_LOCAL = threading.local()


class background:
    """``with background():`` the drawings this thread asks for run ``dot`` under ``nice -n`` ``nice`` (when the
    system has ``nice``) and ``jobs`` at a time (:func:`render_many`, the annex's page plans), instead of one
    per CPU at the normal priority. Worker threads started by :func:`render_many` and
    :meth:`engine.documents.AnnexDiagrams.plan` carry the setting (:func:`carry_background`). Only ``dot`` is
    lowered, not the Python thread: a thread niced while holding the GIL would hold up the server's requests."""

    def __init__(self, nice: int = BACKGROUND_NICE, jobs: int = 1):
        self.setting = (max(0, int(nice)), max(1, int(jobs)))

    def __enter__(self) -> "background":
        self._old = getattr(_LOCAL, "background", None)
        _LOCAL.background = self.setting
        return self

    def __exit__(self, *exc: object) -> None:
        _LOCAL.background = self._old


def background_setting() -> tuple[int, int] | None:
    """This thread's (nice, jobs) under :class:`background`, None at the normal priority."""
    return getattr(_LOCAL, "background", None)


def carry_background(fn: Callable[..., "T"]) -> Callable[..., "T"]:
    """``fn`` run, in whichever thread, with the caller's :class:`background` setting."""
    setting = background_setting()
    if setting is None:
        return fn

    def run(*args: object, **kwargs: object) -> "T":
        old = getattr(_LOCAL, "background", None)
        _LOCAL.background = setting
        try:
            return fn(*args, **kwargs)
        finally:
            _LOCAL.background = old
    return run


def parallel_jobs(wanted: int | None, items: int) -> int:
    """How many drawings to run at once: ``wanted`` (default: the CPUs), at most one per item, at most the
    :class:`background` setting's jobs."""
    jobs = wanted or os.cpu_count() or 1
    setting = background_setting()
    if setting is not None:
        jobs = min(jobs, setting[1])
    return max(1, min(jobs, items or 1))


def _run_dot(source: str, fmt: str) -> bytes:
    """Lay out and draw one graph with its own ``dot`` process (niced under :class:`background`)."""
    setting = background_setting()
    nice = shutil.which("nice") if setting is not None and setting[0] > 0 else None
    try:
        if nice is None:
            return graphviz.pipe("dot", fmt, source.encode("utf-8"), quiet=True)
        if shutil.which("dot") is None:
            raise graphviz.ExecutableNotFound(["dot"])
        cmd = [nice, "-n", str(setting[0]), "dot", "-Kdot", f"-T{fmt}"]  # type: ignore[index]
        proc = subprocess.run(cmd, input=source.encode("utf-8"), capture_output=True)
        if proc.returncode:
            raise graphviz.CalledProcessError(proc.returncode, cmd, output=proc.stdout, stderr=proc.stderr)
        return proc.stdout
    except graphviz.ExecutableNotFound:
        raise RenderError("graphviz 'dot' is not installed; run `make system-deps` "
                          "(Debian package graphviz)") from None
    except graphviz.CalledProcessError as exc:
        lines = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise RenderError(f"graphviz failed: {lines[-1] if lines else exc}") from None


#: The drawings being made now, by (source, format, graphviz version): a second thread asking for one waits
#: for the first's instead of running ``dot`` on it again (the warm-up and a leader's request, two leaders).
_IN_FLIGHT: dict[tuple[str, str, str], Future] = {}
_IN_FLIGHT_LOCK = threading.Lock()


def _pipe(source: str, fmt: str) -> bytes:
    """What ``dot`` prints for one graph: from the on-disk cache (:func:`disk_cache`) when this version of
    graphviz drew this source before, else from its own ``dot`` process (:func:`_run_dot`), then kept there.
    While a thread draws a source, another asking for the same one waits for its result (:data:`_IN_FLIGHT`)."""
    version = graphviz_version()
    key = (source, fmt, version)
    with _IN_FLIGHT_LOCK:
        pending = _IN_FLIGHT.get(key)
        if pending is None:
            mine: Future = Future()
            _IN_FLIGHT[key] = mine
    if pending is not None:
        return pending.result()
    try:
        data = _draw_source(source, fmt, version)
    except BaseException as exc:
        mine.set_exception(exc)
        raise
    else:
        mine.set_result(data)
        return data
    finally:
        with _IN_FLIGHT_LOCK:
            _IN_FLIGHT.pop(key, None)


def _draw_source(source: str, fmt: str, version: str) -> bytes:
    disk = disk_cache() if version else None
    if disk is None:
        return _run_dot(source, fmt)
    key = disk.key(source, fmt, version)
    data = disk.get(key, fmt)
    if data is None:
        data = _run_dot(source, fmt)
        disk.put(key, fmt, data)
    return data


def render(defn: Definition, units: Organisation | Mapping[str, Unit] | None, fmt: str = "svg",
           *, highlight: Mapping[str, str] | None = None, heat: Mapping[str, "HeatCell"] | None = None,
           heat_title: str = "", direction: str = "LR", header: bool = True,
           header_from: Definition | None = None, part: DiagramPart | None = None) -> bytes:
    """Draw one definition (or one page of it).

    Parameters
    ----------
    defn:
        An expanded definition (only read).
    units:
        The organisation or its units by id (lane labels).
    fmt:
        ``svg``, ``png`` or ``pdf``.
    highlight:
        Optional step id -> style name (see :data:`HIGHLIGHT_STYLES`).
    heat, heat_title:
        Optional measured performance per step (see :func:`render_heatmap`).
    direction, header, header_from:
        Layout direction (see :data:`DIRECTIONS`), whether to draw the header and which definition
        it describes (see :func:`build_digraph`).
    part:
        One page of a diagram split over several (see :class:`DiagramPart`); None: the whole.

    Returns
    -------
    bytes
        The diagram; the same input gives the same bytes.

    Raises
    ------
    RenderError
        Unknown format, bad highlight, or graphviz missing or failing.
    """
    if fmt not in FORMATS:
        raise RenderError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
    key = _cache_key(defn, _content_hash(_units_map(units)), fmt, highlight=highlight, heat=heat,
                     heat_title=heat_title, direction=direction, header=header, header_from=header_from,
                     version=graphviz_version(), part=part)
    if key is not None:
        hit = _CACHE.get(key)
        if hit is not None:
            return hit
    source = build_digraph(defn, units, highlight=highlight, heat=heat, heat_title=heat_title,
                           direction=direction, header=header, header_from=header_from, part=part).source
    data = _clean(_pipe(source, fmt), fmt)
    if key is not None:
        _CACHE.put(key, data)
    return data


def render_svg(defn: Definition, units: Organisation | Mapping[str, Unit] | None,
               *, highlight: Mapping[str, str] | None = None, header_from: Definition | None = None) -> bytes:
    """Draw one definition as SVG (see :func:`render`; ``header_from``: the definition the header
    describes, e.g. the new version of a diff diagram)."""
    return render(defn, units, "svg", highlight=highlight, header_from=header_from)


def render_heatmap(defn: Definition, units: Organisation | Mapping[str, Unit] | None,
                   heat: Mapping[str, "HeatCell"], fmt: str = "svg", *, title: str = "") -> bytes:
    """Draw a definition coloured by measured performance (a heatmap).

    Each step's box is filled by :func:`heat_class` of its cell (median
    working minutes spent over allotted: green up to 75 %, amber up to 100 %,
    red above; grey without allotted time; white without data) and reads the
    median, the allotted time, the share late and the number of items. A
    legend headed ``title`` is added. Node ids are as in :func:`render`;
    each step's group carries the class ``heat-<class>``.

    Parameters
    ----------
    defn:
        An expanded definition (only read).
    units:
        The organisation or its units by id.
    heat:
        Step id -> an object with ``median_spent``, ``allotted``,
        ``share_late`` and ``n`` (:class:`engine.reports.HeatCell`).
    fmt:
        ``svg``, ``png`` or ``pdf``.

    Raises
    ------
    RenderError
        As :func:`render`, or when ``heat`` names a step the definition lacks.
    """
    by_id = defn.steps_by_id()
    for sid in sorted(heat):
        if sid not in by_id:
            raise RenderError(f"the measured data name step '{sid}', which {defn.key} does not have")
    return render(defn, units, fmt, heat=heat, heat_title=title)


def render_many(defns: Sequence[Definition], units: Organisation | Mapping[str, Unit] | None,
                fmt: str = "svg", *, jobs: int | None = None, direction: str = "LR",
                header: bool = True, parts: Sequence[DiagramPart | None] | None = None) -> list[bytes]:
    """Draw several definitions, one ``dot`` process each, ``jobs`` at a time.

    Returns the diagrams in the order of ``defns``; output is identical to
    calling :func:`render` on each (with the same ``direction`` and ``header``, and
    ``part=parts[i]``: a definition may come several times, one page each). ``jobs``
    defaults to the number of CPUs.

    Raises
    ------
    RenderError
        As :func:`render`, for the first definition that fails.
    """
    if fmt not in FORMATS:
        raise RenderError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
    units_hash, version = _content_hash(_units_map(units)), graphviz_version()
    pages = list(parts) if parts is not None else [None] * len(defns)
    if len(pages) != len(defns):
        raise RenderError("render_many: one part (or None) per definition")
    keys = [_cache_key(d, units_hash, fmt, highlight=None, heat=None, heat_title="", direction=direction,
                       header=header, header_from=None, version=version, part=p) for d, p in zip(defns, pages)]
    out: list[bytes | None] = [_CACHE.get(k) if k is not None else None for k in keys]
    todo = [i for i, data in enumerate(out) if data is None]  # drawn by dot, in order
    sources = [_source(keys[i], lambda i=i: build_digraph(defns[i], units, direction=direction, header=header,
                                                         part=pages[i]).source) for i in todo]
    workers = parallel_jobs(jobs, len(sources))
    if workers == 1:
        drawn = [_clean(_pipe(s, fmt), fmt) for s in sources]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            drawn = [_clean(data, fmt) for data in pool.map(carry_background(lambda s: _pipe(s, fmt)), sources)]
    for i, data in zip(todo, drawn):
        out[i] = data
        if keys[i] is not None:
            _CACHE.put(keys[i], data)  # type: ignore[arg-type]
    return out  # type: ignore[return-value]


def missing(defns: Sequence[Definition], units: Organisation | Mapping[str, Unit] | None, fmt: str = "svg",
            *, direction: str = "LR", header: bool = True) -> int:
    """How many of these diagrams (whole, as :func:`render_many` draws them) ``dot`` would have to draw: in
    neither this process's memory nor the on-disk cache. Builds their DOT sources (kept for the drawing)."""
    units_hash, version = _content_hash(_units_map(units)), graphviz_version()
    disk = disk_cache() if version else None
    count = 0
    for defn in defns:
        key = _cache_key(defn, units_hash, fmt, highlight=None, heat=None, heat_title="", direction=direction,
                         header=header, header_from=None, version=version)
        if key is not None and _CACHE.get(key) is not None:
            continue
        if disk is None:
            count += 1
            continue
        source = _source(key, lambda d=defn: build_digraph(d, units, direction=direction, header=header).source)
        count += not disk.has(disk.key(source, fmt, version), fmt)
    return count


def diagram_path(source: Definition | str | os.PathLike, root: str | os.PathLike, fmt: str = "svg") -> Path:
    """Where a definition's diagram goes, relative to the output folder.

    Parameters
    ----------
    source:
        A definition, or the path of its file.
    root:
        The catalogue folder (the one holding ``units.yaml``).
    fmt:
        The diagram format, used as the suffix.

    Returns
    -------
    Path
        ``<subfolders under the catalogue root>/<file stem>.<fmt>``, e.g.
        ``district/1.001612-dang-ky-thanh-lap-ho-kinh-doanh.svg``; a file
        outside the catalogue root gives just ``<stem>.<fmt>``.
    """
    file = Path(source.source if isinstance(source, Definition) else source).resolve()
    try:
        rel = file.relative_to(Path(root).resolve())
    except ValueError:
        rel = Path(file.name)
    return rel.with_suffix(f".{fmt}")


def catalogue_diagrams(defns: Iterable[Definition], root: str | os.PathLike,
                       units: Organisation | Mapping[str, Unit] | None, fmt: str = "svg",
                       *, jobs: int | None = None) -> dict[Path, bytes]:
    """Every definition's diagram keyed by its :func:`diagram_path`, in path order.

    Raises
    ------
    RenderError
        As :func:`render`.
    """
    items = sorted(((diagram_path(d, root, fmt), d) for d in defns), key=lambda item: item[0].as_posix())
    rendered = render_many([d for _, d in items], units, fmt, jobs=jobs)
    return {path: data for (path, _), data in zip(items, rendered)}


def out_of_date(diagrams: Mapping[Path, bytes], out: str | os.PathLike,
                expected: Iterable[Path] | None = None) -> list[tuple[str, Path]]:
    """Compare rendered diagrams with the files under an output folder.

    Parameters
    ----------
    diagrams:
        Relative path -> bytes, as :func:`catalogue_diagrams` gives.
    out:
        The folder the diagrams were written to.
    expected:
        When given, every relative path that should exist under ``out`` (all
        catalogue files, loadable or not); files of the same suffixes under
        ``out`` that are not expected are reported as ``orphan``.

    Returns
    -------
    list of (reason, relative path)
        reason is ``stale`` (content differs), ``missing`` or ``orphan``,
        sorted by path.
    """
    out = Path(out)
    found: list[tuple[str, Path]] = []
    for rel, data in diagrams.items():
        file = out / rel
        if not file.is_file():
            found.append(("missing", rel))
        elif file.read_bytes() != data:
            found.append(("stale", rel))
    if expected is not None and out.is_dir():
        expected = list(expected)
        wanted = {p.as_posix() for p in expected} | {p.as_posix() for p in diagrams}
        suffixes = {p.suffix for p in expected} | {p.suffix for p in diagrams}
        for file in sorted(out.rglob("*")):
            rel = file.relative_to(out)
            if file.is_file() and file.suffix in suffixes and rel.as_posix() not in wanted:
                found.append(("orphan", rel))
    return sorted(found, key=lambda item: (item[1].as_posix(), item[0]))
