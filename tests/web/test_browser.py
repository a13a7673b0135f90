"""End to end in headless Chromium against a real uvicorn server: one household-business dossier
(1.001612) from the counter to the return of the result, step by step, as different users."""

from __future__ import annotations

import re

import httpx

from tests.web.conftest import PASSWORD, shot, sign_in, signed_in_page


def test_household_business_dossier_through_every_step(live_server, browser, tmp_path):
    base = live_server.url
    pages = {}

    def as_user(username: str):
        if username not in pages:
            ctx = browser.new_context(base_url=base, locale="vi-VN", viewport={"width": 1280, "height": 900})
            page = ctx.new_page()
            page.goto("/inbox")
            assert "/login" in page.url
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(re.compile(r".*/inbox$"))
            pages[username] = page
        return pages[username]

    clients: dict[str, httpx.Client] = {}

    def mine(username: str) -> list[str]:
        """The dossiers of the user's own work ("Việc của tôi"), read from the real server's inbox page."""
        if username not in clients:
            c = clients[username] = httpx.Client(base_url=base, follow_redirects=False)
            assert sign_in(c, username).status_code == 303
        html = clients[username].get("/inbox").text
        own = html.split('<h2>Việc khác của', 1)[0]
        return re.findall(r'data-dossier="([^"]+)"', own)

    # The one-stop counter receives the dossier and prints form 01.
    counter = as_user("motcua")
    counter.click("text=Tiếp nhận hồ sơ")
    counter.select_option("select[name=procedure]", "1.001612")
    counter.fill("input[name=applicant]", "Hộ kinh doanh Trần Thị Hoa")
    counter.fill("input[name=contact]", "0912 345 678")
    counter.click("#receive-form button[type=submit]")
    counter.wait_for_url(re.compile(r".*/receipt$"))
    code = re.search(r"/dossiers/([^/]+)/receipt", counter.url).group(1)
    assert counter.locator("#form01 h1").inner_text().upper() == "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ"
    due = counter.locator("#due").inner_text()
    assert re.fullmatch(r"\d\d giờ \d\d phút, ngày \d\d/\d\d/\d{4}", due)
    shot(counter, tmp_path, "form01")

    # (user, outcome button) in order; after each step the dossier must be in the next user's inbox only.
    steps = [
        ("tckh_head", "Hoàn thành"),    # assign
        ("tckh_cv", "Đạt"),             # appraise
        ("tckh_head", "Đạt"),           # check
        ("tckh_head", "Phê duyệt"),     # sign (the office head signs for this procedure)
        ("vanthu", "Hoàn thành"),       # issue
        ("motcua", "Trả kết quả"),      # deliver
    ]
    everyone = ["motcua", "tckh_head", "tckh_cv", "vanthu", "qldt_cv"]
    for n, (username, button) in enumerate(steps):
        for other in everyone:
            there = code in mine(other)
            assert there == (other == username), f"step {n + 1}: {code} in {other}'s inbox: {there}"
        live_server.web.clock.advance(minutes=45)  # some working time passes between the steps
        page = as_user(username)
        page.goto("/inbox")
        if n == 0:
            shot(page, tmp_path, "inbox")
        page.click(f"#mine tr[data-dossier='{code}'] a")
        page.wait_for_url(re.compile(r".*/items/\d+$"))
        page.fill("#comment", f"Bước {n + 1}: ý kiến của {username}")
        if n == 1:
            shot(page, tmp_path, "work-item")
        page.click(f"#complete-form button:has-text('{button}')")
        page.wait_for_url(re.compile(r".*/inbox$"))
        assert "Đã hoàn thành bước" in page.locator(".flash-success").inner_text()

    for other in everyone:
        assert code not in mine(other)
    for c in clients.values():
        c.close()
    counter = as_user("motcua")
    counter.goto(f"/dossiers/{code}")
    facts = counter.locator("dl.facts").inner_text()
    assert "Đã trả kết quả" in facts
    history = counter.locator("#history").inner_text()
    for n, (username, _) in enumerate(steps):
        assert f"Bước {n + 1}: ý kiến của {username}" in history
    shot(counter, tmp_path, "dossier")


def test_going_back_to_the_reception_form_and_sending_it_again_receives_no_second_dossier(live_server, browser,
                                                                                          tmp_path):
    from sqlmodel import func, select

    from engine.store import Dossier

    def dossiers() -> int:
        with live_server.web.store.session() as s:
            return s.exec(select(func.count()).select_from(Dossier)).one()

    page = signed_in_page(browser, live_server.url, "motcua")

    def send() -> None:
        page.select_option("select[name=procedure]", "1.001612")
        page.fill("input[name=applicant]", "Hộ kinh doanh Lê Văn Tâm")
        page.click("#receive-form button[type=submit]")

    page.goto("/receive")
    send()
    page.wait_for_url(re.compile(r".*/receipt$"))
    code = re.search(r"/dossiers/([^/]+)/receipt", page.url).group(1)
    page.go_back()
    page.wait_for_url(re.compile(r".*/receive$"))
    send()  # the same dossier again
    page.wait_for_selector("#repeat-warning")
    assert code in page.locator("#repeat-warning").inner_text() and dossiers() == 1
    shot(page, tmp_path, "receive-again")
    page.check("#confirm-new")  # a genuinely new one of the same applicant
    page.click("#receive-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/receipt$"))
    assert code not in page.url and dossiers() == 2
    page.context.close()
