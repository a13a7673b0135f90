"""*Tra cứu hồ sơ*: the applicant comes back (or calls) with the code of form 01; the counter finds the
dossier from the inbox, without a dossier of its own in the inbox to click."""

from __future__ import annotations

import html
import re

from engine import services as sv


def test_the_counter_finds_a_dossier_by_its_code_from_the_inbox(live_server, browser, tmp_path):
    """In Chromium: the code typed with spaces and in lower case leads to the dossier's page; a code that does
    not exist comes back to the inbox, told so, the code kept in the box to correct it."""
    from tests.web.conftest import shot, signed_in_page

    web = live_server.web
    res = sv.receive(web.store, web.runtime.actor("motcua2"), "1.001612", applicant="Trần Thị Mai",
                     now=web.clock())
    page = signed_in_page(browser, live_server.url, "motcua")
    page.fill("#lookup-code", f"  {res.dossier_code.lower()} ")
    page.click("#lookup-form button[type=submit]")
    page.wait_for_url(re.compile(rf".*/dossiers/{re.escape(res.dossier_code)}$"))
    assert f"Hồ sơ {res.dossier_code}" in page.inner_text("h1")

    page.goto("/inbox")
    wrong = res.dossier_code[:-1] + "9"
    page.fill("#lookup-code", wrong)
    page.click("#lookup-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/inbox\?code=.*"))
    assert page.inner_text(".flash") == (f"Không có hồ sơ mã “{wrong}”. Mã hồ sơ in trên Giấy tiếp nhận và hẹn trả "
                                         "kết quả, dạng 1.001612-20261128-000001.")
    assert page.input_value("#lookup-code") == wrong
    shot(page, tmp_path, "staff-lookup-not-found")


def test_a_dossier_looked_up_by_another_unit_is_not_found(web, client_for):
    """A dossier the user may not see is looked up as one that does not exist: back to the inbox with the code
    kept, and its page is a 404, so that codes cannot be probed."""
    res = sv.receive(web.store, web.runtime.actor("motcua"), "1.001612", applicant="Trần Thị Mai",
                     now=web.clock())
    c = client_for("qldt_cv")
    r = c.get("/dossiers", params={"code": res.dossier_code}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, f"/inbox?code={res.dossier_code}")
    wrong = res.dossier_code[:-1] + "9"
    assert c.get("/dossiers", params={"code": wrong}, follow_redirects=False).headers["location"] == \
        f"/inbox?code={wrong}"
    assert f"Không có hồ sơ mã “{res.dossier_code}”" in html.unescape(c.get(r.headers["location"]).text)
    assert c.get(f"/dossiers/{res.dossier_code}").status_code == 404
    # the unit that received it finds it
    found = client_for("motcua").get("/dossiers", params={"code": res.dossier_code}, follow_redirects=False)
    assert found.headers["location"] == f"/dossiers/{res.dossier_code}"
    assert c.get("/dossiers", params={"code": "  "}, follow_redirects=False).headers["location"] == "/inbox"
