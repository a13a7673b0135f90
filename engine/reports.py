"""Timeliness reports, as the reform indices count them, and measured step performance.

Every figure is a pure query over the store (see docs/reports.md for the exact
rule of each one). Counting is done by SQL aggregation grouped by definition
version and channel (and the dossier's commune when grouping by commune); only
the dossiers still open at the end of the period are read one by one, because
their class (overdue / nearly due / not due) is judged with the working-time
calendar at that instant. The grouped rows are then folded into the requested
dimension (unit, procedure, field, level, channel, commune).

Also here: CSV and XLSX export with Vietnamese headers, a server-side SVG bar
chart (:func:`reports_chart_svg`), and :func:`step_performance`, the per-step
statistics the heatmap diagram is coloured with.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import statistics
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, fields
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from engine import sla
from engine.calendar import LOCAL_TZ, MAX_YEAR, MIN_YEAR, WorkCalendar
from engine.definition import Definition, find_commune, resolve_successor, stored_definition
from engine.errors import QuytrinhError
from engine.machine import CHANNEL_LABELS
from engine.store import Apology, DefinitionVersion, Dossier, Store, UnitRow, WorkItem, as_store

__all__ = [
    "DIMENSIONS",
    "DIMENSION_LABELS",
    "LEVEL_LABELS",
    "ReportError",
    "ReportRow",
    "Report",
    "HeatCell",
    "period_bounds",
    "lead_unit",
    "timeliness_report",
    "report_columns",
    "report_table",
    "report_csv",
    "report_xlsx", "rate_percent", "percent_text",
    "chart_data",
    "reports_chart_svg",
    "step_performance",
]

#: The dimensions a report can be grouped by.
DIMENSIONS = ("unit", "procedure", "field", "level", "channel", "commune")

#: Vietnamese name of each dimension (first column header).
DIMENSION_LABELS = {
    "unit": "Đơn vị chủ trì",
    "procedure": "Thủ tục hành chính",
    "field": "Lĩnh vực",
    "level": "Cấp",
    "channel": "Hình thức nộp",
    "commune": "Xã, thị trấn",
}

#: Vietnamese names of the levels.
LEVEL_LABELS = {"city": "Cấp thành phố", "district": "Cấp huyện", "commune": "Cấp xã"}

TOTAL_LABEL = "Tổng cộng"

#: Grouping by commune: the row of the dossiers of a commune-level procedure that name no commune (received
#: before the commune was recorded), and the label of the dossiers of other levels (which belong to no commune).
UNRECORDED_COMMUNE = ("(commune)", "Cấp xã (chưa ghi xã, thị trấn)")
NO_COMMUNE_LABEL = "{level} (không thuộc xã, thị trấn)"


class ReportError(QuytrinhError):
    """A report was asked with bad parameters (period, dimension, format)."""


# --------------------------------------------------------------------------- model


@dataclass
class ReportRow:
    """The figures of one group (or of the total) for one period.

    Counts are numbers of dossiers (apologies: number of forms 04). The rates
    are ratios in [0, 1] (None when nothing was to process).
    """

    key: str
    label: str
    received: int = 0          # Tiếp nhận trong kỳ
    carried_over: int = 0      # Tồn kỳ trước chuyển sang
    open_overdue: int = 0      # Đang giải quyết: quá hạn
    open_nearly_due: int = 0   # Đang giải quyết: sắp đến hạn
    open_not_due: int = 0      # Đang giải quyết: chưa đến hạn
    completed_early: int = 0   # Đã giải quyết: trước hạn
    completed_on_time: int = 0  # Đã giải quyết: đúng hạn
    completed_late: int = 0    # Đã giải quyết: trễ hạn
    completed_unclassified: int = 0  # Đã giải quyết: không có thời hạn
    withdrawn: int = 0         # Rút hồ sơ / dừng xử lý trong kỳ
    not_collected: int = 0     # Đã có kết quả, chưa trả
    apologies: int = 0         # Phiếu xin lỗi và hẹn lại (mẫu 04)

    @property
    def to_process(self) -> int:
        """Received in the period plus carried over (tổng số phải giải quyết)."""
        return self.received + self.carried_over

    @property
    def open(self) -> int:
        """Still being processed at the period end."""
        return self.open_overdue + self.open_nearly_due + self.open_not_due

    @property
    def completed(self) -> int:
        """Processing finished in the period."""
        return self.completed_early + self.completed_on_time + self.completed_late + self.completed_unclassified

    @property
    def late(self) -> int:
        """Late open plus late completed (the numerator of the late rate)."""
        return self.open_overdue + self.completed_late

    @property
    def late_rate(self) -> float | None:
        """(late open + late completed) / to process; None when nothing was to process."""
        return None if self.to_process == 0 else self.late / self.to_process

    @property
    def on_time_rate(self) -> float | None:
        """100 % − the late rate; None when nothing was to process."""
        rate = self.late_rate
        return None if rate is None else 1 - rate

    @property
    def completed_on_time_rate(self) -> float | None:
        """(early + on time) / completed with a time limit: the share of the dossiers finished in the period
        that were finished in time (the "(đúng hạn + trước hạn) / tổng số đã giải quyết" figure of the
        provincial indices); None when none was finished."""
        timed = self.completed - self.completed_unclassified
        return None if timed == 0 else (self.completed_early + self.completed_on_time) / timed

    def add(self, other: "ReportRow") -> None:
        """Add the counts of ``other`` to this row."""
        for f in _COUNT_FIELDS:
            setattr(self, f, getattr(self, f) + getattr(other, f))

    def as_dict(self) -> dict[str, Any]:
        """Every count, the derived totals and the rates, JSON-ready."""
        data: dict[str, Any] = {"key": self.key, "label": self.label}
        data.update({f: getattr(self, f) for f in _COUNT_FIELDS})
        data.update(to_process=self.to_process, open=self.open, completed=self.completed, late=self.late,
                    late_rate=self.late_rate, on_time_rate=self.on_time_rate,
                    completed_on_time_rate=self.completed_on_time_rate)
        return data


_COUNT_FIELDS = tuple(f.name for f in fields(ReportRow) if f.name not in ("key", "label"))


@dataclass
class Report:
    """A timeliness report: one row per group, and the total."""

    by: str
    start: dt.date
    end: dt.date                # inclusive
    judged_at: dt.datetime      # the instant open dossiers are classified at
    rows: list[ReportRow]
    total: ReportRow

    @property
    def title(self) -> str:
        return (f"Báo cáo tình hình giải quyết hồ sơ từ ngày {self.start:%d/%m/%Y} đến ngày {self.end:%d/%m/%Y}"
                f" — theo {DIMENSION_LABELS[self.by].lower()}")

    def as_dict(self) -> dict[str, Any]:
        return {"by": self.by, "from": self.start.isoformat(), "to": self.end.isoformat(),
                "judged_at": self.judged_at.isoformat(), "rows": [r.as_dict() for r in self.rows],
                "total": self.total.as_dict()}


# --------------------------------------------------------------------------- period


def period_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The instants bounding a period of local dates, both inclusive: [start 00:00, end+1 00:00) in Hanoi.

    Raises
    ------
    ReportError
        When ``end`` is before ``start``, or either is outside the working calendar's years (1995-2099: the
        open dossiers are classified in working time; and year 1 or 9999 would overflow the instants).
    """
    if end < start:
        raise ReportError(f"the period ends ({end:%d/%m/%Y}) before it starts ({start:%d/%m/%Y})")
    if start.year < MIN_YEAR or end.year > MAX_YEAR:
        raise ReportError(f"the period {start.isoformat()} - {end.isoformat()} is outside the working calendar's "
                          f"years {MIN_YEAR}-{MAX_YEAR}")
    lo = dt.datetime.combine(start, dt.time(0), tzinfo=LOCAL_TZ)
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), tzinfo=LOCAL_TZ)
    return lo.astimezone(dt.timezone.utc), hi.astimezone(dt.timezone.utc)


