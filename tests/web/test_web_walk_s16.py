"""A day of the web app walked as its users walk it (session 16): what that walk found wrong, fixed.

* An address typed or copied wrong (``/items/abc``, ``?version=abc``) was answered 422 "Dữ liệu gửi lên không
  hợp lệ ... kiểm tra các ô đã nhập", though nothing was typed: it is the 404 of a wrong address.
* The leader's page of a procedure or a version that does not exist said "Không tìm thấy hồ sơ hoặc công việc
  này": it names the procedure, or the version, that is not there.
* On a phone the procedure catalogue squeezed six columns into 390 px: the names wrapped a word a line and
  the version column was off the screen's edge; each procedure is now a card.
"""

from __future__ import annotations

from engine.store import dump
from tests.web.conftest import PASSWORD, csrf_of, shot, signed_in_page

PHONE = {"width": 390, "height": 844}
DESK = {"width": 1366, "height": 768}


def test_a_mistyped_page_address_is_the_404_of_a_wrong_address_not_a_form_error(client_for):
    c = client_for("tckh_cv")
    for address in ("/items/abc", "/items/12a"):
        r = c.get(address)
        assert r.status_code == 404, address
        assert "Địa chỉ trang không đúng" in r.text and "kiểm tra các ô đã nhập" not in r.text
    leader = client_for("ld_pct")
    r = leader.get("/leader/procedures/1.001612?version=abc")
    assert r.status_code == 404 and "Địa chỉ trang không đúng" in r.text


def test_a_form_sent_without_a_field_is_still_the_form_error(web, client_for):
    c = client_for("motcua")
    token = csrf_of(c.get("/inbox").text)
    before = dump(web.store)
    r = c.post("/items/1/complete", data={"csrf_token": token, "outcome": "done"})  # no version
    assert r.status_code == 422 and "kiểm tra các ô đã nhập" in r.text
    assert dump(web.store) == before


def test_the_leader_page_of_a_missing_procedure_or_version_names_what_is_missing(client_for):
    leader = client_for("ld_pct")
    r = leader.get("/leader/procedures/9.999")
    assert r.status_code == 404
    assert "Không có thủ tục mã 9.999 trong danh mục" in r.text and "hồ sơ hoặc công việc" not in r.text
    r = leader.get("/leader/procedures/1.001612?version=99")
    assert r.status_code == 404
    assert "Thủ tục 1.001612 không có phiên bản 99" in r.text and "hồ sơ hoặc công việc" not in r.text
    assert leader.get("/leader/procedures/1.001612").status_code == 200  # the procedure itself is there


def test_the_procedure_catalogue_is_one_card_a_procedure_on_a_phone(live_server, browser, tmp_path):
    for name, viewport in (("phone", PHONE), ("desk", DESK)):
        page = signed_in_page(browser, live_server.url, "motcua", viewport=viewport)
        page.goto("/procedures")
        page.wait_for_selector("main table")
        shot(page, tmp_path, f"catalogue-{name}", full_page=False)
        _one_card_a_row_on_a_phone(page, name, viewport, "main table", "Đăng ký thành lập hộ kinh doanh", 5,
                                   '"Phiên bản"')
        page.context.close()


def test_the_leaders_and_the_reform_offices_lists_are_cards_on_a_phone(web, live_server, browser, tmp_path):
    from engine import services as sv

    sv.add_user(web.store, "noivu_cv", unit="phong_noi_vu", role="staff", now=web.clock(),
                full_name="Phạm Thu Hà", password=PASSWORD)
    for user, path, table, label in (("ld_pct", "/leader", "#catalogue", '"Kiểm tra"'),
                                     ("noivu_cv", "/author", "#entries", '"Dự thảo đang mở"')):
        for name, viewport in (("phone", PHONE), ("desk", DESK)):
            page = signed_in_page(browser, live_server.url, user, viewport=viewport)
            page.goto(path)
            page.wait_for_selector(table)
            shot(page, tmp_path, f"{user}-{name}", full_page=False)
            cells = page.locator(f"{table} tbody tr").first.locator("td").count()
            _one_card_a_row_on_a_phone(page, name, viewport, table, "Đăng ký thành lập hộ kinh doanh", cells - 1,
                                       label)
            page.context.close()


