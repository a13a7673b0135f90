"""Security of the pages: CSRF, another unit's work, escaping, no traceback, flash messages on refused actions."""

from __future__ import annotations

import re

from engine import services as sv
from engine.store import dump
from tests.web.conftest import csrf_of


def _receive(web) -> sv.ActionResult:
    return sv.receive(web.store, web.runtime.actor("motcua"), "1.001612", applicant="Hộ kinh doanh An Phát",
                      now=web.clock())


def test_a_form_without_a_valid_csrf_token_is_refused_and_changes_nothing(web, client_for):
    c = client_for("motcua")
    before = dump(web.store)
    form = {"procedure": "1.001612", "applicant": "Nguyễn Văn A", "channel": "counter", "decision": "accept"}
    r = c.post("/receive", data=form)
    assert r.status_code == 403 and "mã chống giả mạo" in r.text
    r = c.post("/receive", data={**form, "csrf_token": "0" * 64})
    assert r.status_code == 403
    # A token of another session is not valid in this one.
    other = csrf_of(client_for("motcua2").get("/receive").text)
    assert c.post("/receive", data={**form, "csrf_token": other}).status_code == 403
    assert dump(web.store) == before
    # The same form with this session's token goes through.
    token = csrf_of(c.get("/receive").text)
    assert c.post("/receive", data={**form, "csrf_token": token}, follow_redirects=False).status_code == 303
    assert dump(web.store) != before


def test_sign_in_and_sign_out_forms_need_the_token_too(client_for):
    c = client_for()
    c.get("/login")
    r = c.post("/login", data={"username": "motcua", "password": "x"})
    assert r.status_code == 403
    c = client_for("motcua")
    assert c.post("/logout").status_code == 403
    assert c.get("/inbox", follow_redirects=False).status_code == 200  # still signed in


def test_another_units_work_item_is_forbidden_and_unchanged(web, client_for):
    res = _receive(web)
    item = res.opened[-1]  # the office head's assignment step
    # A unit with no part in the dossier is answered as for an item or dossier that does not exist (404, the
    # same page), so that ids cannot be probed; nothing changes.
    c = client_for("qldt_cv")
    missing = c.get(f"/items/{item + 1000}")
    assert missing.status_code == 404
    got = c.get(f"/items/{item}")
    assert got.status_code == 404 and "Không có công việc này." in got.text and "Không có công việc này." in \
        missing.text
    before = dump(web.store)
    token = csrf_of(c.get("/inbox").text)
    r = c.post(f"/items/{item}/complete", data={"csrf_token": token, "version": res.version, "outcome": "done"})
    assert r.status_code == 404 and "đơn vị khác" not in r.text
    r = c.post(f"/items/{item}/claim", data={"csrf_token": token, "version": res.version})
    assert r.status_code == 404
    assert c.get(f"/dossiers/{res.dossier_code}").status_code == 404
    # its forms too: the same page as for a code that does not exist
    form, missing = (c.get(f"/documents/dossiers/{code}/forms/01") for code in (res.dossier_code, "1.001612-x"))
    assert form.status_code == missing.status_code == 404 and "Không có hồ sơ này." in form.text
    assert client_for("motcua").get(f"/documents/dossiers/{res.dossier_code}/forms/01").status_code == 200
    assert dump(web.store) == before
    # Staff of the right unit but the wrong role may look, not act: the engine refuses, the page says why.
    cv = client_for("tckh_cv")
    page = cv.get(f"/items/{item}").text
    assert "bạn chỉ xem được" in page and 'value="done"' not in page
    token = csrf_of(page)
    r = cv.post(f"/items/{item}/complete", data={"csrf_token": token, "version": res.version, "outcome": "done"})
    assert r.status_code == 200 and "không có quyền" in r.text
    assert dump(web.store) == before


def test_html_typed_by_users_is_shown_escaped(web, client_for):
    attack = '<script>alert("x")</script><b onmouseover=alert(1)>đậm</b>'
    c = client_for("motcua")
    token = csrf_of(c.get("/receive").text)
    r = c.post("/receive", data={"procedure": "1.001612", "applicant": attack, "channel": "counter",
                                 "decision": "accept", "csrf_token": token})
    assert r.status_code == 200 and "/receipt" in str(r.url)
    assert attack not in r.text and "&lt;script&gt;alert(" in r.text
    head = client_for("tckh_head")
    inbox = head.get("/inbox").text
    assert "<script>alert" not in inbox and "&lt;script&gt;" in inbox
    item = int(re.search(r'href="/items/(\d+)"', inbox).group(1))
    page = head.get(f"/items/{item}").text
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    r = head.post(f"/items/{item}/complete", data={"csrf_token": csrf_of(page), "version": version,
                                                   "outcome": "done", "comment": attack})
    assert r.status_code == 200
    code = re.search(r'data-dossier="([^"]+)"', inbox).group(1)
    shown = head.get(f"/dossiers/{code}").text
    assert attack not in shown and "<b onmouseover" not in shown
    assert "&lt;b onmouseover=alert(1)&gt;đậm&lt;/b&gt;" in shown
    assert "default-src 'self'" in r.headers["content-security-policy"]


def test_a_stale_form_shows_a_flash_and_leaves_the_dossier_unchanged(web, client_for):
    res = _receive(web)
    item = res.opened[-1]
    c = client_for("tckh_head")
    page = c.get(f"/items/{item}").text
    # Someone else acts first (here the same office, through the engine): the form's version is stale.
    sv.claim(web.store, web.runtime.actor("tckh_head"), item, now=web.clock())
    before = dump(web.store)
    r = c.post(f"/items/{item}/complete", data={"csrf_token": csrf_of(page), "version": res.version,
                                                "outcome": "done"})
    assert r.status_code == 200 and str(r.url).endswith(f"/items/{item}")
    # (it was the same user, through the engine: as if in another tab)
    assert "Bạn đã nhận xử lý công việc này ở thẻ/cửa sổ khác hoặc trang đã mở trước đó" in r.text and "thực hiện lại" in r.text
    assert dump(web.store) == before


def test_an_unexpected_failure_is_a_vietnamese_500_page_without_traceback(web, client_for):
    import sqlalchemy as sa

    c = client_for("motcua")
    with web.store.engine.begin() as conn:
        conn.execute(sa.text("alter table work_items rename to work_items_gone"))
    try:
        r = c.get("/inbox")
        assert r.status_code == 500
        assert "Lỗi hệ thống" in r.text and "Traceback" not in r.text and "work_items" not in r.text
        api = c.get("/api/tasks")
        assert api.status_code == 500 and api.json() == {"error": "internal",
                                                         "message": "internal server error (logged)"}
    finally:
        with web.store.engine.begin() as conn:
            conn.execute(sa.text("alter table work_items_gone rename to work_items"))