def lead_unit(defn: Definition) -> str | None:
    """The unit that handles a procedure (đơn vị chủ trì), for grouping reports by unit.

    The unit whose steps add up to the most allotted working time, the unit
    of the start step (the one-stop unit) and citizen steps left out; ties go
    to the unit met first in step order. Falls back to the start step's unit.
    """
    reception = defn.start.unit if defn.steps else None
    totals: dict[str, int] = {}
    for s in defn.steps:
        if s.paused or not s.unit or s.unit == reception:
            continue
        totals[s.unit] = totals.get(s.unit, 0) + (s.duration or 0)
    if not totals:
        return reception
    best = max(totals.values())
    return next(u for u, m in totals.items() if m == best)


def _clock_as_of(data: dict[str, Any] | None, at: dt.datetime) -> sla.Clock | None:
    """A dossier's stored clock as it stood at ``at``: later pauses dropped, a pause open at ``at`` open."""
    if not data:
        return None
    clock = sla.Clock.from_dict(data)
    at_minute = at.astimezone(LOCAL_TZ).replace(second=0, microsecond=0)
    pauses = []
    for p in clock.pauses:
        if p.start >= at_minute:
            break
        pauses.append(p if p.end is not None and p.end <= at_minute else sla.Pause(p.start, None, p.reason))
    return sla.Clock(clock.start, clock.limit_minutes, clock.same_day, clock.cutoff, clock.policy,
                     tuple(pauses), None, clock.calendar_days)


