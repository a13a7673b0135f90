"""Signing in as a member of staff meets it: a mistyped password."""

from __future__ import annotations


def test_after_a_wrong_password_the_focus_is_on_the_password_field(live_server, browser):
    """In Chromium: the name is kept after a refused sign-in, and the focus was back on it, so that the officer
    typed the password again into the name field; it is on the password now, and the second try signs in."""
    import re

    from tests.web.conftest import PASSWORD

    ctx = browser.new_context(base_url=live_server.url, locale="vi-VN")
    page = ctx.new_page()
    page.goto("/login")
    assert page.evaluate("() => document.activeElement.name") == "username"  # a fresh page: the name first
    page.fill("input[name=username]", "motcua")
    page.fill("input[name=password]", "sai-mat-khau")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "Tên đăng nhập hoặc mật khẩu không đúng." in page.inner_text("body")
    assert page.input_value("input[name=username]") == "motcua"
    assert page.evaluate("() => document.activeElement.name") == "password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/inbox$"))
