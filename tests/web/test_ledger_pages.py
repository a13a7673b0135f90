"""The ledger (Sổ theo dõi hồ sơ) on screen in pages, printed and downloaded whole.

A district registers 3,500-4,300 dossiers a month: the screen shows the period
``LEDGER_PAGE_SIZE`` dossiers a page (each row keeping its number in its one-stop
unit's book), while the print view (``page=all``) and the Word file hold the whole
period. Here the page size is cut to 3 so that a few dossiers make several pages.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re

import docx
import pytest

from engine import services as sv

HANOI = dt.timezone(dt.timedelta(hours=7))
MARCH = dict(date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 3, 31))
URL = "/documents/ledger?from=2026-03-01&to=2026-03-31"
SIZE = 3


def at(day: int, hour: int, month: int = 3) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, 0, tzinfo=HANOI)


@pytest.fixture
def march(web, monkeypatch) -> list[str]:
    """Eight dossiers registered in March 2026 (book entries 2-9: one in February is entry 1), two of
    them at the urban-management office (phong_qldt), the others at phong_tckh; one more in April.
    The pages hold 3 dossiers. Returns March's codes in book order."""
    from quytrinh.web import routes_documents

    monkeypatch.setattr(routes_documents, "LEDGER_PAGE_SIZE", SIZE, raising=False)
    rt = web.runtime
    motcua = rt.actor("motcua")
    sv.receive(web.store, motcua, "1.001612", applicant="Tháng Hai", now=at(27, 9, month=2))
    codes = []
    for i, (day, hour) in enumerate([(2, 8), (2, 9), (3, 8), (4, 10), (5, 8), (5, 14), (9, 8), (10, 9)]):
        procedure = "1.013225" if i in (2, 6) else "1.001612"
        codes.append(sv.receive(web.store, motcua, procedure, applicant=f"Người nộp số {i + 1}",
                                now=at(day, hour)).dossier_code)
    sv.receive(web.store, motcua, "1.001612", applicant="Tháng Tư", now=at(1, 9, month=4))
    return codes


def _rows(page: str) -> list[tuple[int, str]]:
    """(book number, code) of each row of the ledger's table."""
    tbody = page.split('class="grid ledger"')[1].split("<tbody>")[1].split("</tbody>")[0]
    out = []
    for row in re.findall(r"<tr>(.*?)</tr>", tbody, re.S):
        cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        if len(cells) > 1:  # (a book's heading line has one cell)
            out.append((int(cells[0]), cells[1]))
    return out


def _bar(page: str) -> str:
    m = re.search(r'<nav class="doc-bar" id="doc-bar">(.*?)</nav>', page, re.S)
    assert m, "no bar"
    return m.group(1)


def _href(bar: str, id_: str) -> str | None:
    m = re.search(rf'<a href="([^"]+)" id="{id_}"', bar)
    return html.unescape(m.group(1)) if m else None


def _status(bar: str) -> str:
    return html.unescape(re.search(r'id="page-status"[^>]*>(.*?)<', bar).group(1))


# --------------------------------------------------------------------------- engine


def test_slices_of_the_ledger_are_the_whole_ledger_cut_with_their_book_numbers(web, march):
    from engine.documents import ledger_page, ledger_rows

    whole = ledger_rows(web.store, **MARCH)
    assert [r.code for r in whole] == march and [r.number for r in whole] == list(range(2, 10))
    pages = [ledger_page(web.store, **MARCH, offset=o, limit=SIZE) for o in (0, 3, 6)]
    assert [p.total for p in pages] == [8, 8, 8] and [p.offset for p in pages] == [0, 3, 6]
    assert [r for p in pages for r in p.rows] == whole  # every column, the book numbers going on across pages
    assert [len(p.rows) for p in pages] == [3, 3, 2] and pages[0].partial and pages[2].partial
    past = ledger_page(web.store, **MARCH, offset=9, limit=SIZE)
    assert past.rows == [] and past.total == 8
    empty = ledger_page(web.store, date_from=dt.date(2026, 5, 1), date_to=dt.date(2026, 5, 31), limit=SIZE)
    assert empty.rows == [] and empty.total == 0 and not empty.partial
    # the unit filter: the numbers are those of the whole book, not of the unit's rows
    qldt = ledger_rows(web.store, **MARCH, unit="phong_qldt")
    assert [(r.code, r.number) for r in qldt] == [(march[2], 4), (march[6], 8)]
    assert ledger_page(web.store, **MARCH, unit="phong_qldt", offset=1, limit=1).rows == qldt[1:]
    tckh = ledger_rows(web.store, **MARCH, unit="phong_tckh")
    assert [r.number for r in tckh] == [2, 3, 5, 6, 7, 9]
    sliced = [ledger_page(web.store, **MARCH, unit="phong_tckh", offset=o, limit=4) for o in (0, 4)]
    assert [r for p in sliced for r in p.rows] == tckh and sliced[1].total == 6