# --------------------------------------------------------------------------- the report


def _when(cond: Any) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


def timeliness_report(db: Any, start: dt.date, end: dt.date, by: str = "procedure", *,
                      now: dt.datetime | None = None, calendar: WorkCalendar | None = None,
                      policy: sla.SlaPolicy = sla.DEFAULT_SLA_POLICY,
                      communes: Sequence[str] | None = None) -> Report:
    """The timeliness figures of the period ``start``..``end`` (local dates, inclusive), grouped by ``by``.

    Parameters
    ----------
    db : Store, Engine or URL
    start, end : date
        First and last day of the period (Asia/Ho_Chi_Minh).
    by : str
        One of :data:`DIMENSIONS`.
    now : datetime, optional
        The present; a period that has not ended yet is judged at ``now``
        instead of its end (nothing after ``now`` exists yet).
    calendar : WorkCalendar, optional
        For the class of open dossiers (default: the catalogue's calendar).
    policy : SlaPolicy
        The "nearly due" threshold.
    communes : sequence of str, optional
        Grouping by commune: the organisation's communes as units.yaml lists them (``communes:``), the
        order of the rows and the spelling of their labels (default: read from the catalogue's
        units.yaml, :func:`engine.calendar.catalogue_dir`).

    Returns
    -------
    Report
        Rows sorted by label (by commune: in the order of ``communes``, then any other commune by name,
        then the dossiers that belong to no commune), and the total row; the rules are in docs/reports.md.

    Raises
    ------
    ReportError
        Unknown dimension, or a period that ends before it starts.
    """
    if by not in DIMENSIONS:
        raise ReportError(f"unknown grouping '{by}'; use one of {', '.join(DIMENSIONS)}")
    lo, hi = period_bounds(start, end)
    judged = hi if now is None else min(hi, now.astimezone(dt.timezone.utc))
    if judged < lo:
        raise ReportError(f"the period starts ({start:%d/%m/%Y}) after now")
    cal = calendar or WorkCalendar.default()
    store = as_store(db) if not isinstance(db, Store) else db
    D = Dossier
    # the grouping columns: definition version and channel, and the commune only when grouping by it
    group: list[Any] = [D.definition_id, D.channel]
    if by == "commune":
        group.append(sa.func.coalesce(D.commune, "").label("commune"))
    n_group = len(group)
    counts: dict[tuple[int, str, str], ReportRow] = {}

    def row_for(values: Sequence[Any]) -> ReportRow:
        k = (values[0], values[1], values[2] if n_group > 2 else "")
        if k not in counts:
            counts[k] = ReportRow("", "")
        return counts[k]

    received = D.received_at.is_not(None)  # type: ignore[union-attr]
    finished_in = sa.and_(D.finished_at >= lo, D.finished_at < judged)  # type: ignore[operator]
    with store.engine.connect() as conn:
        q = (sa.select(
            *group,
            _when(sa.and_(D.received_at >= lo, D.received_at < judged)),  # type: ignore[operator]
            _when(sa.and_(D.received_at < lo, sa.or_(D.finished_at.is_(None), D.finished_at >= lo),  # type: ignore[union-attr,operator]
                          sa.or_(D.closed_at.is_(None), D.closed_at >= lo))),  # type: ignore[union-attr,operator]
            _when(sa.and_(finished_in, D.timeliness == "early")),
            _when(sa.and_(finished_in, D.timeliness == "on_time")),
            _when(sa.and_(finished_in, D.timeliness == "late")),
            _when(sa.and_(finished_in, sa.or_(D.timeliness.is_(None),  # type: ignore[union-attr]
                                              D.timeliness.not_in(("early", "on_time", "late"))))),  # type: ignore[union-attr]
            _when(sa.and_(D.finished_at.is_(None), D.closed_at >= lo, D.closed_at < judged)),  # type: ignore[union-attr,operator]
            _when(sa.and_(D.finished_at < judged, sa.or_(D.closed_at.is_(None), D.closed_at >= judged))),  # type: ignore[union-attr,operator]
        ).where(received, D.received_at < judged,  # type: ignore[operator]
                sa.or_(D.closed_at.is_(None), D.closed_at >= lo))  # type: ignore[union-attr,operator]
            .group_by(*group))
        for values in conn.execute(q):
            r = row_for(values)
            nums = values[n_group:]
            (r.received, r.carried_over, r.completed_early, r.completed_on_time, r.completed_late,
             r.completed_unclassified, r.withdrawn, r.not_collected) = (int(n) for n in nums)

        # open at the period end: classified one by one at that instant
        q = (sa.select(*group, D.clock)
             .where(received, D.received_at < judged,  # type: ignore[operator]
                    sa.or_(D.finished_at.is_(None), D.finished_at >= judged),  # type: ignore[union-attr,operator]
                    sa.or_(D.closed_at.is_(None), D.closed_at >= judged)))  # type: ignore[union-attr,operator]
        for values in conn.execute(q):
            clock = _clock_as_of(values[n_group], judged)
            cls = sla.Timeliness.NOT_DUE if clock is None else \
                sla.timeliness_open(clock, cal, judged, policy, sla.Scope.DOSSIER)
            r = row_for(values)
            if cls == sla.Timeliness.OVERDUE:
                r.open_overdue += 1
            elif cls == sla.Timeliness.NEARLY_DUE:
                r.open_nearly_due += 1
            else:
                r.open_not_due += 1

        q = (sa.select(*group, sa.func.count(Apology.id))
             .select_from(Apology).join(D, D.id == Apology.dossier_id)
             # made in the period: signed by the unit's head (a draft nobody signed is no apology), and
             # counted when it was signed, so a later signature never changes a past period's figure
             .where(Apology.signed_at >= lo, Apology.signed_at < judged)  # type: ignore[operator,arg-type]
             .group_by(*group))
        for values in conn.execute(q):
            row_for(values).apologies += int(values[n_group])

    keys = _group_keys(store, by, {did for did, _, _ in counts})
    if by == "commune":
        known = tuple(communes) if communes is not None else _catalogue_communes()
    groups: dict[str, ReportRow] = {}
    for (did, channel, commune), r in counts.items():
        if by == "channel":
            key, label = channel, CHANNEL_LABELS.get(channel, channel)
        elif by == "commune":
            key, label = _commune_group(commune, keys[did][0], known)
        else:
            key, label = keys[did]
        g = groups.setdefault(key, ReportRow(key, label))
        g.add(r)
    if by == "commune":
        order = {c: i for i, c in enumerate(known)}

        def rank(r: ReportRow) -> tuple[int, int, str]:
            """units.yaml's communes in its order, other communes by name, the commune-level dossiers
            without a commune, then the other levels' dossiers (no commune) just above the total."""
            if r.key in order:
                return 0, order[r.key], ""
            if r.key == UNRECORDED_COMMUNE[0]:
                return 2, 0, ""
            return (3 if r.key in no_commune else 1), 0, r.label

        no_commune = {f"({v})" for v in {lvl for lvl, _ in keys.values()}}
        rows = sorted(groups.values(), key=rank)
    else:
        rows = sorted(groups.values(), key=lambda r: (r.label, r.key))
    total = ReportRow("", TOTAL_LABEL)
    for r in rows:
        total.add(r)
    return Report(by, start, end, judged, rows, total)


