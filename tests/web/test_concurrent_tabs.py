"""One person in several tabs, or several people on the same dossier: a form sent from an older page is never a
dead end, never loses what was typed, and says what happened meanwhile."""

from __future__ import annotations

from urllib.parse import unquote

from engine import services as sv
from engine.store import WorkItem, dump
from tests.web.conftest import PASSWORD, csrf_of, sign_in


def _receive(web) -> sv.ActionResult:
    return sv.receive(web.store, web.runtime.actor("motcua"), "1.001612", applicant="Lê Văn Tám", now=web.clock())


def test_a_form_sent_after_signing_out_in_another_tab_signs_in_back_to_its_page(web, client_for):
    res = _receive(web)
    item = res.opened[-1]
    client = client_for("tckh_head")  # one browser: both tabs share its cookie
    token = csrf_of(client.get(f"/items/{item}").text)  # tab A
    out = client.post("/logout", data={"csrf_token": csrf_of(client.get("/inbox").text)})  # tab B
    assert out.status_code == 200
    before = dump(web.store)
    r = client.post(f"/items/{item}/complete", data={"csrf_token": token, "outcome": "done", "comment": "x"},
                    follow_redirects=False)  # tab A
    assert r.status_code == 303 and unquote(r.headers["location"]) == f"/login?next=/items/{item}"
    login = client.get(r.headers["location"])
    assert "thao tác vừa gửi chưa được thực hiện" in login.text and "mã chống giả mạo" not in login.text
    assert dump(web.store) == before
    again = client.post("/login", data={"username": "tckh_head", "password": PASSWORD,
                                        "csrf_token": csrf_of(login.text), "next": f"/items/{item}"},
                        follow_redirects=False)
    assert again.headers["location"] == f"/items/{item}"


def test_the_counter_form_sent_after_signing_out_leads_back_to_the_counter(web, client_for):
    client = client_for("motcua")
    token = csrf_of(client.get("/receive").text)
    client.post("/logout", data={"csrf_token": token})
    before = dump(web.store)
    r = client.post("/receive", data={"csrf_token": token, "procedure": "1.001612", "applicant": "Nguyễn Văn A",
                                      "channel": "counter", "decision": "accept"}, follow_redirects=False)
    assert r.status_code == 303 and unquote(r.headers["location"]) == "/login?next=/receive"
    assert dump(web.store) == before


def test_a_signed_in_session_with_an_old_pages_token_is_still_refused(web, client_for):
    res = _receive(web)
    item = res.opened[-1]
    client = client_for("tckh_head")
    token = csrf_of(client.get(f"/items/{item}").text)
    client.post("/logout", data={"csrf_token": token})
    assert sign_in(client, "tckh_head").status_code == 303  # signed in again in tab B: a new session
    before = dump(web.store)
    r = client.post(f"/items/{item}/complete", data={"csrf_token": token, "outcome": "done"},
                    follow_redirects=False)
    assert r.status_code == 403 and "mã chống giả mạo" in r.text and "đăng nhập lại ở thẻ" in r.text
    assert f'<a href="/items/{item}">Mở lại trang vừa thao tác</a>' in r.text  # the way back to the form
    assert dump(web.store) == before
    with web.store.session() as s:
        assert s.get(WorkItem, item).state == "open"


def test_the_work_item_and_dossier_pages_are_not_kept_in_the_browser_cache(web, client_for):
    """Back after an action must show the item as it is now, not an old page with live buttons."""
    res = _receive(web)
    item = res.opened[-1]
    head = client_for("tckh_head")
    assert head.get(f"/items/{item}").headers["cache-control"] == "no-store"
    assert client_for("motcua").get(f"/dossiers/{res.dossier_code}").headers["cache-control"] == "no-store"


# --------------------------------------------------------------------------- what became of the item or dossier

import html as _html  # noqa: E402
import re  # noqa: E402

from sqlmodel import select  # noqa: E402

