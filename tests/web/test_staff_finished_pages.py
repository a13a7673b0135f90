"""The pages of work that is over: a finished step's page says when it was done, how (its outcome) and whether
on time; a dossier's facts say when its result was returned (or when it ended otherwise)."""

from __future__ import annotations

import html
import re

from engine import services as sv


def _text(page_html: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page_html)))


def _open_item(store, code: str, step: str) -> int:
    sheet = sv.dossier_sheet(store, code)
    return next(r.item_id for r in sheet.rows if r.step_id == step and r.state in ("open", "claimed"))


def test_a_finished_step_and_a_returned_dossier_say_when_and_how(web, client_for):
    store, rt = web.store, web.runtime
    res = sv.receive(store, rt.actor("motcua"), "1.001612", applicant="Trần Thị Mai", now=web.clock())
    code = res.dossier_code
    web.clock.advance(minutes=30)  # 10/03/2026 08:30
    sv.complete(store, rt.actor("tckh_head"), _open_item(store, code, "assign"), outcome="done", now=web.clock())
    web.clock.advance(minutes=45)  # 09:15
    appraise = _open_item(store, code, "appraise")
    sv.complete(store, rt.actor("tckh_cv"), appraise, outcome="ok", comment="Hồ sơ hợp lệ", now=web.clock())
    c = client_for("tckh_cv")
    page = _text(c.get(f"/items/{appraise}").text)
    assert "Xong lúc 10/03/2026 09:15 Trước hạn" in page, page[:1500]
    assert "Kết quả Đạt" in page
    assert "Còn lại" not in page

    for step, who in (("check", "tckh_head"), ("sign", "tckh_head"), ("issue", "vanthu")):
        web.clock.advance(minutes=15)
        item = _open_item(store, code, step)
        outcome = next(r.outcome for r in sv.dossier_sheet(store, code).definition.step(step).routes)
        sv.complete(store, rt.actor(who), item, outcome=outcome, now=web.clock())
    counter = client_for("motcua")
    waiting = _text(counter.get(f"/dossiers/{code}").text)
    assert "Có kết quả lúc 10/03/2026 10:00 (chờ trả cho tổ chức, cá nhân)" in waiting, waiting[:1500]
    web.clock.advance(minutes=20)  # 10:20
    sv.complete(store, rt.actor("motcua"), _open_item(store, code, "deliver"), outcome=None, now=web.clock())
    done = _text(counter.get(f"/dossiers/{code}").text)
    assert "Ngày trả kết quả 10/03/2026 10:20" in done, done[:1500]
    assert "Có kết quả lúc" not in done


def test_a_withdrawn_dossier_says_when_it_ended_and_its_cancelled_step_when_it_was_cancelled(web, client_for):
    store, rt = web.store, web.runtime
    res = sv.receive(store, rt.actor("motcua"), "1.001612", applicant="Hồ Thị Thu", now=web.clock())
    assign = _open_item(store, res.dossier_code, "assign")
    web.clock.advance(hours=1)  # 09:00
    sv.withdraw(store, rt.actor("motcua"), res.dossier_code, comment="Đơn số 12/ĐN ngày 10/03/2026",
                now=web.clock())
    facts = _text(client_for("motcua").get(f"/dossiers/{res.dossier_code}").text)
    assert "Kết thúc lúc 10/03/2026 09:00" in facts and "Ngày trả kết quả" not in facts, facts[:1500]
    item = _text(client_for("tckh_head").get(f"/items/{assign}").text)
    assert "Hủy lúc 10/03/2026 09:00" in item and "Xong lúc" not in item, item[:1500]


def test_the_control_sheet_on_a_phone_shows_each_steps_deadline_and_status_without_scrolling(live_server, browser,
                                                                                             tmp_path):
    """In Chromium, 390 px wide: the control sheet was an 8-column table scrolling inside its card, the steps'
    names wrapped a word a line and their deadline, outcome and timeliness off screen. Each step is now a card
    of *label: value* lines, as the inbox's work items, every cell within the screen."""
    from tests.web.conftest import shot, signed_in_page

    web = live_server.web
    store, rt = web.store, web.runtime
    res = sv.receive(store, rt.actor("motcua"), "1.001612", applicant="Trần Thị Mai", now=web.clock())
    sv.complete(store, rt.actor("tckh_head"), _open_item(store, res.dossier_code, "assign"), outcome="done",
                now=web.clock())
    page = signed_in_page(browser, live_server.url, "motcua", viewport={"width": 390, "height": 800})
    page.goto(f"/dossiers/{res.dossier_code}")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    # (found by its heading and the cells' places, as on the old page: step, deadline, timeliness)
    rows = page.locator("h2:has-text('Phiếu kiểm soát quá trình giải quyết hồ sơ') + table tbody tr")
    assert rows.count() == 3
    for i in range(rows.count()):
        for cell in ("td:nth-child(1)", "td:nth-child(5)", "td:nth-child(8)"):
            box = rows.nth(i).locator(cell).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (i, cell, box)
    assert "Trước hạn" in rows.nth(0).locator("td:nth-child(8)").inner_text()
    labels = rows.nth(0).evaluate("""tr => [...tr.cells].map(td => getComputedStyle(td, '::before').content)""")
    assert labels[1:] == ['"Đơn vị"', '"Người xử lý"', '"Nhận"', '"Hạn"', '"Xong"', '"Kết quả"', '"Tình trạng"'], labels
    step = rows.nth(1).locator("td:nth-child(1)").bounding_box()
    assert step["width"] > 250, step  # the step's name on the card's whole width, not a word a line
    shot(page, tmp_path, "staff-control-sheet-phone")
    wide = signed_in_page(browser, live_server.url, "motcua")
    wide.goto(f"/dossiers/{res.dossier_code}")
    assert wide.locator("#control-sheet thead th").first.is_visible()  # a table still on a wide screen
