"""Reform-office pages: write or upload a definition with live validation and a diagram preview,
save it as a draft, submit it for approval.

Live validation: ``/static/author.js`` posts the text to ``POST /author/check``
(debounced) and replaces the findings list and the preview with the JSON it
gets back. Without JavaScript the "Kiểm tra" button posts the same form to the
same address, which answers with the whole page. The text is never lost: a
text that does not load comes back in the editor with its located findings.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, Response

from engine import approval as ap
from engine.errors import DefinitionError, NotAuthorized, NotFound, QuytrinhError
from engine.lint import ERROR, Finding
from quytrinh.web.deps import NavItem, WebUser, flash, now_of, people_of, render, require_role, store_of
from quytrinh.web.routes_leader import catalogue_of, context_of, diagram, findings_view

router = APIRouter(include_in_schema=False)

NAV = [NavItem("Soạn quy trình", "/author", ("reform",), 45)]

#: The largest definition text accepted (a definition is a few kilobytes).
MAX_TEXT = 200_000


def _check(request: Request, text: str, code: str = "") -> tuple[ap.Check, Any]:
    units, templates = context_of(request)
    # named after the procedure's key, so a text without a national code is drawn under its key, not "dự thảo"
    checked = ap.check_text(text, file=f"{code}.yaml" if code else "dự thảo", templates=templates, units=units)
    svg = None
    if checked.definition is not None:  # the preview's header tells the number the draft has (or will have)
        key = code or checked.definition.key
        number, state = _draft_number(request, key)
        svg = diagram(replace(checked.definition, status=state, approval=None, version=number), units)
    return checked, svg


#: A national procedure code (mã TTHC), "1.001612"; a procedure without one is keyed by its file's stem.
NATIONAL_CODE = re.compile(r"\d+\.\d+")


def other_procedure(request: Request, code: str, defn: Any) -> Finding | None:
    """An error when the text names another procedure than the one the page edits (``code``): saved, it
    would replace that procedure's draft (a text copied from another procedure, a slip in ``code:``).
    Refused when the page's procedure has a national code, or when the text's code is a procedure the
    catalogue or the database already holds; a procedure known by its file only may get its national code
    once found. None when the text is the page's procedure (or names none, or does not load)."""
    if not code or defn is None or not defn.code or defn.code == code:
        return None
    if not NATIONAL_CODE.fullmatch(code):
        store = store_of(request)
        known = (defn.code in catalogue_of(request).entries or ap.drafts(store, defn.code)
                 or ap.published_versions(store, defn.code))
        if not known:
            return None
    loc = defn.where("code")
    return Finding("other-procedure", ERROR, loc.file, loc.line, loc.col, None,
                   f"văn bản ghi mã TTHC '{defn.code}', khác thủ tục đang soạn ({code}): nếu lưu, văn bản sẽ thành "
                   f"dự thảo của thủ tục {defn.code} (thay dự thảo đang mở của thủ tục đó, nếu có); hãy ghi lại "
                   f"code: \"{code}\", hoặc mở thủ tục {defn.code} trong Soạn quy trình để soạn cho thủ tục đó")


def _draft_number(request: Request, code: str) -> tuple[int, str]:
    """The number and state of the procedure's open draft, else the number its next draft will get."""
    store = store_of(request)
    rows = ap.drafts(store, code)  # newest first: one query for both answers (this runs on every live check)
    open_row = next((dr for dr in rows if dr.status in ap.OPEN_STATES), None)
    if open_row is not None:
        return open_row.number, open_row.status
    published = ap.published_versions(store, code)
    return max([dr.number for dr in rows] + [published[0].version if published else 0]) + 1, ap.DRAFT


def _editor(request: Request, text: str, *, code: str = "", status_code: int = 200,
            findings: list[Finding] | None = None, checked_now: bool = True, opened: bool = False) -> Response:
    """The editor page with ``text``, its findings and preview. While the catalogue's units.yaml has problems
    nothing can be checked: the page keeps the text and says, located, what to mend (409, nothing saved)."""
    try:
        checked, svg = _check(request, text, code)
    except ap.UnitsFileError as exc:
        return _unchecked_editor(request, text, code, exc, unsaved=not opened)
    if findings is None:
        findings = list(checked.findings)
        mismatch = other_procedure(request, code, checked.definition)
        if mismatch is not None:
            findings.insert(0, mismatch)
    code = code or (checked.definition.key if checked.definition is not None else "")
    store = store_of(request)
    draft = ap.open_draft(store, code) if code else None
    return render(request, "author_edit.html", {
        "text": text, "code": code, "draft": draft, "svg": svg, "findings": findings_view(findings, checked.definition),
        "errors": sum(1 for f in findings if f.severity == ERROR), "loads": checked.definition is not None,
        "state_labels": ap.STATE_LABELS, "defn": checked.definition, "checked_now": checked_now,
        "people": people_of(request),
        # text sent back by a check, a refused save or an upload and not the saved draft's: leaving asks first
        "unsaved": not opened and (draft is None or draft.text != text.replace("\r\n", "\n")),
    }, status_code=status_code)


