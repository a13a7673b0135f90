"""Printable documents on the web: a dossier's forms, the ledger, the draft approval decision.

    GET /documents/dossiers/{code}/forms/{form}?format=html|docx   form 01 ... of a dossier (its regime's set)
    GET /documents/ledger?from=YYYY-MM-DD&to=YYYY-MM-DD[&unit=..][&book=..][&format=..]
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
                                       '<script src="/static/print.js" defer></script>'
                                       # the bar's date pickers say their date in Vietnamese (the ledger's period)
                                       '<script src="/static/dates.js" defer></script></head>', 1)
        page = page.replace("<body>", f'<body><nav class="doc-bar" id="doc-bar">{bar}</nav>', 1)
    return HTMLResponse(page)


def _bar(back: tuple[str, str], word: str, fields: str = "", warnings: list[str] | None = None,
         lists: list[tuple[str, list[str]]] | None = None, error: str | None = None, *,
         pages: str = "", print_link: tuple[str, str] | None = None, info: str = "") -> str:
    """The screen-only bar: a link back, ``fields`` (a GET form's inputs: the page again with other
    parameters) with ``error`` (what was wrong with them) under them, ``pages`` (the ledger's page
    links), the print button (or ``print_link``: (URL, label) of the print view when this page is not
    the whole document), the link to the Word file, ``info`` (a line of plain text), ``warnings`` (what
    the paper lacks, whole sentences without their full stop) and ``lists`` (such a sentence and the
    names it concerns, shown when opened)."""
    e = html.escape
    alert = f'<p class="doc-error" id="doc-error" role="alert">{e(error)}</p>' if error else ""
    form = (f'<form method="get" class="doc-choose">{fields}<button type="submit">Xem</button>{alert}</form>'
            if fields else "")
    notes = "".join(f'<p class="doc-warning">Cảnh báo: {e(w)}.</p>' for w in warnings or ())
    notes += "".join(f'<details class="doc-warning"><summary>Cảnh báo: {e(what)}:</summary><ul>'
                     + "".join(f"<li>{e(name)}</li>" for name in names) + "</ul></details>"
                     for what, names in lists or ())
    printing = (f'<a href="{e(print_link[0])}" id="print-link">{e(print_link[1])}</a>' if print_link else
                '<button type="button" id="print-button" class="primary">In</button>')
    info = f'<p class="doc-info" id="doc-info" style="flex-basis: 100%; margin: 0">{e(info)}</p>' if info else ""
    return (f'<a href="{e(back[0])}" class="doc-back">← {e(back[1])}</a>{form}{pages}'
            f'{printing}<a href="{e(word)}" id="word-link">Tải tệp Word</a>{info}{notes}')


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
        sheet = None
    if sheet is None or not can_view_dossier(request, user, sheet):  # as for a missing one: codes are not probed
        raise HTTPException(404, "Không có hồ sơ này.")
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


#: Dossiers per on-screen page of the ledger (a month at a district is 3,500-4,300: 18-22 pages).
LEDGER_PAGE_SIZE = 200


def _page_number(value: str | None) -> int | None:
    """The ``page`` parameter as a page number (1 when absent), None when it is not one."""
    if value is None or value == "":
        return 1
    return int(value) if value.isdigit() and int(value) >= 1 else None


def _of_commune(key: str, commune: str) -> bool:
    """Whether the ledger book ``key`` (:func:`engine.store.ledger_book_key`) is ``commune``'s."""
    from engine.definition import commune_key
    from engine.store import split_ledger_book

    of = split_ledger_book(key)[1]
    return bool(of) and commune_key(of) == commune_key(commune)