def _catalogue_communes() -> tuple[str, ...]:
    """The communes of the catalogue's units.yaml (``communes:``); from a units.yaml with problems, those its
    ``communes:`` still lists when that list is readable (:func:`engine.definition.units_file_header`; the
    command or page said once that units.yaml has problems); none when it has no such file or no readable
    list (the rows are then ordered by name: the figures do not depend on the file;
    :func:`engine.organisation.catalogue_communes`)."""
    from engine.organisation import catalogue_communes

    return catalogue_communes()


def _commune_group(commune: str, level: str, known: Sequence[str]) -> tuple[str, str]:
    """(group key, Vietnamese label) of a dossier's commune when grouping by commune.

    A commune is its name as units.yaml writes it (``known``, matched by
    :func:`engine.definition.find_commune`), or as the dossier wrote it when units.yaml does not list it. Only a commune-level dossier belongs to a commune:
    another counts in the row of its procedure's level, "Cấp huyện (không thuộc xã, thị trấn)", whatever
    commune it names (dossiers received before the API refused one may); a commune-level dossier received before its commune
    was recorded counts in :data:`UNRECORDED_COMMUNE`.
    """
    name = " ".join((commune or "").split())
    if name and level == "commune":
        name = find_commune(name, known) or unicodedata.normalize("NFC", name)
        return name, name
    if level == "commune":
        return UNRECORDED_COMMUNE
    return f"({level})", NO_COMMUNE_LABEL.format(level=LEVEL_LABELS.get(level, f"Cấp {level}"))


