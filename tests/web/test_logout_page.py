"""``/logout`` opened as a page (typed, a bookmark) asks, with the button, instead of a 405 error page; opening
it signs nobody out (a link on another site must not), the button does."""

from __future__ import annotations

from tests.web.conftest import csrf_of, shot, signed_in_page


def test_the_logout_page_asks_and_the_button_signs_out(client_for):
    c = client_for("tckh_cv")
    page = c.get("/logout")
    assert page.status_code == 200 and '<form method="post" action="/logout" id="logout-form">' in page.text
    assert "Đăng xuất khỏi quytrinh trên trình duyệt này?" in page.text
    assert c.get("/inbox", follow_redirects=False).status_code == 200  # still signed in
    out = c.post("/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert c.get("/inbox", follow_redirects=False).status_code == 303  # signed out
    # signed out already: the sign-in page
    again = c.get("/logout", follow_redirects=False)
    assert (again.status_code, again.headers["location"]) == (303, "/login")


def test_in_chromium_the_logout_page_signs_out(live_server, browser, tmp_path):
    page = signed_in_page(browser, live_server.url, "tckh_cv")
    page.goto("/logout")
    shot(page, tmp_path, "logout-page")
    page.click("#logout-form button[type=submit]")
    page.wait_for_url("**/login")
    page.goto("/inbox")
    assert page.url.endswith("/login?next=%2Finbox")
    page.context.close()
