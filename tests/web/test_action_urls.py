"""A form's action address is never a dead end: signing in again in the middle of an action, or opening the
address itself (a reload, a bookmark), leads back to the form's page."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from tests.web.conftest import csrf_of
from tests.web.test_session_end import forget_cached_users

from quytrinh.web.deps import page_of_action


@pytest.mark.parametrize("action, page", [
    ("/items/7/complete", "/items/7"),
    ("/items/7/assign", "/items/7"),
    ("/dossiers/1.001612-20260310-000001/withdraw", "/dossiers/1.001612-20260310-000001"),
    ("/dossiers/X-1/financial-done", "/dossiers/X-1"),
    ("/dossiers/X-1/apologies/3/sign", "/dossiers/X-1"),
    ("/leader/procedures/1.001612/2/approve", "/leader/procedures/1.001612?version=2"),
    ("/leader/procedures/1.001612/2/send-back", "/leader/procedures/1.001612?version=2"),
    ("/author/procedures/1.001612/3/submit", "/author/procedures/1.001612"),
    ("/author/save", "/author"),
    ("/inbox", None),
    ("/items/7", None),
])
def test_each_form_action_knows_its_page(action, page):
    assert page_of_action(action) == page


def _open_item(web, client, username: str) -> tuple[int, str]:
    """Receive a dossier and return the id and page of its first work item for ``username``'s unit."""
    from engine import services as sv

    r = sv.receive(web.store, web.runtime.actor("motcua"), "1.001612", applicant="Lê Văn Tám", now=web.clock())
    item = r.opened[-1]
    page = client.get(f"/items/{item}")
    assert page.status_code == 200, page.text[:300]
    return item, page.text


def test_a_form_sent_after_the_session_ended_signs_in_back_to_its_page_not_to_a_405(web, client_for):
    from quytrinh.web.auth import set_password

    client = client_for("tckh_head")
    item, html = _open_item(web, client, "tckh_head")
    token = csrf_of(html)
    set_password(web.store, "tckh_head", "mat-khau-moi-2")  # the session ends while the form is open
    forget_cached_users(web)
    r = client.post(f"/items/{item}/complete", data={"csrf_token": token, "outcome": "done", "comment": "x"},
                    follow_redirects=False)
    assert r.status_code == 303 and unquote(r.headers["location"]) == f"/login?next=/items/{item}"
    login = client.get(r.headers["location"])
    assert "thao tác vừa gửi chưa được thực hiện" in login.text
    again = client.post("/login", data={"username": "tckh_head", "password": "mat-khau-moi-2",
                                        "csrf_token": csrf_of(login.text), "next": f"/items/{item}"},
                        follow_redirects=False)
    assert f'name="next" value="/items/{item}"' in login.text  # the sign-in form carries it
    assert again.status_code == 303 and again.headers["location"] == f"/items/{item}"
    back = client.get(f"/items/{item}")
    assert back.status_code == 200 and "Mã lỗi 405" not in back.text
    with web.store.session() as s:  # nothing was done while signed out
        from engine.store import WorkItem

        assert s.get(WorkItem, item).state == "open"


def test_opening_an_action_address_leads_to_its_page(web, client_for):
    client = client_for("tckh_head")
    item, _ = _open_item(web, client, "tckh_head")
    r = client.get(f"/items/{item}/complete", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/items/{item}"
    assert client.get(f"/items/{item}/complete").status_code == 200
    # A method no page takes still gets the Vietnamese 405 page (every form's action address has its GET now:
    # /logout asks, tests/web/test_logout_page.py).
    r = client.put("/inbox", follow_redirects=False)
    assert r.status_code == 405 and "Thao tác này không được hỗ trợ ở địa chỉ này." in r.text


def test_a_missing_page_says_what_is_missing_in_vietnamese(web, client_for):
    """A work item that does not exist says so ('Không có công việc này.', the route's own words; every 404 said
    the generic sentence); an unknown address gets the generic sentence, never Starlette's English 'Not Found'."""
    c = client_for("tckh_cv")
    item = c.get("/items/999999")
    assert item.status_code == 404 and "Không có công việc này." in item.text
    nowhere = c.get("/khong-co-trang-nay")
    assert nowhere.status_code == 404 and "Trang hoặc hồ sơ bạn tìm không có." in nowhere.text
    assert "Not Found" not in item.text + nowhere.text
