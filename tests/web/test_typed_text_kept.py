"""What a user typed into a form comes back after having to sign in again (headless Chromium, real server).

A form sent once the session has ended is not acted on: the browser goes to the sign-in page, then back to the
form's page. static/typed.js kept the typed fields in the tab's sessionStorage when the form was sent and, on
that page (marked by the server: deps.FORM_NOT_DONE), fills them in again with a note; nothing is sent again.
"""

from __future__ import annotations

import json
import re
import time

from engine import services as sv
from engine.store import WorkItem, dump
from tests.web.conftest import PASSWORD, shot, signed_in_page

NOTE = "Đã điền lại nội dung bạn đã nhập trước khi đăng nhập lại. Kiểm tra rồi gửi lại."
NOT_DONE = "thao tác vừa gửi chưa được thực hiện"
COMMENT = ("Đề nghị bổ sung: bản sao hợp đồng thuê mặt bằng còn thời hạn; "
           "giấy xác nhận của UBND xã Hòa Bình về địa điểm kinh doanh.\nNgười xử lý: Trần Văn Hùng.")


def _sign_in_on_login_page(page, username: str, password: str = PASSWORD) -> None:
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form[action='/login'] button[type=submit]")


def _stored(page) -> str:
    return page.evaluate("() => sessionStorage.getItem('quytrinh.typed') || ''")


def test_a_comment_typed_before_signing_out_in_another_tab_is_back_after_signing_in(live_server, browser, tmp_path):
    web = live_server.web
    item = sv.receive(web.store, web.runtime.actor("motcua"), "1.001612", applicant="Lê Văn Tám",
                      now=web.clock()).opened[-1]
    page = signed_in_page(browser, live_server.url, "tckh_head")
    page.goto(f"/items/{item}")
    idem = page.locator("#complete-form input[name=idem]").input_value()
    page.fill("#comment", COMMENT)

    # Another tab of the same browser signs out: the form's tab does not know.
    other = page.context.new_page()
    other.goto("/inbox")
    other.click("form[action='/logout'] button")
    other.wait_for_url(re.compile(r".*/login$"))
    other.close()

    before = dump(web.store)
    page.click("#complete-form button[type=submit] >> nth=0")
    page.wait_for_url(re.compile(r".*/login\?next="))
    assert NOT_DONE in page.locator(".flash-error").inner_text()
    kept = _stored(page)  # only what was typed: no token, no idempotency key
    assert "Trần Văn Hùng" in json.loads(kept)["drafts"][f"/items/{item}/complete"]["fields"][0]["v"]
    assert "csrf" not in kept and idem not in kept and "outcome" not in kept

    _sign_in_on_login_page(page, "tckh_head")
    page.wait_for_url(re.compile(rf".*/items/{item}$"))
    assert page.locator("#comment").input_value() == COMMENT
    note = page.locator("#complete-form .typed-restored")
    assert note.is_visible() and note.inner_text() == NOTE
    assert page.evaluate("() => document.activeElement.id") == "comment"
    shot(page, tmp_path, "typed-restored")
    # Nothing was done: the user checks and presses the button again.
    assert dump(web.store) == before
    with web.store.session() as s:
        assert s.get(WorkItem, item).state == "open"

    # Used once: opening the page again shows it as the server has it.
    page.goto(f"/items/{item}")
    assert page.locator("#comment").input_value() == ""
    assert page.locator(".typed-restored").count() == 0
    assert _stored(page) == ""


