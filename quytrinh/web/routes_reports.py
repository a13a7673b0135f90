"""Reports pages: timeliness figures of a period with a server-side SVG chart, CSV/XLSX export,
and a procedure's heatmap (its diagram coloured by measured step times).

    GET /reports?from=2026-03-01&to=2026-03-31&by=unit     the table and the chart (by: unit, procedure,
                                                           field, level, channel, commune)
    GET /reports/export.csv?... | /reports/export.xlsx?...  the same figures as a file
    GET /reports/heatmap?code=1.001612&since=2026-01-01    the heatmap diagram (default: the last 90 days, the
                                                           procedure with the most dossiers in them)

Open to leaders, heads of units, the reform office and admins. The rules of
every figure: docs/reports.md. No script: the chart is an SVG drawn by
:func:`engine.reports.reports_chart_svg`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup

from engine.errors import QuytrinhError
from quytrinh.web.deps import ROLES, NavItem, WebUser, local_time, now_of, render, require_role, store_of

router = APIRouter(include_in_schema=False)

#: Everyone signed in: the on-time and late figures are the district's, figures and no dossier list, and staff
#: are judged by them as much as their leaders are.
VIEWERS = ROLES
NAV = [NavItem("Báo cáo", "/reports", VIEWERS, 60)]
HANOI = dt.timezone(dt.timedelta(hours=7))

#: The heatmap's default period, the same on /reports (its heatmap form) and on /reports/heatmap: the last 90
#: days up to today, as ``quytrinh render CODE --heatmap`` without ``--since``. Not the report's month: a median
#: per step wants more completed steps than the first days of a month give, and the heatmap has no end date.
HEATMAP_DAYS = 90


def _calendar() -> Any:
    from engine.calendar import WorkCalendar

    return WorkCalendar.default()


def _day_bounds() -> dict[str, str]:
    """The date inputs' ``min`` and ``max``: the working calendar's years, as :func:`_day` accepts them."""
    from engine.calendar import MAX_YEAR, MIN_YEAR

    return {"day_min": f"{MIN_YEAR}-01-01", "day_max": f"{MAX_YEAR}-12-31"}


def _day(text: str) -> tuple[dt.date | None, str | None]:
    """A date of the query (``YYYY-MM-DD``) and, when it cannot be used, why (None, reason): not a date, or a year
    outside the working calendar's (whose years the figures are counted in; year 9999 would not even be an
    instant)."""
    from engine.calendar import MAX_YEAR, MIN_YEAR

    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        return None, "hãy chọn một ngày trên lịch của ô"
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        return None, f"lịch làm việc chỉ có các năm {MIN_YEAR}–{MAX_YEAR}"
    return day, None


def _period(request: Request) -> tuple[dt.date, dt.date, str, str | None]:
    """The period and grouping asked for (default: this month up to today, by procedure), and an error."""
    from engine.reports import DIMENSION_LABELS, DIMENSIONS

    today = now_of(request).astimezone(HANOI).date()
    q = request.query_params
    error = None
    bad = []  # each date on its own: a valid one is kept when the other is not

    def day_of(name: str, label: str) -> dt.date | None:
        if not q.get(name):
            return None
        day, why = _day(q[name])
        if why:
            bad.append((f"ô “{label}” ('{q[name]}')", why))
        return day

    start, end = day_of("from", "Từ ngày"), day_of("to", "Đến ngày")  # the fields' own labels
    end = end or (today if start is None or start <= today else start)
    start = start or end.replace(day=1)  # by default the month of the last day
    if bad:
        whys = sorted({why for _, why in bad})
        what = " và ".join(what for what, _ in bad)
        error = (f"{what[:1].upper() + what[1:]} không hợp lệ: {'; '.join(whys)}; báo cáo "
                 f"dưới đây lấy kỳ từ {start:%d/%m/%Y} đến {end:%d/%m/%Y}.")
    by = q.get("by") or "procedure"
    if by not in DIMENSIONS:
        grouping = (f"Cách nhóm '{by}' không hợp lệ; báo cáo dưới đây nhóm theo "
                    f"{DIMENSION_LABELS['procedure'].lower()}.")
        error = f"{error} {grouping}" if error else grouping
        by = "procedure"
    if end < start:
        error = (f"Ô “Đến ngày” ({end:%d/%m/%Y}) sớm hơn ô “Từ ngày” ({start:%d/%m/%Y}); báo cáo dưới đây lấy "
                 f"kỳ từ {end:%d/%m/%Y} đến {start:%d/%m/%Y}.")
        start, end = end, start
    return start, end, by, error


def _report(request: Request) -> tuple[Any, str | None]:
    from engine.reports import timeliness_report

    start, end, by, error = _period(request)
    now = now_of(request)
    if dt.datetime.combine(start, dt.time(0), tzinfo=HANOI) > now:
        start = end = now.astimezone(HANOI).date()
        error = error or f"Kỳ báo cáo bắt đầu sau hôm nay; báo cáo dưới đây là của hôm nay ({start:%d/%m/%Y})."
    communes = None
    if by == "commune":  # the rows in the order of units.yaml's communes, as the reception form lists them
        from quytrinh.web.routes_staff import communes as organisation_communes

        communes = organisation_communes(request)
    return timeliness_report(store_of(request), start, end, by, now=now, calendar=_calendar(),
                             communes=communes), error


def _heatmap_since(request: Request) -> dt.date:
    """The heatmap's default first day (:data:`HEATMAP_DAYS` before today, Hanoi time)."""
    return now_of(request).astimezone(HANOI).date() - dt.timedelta(days=HEATMAP_DAYS)