def _one_card_a_row_on_a_phone(page, name: str, viewport: dict, table_selector: str, row_text: str, last: int,
                               label: str) -> None:
    """On a phone each row of the table is a card: nothing off the screen's right edge, the name (the second
    cell) first on a line of its own, each other value after its label; on a desk, the table as it was."""
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], name
    row = page.locator(f"{table_selector} tbody tr", has_text=row_text).first
    cell = row.locator("td").nth(last)
    box = cell.bounding_box()
    assert box is not None and box["x"] + box["width"] <= viewport["width"], name  # on the screen
    table = page.locator(table_selector)
    assert table.evaluate("t => t.scrollWidth <= t.clientWidth + 1"), name  # nothing to scroll sideways for
    if name == "phone":
        title = row.locator("td").nth(1)
        # the name heads the card, on a line of its own, wider than a column (not a word a line)
        assert title.bounding_box()["width"] > viewport["width"] * 0.7
        assert title.bounding_box()["y"] < row.locator("td").nth(0).bounding_box()["y"]
        assert cell.evaluate("td => getComputedStyle(td, '::before').content") == label  # says what it is
        inner = cell.evaluate("td => { const r = document.createRange(); r.selectNodeContents(td); "
                              "const b = r.getBoundingClientRect(); return b.right; }")
        assert inner <= viewport["width"], name  # its text wraps inside the card, not past the screen
    else:  # the desk keeps its table, headings on top
        assert page.locator(f"{table_selector} thead").is_visible()
        assert cell.evaluate("td => getComputedStyle(td, '::before').content") in ("none", "normal")


# --------------------------------------------------------------------------- the return of a refusal


def _version(web, dossier_id: int) -> int:
    from engine.store import Dossier

    with web.store.session() as s:
        return s.get(Dossier, dossier_id).version


def test_the_counter_returning_a_refused_dossier_is_not_said_to_return_a_result(web, client_for):
    from engine import services as sv

    r = sv.receive(web.store, web.runtime.actor("motcua"), "1.001612", applicant="Hộ kinh doanh Phạm Thị Dung",
                   decision="refuse", comment="Không thuộc địa bàn huyện", now=web.clock())
    item = r.opened[-1]
    c = client_for("motcua")
    page = c.get(f"/items/{item}").text
    form = page.split('id="complete-form"', 1)[1].split("</form>", 1)[0]
    assert ">Trả hồ sơ kèm Phiếu từ chối</button>" in form and "Trả kết quả" not in form
    assert "(Trả cho tổ chức, cá nhân)" in page and "(Trả kết quả)" not in page  # the step's kind
    done = c.post(f"/items/{item}/complete", data={"csrf_token": csrf_of(page),
                                                   "version": _version(web, r.dossier_id)}, follow_redirects=True)
    assert done.status_code == 200 and "Không được tiếp nhận" in done.text
    dossier = c.get(f"/dossiers/{r.dossier_code}").text
    sheet = dossier.split('id="control-sheet"', 1)[1].split("</table>", 1)[0]
    assert "<td>Trả hồ sơ kèm Phiếu từ chối</td>" in sheet and "Hoàn thành" not in sheet  # its result
    history = dossier.split('id="history"', 1)[1]
    assert "<b>Trả hồ sơ kèm Phiếu từ chối</b>" in history and "<b>Trả kết quả</b>" not in history
    again = c.get(f"/items/{item}").text  # the item, done: its result said as its button said it
    assert "<dt>Kết quả</dt><dd>Trả hồ sơ kèm Phiếu từ chối</dd>" in again


def test_the_office_refusal_is_returned_as_a_written_refusal_and_a_result_as_a_result(web, client_for):
    from engine import services as sv

    rt = web.runtime
    r = sv.receive(web.store, rt.actor("motcua"), "1.001612", applicant="Hộ kinh doanh Bình An", now=web.clock())
    opened = sv.complete(web.store, rt.actor("tckh_head"), r.opened[-1], outcome="done", now=web.clock()).opened
    opened = sv.complete(web.store, rt.actor("tckh_cv"), opened[-1], outcome="refuse",
                         comment="Ngành nghề kinh doanh bị cấm", now=web.clock()).opened
    opened = sv.complete(web.store, rt.actor("tckh_head"), opened[-1], outcome="done", now=web.clock()).opened
    c = client_for("motcua")
    page = c.get(f"/items/{opened[-1]}").text
    assert ">Trả văn bản từ chối</button>" in page and "(Trả cho tổ chức, cá nhân)" in page
    c.post(f"/items/{opened[-1]}/complete", data={"csrf_token": csrf_of(page),
                                                  "version": _version(web, r.dossier_id)})
    history = c.get(f"/dossiers/{r.dossier_code}").text.split('id="history"', 1)[1]
    assert "<b>Trả văn bản từ chối</b>" in history and "<b>Trả kết quả</b>" not in history