def test_the_counter_form_comes_back_after_the_session_ended_and_a_wrong_password(live_server, browser):
    """The 12-hour end of a session, a select, radio buttons and text fields, a mistyped password on the way."""
    from quytrinh.web.auth import SESSION_COOKIE, SESSION_MAX_AGE

    web = live_server.web
    page = signed_in_page(browser, live_server.url, "motcua")
    page.goto("/receive")
    page.select_option("select[name=procedure]", "1.001612")
    page.fill("input[name=applicant]", "Hộ kinh doanh Nguyễn Thị Ánh Tuyết")
    page.fill("input[name=contact]", "0987 654 321")
    page.check("input[name=decision][value=supplement]")
    page.fill("#comment", "Thiếu bản sao căn cước của chủ hộ kinh doanh.")

    # Twelve hours after signing in, the session ends (the cookie itself still signed).
    codec = web.app.state.codec
    cookie = next(c for c in page.context.cookies() if c["name"] == SESSION_COOKIE)
    session = codec.loads(cookie["value"])
    session.signed_in_at = int(time.time()) - SESSION_MAX_AGE - 1
    page.context.add_cookies([{**cookie, "value": codec.dumps(session)}])

    before = dump(web.store)
    page.click("#receive-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/login\?next=%2Freceive$"))
    assert NOT_DONE in page.locator(".flash-error").inner_text()
    _sign_in_on_login_page(page, "motcua", "sai-mat-khau")
    page.wait_for_selector("text=Tên đăng nhập hoặc mật khẩu không đúng.")
    _sign_in_on_login_page(page, "motcua")
    page.wait_for_url(re.compile(r".*/receive$"))

    assert page.locator("select[name=procedure]").input_value() == "1.001612"
    assert page.locator("input[name=applicant]").input_value() == "Hộ kinh doanh Nguyễn Thị Ánh Tuyết"
    assert page.locator("input[name=contact]").input_value() == "0987 654 321"
    assert page.locator("input[name=decision][value=supplement]").is_checked()
    assert not page.locator("input[name=decision][value=accept]").is_checked()
    assert page.locator("#comment").input_value() == "Thiếu bản sao căn cước của chủ hộ kinh doanh."
    assert page.locator("#receive-form .typed-restored").inner_text() == NOTE
    assert dump(web.store) == before  # no dossier received

    # Sent now, by the user: received once; the next page keeps nothing.
    page.check("input[name=decision][value=accept]")
    page.click("#receive-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/receipt$"))
    assert _stored(page) == ""
    page.goto("/receive")
    assert page.locator("input[name=applicant]").input_value() == ""
    assert page.locator(".typed-restored").count() == 0


def test_a_normal_visit_fills_nothing_in(live_server, browser):
    """Typed and sent while signed in (the action done), or typed, then signed out and in again without sending
    the form: the form's page opens empty."""
    page = signed_in_page(browser, live_server.url, "motcua")
    page.goto("/receive")
    page.select_option("select[name=procedure]", "1.001612")
    page.fill("input[name=applicant]", "Hộ kinh doanh Phạm Minh Đức")
    page.click("#receive-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/receipt$"))
    assert _stored(page) == ""
    page.goto("/receive")
    assert page.locator("input[name=applicant]").input_value() == ""

    page.fill("input[name=applicant]", "Hộ kinh doanh Võ Thị Lan")  # not sent
    page.click("form[action='/logout'] button")
    page.wait_for_url(re.compile(r".*/login$"))
    _sign_in_on_login_page(page, "motcua")
    page.wait_for_url(re.compile(r".*/inbox$"))
    page.goto("/receive")
    assert page.locator("input[name=applicant]").input_value() == ""
    assert page.locator(".typed-restored").count() == 0
    assert _stored(page) == ""


def test_a_form_refused_for_an_old_pages_token_comes_back_filled_from_the_error_pages_link(live_server, browser):
    """Signed out and in again in another tab: the old tab's form is refused (403, its token belongs to the
    ended session); the refusal's link back to the form's page brings what was typed back."""
    web = live_server.web
    item = sv.receive(web.store, web.runtime.actor("motcua"), "1.001612", applicant="Lê Văn Chín",
                      now=web.clock()).opened[-1]
    page = signed_in_page(browser, live_server.url, "tckh_head")
    page.goto(f"/items/{item}")
    page.fill("#comment", COMMENT)

    other = page.context.new_page()
    other.goto("/inbox")
    other.click("form[action='/logout'] button")
    other.wait_for_url(re.compile(r".*/login$"))
    _sign_in_on_login_page(other, "tckh_head")
    other.wait_for_url(re.compile(r".*/inbox$"))
    other.close()

    before = dump(web.store)
    page.click("#complete-form button[type=submit] >> nth=0")
    page.wait_for_selector("text=mã chống giả mạo")
    page.click("text=Mở lại trang vừa thao tác")
    page.wait_for_url(re.compile(rf".*/items/{item}$"))
    assert page.locator("#comment").input_value() == COMMENT
    assert page.locator("#complete-form .typed-restored").inner_text() == NOTE
    assert dump(web.store) == before