def _busiest_code(request: Request, since: dt.date, codes: list[tuple[str, str]]) -> str | None:
    """The heatmap's default procedure: of the published ones (``codes``), the one with the most dossiers
    registered from ``since`` on (its reception step at least is done, so its heatmap has data), ties to the
    smaller code; None when no dossier was registered since then. One range read of the registration index."""
    import sqlalchemy as sa

    from engine.store import Dossier

    published = {c for c, _ in codes}
    n = sa.func.count()
    q = (sa.select(Dossier.procedure_code, n)
         .where(Dossier.registered_at >= dt.datetime.combine(since, dt.time(0), tzinfo=HANOI))  # type: ignore[operator]
         .group_by(Dossier.procedure_code).order_by(n.desc(), Dossier.procedure_code))
    with store_of(request).engine.connect() as conn:
        return next((code for code, _ in conn.execute(q) if code in published), None)


@router.get("/reports")
def reports_page(request: Request, user: WebUser = Depends(require_role(*VIEWERS))) -> Any:
    from engine.reports import DIMENSION_LABELS, percent_text, rate_percent, reports_chart_svg

    report, error = _report(request)
    codes = _codes(request)
    heat_since = _heatmap_since(request)
    query = f"from={report.start.isoformat()}&to={report.end.isoformat()}&by={report.by}"
    return render(request, "reports_home.html", {
        "report": report, "error": error, "dimensions": DIMENSION_LABELS, "query": query,
        "judged": _judged_text(report),
        "chart": Markup(reports_chart_svg(report)),
        "pct": lambda row, attr: percent_text(rate_percent(row, attr)),  # as the exports print it
        "codes": codes, "heat_since": heat_since, "heat_code": _busiest_code(request, heat_since, codes),
        **_day_bounds(),
    })


def _judged_text(report: Any) -> str:
    """When open dossiers were judged: "tính đến hết ngày 31/10/2026" for a past period (midnight after its
    last day), else the instant ("tính đến 27/11/2026 14:30", a period still running)."""
    at = report.judged_at.astimezone(HANOI)
    if at.time() == dt.time(0, 0) and at.date() == report.end + dt.timedelta(days=1):
        return f"tính đến hết ngày {report.end:%d/%m/%Y}"
    return f"tính đến {local_time(report.judged_at)}"