# --------------------------------------------------------------------------- a draft the leader sent back


def test_the_reform_office_sees_in_its_list_which_draft_the_leader_sent_back(web, client_for):
    from engine import approval as ap
    from engine import services as sv
    from tests.conftest import REPO

    source = sorted((REPO / "procedures_yaml").rglob("1.001612-*.yaml"))[0].read_text(encoding="utf-8")
    reform = sv.add_user(web.store, "noivu_cv", unit="phong_noi_vu", role="staff", now=web.clock(),
                         full_name="Phạm Thu Hà", password=PASSWORD)
    row, _ = ap.save_draft(web.store, source.replace("    duration: 1d\n", "    duration: 4h\n", 1), actor=reform,
                           now=web.clock())
    ap.submit(web.store, "1.001612", row.number, actor=reform, now=web.clock())
    c = client_for("noivu_cv")
    listed = c.get("/author").text
    assert "lãnh đạo trả lại để sửa" not in listed  # submitted: waiting for the leader
    ap.send_back(web.store, "1.001612", row.number, actor=web.runtime.actor("ld_pct"),
                 comment="Bổ sung căn cứ pháp lý", now=web.clock())
    listed = c.get("/author").text
    drafts = listed.split('id="drafts"', 1)[1].split("</table>", 1)[0]
    assert "— lãnh đạo trả lại để sửa: Bổ sung căn cứ pháp lý" in drafts
    entries = listed.split('id="entries"', 1)[1].split("</table>", 1)[0]
    line = entries.split("/author/procedures/1.001612", 1)[1].split("</tr>", 1)[0]
    assert "phiên bản 2 (lãnh đạo trả lại để sửa)" in line


# --------------------------------------------------------------------------- the ledger's bar


def test_the_ledger_dates_are_said_in_vietnamese_and_its_book_list_fits_a_phone(web, live_server, browser, tmp_path):
    """The ledger's period pickers showed 03/01/2026 in an English browser (1 March read as 3 January) with no
    Vietnamese echo, unlike the reports; on a phone its book list, as wide as a commune's book's full name, ran
    off the screen with its arrow."""
    from engine import services as sv

    rt = web.runtime
    sv.receive(web.store, rt.actor("motcua"), "1.001612", applicant="Hộ kinh doanh Bình An", now=web.clock())
    sv.receive(web.store, rt.actor("xa_motcua"), "1.001193", applicant="Bà Lê Thị Hoa", now=web.clock(),
               commune="Xã Bát Tràng")
    for name, viewport in (("phone", PHONE), ("desk", DESK)):
        page = signed_in_page(browser, live_server.url, "motcua", viewport=viewport)
        page.goto("/documents/ledger?from=2026-03-01&to=2026-03-10")
        page.wait_for_selector("#book-choice")
        page.wait_for_selector("input[name=from] + .date-echo")
        shot(page, tmp_path, f"ledger-bar-{name}", full_page=False)
        assert page.locator("input[name=from] + .date-echo").inner_text() == "Chủ nhật, 01/03/2026"
        assert page.locator("input[name=to] + .date-echo").inner_text() == "Thứ Ba, 10/03/2026"
        page.locator("input[name=to]").fill("2026-03-09")  # said at once, before the form is sent
        assert page.locator("input[name=to] + .date-echo").inner_text() == "Thứ Hai, 09/03/2026"
        box = page.locator("#book-choice").bounding_box()
        assert box is not None and box["x"] + box["width"] <= viewport["width"], name
        page.context.close()


# --------------------------------------------------------------------------- the look-up box


