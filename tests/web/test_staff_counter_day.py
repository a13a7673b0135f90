"""A day at the one-stop counter, as a counter officer meets it: what the pages say after a reception that is
not accepted, after a supplement is recorded, and on the receipt."""

from __future__ import annotations

import html
import re

from engine import services as sv
from tests.web.conftest import csrf_of


def _text(page_html: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page_html)))


def _receive(c, **data):
    page = c.get("/receive").text
    form = {"procedure": "1.001612", "applicant": "Hộ kinh doanh Phúc Lộc", "contact": "0987 654 321",
            "channel": "counter", "decision": "accept", "comment": "", "csrf_token": csrf_of(page),
            "idem": re.search(r'name="idem" value="([^"]+)"', page).group(1), **data}
    return c.post("/receive", data=form)


def test_a_supplement_asked_at_the_counter_then_brought_leads_back_to_the_reception_step(live_server, browser,
                                                                                         tmp_path):
    """In Chromium: the counter finds the dossier incomplete (form 02), is told which form to print; the
    dossier's page says what was asked; once the applicant brings it, recording it takes the officer to the
    reception step again (theirs to check and accept), not to the dossier's page with "chuyển tiếp xử lý",
    and accepting there prints form 01."""
    from tests.web.conftest import shot, signed_in_page

    web = live_server.web
    page = signed_in_page(browser, live_server.url, "motcua")
    page.goto("/receive")
    page.select_option("#procedure", "1.001612")
    page.fill("#applicant", "Lê Văn Phúc")
    page.check("input[name=channel][value=post]")
    page.check("input[name=decision][value=supplement]")
    page.fill("#comment", "Bản sao hợp đồng thuê địa điểm kinh doanh")
    page.click("#receive-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/dossiers/[^/]+$"))
    code = page.url.rsplit("/", 1)[1]
    flash = page.inner_text(".flash")
    assert flash == (f"Đã ghi nhận hồ sơ {code} chưa đầy đủ, cần bổ sung. Hãy in Phiếu yêu cầu bổ sung, hoàn thiện "
                     "hồ sơ (mẫu 02, ở mục Biểu mẫu của hồ sơ bên dưới) giao cho tổ chức, cá nhân."), flash
    assert page.inner_text("#supplement-asked") == "Đã yêu cầu bổ sung: Bản sao hợp đồng thuê địa điểm kinh doanh"
    shot(page, tmp_path, "staff-supplement-asked")

    page.fill("#supplement-form textarea[name=comment]", "Đã nhận bản sao hợp đồng thuê")
    page.click("#supplement-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/items/\d+$"))
    item_id = int(page.url.rsplit("/", 1)[1])
    sheet = sv.dossier_sheet(web.store, code)
    reception = [r for r in sheet.rows if r.step_id == sheet.definition.start.id]
    assert (reception[-1].item_id, reception[-1].state, len(reception)) == (item_id, "open", 2)
    step = sheet.definition.start.name
    assert page.inner_text(".flash") == (f"Đã ghi nhận hồ sơ bổ sung của {code}; hồ sơ trở lại bước “{step}”: hãy "
                                         "kiểm tra hồ sơ và tiếp nhận (hoặc yêu cầu bổ sung tiếp, từ chối) bên dưới.")
    page.click("#complete-form button[name=outcome][value=accept]")
    page.wait_for_url(re.compile(rf".*/dossiers/{re.escape(code)}/receipt$"))
    assert sv.dossier_sheet(web.store, code).dossier.received_at is not None


def test_a_supplement_asked_by_the_department_names_the_unit_the_dossier_goes_back_to(web, client_for):
    """Asked during the appraisal: recording the supplement keeps the counter on the dossier's page, told who
    has it now (it said "chuyển tiếp xử lý" without saying to whom): the officer who asked for it, at their
    unit (engine.services gives the appraisal back to them)."""
    store, rt = web.store, web.runtime
    res = sv.receive(store, rt.actor("motcua"), "1.001612", applicant="Bà Ngô Thị Huệ", now=web.clock())
    assign = sv.complete(store, rt.actor("tckh_head"), res.opened[-1], outcome="done", now=web.clock())
    asked = sv.complete(store, rt.actor("tckh_cv"), assign.opened[-1], outcome="supplement",
                        comment="Thiếu bản sao giấy tờ pháp lý", now=web.clock())
    c = client_for("motcua")
    page = c.get(f"/dossiers/{res.dossier_code}").text
    assert "Đã yêu cầu bổ sung: <strong>Thiếu bản sao giấy tờ pháp lý</strong>" in page
    r = c.post(f"/dossiers/{res.dossier_code}/supplemented",
               data={"csrf_token": csrf_of(page), "version": asked.version, "comment": "Đã nộp bản sao"})
    assert r.status_code == 200 and r.url.path == f"/dossiers/{res.dossier_code}"
    assert (f"Đã ghi nhận hồ sơ bổ sung của {res.dossier_code}; hồ sơ được chuyển tiếp cho tckh_cv (Phòng TC-KH) "
            "xử lý." in _text(r.text)), _text(r.text)[:600]
    assert 'id="supplement-asked"' not in r.text  # nothing is waiting any more


def test_a_refused_reception_says_which_form_to_print(web, client_for):
    c = client_for("motcua")
    r = _receive(c, applicant="Phạm Thị Hạnh", decision="refuse",
                 comment="Thủ tục không thuộc thẩm quyền của UBND huyện")
    assert r.status_code == 200 and r.url.path.startswith("/dossiers/"), r.url
    code = r.url.path.rsplit("/", 1)[1]
    assert (f"Đã ghi nhận từ chối tiếp nhận hồ sơ {code}. Hãy in Phiếu từ chối tiếp nhận giải quyết hồ sơ (mẫu 03, "
            "ở mục Biểu mẫu của hồ sơ bên dưới) giao cho tổ chức, cá nhân.") in _text(r.text), _text(r.text)[:600]
    assert f'href="/documents/dossiers/{code}/forms/03"' in r.text