def _codes(request: Request) -> list[tuple[str, str]]:
    from sqlmodel import select

    from engine.store import DefinitionVersion

    with store_of(request).session() as s:
        rows = s.exec(select(DefinitionVersion.procedure_code, DefinitionVersion.name)
                      .order_by(DefinitionVersion.procedure_code, DefinitionVersion.version)).all()
    return sorted({code: name for code, name in rows}.items())


#: The grouping in a download's file name, in Vietnamese without diacritics (as so-theo-doi-…, du-thao-…).
FILE_BY = {"unit": "theo-don-vi", "procedure": "theo-thu-tuc", "field": "theo-linh-vuc", "level": "theo-cap",
           "channel": "theo-hinh-thuc-nop", "commune": "theo-xa"}


def _file_stem(report: Any) -> str:
    """``bao-cao-theo-don-vi-20260301-20260331``: a download's name without its extension."""
    return f"bao-cao-{FILE_BY.get(report.by, report.by)}-{report.start:%Y%m%d}-{report.end:%Y%m%d}"


@router.get("/reports/export.csv")
def export_csv(request: Request, user: WebUser = Depends(require_role(*VIEWERS))) -> Response:
    from engine.reports import report_csv

    report, _ = _report(request)
    name = f"{_file_stem(report)}.csv"
    return Response("\ufeff" + report_csv(report), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


@router.get("/reports/export.xlsx")
def export_xlsx(request: Request, user: WebUser = Depends(require_role(*VIEWERS))) -> Response:
    from engine.reports import report_xlsx

    report, _ = _report(request)
    name = f"{_file_stem(report)}.xlsx"
    return Response(report_xlsx(report),
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


@router.get("/reports/heatmap")
def heatmap_page(request: Request, user: WebUser = Depends(require_role(*VIEWERS))) -> Any:
    from engine.render import render_heatmap
    from engine.reports import step_performance
    from engine.services import current_definition

    q = request.query_params
    code = (q.get("code") or "").strip()
    error, note = None, None
    since, why = _day(q["since"]) if q.get("since") else (_heatmap_since(request), None)
    if since is None:
        since = _heatmap_since(request)
        error = f"Ô “Từ ngày” ('{q['since']}') không hợp lệ: {why}; bản đồ dưới đây lấy số liệu từ ngày {since:%d/%m/%Y}."
    codes = _codes(request)
    if not code:  # opened without a procedure: the one with the most dossiers in the period, drawn at once
        code = _busiest_code(request, since, codes) or ""
        if not code and codes:
            note = f"Chưa có thủ tục nào có hồ sơ từ ngày {since:%d/%m/%Y}: hãy chọn thủ tục hoặc ngày bắt đầu sớm hơn."
    svg, heat, defn = None, {}, None
    if code:
        try:
            _, defn = current_definition(store_of(request), code)
        except QuytrinhError:
            error = " ".join(e for e in (error, f"Không có thủ tục mã {code} đã công bố.") if e)
        if defn is not None:
            from quytrinh.web.deps import app_organisation

            heat = {k: v for k, v in step_performance(store_of(request), code, since).items()
                    if k in defn.steps_by_id()}
            units = app_organisation(request.app)  # (units.yaml with problems: the units the database stores)
            title = f"Số liệu thực tế từ ngày {since:%d/%m/%Y}: {sum(c.n for c in heat.values())} lượt xử lý đã hoàn thành"
            svg = Markup(render_heatmap(defn, units, heat, title=title).decode("utf-8"))
    return render(request, "reports_heatmap.html", {
        "code": code, "since": since, "error": error, "note": note, "svg": svg, "defn": defn, "heat": heat,
        "codes": codes, **_day_bounds(),
    })