def test_a_page_reads_only_its_dossiers_and_their_work_items(web, march):
    from sqlalchemy import event

    from engine.documents import ledger_page

    statements: list[tuple[str, object]] = []

    def seen(conn, cursor, statement, parameters, *args):
        statements.append((statement, parameters))

    engine = web.store.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        page = ledger_page(web.store, **MARCH, offset=3, limit=SIZE)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert [r.code for r in page.rows] == march[3:6]
    [items] = [(q, p) for q, p in statements if "FROM work_items" in q]
    assert "registered_at" not in items[0]  # the page's ids, not the period's
    assert len(items[1]) == SIZE  # one parameter per dossier of the page
    [dossiers] = [q for q, _ in statements if q.startswith("SELECT dossiers.id, dossiers.code")]
    assert "LIMIT" in dossiers.upper() and "OFFSET" in dossiers.upper()
    assert [q for q, _ in statements if q.startswith("SELECT count(*)")]  # the period's total, once


# --------------------------------------------------------------------------- web


def test_the_screen_shows_the_period_in_pages_with_the_book_numbers_going_on(web, client_for, march):
    c = client_for("motcua")
    first = c.get(URL)
    assert first.status_code == 200
    bar = _bar(first.text)
    assert _rows(first.text) == list(zip(range(2, 5), march[:3]))
    assert _status(bar) == "Trang 1/3 — hồ sơ 1–3 của 8"
    assert _href(bar, "page-prev") is None and 'id="page-prev" aria-disabled="true"' in bar
    assert _href(bar, "page-next") == "/documents/ledger?from=2026-03-01&to=2026-03-31&page=2"
    assert _href(bar, "page-last") == "/documents/ledger?from=2026-03-01&to=2026-03-31&page=3"
    assert 'id="print-button"' not in bar  # window.print() here would print one page of the book
    assert _href(bar, "print-link") == "/documents/ledger?from=2026-03-01&to=2026-03-31&page=all"
    assert "bản in («In sổ (cả kỳ)») và tệp Word gồm toàn bộ 8 hồ sơ của kỳ" in html.unescape(bar)
    assert "Tổng số hồ sơ của kỳ: 8; trang này ghi các hồ sơ 1–3." in html.unescape(first.text)

    second = c.get(_href(bar, "page-next"))
    assert _rows(second.text) == list(zip(range(5, 8), march[3:6]))
    assert _status(_bar(second.text)) == "Trang 2/3 — hồ sơ 4–6 của 8"
    assert _href(_bar(second.text), "page-prev").endswith("&page=1")

    last = c.get(URL + "&page=3")
    bar = _bar(last.text)
    assert _rows(last.text) == [(8, march[6]), (9, march[7])]  # the last page: what is left
    assert _status(bar) == "Trang 3/3 — hồ sơ 7–8 của 8"
    assert _href(bar, "page-next") is None and _href(bar, "page-prev").endswith("&page=2")
    assert "doc-error" not in bar

    past = c.get(URL + "&page=7")  # a page past the end: the last page, the bar saying so
    assert past.status_code == 200 and _rows(past.text) == _rows(last.text)
    assert "Không có trang 7: sổ của kỳ này có 3 trang; dưới đây là trang 3." in html.unescape(_bar(past.text))
    wrong = c.get(URL + "&page=hai")
    assert wrong.status_code == 200 and _rows(wrong.text) == _rows(first.text)
    assert "Trang 'hai' không phải số trang: dưới đây là trang 1." in html.unescape(_bar(wrong.text))
    # the period's form starts again at page 1 (it carries no page)
    assert 'name="page"' not in _bar(last.text)


