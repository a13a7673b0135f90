"""The leader's decision forms on /leader/procedures/{code} refuse a bad field under that field, as the staff
pages do (tests/web/test_usability.py): the message right under it, aria-invalid + aria-describedby, the focus
on it, what was typed kept, nothing changed; a refusal about the version itself (a stale page) stays a banner."""

from __future__ import annotations

import re

from engine import approval as ap
from engine import services as sv
from engine.store import dump
from tests.conftest import REPO
from tests.web.conftest import PASSWORD, csrf_of, shot, signed_in_page

CODE = "1.001612"
SOURCE = sorted((REPO / "procedures_yaml").rglob(f"{CODE}-*.yaml"))[0].read_text(encoding="utf-8")
SHORTENED = SOURCE.replace("    duration: 1d\n", "    duration: 4h\n", 1)
DESK = {"width": 1366, "height": 900}


def _office(web):
    """A reform-office officer (Phòng Nội vụ), who drafts and submits."""
    return sv.add_user(web.store, "noivu_cv", unit="phong_noi_vu", role="staff", now=web.clock(),
                       full_name="Phạm Thu Hà", password=PASSWORD)


def _submitted(web, office=None, text: str = SHORTENED) -> ap.DefinitionDraft:
    """A draft of CODE the reform office saved and submitted."""
    office = office or _office(web)
    row, _ = ap.save_draft(web.store, text, actor=office, now=web.clock())
    return ap.submit(web.store, CODE, row.number, actor=office, now=web.clock())


def _focused(page) -> dict:
    return page.evaluate("""() => { const e = document.activeElement;
        const d = (e.getAttribute('aria-describedby') || '').split(' ').filter(Boolean)
                  .map(i => document.getElementById(i)).filter(Boolean).map(x => x.textContent.trim());
        return {id: e.id, invalid: e.getAttribute('aria-invalid'), described: d, value: e.value}; }""")


def _under(page, field: str, error: str) -> bool:
    """Whether ``error`` stands right under ``field`` (not at the top of the page)."""
    f, e = page.locator(field).bounding_box(), page.locator(error).bounding_box()
    return 0 <= e["y"] - (f["y"] + f["height"]) < 40


# --------------------------------------------------------------------------- in the browser


def test_a_malformed_decision_number_is_shown_under_it_with_the_date_kept(live_server, browser, tmp_path):
    web = live_server.web
    row = _submitted(web)
    page = signed_in_page(browser, live_server.url, "ld_pct", viewport=DESK)
    page.goto(f"/leader/procedures/{CODE}")
    before = dump(web.store)
    page.fill("#decision_number", "125/QD-UBND")  # D for Đ: not a decision's number and symbol
    page.fill("#decision_date", "2026-03-09")
    page.click("#approve")
    page.wait_for_selector("#decision_number-error")
    shot(page, tmp_path, "leader-approve-bad-number", full_page=False)
    now = _focused(page)
    assert now["id"] == "decision_number" and now["invalid"] == "true" and now["value"] == "125/QD-UBND"
    assert now["described"] == [page.locator("#decision_number-error").inner_text()]
    assert "chưa đúng dạng số/ký hiệu" in now["described"][0] and "125/QĐ-UBND" in now["described"][0]
    assert "Phiên bản chưa được phê duyệt." in now["described"][0]
    assert _under(page, "#decision_number", "#decision_number-error")
    # marked red while it has the focus too (the browser's own focus ring drew over the red border)
    red = "rgb(180, 35, 24)"  # --late
    assert page.evaluate("getComputedStyle(document.activeElement).outlineColor") == red
    assert page.evaluate("getComputedStyle(document.activeElement).borderTopColor") == red
    assert page.input_value("#decision_date") == "2026-03-09"  # the date chosen, not today again
    assert page.locator("#decision_date").get_attribute("aria-invalid") is None
    assert not page.locator("main > .flash-error").count()  # no banner at the top
    assert dump(web.store) == before and ap.get_draft(web.store, CODE, row.number).status == ap.SUBMITTED
    # corrected, it is approved
    page.fill("#decision_number", "125/QĐ-UBND")
    page.click("#approve")
    page.wait_for_selector("#frozen")
    assert "Đã phê duyệt phiên bản 2 theo Quyết định số 125/QĐ-UBND ngày 09/03/2026" in page.content()
    page.context.close()