def test_the_look_up_box_finds_a_code_typed_with_a_comma_a_copied_dash_or_no_hyphens(web, client_for):
    """On Windows with Vietnamese regional settings the numeric keypad's decimal key types ",": the code typed
    from the receipt with it was "no such dossier"; so were a code copied with typographic dashes, full-width
    digits, or typed without its hyphens."""
    from engine import services as sv

    res = sv.receive(web.store, web.runtime.actor("motcua"), "1.001612", applicant="Trần Thị Mai", now=web.clock())
    national, day, number = res.dossier_code.split("-")
    c = client_for("motcua")
    for typed in (res.dossier_code.replace(".", ",", 1),
                  res.dossier_code.replace("-", "\u2013"),
                  f"{national} \u2212 {day} \u2212 {number}",
                  f"{national}{day}{number}",
                  res.dossier_code.replace("1", "\uff11", 1)):
        r = c.get("/dossiers", params={"code": typed}, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, f"/dossiers/{res.dossier_code}"), typed
    wrong = res.dossier_code.replace(".", ",", 1)[:-1] + "9"  # another code is still no dossier, said as typed
    r = c.get("/dossiers", params={"code": wrong}, follow_redirects=False)
    assert r.headers["location"].startswith("/inbox?code=")
    assert f"Không có hồ sơ mã “{wrong}”" in c.get(r.headers["location"]).text
    other = client_for("qldt_cv")  # a dossier the user may not see stays unfound, however typed
    r = other.get("/dossiers", params={"code": res.dossier_code.replace(".", ",", 1)}, follow_redirects=False)
    assert r.headers["location"].startswith("/inbox?code=")


def test_the_leaders_step_table_is_one_card_a_step_on_a_phone(live_server, browser, tmp_path):
    """The table the leader approves squeezed five columns into a phone: a word a line, the forms' column off
    the screen's edge. Each step is a card; on a desk the table is as it was."""
    for name, viewport in (("phone", PHONE), ("desk", DESK)):
        page = signed_in_page(browser, live_server.url, "ld_pct", viewport=viewport)
        page.goto("/leader/procedures/1.001612")
        page.wait_for_selector("#step-table")
        page.locator("#step-table").scroll_into_view_if_needed()
        shot(page, tmp_path, f"step-table-{name}", full_page=False)
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], name
        row = page.locator("#step-table tbody tr[data-step]").first
        forms = row.locator("td").nth(4)
        box = forms.bounding_box()
        assert box is not None and box["x"] + box["width"] <= viewport["width"], name
        table = page.locator("#step-table")
        assert table.evaluate("t => t.scrollWidth <= t.clientWidth + 1"), name
        work = row.locator("td").nth(1)
        label = forms.evaluate("td => getComputedStyle(td, '::before').content")
        if name == "phone":
            assert work.bounding_box()["width"] > viewport["width"] * 0.7  # the work on a line of its own
            assert label == '"Biểu mẫu/Kết quả"'
            total = page.locator("#allocated").bounding_box()
            assert total["x"] + total["width"] <= viewport["width"]
        else:
            assert page.locator("#step-table thead").is_visible() and label in ("none", "normal")
        page.context.close()


# --------------------------------------------------------------------------- the applicant's step on the control sheet


def test_the_applicants_step_on_the_control_sheet_waits_for_the_applicant_with_the_clock_paused(web, client_for):
    """The control sheet said "Chờ xử lý" (waiting for staff) of the step where the applicant supplements the
    dossier, and "Đã xong" once over; the printed control sheet says "Tạm dừng tính thời gian"."""
    from engine import services as sv

    rt = web.runtime
    r = sv.receive(web.store, rt.actor("motcua"), "1.001612", applicant="Hộ kinh doanh Đỗ Thị Mai",
                   decision="supplement", comment="Thiếu bản sao CCCD", now=web.clock())
    c = client_for("motcua")

    def status_of_the_applicants_row() -> str:
        sheet = c.get(f"/dossiers/{r.dossier_code}").text.split('id="control-sheet"', 1)[1].split("</table>")[0]
        row = next(tr for tr in sheet.split("<tr")[1:] if "Tổ chức, cá nhân bổ sung" in tr)
        return row.rsplit("<td>", 1)[1].split("</td>", 1)[0]

    assert status_of_the_applicants_row() == "Chờ tổ chức, cá nhân (tạm dừng tính thời gian)"
    sv.supplement_received(web.store, rt.actor("motcua"), r.dossier_code, comment="Đã nộp", now=web.clock())
    assert status_of_the_applicants_row() == "Tạm dừng tính thời gian"
