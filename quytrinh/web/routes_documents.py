"""Printable documents on the web: a dossier's forms, the ledger, the draft approval decision.

    GET /documents/dossiers/{code}/forms/{form}?format=html|docx   form 01 ... of a dossier (its regime's set)
    GET /documents/ledger?from=YYYY-MM-DD&to=YYYY-MM-DD[&unit=..][&format=..]
    GET /documents/decision?level=district[&codes=a,b][&format=html|docx]

HTML pages are the print versions (A5 forms, A4 landscape ledger, A4 decision);
``format=docx`` downloads the Word file. See docs/documents.md. On screen each
page starts with a bar (hidden when printed): back to where the user came from,
a print button, the Word file, and for the ledger and the decision the choice of
period or level. The engine's documents carry their own CSS (``<style>`` and
``style=""``): the security headers allow inline styles on these pages only.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from engine.errors import NotFound, QuytrinhError
from quytrinh.messages import cli_error_text
from quytrinh.web.deps import NavItem, WebUser, current_user, now_of, require_role, store_of

router = APIRouter(include_in_schema=False)

NAV = [NavItem("Sổ theo dõi hồ sơ", "/documents/ledger", ("one_stop", "head", "leader", "reform", "admin"), 60),
       NavItem("Dự thảo quyết định", "/documents/decision", ("reform", "leader", "admin"), 61)]

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
LOCAL_TZ = dt.timezone(dt.timedelta(hours=7))


def _respond(data: bytes, fmt: str, filename: str, bar: str = "") -> Response:
    """The Word file as a download, or the HTML print version with ``bar`` (screen only) at its top."""
    if fmt == "docx":
        return Response(data, media_type=DOCX,
                        headers={"Content-Disposition": f'attachment; filename="{filename}.docx"'})
    page = data.decode("utf-8")
    if bar:
        page = page.replace("</head>", '<link rel="stylesheet" href="/static/documents.css">'
                                       '<script src="/static/print.js" defer></script></head>', 1)
        page = page.replace("<body>", f'<body><nav class="doc-bar" id="doc-bar">{bar}</nav>', 1)
    return HTMLResponse(page)


def _bar(back: tuple[str, str], word: str, fields: str = "", warnings: list[str] | None = None,
         lists: list[tuple[str, list[str]]] | None = None, error: str | None = None) -> str:
    """The screen-only bar: a link back, ``fields`` (a GET form's inputs: the page again with other
    parameters) with ``error`` (what was wrong with them) under them, the print button, the link to the
    Word file, ``warnings`` (what the paper lacks, whole sentences without their full stop) and ``lists``
    (such a sentence and the names it concerns, shown when opened)."""
    e = html.escape
    alert = f'<p class="doc-error" id="doc-error" role="alert">{e(error)}</p>' if error else ""
    form = (f'<form method="get" class="doc-choose">{fields}<button type="submit">Xem</button>{alert}</form>'
            if fields else "")
    notes = "".join(f'<p class="doc-warning">Cảnh báo: {e(w)}.</p>' for w in warnings or ())
    notes += "".join(f'<details class="doc-warning"><summary>Cảnh báo: {e(what)}:</summary><ul>'
                     + "".join(f"<li>{e(name)}</li>" for name in names) + "</ul></details>"
                     for what, names in lists or ())
    return (f'<a href="{e(back[0])}" class="doc-back">← {e(back[1])}</a>{form}'
            f'<button type="button" id="print-button" class="primary">In</button>'
            f'<a href="{e(word)}" id="word-link">Tải tệp Word</a>{notes}')


def _with(params: dict[str, str | None], **more: str) -> str:
    return urlencode({k: v for k, v in {**params, **more}.items() if v})


def _fmt(value: str) -> str:
    if value not in ("html", "docx"):
        raise HTTPException(422, "Định dạng phải là html hoặc docx.")
    return value


@router.get("/documents/dossiers/{code}/forms/{form}")
def dossier_form(request: Request, code: str, form: str, format: str = Query("html"),
                 user: WebUser = Depends(current_user)) -> Response:
    """One form of a dossier the user may see."""
    from engine import services as sv
    from engine.documents import render_form
    from quytrinh.web.routes_staff import can_view_dossier

    fmt = _fmt(format)
    store = store_of(request)
    now = now_of(request)
    try:
        sheet = sv.dossier_sheet(store, code, now=now)  # read once: the access check and the form
    except NotFound:
        raise HTTPException(404, "Không có hồ sơ này.") from None
    if not can_view_dossier(user, sheet):
        raise HTTPException(403, "Bạn không có quyền xem hồ sơ này.")
    try:
        data = render_form(store, form, code, fmt=fmt, now=now, sheet=sheet)
    except QuytrinhError as exc:
        raise HTTPException(409, _form_error(form, exc, sheet.dossier)) from None
    d = sheet.dossier
    bar = _bar((f"/dossiers/{d.code}", f"Hồ sơ {d.code}"),
               f"/documents/dossiers/{d.code}/forms/{form}?format=docx")
    return _respond(data, fmt, f"mau-{form}-{d.code}", bar)


def _form_error(form: str, exc: QuytrinhError, dossier: Any) -> str:
    """Why a form cannot be printed, in Vietnamese, with what to do on these pages (not the CLI's)."""
    from engine.documents import FORM_KINDS, FormNotApplicable, form_set_for

    if isinstance(exc, FormNotApplicable):
        return exc.vi
    fs = form_set_for(dossier.received_at or dossier.registered_at)
    spec = fs.by_kind(form) if form in FORM_KINDS else fs.by_number(form)  # what the engine looked up
    if spec is not None and spec.kind == "ledger":
        return f"Mẫu {form} là Sổ theo dõi hồ sơ của nhiều hồ sơ: mở mục «Sổ theo dõi hồ sơ» trên thanh điều hướng."
    if spec is None:
        return (f"Không có mẫu '{form}' trong bộ mẫu áp dụng cho hồ sơ này; các mẫu của hồ sơ được liệt kê ở mục "
                f"«Biểu mẫu của hồ sơ» trên trang hồ sơ (theo {fs.circular}: "
                + ", ".join(f"{f.number} {f.title.capitalize()}" for f in fs.forms) + ").")
    return f"Không in được mẫu {form}: {cli_error_text(exc)}"


def _period(date_from: str | None, date_to: str | None, today: dt.date) -> tuple[dt.date, dt.date, str | None, set[str]]:
    """The ledger's period from the bar's dates (default: this month up to today), as /reports reads
    them: a date that is not one is replaced (the other one is kept: the period ends today, or on the
    first day when it is in the future, and starts on the first of its last day's month), a reversed
    period is turned round; then what was done, in Vietnamese with dd/mm/yyyy dates, and which of
    ``from``/``to`` were wrong."""
    bad: list[str] = []
    wrong: set[str] = set()

    def day_of(value: str | None, name: str, label: str) -> dt.date | None:
        if not value:
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            bad.append(f"{label} '{value}'")
            wrong.add(name)
            return None

    start, end = day_of(date_from, "from", "Từ ngày"), day_of(date_to, "to", "Đến ngày")
    end = end or (today if start is None or start <= today else start)
    start = start or end.replace(day=1)
    error = None
    if bad:
        error = (f"{' và '.join(bad)} không phải ngày hợp lệ: hãy chọn lại ngày; sổ dưới đây lấy kỳ từ "
                 f"{start:%d/%m/%Y} đến {end:%d/%m/%Y}.")
    if end < start:
        error = (f"Đến ngày ({end:%d/%m/%Y}) trước Từ ngày ({start:%d/%m/%Y}); sổ dưới đây lấy kỳ từ "
                 f"{end:%d/%m/%Y} đến {start:%d/%m/%Y}.")
        start, end = end, start
        wrong = {"from", "to"}
    return start, end, error, wrong


@router.get("/documents/ledger")
def ledger(request: Request, date_from: str | None = Query(None, alias="from"),
           date_to: str | None = Query(None, alias="to"), unit: str | None = Query(None),
           format: str = Query("html"),
           user: WebUser = Depends(require_role("one_stop", "head", "leader", "reform", "admin"))) -> Response:
    """The ledger of a period (default: the current month up to today). A date that is not one, or a
    reversed period, shows the ledger of the period read as /reports reads it, the bar saying so next to
    the dates (the Word file is refused: its link carries the period shown)."""
    from engine.documents import render_ledger

    fmt = _fmt(format)
    today = now_of(request).astimezone(LOCAL_TZ).date()
    start, end, error, wrong = _period(date_from, date_to, today)
    if error and fmt == "docx":
        raise HTTPException(422, error)
    if unit is None and not user.has("one_stop", "leader", "reform", "admin"):
        unit = user.unit_id  # a unit head sees the dossiers of their unit
    try:
        data = render_ledger(store_of(request), date_from=start, date_to=end, unit=unit or None, fmt=fmt,
                             now=now_of(request))
    except QuytrinhError as exc:
        raise HTTPException(422, cli_error_text(exc)) from None
    params = {"from": start.isoformat(), "to": end.isoformat(), "unit": unit}

    def date_input(name: str, label: str, value: dt.date) -> str:
        invalid = ' aria-invalid="true" aria-describedby="doc-error"' if name in wrong else ""
        return f'<label>{label} <input type="date" name="{name}" value="{value.isoformat()}"{invalid}></label>'

    fields = (date_input("from", "Từ ngày", start) + date_input("to", "Đến ngày", end)
              + (f'<input type="hidden" name="unit" value="{html.escape(unit)}">' if unit else ""))
    bar = _bar(("/inbox", "Hộp việc"), f"/documents/ledger?{_with(params, format='docx')}", fields, error=error)
    return _respond(data, fmt, f"so-theo-doi-{start:%Y%m%d}-{end:%Y%m%d}", bar)


def procedure_label(defn: Any) -> str:
    """A procedure as the bar names it: "1.001612 – <name>", or its name alone when it has no national
    code yet (never its file's ASCII name)."""
    code = defn.code or ""
    return f"{code} – {defn.name}" if re.fullmatch(r"\d+\.\d+", code) else defn.name


#: The levels a draft decision is made for, as the bar offers them.
LEVELS = (("district", "Cấp huyện"), ("commune", "Cấp xã"))


@router.get("/documents/decision")
def decision(request: Request, level: str = Query("district"), codes: str | None = Query(None),
             format: str = Query("html"),
             user: WebUser = Depends(require_role("reform", "leader", "admin"))) -> Response:
    """The draft decision approving the internal processes without a decision (or ``codes``)."""
    from engine.documents import cached_catalogue, decision_gap_groups, render_decision, select_procedures

    from engine.approval import for_decision

    fmt = _fmt(format)
    # the catalogue files are parsed again only when one of them changed (engine.documents.cached_catalogue)
    cat, notes = for_decision(store_of(request), cached_catalogue(request.app.state.catalogue_root), level=level)
    picked = [c.strip() for c in (codes or "").split(",") if c.strip()] or None
    try:
        data = render_decision(cat, level=level, codes=picked, fmt=fmt)
    except QuytrinhError as exc:
        raise HTTPException(422, cli_error_text(exc)) from None
    options = "".join(f'<option value="{v}"{" selected" if v == level else ""}>{label}</option>'
                      for v, label in LEVELS)
    fields = (f'<label>Cấp <select name="level">{options}</select></label>'
              + (f'<input type="hidden" name="codes" value="{html.escape(codes or "")}">' if picked else ""))
    back = ("/leader", "Phê duyệt quy trình") if user.has("leader") else ("/inbox", "Trang chính")
    gaps = [(f"{what}; hãy bổ sung trước khi trình ký", [procedure_label(d) for d in defs])
            for what, defs in decision_gap_groups(select_procedures(cat, level=level, codes=picked))]
    bar = _bar(back, f"/documents/decision?{_with({'level': level, 'codes': codes}, format='docx')}", fields,
               notes, gaps)
    return _respond(data, fmt, f"du-thao-quyet-dinh-{level}", bar)