def test_the_page_links_keep_the_period_and_the_unit(web, client_for, march):
    c = client_for("motcua")
    page = c.get(URL + "&unit=phong_tckh&page=2")
    bar = _bar(page.text)
    assert _rows(page.text) == [(6, march[4]), (7, march[5]), (9, march[7])]  # book numbers, not row numbers
    assert _status(bar) == "Trang 2/2 — hồ sơ 4–6 của 6"
    assert _href(bar, "page-prev") == "/documents/ledger?from=2026-03-01&to=2026-03-31&unit=phong_tckh&page=1"
    assert _href(bar, "print-link") == "/documents/ledger?from=2026-03-01&to=2026-03-31&unit=phong_tckh&page=all"
    assert _href(bar, "word-link") == "/documents/ledger?from=2026-03-01&to=2026-03-31&unit=phong_tckh&format=docx"
    assert '<input type="hidden" name="unit" value="phong_tckh">' in bar
    head = client_for("qldt_head")  # a unit head's own unit, kept in the links though not in the URL
    page = head.get(URL)
    assert [code for _, code in _rows(page.text)] == [march[2], march[6]]
    assert 'id="page-status"' not in page.text  # two dossiers: one page, printed as it is
    assert 'id="print-button"' in _bar(page.text)


def test_a_unit_head_sees_only_the_ledger_of_their_own_unit(web, client_for, march):
    """The ledger names applicants: a head who asks for another unit, or for every unit (``unit=``),
    is shown their own unit's dossiers, the bar saying so; the Word file of another unit is refused."""
    head = client_for("qldt_head")
    own = [code for _, code in _rows(head.get(URL).text)]
    assert own == [march[2], march[6]]
    for other in ("&unit=phong_tckh", "&unit=", "&unit=phong_tckh&page=all"):
        page = head.get(URL + other)
        assert page.status_code == 200
        assert [code for _, code in _rows(page.text)] == own, other
        said = "Trưởng đơn vị chỉ xem sổ theo dõi hồ sơ của đơn vị mình" in html.unescape(_bar(page.text))
        assert said == (other != "&unit="), other
    word = head.get(URL + "&unit=phong_tckh&format=docx")
    assert word.status_code == 403
    assert _docx_rows(head.get(URL + "&format=docx").content) == [(4, march[2]), (8, march[6])]
    # the one-stop unit keeps the book of every unit
    assert len(_rows(client_for("motcua").get(URL + "&unit=&page=all").text)) == 8


def test_the_print_view_and_the_word_file_hold_the_whole_period(web, client_for, march):
    c = client_for("motcua")
    bar = _bar(c.get(URL + "&page=2").text)
    printed = c.get(_href(bar, "print-link"))
    assert printed.status_code == 200
    assert _rows(printed.text) == list(zip(range(2, 10), march))
    assert "Tổng số hồ sơ: 8." in printed.text
    pbar = _bar(printed.text)
    assert 'id="print-button"' in pbar and 'id="page-status"' not in pbar
    assert _href(pbar, "page-view") == "/documents/ledger?from=2026-03-01&to=2026-03-31"
    assert "Bản in: toàn bộ 8 hồ sơ của kỳ" in html.unescape(pbar)
    assert '<input type="hidden" name="page" value="all">' in pbar  # another period: still the print view
    word = c.get(_href(bar, "word-link"))
    assert word.status_code == 200 and word.content[:2] == b"PK"
    assert _docx_rows(word.content) == list(zip(range(2, 10), march))
    assert _docx_rows(c.get(URL + "&page=2&format=docx").content) == list(zip(range(2, 10), march))  # no paging


def _docx_rows(data: bytes) -> list[tuple[int, str]]:
    d = docx.Document(io.BytesIO(data))
    grid = [t for t in d.tables if t.style is not None and t.style.name == "Table Grid"][0]
    return [(int(r.cells[0].text), r.cells[1].text) for r in grid.rows[3:]]


def test_page_one_of_an_empty_period(web, client_for, march):
    c = client_for("motcua")
    page = c.get("/documents/ledger?from=2026-05-01&to=2026-05-31")
    assert page.status_code == 200 and _rows(page.text) == []
    assert "Tổng số hồ sơ: 0." in page.text and 'id="page-status"' not in page.text
    assert 'id="print-button"' in _bar(page.text) and "doc-error" not in _bar(page.text)
    past = c.get("/documents/ledger?from=2026-05-01&to=2026-05-31&page=3")
    assert past.status_code == 200 and _rows(past.text) == [] and "doc-error" not in _bar(past.text)