def _version_facts(v: DefinitionVersion) -> tuple[str, str | None]:
    """The field and the lead unit (:func:`lead_unit`) of a published version.

    Read with :func:`engine.definition.stored_definition` (parsed once per process, the cache the services'
    ``definition_of`` uses), without importing the services: a report from the CLI need not load them.
    """
    defn = stored_definition(v)
    return defn.field, lead_unit(defn)


def _group_keys(store: Store, by: str, definition_ids: set[int]) -> dict[int, tuple[str, str]]:
    """Definition version id -> (group key, Vietnamese label) for the dimension ``by`` (by commune: the level)."""
    if by == "channel" or not definition_ids:
        return {}
    with store.session() as s:
        versions = {v.id: v for v in s.exec(select(DefinitionVersion).where(
            DefinitionVersion.id.in_(sorted(definition_ids)))).all()}  # type: ignore[union-attr]
        out: dict[int, tuple[str, str]] = {}
        if by in ("level", "commune"):
            return {i: (v.level, LEVEL_LABELS.get(v.level, v.level)) for i, v in versions.items()}
        if by == "procedure":
            latest = {}
            for v in sorted(versions.values(), key=lambda v: v.version):
                latest[v.procedure_code] = v.name
            return {i: (v.procedure_code, f"{v.procedure_code} – {latest[v.procedure_code]}")
                    for i, v in versions.items()}
        units = {u.id: u for u in s.exec(select(UnitRow)).all()}
        # A unit merged into another (units.yaml merged_into) is reported with the unit that does its work
        # now: its open dossiers and apologies are that unit's, and a row of a unit that no longer exists
        # would be nobody's. The label names the merged units whose dossiers the row holds.
        merged = {uid: u.merged_into for uid, u in units.items() if u.merged_into}
        folded: dict[str, set[str]] = {}
        for i, v in versions.items():
            field_, lead = _version_facts(v)
            if by == "field":
                out[i] = (field_, field_ or "(chưa xác định lĩnh vực)")
            else:
                uid = lead or ""
                now_uid = resolve_successor(uid, merged) or uid
                if now_uid != uid:
                    folded.setdefault(now_uid, set()).add(uid)
                u = units.get(now_uid)
                out[i] = (now_uid, u.name if u else (now_uid or "(chưa xác định đơn vị)"))
        if folded:
            def short(uid: str) -> str:
                u = units.get(uid)
                return (u.short or u.name) if u else uid
            for i, (key, label) in out.items():
                if key in folded:
                    gone = ", ".join(short(g) for g in sorted(folded[key]))
                    out[i] = (key, f"{label} (gồm hồ sơ của {gone} đã hợp nhất)")
        return out