def _unchecked_editor(request: Request, text: str, code: str, exc: ap.UnitsFileError,
                      unsaved: bool = True) -> Response:
    """The editor with ``text`` as typed (never lost), no check or preview, and why: units.yaml's problems."""
    store = store_of(request)
    return render(request, "author_edit.html", {
        "text": text, "code": code, "draft": ap.open_draft(store, code) if code else None, "svg": None,
        "findings": [], "errors": 0, "loads": False, "state_labels": ap.STATE_LABELS, "defn": None,
        "checked_now": False, "units_problem": exc.vi, "people": people_of(request), "unsaved": unsaved,
    }, status_code=409)


def _too_long(text: str) -> bool:
    return len(text) > MAX_TEXT


# --------------------------------------------------------------------------- pages


@router.get("/author")
def author_home(request: Request, user: WebUser = Depends(require_role("reform"))) -> Response:
    store = store_of(request)
    cat = catalogue_of(request)
    mine = ap.drafts(store)
    open_by_code = {}
    for dr in mine:
        if dr.status in ap.OPEN_STATES:
            open_by_code.setdefault(dr.procedure_code, dr)
    entries = sorted(cat.entries.values(), key=lambda e: e.definition.key)
    try:
        context_of(request)
        units_problem = None
    except ap.UnitsFileError as exc:  # the list below was checked without the units: say why, located
        units_problem = exc.vi
    names = {e.definition.key: e.definition.name for e in entries}
    return render(request, "author_home.html", {"drafts": mine, "entries": entries, "open_by_code": open_by_code,
                                                "names": names,
                                                "state_labels": ap.STATE_LABELS, "people": people_of(request),
                                                "units_problem": units_problem})


def initial_text(request: Request, code: str) -> str:
    """The text to start editing from: the open draft, else the approved draft in force, else the
    catalogue file, else the version in force."""
    store = store_of(request)
    draft = ap.open_draft(store, code)
    if draft is not None:
        return draft.text
    versions = ap.published_versions(store, code)
    for dr in ap.drafts(store, code):
        if dr.status == ap.APPROVED and versions and dr.published_version == versions[0].version:
            return dr.text
    entry = catalogue_of(request).entries.get(code)
    if entry is not None and entry.text:
        return entry.text
    if versions:
        return versions[0].content
    raise NotFound(f"procedure '{code}' is neither in the catalogue nor in the database")


@router.get("/author/procedures/{code}")
def author_edit(request: Request, code: str, user: WebUser = Depends(require_role("reform"))) -> Response:
    return _editor(request, initial_text(request, code), code=code, opened=True)


@router.post("/author/check")
def author_check(request: Request, text: str = Form(""), code: str = Form(""),
                 user: WebUser = Depends(require_role("reform"))) -> Response:
    """Load and lint the posted text: JSON for the page's script, else the editor page."""
    wants_json = "application/json" in request.headers.get("accept", "")
    if _too_long(text):
        message = f"Văn bản quá dài (tối đa {MAX_TEXT} ký tự)."
        if wants_json:
            return JSONResponse({"ok": False, "message": message}, status_code=413)
        flash(request, message, "error")
        return RedirectResponse("/author", status_code=303)
    if not wants_json:
        return _editor(request, text, code=code)
    try:
        checked, svg = _check(request, text, code)
    except ap.UnitsFileError as exc:
        return JSONResponse({"ok": False, "message": exc.vi}, status_code=409)
    findings = list(checked.findings)
    mismatch = other_procedure(request, code, checked.definition)
    if mismatch is not None:
        findings.insert(0, mismatch)
    return JSONResponse({
        "ok": True, "loads": checked.definition is not None,
        "code": checked.definition.key if checked.definition is not None else code,
        "errors": checked.errors + (mismatch is not None), "warnings": checked.warnings,
        "findings": findings_view(findings, checked.definition), "svg": str(svg) if svg is not None else None,
    })


@router.post("/author/upload")
async def author_upload(request: Request, file: UploadFile = File(...),
                        user: WebUser = Depends(require_role("reform"))) -> Response:
    data = await file.read(MAX_TEXT + 1)
    if len(data) > MAX_TEXT:
        flash(request, f"Tệp quá lớn (tối đa {MAX_TEXT // 1000} KB).", "error")
        return RedirectResponse("/author", status_code=303)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        flash(request, "Tệp không phải văn bản UTF-8; hãy lưu tệp YAML với bảng mã UTF-8.", "error")
        return RedirectResponse("/author", status_code=303)
    return _editor(request, text.replace("\r\n", "\n"))