def test_the_receipt_offers_another_reception_to_the_counter_only(web, client_for):
    """A department's officer opening form 01 of a dossier of theirs was offered *Tiếp nhận hồ sơ khác*, a
    page they may not open (403)."""
    res = sv.receive(web.store, web.runtime.actor("motcua"), "1.001612", applicant="Trần Thị Mai",
                     now=web.clock())
    officer = client_for("tckh_head")
    receipt = officer.get(f"/dossiers/{res.dossier_code}/receipt")
    assert receipt.status_code == 200, receipt.status_code
    assert 'href="/receive"' not in receipt.text
    assert officer.get("/receive").status_code == 403
    counter = client_for("motcua").get(f"/dossiers/{res.dossier_code}/receipt")
    assert 'href="/receive"' in counter.text and "Tiếp nhận hồ sơ khác" in counter.text




def test_a_dossier_waiting_for_the_financial_obligations_says_what_was_notified_and_that_the_clock_is_paused(
        web, client_for):
    """The tax office's notice (its comment) shows in the counter's *nghĩa vụ tài chính* panel, and the
    appointment says the clock is paused since then (the counter answers the applicant's call from this page);
    once the payment is recorded, neither."""
    from tests.test_financial import LAND, land_runtime, open_item

    store = web.store
    actors = land_runtime(web.runtime)
    r = sv.receive(store, actors["motcua"], LAND, applicant="Lê Thị Hoa", now=web.clock())
    for name, step, outcome in (("tnmt_head", "assign", "done"), ("tnmt_cv", "appraise", "ok"),
                                ("vpdk_cv", "consult", "done"), ("tnmt_cv", "site_check", "done"),
                                ("tnmt_cv", "report", "ok"), ("tnmt_head", "check", "ok"),
                                ("ld_pct", "sign", "approve"), ("vanthu", "issue", "done")):
        sv.complete(store, actors[name], open_item(store, r.dossier_id, step).id, outcome=outcome, now=web.clock())
    web.clock.advance(hours=1)  # 09:00
    sv.complete(store, actors["thue_cv"], open_item(store, r.dossier_id, "tax_notice").id, outcome="notify",
                comment="Thông báo nộp tiền sử dụng đất số 15/TB-CCT: 120.000.000 đồng", now=web.clock())
    c = client_for("motcua")
    page = _text(c.get(f"/dossiers/{r.dossier_code}").text)
    assert "Nội dung thông báo: Thông báo nộp tiền sử dụng đất số 15/TB-CCT: 120.000.000 đồng" in page, page[:2000]
    assert ("Tạm dừng tính thời gian từ 10/03/2026 09:00 (chờ tổ chức, cá nhân); ngày hẹn trả được tính lại khi "
            "tiếp tục giải quyết.") in page, page[:1500]
    sv.financial_done(store, actors["motcua"], r.dossier_code, now=web.clock())
    page = c.get(f"/dossiers/{r.dossier_code}").text
    assert 'id="paused-since"' not in page and 'id="financial-asked"' not in page



def test_the_reception_form_lists_first_the_procedures_the_counter_received_most(live_server, browser,
                                                                                 monkeypatch):
    """The procedure list of a district counter is 81 long, each option starting with its code: the day's usual
    procedures were as hard to find as the rarest. Those the unit received most in the last 30 days come first
    (most first; another unit's receptions and older ones do not count), then all of them; picking one there
    receives as before. A short list (fewer than FREQUENT_FROM) has no such group."""
    import datetime as dt

    from quytrinh.web import routes_staff
    from tests.web.conftest import signed_in_page

    web = live_server.web
    store, rt = web.store, web.runtime
    page = signed_in_page(browser, live_server.url, "motcua")
    page.goto("/receive")
    assert page.locator("#frequent-procedures").count() == 0  # the test's 3 procedures: nothing to put first

    monkeypatch.setattr(routes_staff, "FREQUENT_FROM", 2)
    old = web.clock() - dt.timedelta(days=31)
    for i in range(4):
        sv.receive(store, rt.actor("motcua"), "1.001612", applicant=f"Hộ kinh doanh cũ {i}", now=old)
    sv.receive(store, rt.actor("motcua2"), "1.013225", applicant="Công ty Xây dựng An Phát", now=web.clock())
    sv.receive(store, rt.actor("motcua"), "1.013225", applicant="Ông Đặng Văn Bình", now=web.clock())
    sv.receive(store, rt.actor("motcua"), "1.001612", applicant="Hộ kinh doanh Phúc Lộc", now=web.clock())
    sv.receive(store, rt.actor("xa_motcua"), "1.001193", applicant="Bùi Thị Lụa", now=web.clock(),
               commune="Xã Bát Tràng")
    web.clock.advance(minutes=15)
    page.goto("/receive")
    first = page.eval_on_selector_all("#frequent-procedures option", "os => os.map(o => o.value)")
    assert first == ["1.013225", "1.001612"], first
    everything = page.eval_on_selector_all("#procedure option", "os => os.map(o => o.value)")
    assert everything[1 + len(first):] == sorted(set(everything[1:])), everything  # then all, once, by code
    page.select_option("#procedure", "1.013225")
    page.fill("#applicant", "Bà Lê Thị Thu")
    page.click("#receive-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/receipt$"))
    assert "/dossiers/1.013225-" in page.url