# --------------------------------------------------------------------------- output

#: (attribute, Vietnamese header, kind) of every column after the group's label.
#: kind: "n" a count, "%" a rate.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("carried_over", "Tồn kỳ trước", "n"),
    ("received", "Tiếp nhận trong kỳ", "n"),
    ("to_process", "Tổng số phải giải quyết", "n"),
    ("completed", "Đã giải quyết", "n"),
    ("completed_early", "Đã giải quyết: trước hạn", "n"),
    ("completed_on_time", "Đã giải quyết: đúng hạn", "n"),
    ("completed_late", "Đã giải quyết: trễ hạn", "n"),
    ("completed_unclassified", "Đã giải quyết: không có thời hạn", "n"),
    ("open", "Đang giải quyết", "n"),
    ("open_not_due", "Đang giải quyết: chưa đến hạn", "n"),
    ("open_nearly_due", "Đang giải quyết: sắp đến hạn", "n"),
    ("open_overdue", "Đang giải quyết: quá hạn", "n"),
    ("withdrawn", "Rút hồ sơ, dừng xử lý", "n"),
    ("not_collected", "Đã có kết quả, chưa trả", "n"),
    ("apologies", "Phiếu xin lỗi (mẫu 04)", "n"),
    ("late_rate", "Tỷ lệ trễ hạn (%)", "%"),
    ("on_time_rate", "Tỷ lệ đúng và trước hạn (%)", "%"),
    ("completed_on_time_rate", "Tỷ lệ đã giải quyết đúng và trước hạn (%)", "%"),
)


def report_columns(report: Report) -> list[str]:
    """The Vietnamese column headers of :func:`report_table`."""
    return [DIMENSION_LABELS[report.by]] + [h for _, h, _ in COLUMNS]