def test_sending_back_without_a_comment_points_at_the_comment(live_server, browser, tmp_path):
    web = live_server.web
    row = _submitted(web)
    page = signed_in_page(browser, live_server.url, "ld_pct", viewport=DESK)
    page.goto(f"/leader/procedures/{CODE}")
    before = dump(web.store)
    page.fill("#send_back_comment", "   ")  # only spaces: the browser's "required" lets it through
    page.click("#send-back")
    page.wait_for_selector("#send_back_comment-error")
    shot(page, tmp_path, "leader-send-back-no-comment", full_page=False)
    now = _focused(page)
    assert now["id"] == "send_back_comment" and now["invalid"] == "true" and now["value"] == "   "
    assert now["described"] == [page.locator("#send_back_comment-error").inner_text()]
    assert now["described"][0] == "Hãy ghi ý kiến: cần sửa gì trước khi trình lại. Phiên bản chưa được trả lại."
    assert _under(page, "#send_back_comment", "#send_back_comment-error")
    assert page.locator("#decision_number").get_attribute("aria-invalid") is None
    assert not page.locator("main > .flash-error").count()
    assert dump(web.store) == before and ap.get_draft(web.store, CODE, row.number).status == ap.SUBMITTED
    page.context.close()


# --------------------------------------------------------------------------- the HTML the app serves


def _post_approve(c, page: str, number: int, decision_number: str, decision_date: str):
    """POST the approve form as the page had it (a redirect is not followed)."""
    return c.post(f"/leader/procedures/{CODE}/{number}/approve",
                  data={"csrf_token": csrf_of(page), "revision": _revision_of(page), "decision_number": decision_number,
                        "decision_date": decision_date}, follow_redirects=False)


def _revision_of(page: str) -> str:
    """The draft revision the page's decision forms carry (the content the leader reviewed)."""
    return re.search(r'name="revision" value="([^"]*)"', page)[1]


def _field_errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="field-error" id="([^"]+)-error">([^<]*)</p>', html))


def _input(html: str, field_id: str) -> str:
    return re.search(rf'<(?:input|textarea)[^>]* id="{field_id}"[^>]*>', html)[0]


def test_each_refused_field_of_the_decision_gets_its_own_message(web, client_for):
    row = _submitted(web)
    c = client_for("ld_pct")
    page = c.get(f"/leader/procedures/{CODE}").text
    before = dump(web.store)
    cases = [  # decision number, date -> the field refused, the start of its message
        ("", "2026-03-09", "decision_number", "Hãy nhập số quyết định phê duyệt."),
        ("125/QĐ-UBND", "", "decision_date", "Hãy nhập ngày ban hành quyết định."),
        ("125/QĐ-UBND", "09/03/2026x", "decision_date", "Ngày quyết định không hợp lệ"),
        ("125/QĐ-UBND", "2026-03-11", "decision_date", "Ngày quyết định 11/03/2026 sau ngày hôm nay (10/03/2026)"),
    ]
    for number, date, field, message in cases:
        r = _post_approve(c, page, row.number, number, date)
        assert r.status_code == 422, (number, date)
        errors = _field_errors(r.text)
        assert list(errors) == [field] and errors[field].startswith(message), (number, date, errors)
        assert errors[field].count("chưa được phê duyệt") == 1  # said once, even when the engine says it
        tag = _input(r.text, field)
        assert f'aria-invalid="true" aria-describedby="{field}-error" autofocus' in tag
        assert 'class="flash flash-error"' not in r.text
        assert f'value="{number}"' in _input(r.text, "decision_number")  # what was typed comes back
        assert 'id="approve-form"' in r.text and 'id="send-back-form"' in r.text
    # an unreadable date and a missing number: both are said, the focus on the first field
    r = _post_approve(c, page, row.number, " ", "hôm qua")
    errors = _field_errors(r.text)
    assert list(errors) == ["decision_number", "decision_date"]
    assert "autofocus" in _input(r.text, "decision_number") and "autofocus" not in _input(r.text, "decision_date")
    assert 'value="hôm qua"' in _input(r.text, "decision_date")
    assert dump(web.store) == before


def test_a_date_before_the_decision_in_force_is_shown_under_the_date(web, client_for):
    office = _office(web)
    first = _submitted(web, office)
    ap.approve(web.store, CODE, first.number, actor=web.runtime.actor("ld_pct"), decision_number="125/QĐ-UBND",
               decision_date=web.clock().date(), now=web.clock())
    row = _submitted(web, office, SHORTENED.replace("    duration: 4h\n", "    duration: 6h\n", 1))
    c = client_for("ld_pct")
    page = c.get(f"/leader/procedures/{CODE}").text
    r = _post_approve(c, page, row.number, "130/QĐ-UBND", "2026-03-02")
    assert r.status_code == 422
    errors = _field_errors(r.text)
    assert list(errors) == ["decision_date"] and "trước ngày của quyết định đã phê duyệt" in errors["decision_date"]
    assert 'value="2026-03-02"' in _input(r.text, "decision_date")
    assert ap.get_draft(web.store, CODE, row.number).status == ap.SUBMITTED