from engine.store import Dossier  # noqa: E402


def _appraisal(web) -> tuple[sv.ActionResult, int]:
    """A dossier at its appraisal step (open at Phòng TC-KH) and that step's work item."""
    r = _receive(web)
    sv.complete(web.store, web.runtime.actor("tckh_head"), r.opened[-1], outcome="done", now=web.clock())
    with web.store.session() as s:
        item = s.exec(select(WorkItem).where(WorkItem.dossier_id == r.dossier_id,
                                             WorkItem.step_id == "appraise")).one()
    return r, item.id


def _form(page: str, **data: str) -> dict[str, str]:
    return {"csrf_token": csrf_of(page), "version": re.search(r'name="version" value="(\d+)"', page)[1], **data}


def _text(r) -> str:
    return _html.unescape(r.text)


def test_a_colleague_completed_the_item_first_nothing_left_to_do_and_the_comment_is_quoted(web, client_for):
    _, item = _appraisal(web)
    cv, cv2 = client_for("tckh_cv"), client_for("tckh_cv2")
    page = cv2.get(f"/items/{item}").text
    assert cv.post(f"/items/{item}/complete", data=_form(cv.get(f"/items/{item}").text, outcome="ok")
                   ).status_code == 200
    before = dump(web.store)
    r = cv2.post(f"/items/{item}/complete", data=_form(page, outcome="supplement", comment="Thiếu bản sao CCCD"))
    text = _text(r)
    assert "Công việc này đã được tckh_cv hoàn thành (Đạt) lúc" in text and "bạn không cần xử lý nữa" in text
    assert "thực hiện lại" not in text and "người khác" not in text
    assert "Ý kiến bạn vừa nhập chưa được ghi: “Thiếu bản sao CCCD”" in text
    assert dump(web.store) == before


def test_done_in_another_tab_of_the_same_user_says_so(web, client_for):
    _, item = _appraisal(web)
    cv = client_for("tckh_cv")
    tab_a, tab_b = cv.get(f"/items/{item}").text, cv.get(f"/items/{item}").text
    cv.post(f"/items/{item}/complete", data=_form(tab_a, outcome="ok"))
    for action, data in (("complete", {"outcome": "supplement", "comment": "Thiếu giấy"}), ("claim", {})):
        text = _text(cv.post(f"/items/{item}/{action}", data=_form(tab_b, **data)))
        assert "Bạn đã hoàn thành công việc này (Đạt) lúc" in text and "ở thẻ/cửa sổ khác hoặc trang đã mở trước đó" in text
        assert "người khác" not in text and "thực hiện lại" not in text


def test_the_dossier_withdrawn_meanwhile_cancels_the_item_and_says_who(web, client_for):
    r, item = _appraisal(web)
    cv = client_for("tckh_cv")
    page = cv.get(f"/items/{item}").text
    sv.withdraw(web.store, web.runtime.actor("motcua"), r.dossier_code, comment="Đơn ngày 11/3", now=web.clock())
    text = _text(cv.post(f"/items/{item}/complete", data=_form(page, outcome="supplement", comment="Thiếu giấy")))
    assert "Công việc này đã hủy: hồ sơ đã được rút theo đơn của tổ chức, cá nhân (motcua ghi nhận lúc" in text
    assert "thực hiện lại" not in text and "chưa được ghi: “Thiếu giấy”" in text


def test_a_refused_comment_comes_back_in_the_form_when_the_item_can_still_be_done(web, client_for):
    _, item = _appraisal(web)
    cv = client_for("tckh_cv")
    tab_a, tab_b = cv.get(f"/items/{item}").text, cv.get(f"/items/{item}").text
    cv.post(f"/items/{item}/claim", data=_form(tab_b))  # claimed in tab B: tab A's page is stale
    before = dump(web.store)
    r = cv.post(f"/items/{item}/complete", data=_form(tab_a, outcome="supplement", comment="Thiếu bản sao CCCD"))
    text = _text(r)
    assert r.status_code == 409 and "Bạn đã nhận xử lý công việc này ở thẻ/cửa sổ khác hoặc trang đã mở trước đó" in text
    assert re.search(r'<textarea name="comment"[^>]*>Thiếu bản sao CCCD</textarea>', text)
    assert "vẫn còn trong ô bên dưới" in text and dump(web.store) == before


