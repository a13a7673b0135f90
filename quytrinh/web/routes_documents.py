"""Printable documents on the web: a dossier's forms, the ledger, the draft approval decision.

    GET /documents/dossiers/{code}/forms/{form}?format=html|docx   form 01 ... of a dossier (its regime's set)
    GET /documents/ledger?from=YYYY-MM-DD&to=YYYY-MM-DD[&unit=..][&format=..]
    GET /documents/decision?level=district[&codes=a,b][&format=html|docx]

HTML pages are the print versions (A5 forms, A4 landscape ledger, A4 decision);
``format=docx`` downloads the Word file. See docs/documents.md.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from engine.errors import NotFound, QuytrinhError
from quytrinh.web.deps import NavItem, WebUser, current_user, now_of, require_role, store_of

router = APIRouter(include_in_schema=False)

NAV = [NavItem("Sổ theo dõi hồ sơ", "/documents/ledger", ("one_stop", "head", "leader", "reform", "admin"), 60),
       NavItem("Dự thảo quyết định", "/documents/decision", ("reform", "leader", "admin"), 61)]

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
LOCAL_TZ = dt.timezone(dt.timedelta(hours=7))


def _respond(data: bytes, fmt: str, filename: str) -> Response:
    if fmt == "docx":
        return Response(data, media_type=DOCX,
                        headers={"Content-Disposition": f'attachment; filename="{filename}.docx"'})
    return HTMLResponse(data.decode("utf-8"))


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
        sheet = sv.dossier_sheet(store, code)
    except NotFound:
        raise HTTPException(404, "Không có hồ sơ này.") from None
    if not can_view_dossier(user, sheet):
        raise HTTPException(403, "Bạn không có quyền xem hồ sơ này.")
    try:
        data = render_form(store, form, code, fmt=fmt, now=now)
    except QuytrinhError as exc:
        raise HTTPException(409, f"Không in được mẫu {form}: {exc}") from None
    return _respond(data, fmt, f"mau-{form}-{sheet.dossier.code}")


def _day(value: str | None, default: dt.date, name: str) -> dt.date:
    if not value:
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"Ngày '{value}' ({name}) không hợp lệ; viết YYYY-MM-DD.") from None


@router.get("/documents/ledger")
def ledger(request: Request, date_from: str | None = Query(None, alias="from"),
           date_to: str | None = Query(None, alias="to"), unit: str | None = Query(None),
           format: str = Query("html"),
           user: WebUser = Depends(require_role("one_stop", "head", "leader", "reform", "admin"))) -> Response:
    """The ledger of a period (default: the current month up to today)."""
    from engine.documents import render_ledger

    fmt = _fmt(format)
    today = now_of(request).astimezone(LOCAL_TZ).date()
    start = _day(date_from, today.replace(day=1), "from")
    end = _day(date_to, today, "to")
    if unit is None and not user.has("one_stop", "leader", "reform", "admin"):
        unit = user.unit_id  # a unit head sees the dossiers of their unit
    try:
        data = render_ledger(store_of(request), date_from=start, date_to=end, unit=unit or None, fmt=fmt)
    except QuytrinhError as exc:
        raise HTTPException(422, str(exc)) from None
    return _respond(data, fmt, f"so-theo-doi-{start:%Y%m%d}-{end:%Y%m%d}")


@router.get("/documents/decision")
def decision(request: Request, level: str = Query("district"), codes: str | None = Query(None),
             format: str = Query("html"),
             user: WebUser = Depends(require_role("reform", "leader", "admin"))) -> Response:
    """The draft decision approving the internal processes without a decision (or ``codes``)."""
    from engine.definition import load_catalogue
    from engine.documents import render_decision

    fmt = _fmt(format)
    cat = load_catalogue([request.app.state.catalogue_root])
    picked = [c.strip() for c in (codes or "").split(",") if c.strip()] or None
    try:
        data = render_decision(cat, level=level, codes=picked, fmt=fmt)
    except QuytrinhError as exc:
        raise HTTPException(422, str(exc)) from None
    return _respond(data, fmt, f"du-thao-quyet-dinh-{level}")