def test_a_refusal_about_the_version_itself_stays_a_banner(web, client_for):
    row = _submitted(web)
    c = client_for("ld_pct")
    page = c.get(f"/leader/procedures/{CODE}").text  # the form, before a colleague sends the version back
    ap.send_back(web.store, CODE, row.number, actor=web.runtime.actor("ld_pct"), comment="Sửa lại", now=web.clock())
    r = _post_approve(c, page, row.number, "125/QĐ-UBND", "2026-03-09")
    assert r.status_code == 303  # back to the page, the message on top: no field to fix
    html = c.get(r.headers["location"]).text
    assert "chỉ phiên bản đã trình mới phê duyệt được" in html and 'class="flash flash-error"' in html
    assert not _field_errors(html)
    # a stale page with a bad field too: the form is gone, so the banner says why (not a message under nothing)
    r = _post_approve(c, page, row.number, "125/QD-UBND", "2026-03-09")
    assert r.status_code == 303
    html = c.get(r.headers["location"]).text
    assert 'class="flash flash-error"' in html and "chỉ phiên bản đã trình mới phê duyệt được" in html
    assert not _field_errors(html)
    r = c.post(f"/leader/procedures/{CODE}/{row.number}/send-back",
               data={"csrf_token": csrf_of(page), "revision": _revision_of(page), "comment": ""}, follow_redirects=False)
    assert r.status_code == 303
    html = c.get(r.headers["location"]).text
    assert "chỉ phiên bản đã trình mới trả lại được" in html and not _field_errors(html)
    # a form without the revision reviewed, on a version no longer waiting: the banner says that first
    r = c.post(f"/leader/procedures/{CODE}/{row.number}/send-back",
               data={"csrf_token": csrf_of(page), "comment": "Sửa tiếp"}, follow_redirects=False)
    assert r.status_code == 303
    html = c.get(r.headers["location"]).text
    assert "không còn chờ phê duyệt" in html and "Ý kiến bạn đã ghi chưa được gửi: “Sửa tiếp”." in html
    assert ap.get_draft(web.store, CODE, row.number).status == ap.DRAFT


def test_a_leader_decision_without_the_revision_reviewed_is_refused_and_changes_nothing(web, client_for):
    """The decision forms carry the draft revision the leader reviewed; without it (or with something that is
    not one) the engine could not tell which content was decided on: refused, nothing written, the page
    reloaded with a banner asking to review the version again, what was typed quoted."""
    row = _submitted(web)
    c = client_for("ld_pct")
    page = c.get(f"/leader/procedures/{CODE}").text
    before = dump(web.store)
    decision = {"csrf_token": csrf_of(page), "decision_number": "125/QĐ-UBND", "decision_date": "2026-03-09"}
    for revision in (None, "", " ", "abc", "-1", "2.0", "²"):  # "²" is a digit to str.isdigit, not to int()
        extra = {} if revision is None else {"revision": revision}
        r = c.post(f"/leader/procedures/{CODE}/{row.number}/approve", data={**decision, **extra},
                   follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/leader/procedures/{CODE}?version={row.number}"
        html = c.get(r.headers["location"]).text
        banner = re.findall(r'<div class="flash flash-error"[^>]*>([^<]*)</div>', html)
        assert banner == [f"Phiên bản {row.number} chưa được phê duyệt: yêu cầu gửi lên thiếu thông tin về nội dung "
                          "bạn đã xem (trang có thể chưa tải xong hoặc đã cũ), nên không biết bạn đã quyết định trên "
                          "nội dung nào. Trang đã được tải lại: hãy xem lại nội dung của phiên bản rồi quyết định "
                          "lại. Quyết định bạn đã nhập (số 125/QĐ-UBND, ngày 09/03/2026) chưa được ghi."], revision
        assert not _field_errors(html) and 'id="approve-form"' in html  # the forms again, to decide once reviewed
        assert dump(web.store) == before, revision
        r = c.post(f"/leader/procedures/{CODE}/{row.number}/send-back",
                   data={"csrf_token": csrf_of(page), "comment": "Giữ thẩm định 1 ngày", **extra})
        assert r.status_code == 200 and "Đã trả lại" not in r.text
        assert (f"Phiên bản {row.number} chưa được trả lại: yêu cầu gửi lên thiếu thông tin về nội dung bạn đã xem"
                in r.text and "Ý kiến bạn đã ghi chưa được gửi: “Giữ thẩm định 1 ngày”." in r.text), revision
        assert dump(web.store) == before, revision
    draft = ap.get_draft(web.store, CODE, row.number)
    assert draft.status == ap.SUBMITTED and draft.decision_number is None and draft.row_version == row.row_version
    assert sv.current_definition(web.store, CODE)[0].version == 1
    # the reloaded page carries the revision: reviewed, the decision goes through
    fresh = c.get(f"/leader/procedures/{CODE}").text
    r = _post_approve(c, fresh, row.number, "125/QĐ-UBND", "2026-03-09")
    assert r.status_code == 303 and "Đã phê duyệt phiên bản 2" in c.get(r.headers["location"]).text