def test_a_refused_stop_reason_comes_back_with_the_panel_open(web, client_for):
    r, item = _appraisal(web)
    motcua = client_for("motcua")
    page = motcua.get(f"/dossiers/{r.dossier_code}").text
    sv.claim(web.store, web.runtime.actor("tckh_cv"), item, now=web.clock())  # the dossier moves on meanwhile
    before = dump(web.store)
    resp = motcua.post(f"/dossiers/{r.dossier_code}/stop", data=_form(page, reason="Hồ sơ giả mạo giấy tờ"))
    text = _text(resp)
    assert resp.status_code == 409 and '<details id="interrupt" open>' in text
    assert re.search(r'<textarea name="reason"[^>]*>Hồ sơ giả mạo giấy tờ</textarea>', text)
    assert "Hồ sơ vừa được tckh_cv cập nhật (Nhận xử lý" in text and dump(web.store) == before


def test_the_second_officer_recording_the_same_supplement_is_told_who_did(web, client_for):
    r, item = _appraisal(web)
    sv.complete(web.store, web.runtime.actor("tckh_cv"), item, outcome="supplement", comment="Thiếu giấy",
                now=web.clock())
    mc, mc2 = client_for("motcua"), client_for("motcua2")
    page1, page2 = mc.get(f"/dossiers/{r.dossier_code}").text, mc2.get(f"/dossiers/{r.dossier_code}").text
    assert 'id="supplement-form"' in page2
    mc.post(f"/dossiers/{r.dossier_code}/supplemented", data=_form(page1, comment="Đã nhận giấy X"))
    before = dump(web.store)
    text = _text(mc2.post(f"/dossiers/{r.dossier_code}/supplemented", data=_form(page2, comment="Đã nhận giấy X (mc2)")))
    assert "Hồ sơ bổ sung đã được motcua ghi nhận lúc" in text and "không cần ghi nhận lại" in text
    assert "Thao tác không hợp lệ" not in text and "chưa được ghi: “Đã nhận giấy X (mc2)”" in text
    assert dump(web.store) == before
    with web.store.session() as s:
        assert s.get(Dossier, r.dossier_id).status == 4


def test_an_item_the_head_gave_to_a_colleague_says_the_head_gave_it(web, client_for):
    _, item = _appraisal(web)
    cv = client_for("tckh_cv")
    page = cv.get(f"/items/{item}").text
    sv.assign(web.store, web.runtime.actor("tckh_head"), item, to="tckh_cv2", now=web.clock())
    for action, data in (("claim", {}), ("complete", {"outcome": "ok"})):
        text = _text(cv.post(f"/items/{item}/{action}", data=_form(page, **data)))
        assert "Công việc này đã được tckh_head giao cho tckh_cv2" in text and "nhận xử lý;" not in text


def test_the_same_completion_sent_again_from_an_older_page_says_it_was_done_already(web, client_for):
    _, item = _appraisal(web)
    cv = client_for("tckh_cv")
    data = _form(cv.get(f"/items/{item}").text, outcome="ok", idem="idem-back-1")
    first = cv.post(f"/items/{item}/complete", data=data)
    assert "Đã hoàn thành bước xử lý hồ sơ" in _text(first)
    before = dump(web.store)
    again = _text(cv.post(f"/items/{item}/complete", data=data))  # Back, then the same button
    assert "Bạn đã hoàn thành bước này (Đạt) lúc" in again and "Đã hoàn thành bước xử lý hồ sơ" not in again
    assert dump(web.store) == before