@router.post("/author/save")
def author_save(request: Request, text: str = Form(""), code: str = Form(""), draft_number: str = Form(""),
                user: WebUser = Depends(require_role("reform"))) -> Response:
    """Save the text as the open draft. ``draft_number``: the open draft the page showed; when it was approved
    meanwhile (another tab, another officer), the text becomes a new draft and the message says so."""
    if _too_long(text):
        flash(request, f"Văn bản quá dài (tối đa {MAX_TEXT} ký tự).", "error")
        return RedirectResponse("/author", status_code=303)
    try:
        units, templates = context_of(request)
    except ap.UnitsFileError as exc:  # nothing saved; the text comes back as typed
        return _unchecked_editor(request, text, code, exc)
    if code:  # a text naming another procedure is not saved over that procedure's draft
        checked = ap.check_text(text, file="dự thảo", templates=templates, units=units)
        mismatch = other_procedure(request, code, checked.definition)
        if mismatch is not None:
            flash(request, f"Chưa lưu: văn bản ghi mã TTHC {checked.definition.code}, không phải thủ tục {code} "
                           "đang soạn. Hãy sửa mã (xem bên dưới) rồi lưu lại.", "error")
            return _editor(request, text, code=code, status_code=422)
    try:
        row, findings = ap.save_draft(store_of(request), text.replace("\r\n", "\n"), actor=user.actor,
                                      now=now_of(request), file="dự thảo", templates=templates, units=units,
                                      key=code or None)
    except DefinitionError as exc:
        flash(request, "Chưa lưu: văn bản chưa hợp lệ. Hãy sửa các lỗi bên dưới rồi lưu lại.", "error")
        return _editor(request, text, code=code, status_code=422,
                       findings=[Finding.from_problem(p) for p in exc.problems])
    except ap.ApprovalError as exc:
        flash(request, exc.vi, "error")
        return _editor(request, text, code=code, status_code=409)
    except NotAuthorized:
        flash(request, "Chỉ Phòng Nội vụ mới soạn quy trình.", "error")
        return RedirectResponse("/author", status_code=303)
    errors = sum(1 for f in findings if f.severity == ERROR)
    note = f" Còn {errors} lỗi kiểm tra: sửa trước khi trình." if errors else ""
    shown = int(draft_number) if draft_number.strip().isdigit() else None
    if shown is not None and shown != row.number:
        try:
            was = ap.get_draft(store_of(request), row.procedure_code, shown)
        except NotFound:
            was = None
        if was is not None and was.status == ap.APPROVED:
            note = (f" Phiên bản {shown} đã được phê duyệt trong lúc bạn soạn, nên văn bản trên màn hình được lưu "
                    f"thành dự thảo mới (phiên bản {row.number}); hãy đối chiếu với nội dung đã phê duyệt của phiên "
                    f"bản {shown}.{note}")
    flash(request, f"Đã lưu dự thảo phiên bản {row.number} của thủ tục {row.procedure_code}.{note}", "success")
    return RedirectResponse(f"/author/procedures/{row.procedure_code}", status_code=303)


@router.post("/author/procedures/{code}/{version}/submit")
def author_submit(request: Request, code: str, version: int, text: str | None = Form(None),
                  user: WebUser = Depends(require_role("reform"))) -> Response:
    """Submit the saved draft. The editor posts its text too: when it is not the saved text (edited, not
    saved), nothing is submitted and the editor comes back with the text as typed."""
    if text is not None:
        try:
            saved = ap.get_draft(store_of(request), code, version).text
        except NotFound:
            saved = None
        if saved is not None and text.replace("\r\n", "\n") != saved:
            flash(request, "Văn bản trên màn hình khác bản đã lưu: hãy lưu dự thảo rồi trình. Chưa trình phiên "
                           "bản nào.", "error")
            return _editor(request, text, code=code, status_code=409)
    try:
        ap.submit(store_of(request), code, version, actor=user.actor, now=now_of(request))
    except QuytrinhError as exc:
        message = exc.vi if isinstance(exc, ap.ApprovalError) else \
            "Không có phiên bản này." if isinstance(exc, NotFound) else "Không trình được phiên bản này."
        flash(request, message, "error")
        return RedirectResponse(f"/author/procedures/{code}", status_code=303)
    flash(request, f"Đã trình lãnh đạo UBND phê duyệt phiên bản {version} của thủ tục {code}.", "success")
    return RedirectResponse(f"/leader/procedures/{code}?version={version}", status_code=303)