def _percent(rate: float | None) -> float | None:
    """A rate as a percentage with 2 decimals, rounded half up as administrative figures (and Excel's
    ``0.00%`` format of the XLSX export) round: 1 late of 32 is 3.13, not Python's half-even 3.12."""
    if rate is None:
        return None
    return float(Decimal(repr(rate * 100)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def rate_percent(row: ReportRow, attr: str) -> float | None:
    """A row's rate as the report prints it: percent, 2 decimals, half up; the on-time rate is 100 minus
    the printed late rate, so the two printed figures add up to exactly 100."""
    if attr == "on_time_rate":
        late = _percent(row.late_rate)
        return None if late is None else float(Decimal("100") - Decimal(repr(late)))
    return _percent(getattr(row, attr))


def percent_text(value: float | None) -> str:
    """A printed rate as staff read it: ``3,13%``; ``–`` when there is none."""
    return "–" if value is None else f"{value:.2f}".replace(".", ",") + "%"


def report_table(report: Report) -> list[list[Any]]:
    """The report as rows of values (the total last): counts as int, rates as percent (2 decimals) or None."""
    out = []
    for r in [*report.rows, report.total]:
        vals: list[Any] = [r.label]
        for attr, _, kind in COLUMNS:
            vals.append(rate_percent(r, attr) if kind == "%" else getattr(r, attr))
        out.append(vals)
    return out


def report_csv(report: Report) -> str:
    """The report as CSV text: Vietnamese headers, one row per group and the total; rates in percent
    with a decimal point, empty when nothing was to process."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(report_columns(report))
    for vals in report_table(report):
        w.writerow(["" if v is None else (f"{v:.2f}" if isinstance(v, float) else v) for v in vals])
    return buf.getvalue()


def report_xlsx(report: Report, path: str | Path | None = None) -> bytes:
    """The report as an Excel workbook (one sheet): title, styled header, numbers, percentages.

    Rates are stored as ratios of the printed percentages (:func:`rate_percent`) with the ``0.00%`` number
    format, so Excel shows the table's figures. Returns the
    file's bytes; writes them to ``path`` when given.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = "Báo cáo"
    headers = report_columns(report)
    ws.cell(row=1, column=1, value=report.title).font = Font(bold=True, size=13)
    thin = Side(style="thin", color="999999")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    head_fill = PatternFill("solid", fgColor="1F4E79")
    for c, h in enumerate(headers, start=1):
        cell = ws.cell(row=3, column=c, value=h)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = head_fill
        cell.alignment = Alignment(wrap_text=True, horizontal="center", vertical="center")
        cell.border = border
    ws.row_dimensions[3].height = 45
    kinds = ["label"] + [k for _, _, k in COLUMNS]
    attrs = [None] + [a for a, _, _ in COLUMNS]
    all_rows = [*report.rows, report.total]
    for i, r in enumerate(all_rows):
        excel_row = 4 + i
        for c, (attr, kind) in enumerate(zip(attrs, kinds), start=1):
            value = r.label if attr is None else getattr(r, attr)
            if kind == "%" and value is not None:  # the printed figure, as a ratio: Excel shows what the table does
                value = float(Decimal(repr(rate_percent(r, attr))) / 100)
            cell = ws.cell(row=excel_row, column=c, value=value)
            cell.border = border
            if kind == "%":
                cell.number_format = "0.00%"
            elif kind == "n":
                cell.number_format = "#,##0"
            if r is report.total:
                cell.font = Font(bold=True)
                cell.fill = PatternFill("solid", fgColor="DDEBF7")
    ws.column_dimensions["A"].width = 48
    for c in range(2, len(headers) + 1):
        ws.column_dimensions[get_column_letter(c)].width = 14
    ws.freeze_panes = "B4"
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


# --------------------------------------------------------------------------- chart

#: Series of the bar chart: (attribute, Vietnamese legend, colour).
CHART_SERIES = (
    ("completed_early", "Giải quyết trước hạn", "#1e8449"),
    ("completed_on_time", "Giải quyết đúng hạn", "#58d68d"),
    ("completed_late", "Giải quyết trễ hạn", "#c0392b"),
    ("open_not_due", "Đang giải quyết, chưa đến hạn", "#5dade2"),
    ("open_nearly_due", "Đang giải quyết, sắp đến hạn", "#f4d03f"),
    ("open_overdue", "Đang giải quyết, quá hạn", "#e67e22"),
)


def chart_data(report: Report) -> dict[str, Any]:
    """Chart-ready data: one category per group, the stacked series, and the on-time rate per group."""
    return {
        "title": report.title,
        "categories": [r.label for r in report.rows],
        "series": [{"key": a, "label": lbl, "colour": col, "values": [getattr(r, a) for r in report.rows]}
                   for a, lbl, col in CHART_SERIES],
        "on_time_rate": [rate_percent(r, "on_time_rate") for r in report.rows],
    }


def reports_chart_svg(report: Report, *, width: int = 820, bar_height: int = 22) -> str:
    """A horizontal stacked bar chart of the report as a standalone SVG string (no script).

    One bar per group: completed early / on time / late, then open not due /
    nearly due / overdue; the on-time rate is written after each bar. Bars
    carry ``data-*`` attributes and ``<title>`` tooltips.
    """
    data = chart_data(report)
    cats = data["categories"]
    label_w, right_w, top, legend_h = 260, 110, 40, 24 * ((len(CHART_SERIES) + 2) // 3)
    plot_w = width - label_w - right_w
    height = top + max(1, len(cats)) * (bar_height + 10) + legend_h + 20
    totals = [sum(s["values"][i] for s in data["series"]) for i in range(len(cats))]
    scale = plot_w / max([1, *totals])
    esc = html.escape
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12" '
           f'role="img" aria-label="{esc(data["title"])}">',
           f'<text x="8" y="20" font-size="14" font-weight="bold">{esc(data["title"])}</text>']
    if not cats:
        out.append(f'<text x="8" y="{top + 16}">Không có hồ sơ trong kỳ.</text>')
    # what fits left of the bars: DejaVu Sans 12 px is up to ~7.6 px a character (digits, capitals, đ…)
    fit = int((label_w - 16) / 7.6)
    for i, cat in enumerate(cats):
        y = top + i * (bar_height + 10)
        short = cat if len(cat) <= fit else cat[:fit - 1].rstrip() + "…"
        out.append(f'<text x="{label_w - 8}" y="{y + bar_height * 0.7:.1f}" text-anchor="end">'
                   f'<title>{esc(cat)}</title>{esc(short)}</text>')
        x = float(label_w)
        for s in data["series"]:
            v = s["values"][i]
            if not v:
                continue
            w = v * scale
            out.append(f'<rect class="bar" x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_height}" '
                       f'fill="{s["colour"]}" data-series="{s["key"]}" data-value="{v}">'
                       f'<title>{esc(cat)} — {esc(s["label"])}: {v}</title></rect>')
            x += w
        out.append(f'<text x="{x + 6:.1f}" y="{y + bar_height * 0.7:.1f}" class="rate">'
                   f'{percent_text(data["on_time_rate"][i])}</text>')
    ly = top + max(1, len(cats)) * (bar_height + 10) + 10
    for j, (_, lbl, col) in enumerate(CHART_SERIES):
        lx = 8 + (j % 3) * (width // 3)
        yy = ly + (j // 3) * 24
        out.append(f'<rect x="{lx}" y="{yy}" width="14" height="14" fill="{col}"/>'
                   f'<text x="{lx + 20}" y="{yy + 12}">{esc(lbl)}</text>')
    out.append("</svg>")
    return "\n".join(out)


# --------------------------------------------------------------------------- step performance


@dataclass(frozen=True)
class HeatCell:
    """Measured performance of one step: completed work items since a date.

    ``median_spent`` and ``allotted`` are working minutes (``allotted`` None
    for citizen steps, which have no allotted time); ``share_late`` is the
    share of items that spent more than allotted; ``n`` the number of items.
    """

    median_spent: float
    allotted: int | None
    share_late: float
    n: int

    @property
    def ratio(self) -> float | None:
        """Median spent / allotted (None without an allotted time)."""
        return None if not self.allotted else self.median_spent / self.allotted


def step_performance(db: Any, code: str, since: dt.date | dt.datetime | None = None,
                     until: dt.date | dt.datetime | None = None) -> dict[str, HeatCell]:
    """Per step of procedure ``code``: median working minutes spent, allotted, share late, count.

    Counts the work items of the procedure's dossiers (every definition
    version) completed (state ``done``) from ``since`` (a local date, or an
    instant) up to ``until`` (exclusive; a date counts whole). Cancelled items
    are left out. ``allotted`` is the median of the items' allotted minutes.

    Returns
    -------
    dict
        step id -> :class:`HeatCell`, only for steps with at least one item.
    """
    def instant(v: dt.date | dt.datetime, next_day: bool = False) -> dt.datetime:
        if isinstance(v, dt.datetime):
            return v
        # a day before the calendar's years counts from its first (no dossier is older), one after it to its
        # end: year 1 or 9999 would overflow the instant
        v = min(max(v, dt.date(MIN_YEAR, 1, 1)), dt.date(MAX_YEAR, 12, 31))
        d = v + dt.timedelta(days=1) if next_day else v
        return dt.datetime.combine(d, dt.time(0), tzinfo=LOCAL_TZ)

    store = as_store(db) if not isinstance(db, Store) else db
    W = WorkItem
    q = (sa.select(W.step_id, W.spent_minutes, W.allotted_minutes, W.timeliness)
         .join(Dossier, Dossier.id == W.dossier_id)
         .where(Dossier.procedure_code == code, W.state == "done", W.spent_minutes.is_not(None)))  # type: ignore[union-attr]
    if since is not None:
        q = q.where(W.closed_at >= instant(since))  # type: ignore[operator]
    if until is not None:
        q = q.where(W.closed_at < instant(until, next_day=True))  # type: ignore[operator]
    spent: dict[str, list[int]] = {}
    allotted: dict[str, list[int]] = {}
    late: dict[str, int] = {}
    with store.engine.connect() as conn:
        for step, s, a, t in conn.execute(q):
            spent.setdefault(step, []).append(int(s))
            if a is not None:
                allotted.setdefault(step, []).append(int(a))
            late[step] = late.get(step, 0) + (1 if t == "late" else 0)
    out = {}
    for step, values in spent.items():
        al = allotted.get(step)
        out[step] = HeatCell(float(statistics.median(values)),
                             int(statistics.median(al)) if al else None,
                             late.get(step, 0) / len(values), len(values))
    return out