@router.get("/documents/ledger")
def ledger(request: Request, date_from: str | None = Query(None, alias="from"),
           date_to: str | None = Query(None, alias="to"), unit: str | None = Query(None),
           book: str | None = Query(None), format: str = Query("html"), page: str | None = Query(None),
           user: WebUser = Depends(require_role("one_stop", "head", "leader", "reform", "admin"))) -> Response:
    """The ledger of a period (default: the current month up to today). A date that is not one, or a
    reversed period, shows the ledger of the period read as /reports reads it, the bar saying so next to
    the dates (the Word file is refused: its link carries the period shown).

    On screen the period is shown ``LEDGER_PAGE_SIZE`` dossiers a page (``page=N``; each row keeps its
    number in its book); ``page=all`` is the print view, the whole period, as the Word file
    (``format=docx``) always is. A period of one page is shown whole with the print button, as before.

    Each one-stop unit keeps its book (a commune's one-stop unit its commune's): when the period has
    dossiers of several, the bar offers them (``book=``: one book alone, headed by its unit); without
    one chosen, each book's rows come under a line naming it. Staff tied to a commune see their commune's
    book alone (the other communes' dossiers are not theirs to see, :func:`routes_staff.can_view_dossier`).
    """
    from engine.documents import find_book, ledger_books, ledger_doc, ledger_page, render_ledger, to_html, vn_count

    fmt = _fmt(format)
    today = now_of(request).astimezone(LOCAL_TZ).date()
    start, end, error, wrong = _period(date_from, date_to, today)
    if error and fmt == "docx":
        raise HTTPException(422, error)
    if not user.has("one_stop", "leader", "reform", "admin"):
        # A unit head sees the dossiers of their own unit only (the ledger names applicants), as the
        # dossier pages do; another unit asked for in the address is not shown.
        if unit and unit != user.unit_id:
            if fmt == "docx":
                raise HTTPException(403, "Trưởng đơn vị chỉ xem sổ theo dõi hồ sơ của đơn vị mình.")
            error = ((error + " ") if error else "") + (
                "Trưởng đơn vị chỉ xem sổ theo dõi hồ sơ của đơn vị mình: dưới đây là sổ của đơn vị mình.")
        unit = user.unit_id
    store, now = store_of(request), now_of(request)
    try:
        books = ledger_books(store, date_from=start, date_to=end, unit=unit or None)
    except QuytrinhError as exc:
        raise HTTPException(422, cli_error_text(exc)) from None
    own = user.tied_commune
    if own:  # staff tied to a commune see their commune's book only (the ledger names applicants)
        books = [(k, name) for k, name in books if _of_commune(k, own)]
    key = find_book(book, books) if book else None
    if book and key is None:
        missing = (f"Không có quyển sổ «{book}» có hồ sơ trong kỳ này: dưới đây là sổ của "
                   + (f"{own}." if own else "mọi quyển trong kỳ."))
        if fmt == "docx":
            raise HTTPException(422, missing)
        error = ((error + " ") if error else "") + missing
    if own and key is None:  # their commune's book (none with dossiers in the period: an empty one)
        from engine.store import ledger_book_key

        key = books[0][0] if books else ledger_book_key(user.unit_id, own, "commune")
    period = dict(date_from=start, date_to=end, unit=unit or None, book=key, now=now)
    filename = f"so-theo-doi-{start:%Y%m%d}-{end:%Y%m%d}"
    if fmt == "docx":  # the whole period, always
        try:
            return _respond(render_ledger(store, **period, fmt="docx"), fmt, filename)
        except QuytrinhError as exc:
            raise HTTPException(422, cli_error_text(exc)) from None
    whole = page == "all"
    number = 1 if whole else _page_number(page)
    size = LEDGER_PAGE_SIZE
    try:
        if whole:
            rows = ledger_page(store, **period)
        else:
            rows = ledger_page(store, **period, offset=((number or 1) - 1) * size, limit=size)
            if not rows.rows and rows.total:  # past the end: the last page, the bar saying so
                last = -(-rows.total // size)
                error = ((error + " ") if error else "") + (
                    f"Không có trang {page}: sổ của kỳ này có {last} trang; dưới đây là trang {last}.")
                number = last
                rows = ledger_page(store, **period, offset=(last - 1) * size, limit=size)
        data = to_html(ledger_doc(store, **period, page=rows))
    except QuytrinhError as exc:
        raise HTTPException(422, cli_error_text(exc)) from None
    if number is None:
        error = ((error + " ") if error else "") + f"Trang '{page}' không phải số trang: dưới đây là trang 1."
        number = 1
    params = {"from": start.isoformat(), "to": end.isoformat(), "unit": unit, "book": key}
    url = "/documents/ledger?"

    def date_input(name: str, label: str, value: dt.date) -> str:
        invalid = ' aria-invalid="true" aria-describedby="doc-error"' if name in wrong else ""
        return f'<label>{label} <input type="date" name="{name}" value="{value.isoformat()}"{invalid}></label>'

    choices = ""
    if len(books) > 1 or (key is not None and not own):  # the books of the period: all of them, or one alone
        options = "".join(f'<option value="{html.escape(k)}"{" selected" if k == key else ""}>{html.escape(name)}'
                          f'</option>' for k, name in books)
        choices = (f'<label>Quyển sổ <select name="book" id="book-choice"><option value="">Mọi quyển '
                   f'({len(books)})</option>{options}</select></label>')
    fields = (date_input("from", "Từ ngày", start) + date_input("to", "Đến ngày", end) + choices
              + (f'<input type="hidden" name="unit" value="{html.escape(unit)}">' if unit else "")
              + ('<input type="hidden" name="page" value="all">' if whole else ""))
    word = f"{url}{_with(params, format='docx')}"
    total = vn_count(rows.total)
    if whole:
        bar = _bar(("/inbox", "Hộp việc"), word, fields, error=error,
                   pages=f'<a href="{html.escape(url + _with(params))}" id="page-view">Xem theo trang</a>',
                   info=f"Bản in: toàn bộ {total} hồ sơ của kỳ, như tệp Word. Bấm «In» để in cả sổ.")
        return _respond(data, fmt, filename, bar)
    if not rows.partial:  # the whole period fits on one page: it is also the print version
        bar = _bar(("/inbox", "Hộp việc"), word, fields, error=error)
        return _respond(data, fmt, filename, bar)
    last = -(-rows.total // size)
    e = html.escape

    def link(n: int, label: str, id_: str, rel: str = "") -> str:
        if n == number or not 1 <= n <= last:
            return f'<span id="{id_}" aria-disabled="true" style="opacity: 0.55">{label}</span>'
        rel = f' rel="{rel}"' if rel else ""
        return f'<a href="{e(url + _with(params, page=str(n)))}" id="{id_}"{rel}>{label}</a>'

    status = (f"Trang {number}/{last} — hồ sơ {vn_count(rows.offset + 1)}–{vn_count(rows.offset + len(rows.rows))}"
              f" của {total}")
    pages = (f'<span class="ledger-pages" role="group" aria-label="Các trang của sổ" '
             f'style="display: flex; flex-wrap: wrap; gap: 6px 12px; align-items: center">'
             f'{link(1, "« Trang đầu", "page-first")}{link(number - 1, "‹ Trang trước", "page-prev", "prev")}'
             f'<strong id="page-status" aria-current="page">{status}</strong>'
             f'{link(number + 1, "Trang sau ›", "page-next", "next")}{link(last, "Trang cuối »", "page-last")}'
             f'</span>')
    bar = _bar(("/inbox", "Hộp việc"), word, fields, error=error, pages=pages,
               print_link=(url + _with(params, page="all"), "In sổ (cả kỳ)"),
               info=(f"Màn hình chia sổ thành trang {size} hồ sơ; bản in («In sổ (cả kỳ)») và tệp Word "
                     f"gồm toàn bộ {total} hồ sơ của kỳ."))
    # Printed from the browser's menu, a page of the screen would look like the whole book: it prints
    # a note pointing to the print view instead.
    guard = ('<style>.ledger-print-note { display: none; } @media print { .pages { display: none !important; } '
             '.ledger-print-note { display: block; font: 14pt "Times New Roman", serif; margin: 20mm; } }</style>'
             f'<p class="ledger-print-note" id="ledger-print-note">Trang đang xem chỉ là trang {number}/{last} '
             f'của Sổ theo dõi hồ sơ (hồ sơ {vn_count(rows.offset + 1)}–'
             f'{vn_count(rows.offset + len(rows.rows))} của {total}). Để in cả sổ, hãy bấm «In sổ (cả kỳ)» '
             'trên trang sổ.</p>')
    data = data.replace(b"<body>", b"<body>" + guard.encode("utf-8"), 1)
    return _respond(data, fmt, filename, bar)


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
    from engine.documents import (cached_catalogue, decision_file_stem, decision_gap_groups, render_decision,
                                  select_procedures)

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
    return _respond(data, fmt, decision_file_stem(level), bar)
