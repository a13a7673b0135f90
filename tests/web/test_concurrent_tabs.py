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