def test_a_page_printed_from_the_browser_says_to_print_the_whole_book(live_server, browser, tmp_path, march):
    """Chromium's print of page 2 (the browser's menu, not «In sổ (cả kỳ)») gives a note, not three rows
    looking like the book; the print view prints every row."""
    from tests.web.conftest import signed_in_page
    from tests.web.test_document_print import _pdf_pages, _pdf_text, _print

    page = signed_in_page(browser, live_server.url, "motcua")
    text = _pdf_text(_print(page, URL + "&page=2", tmp_path, "ledger-page-2"))
    assert "chỉ là trang 2/3" in text and "In sổ (cả kỳ)" in text
    assert "Người nộp số" not in text and "Mã hồ sơ" not in text
    page.goto(URL + "&page=2")
    assert page.is_visible("#page-status") and not page.is_visible("#ledger-print-note")
    page.click("#print-link")
    page.wait_for_selector("#print-button")
    whole = _print(page, page.url, tmp_path, "ledger-whole")
    text = re.sub(r"\s+", " ", _pdf_text(whole))
    assert all(f"Người nộp số {i}" in text for i in range(1, 9)) and "Tổng số hồ sơ: 8." in text
    assert set(_pdf_pages(whole)) == {(297, 210)}


def test_the_books_of_the_period_are_offered_and_one_is_printed_alone(web, client_for, march):
    """A commune's one-stop unit keeps its own book: with its dossiers in the period, the bar offers each
    book; the ledger of every book heads each one's rows, and one book chosen is printed alone, its
    numbers those its receipts print, the choice kept in the page, print and Word links."""
    rt = web.runtime
    xa = rt.actor("xa_motcua")
    communes = [sv.receive(web.store, xa, "1.001193", applicant=f"Xã {i}", now=at(3 + i, 9),
                           commune="Xã Bát Tràng").dossier_code for i in range(2)]
    c = client_for("motcua")
    page = c.get(URL + "&page=all")
    bar = _bar(page.text)
    assert '<option value="xa_mot_cua/Xã Bát Tràng">Bộ phận Tiếp nhận và Trả kết quả cấp xã – Xã Bát Tràng' in bar
    assert '<option value="bp_mot_cua">' in bar and "Mọi quyển (2)" in bar
    tbody = page.text.split('class="grid ledger"')[1]
    assert tbody.count("Quyển số 01/2026 – ") == 2  # a line of the table above each book's rows
    one = c.get(URL + "&book=" + "xa_mot_cua/Xã Bát Tràng")
    assert _rows(one.text) == [(1, communes[0]), (2, communes[1])]
    assert "ỦY BAN NHÂN DÂN XÃ BÁT TRÀNG" in one.text
    assert 'value="xa_mot_cua/Xã Bát Tràng" selected' in _bar(one.text)
    word = html.unescape(_href(_bar(one.text), "word-link"))
    assert "book=xa_mot_cua" in word and _docx_rows(c.get(word).content) == [(1, communes[0]), (2, communes[1])]
    commune_staff = client_for("xa_motcua")  # the receipts, as the commune's one-stop unit prints them: the
    for n, code in enumerate(communes, 1):     # official form 01 and the counter's page after the reception
        for url in (f"/documents/dossiers/{code}/forms/01", f"/dossiers/{code}/receipt"):
            receipt = commune_staff.get(url)
            shown = re.sub(r"\s+", " ", html.unescape(receipt.text)).replace("\xa0", " ")
            assert receipt.status_code == 200 and f"Quyển số: 01/2026 Số thứ tự: {n}" in re.sub(" +", " ", shown), url
    counter = re.sub(r"\s+", " ", c.get(f"/dossiers/{march[3]}/receipt").text)
    assert "Vào Sổ theo dõi hồ sơ, Quyển số: 01/2026 Số thứ tự: 5" in counter  # the district's book: entry 5
    district = c.get(URL + "&book=bp_mot_cua&page=2")  # the district's book in pages, the choice kept
    assert _rows(district.text) == list(zip(range(5, 8), march[3:6]))
    assert _href(_bar(district.text), "page-next").endswith("&book=bp_mot_cua&page=3")
    unknown = c.get(URL + "&book=Cổ Bi&page=all")  # no such book in the period: every book, the bar saying so
    assert len(_rows(unknown.text)) == 8 + 2
    assert "Không có quyển sổ «Cổ Bi» có hồ sơ trong kỳ này" in html.unescape(_bar(unknown.text))
    assert c.get(URL + "&book=Cổ Bi&format=docx").status_code == 422
