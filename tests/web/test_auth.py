"""Sign-in, sessions, passwords and throttling."""

from __future__ import annotations

from tests.web.conftest import PASSWORD, csrf_of, sign_in


def test_sign_in_sets_a_signed_httponly_lax_cookie_and_opens_the_inbox(client_for):
    c = client_for()
    r = sign_in(c, "motcua")
    assert r.status_code == 303 and r.headers["location"] == "/inbox"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = c.get("/inbox")
    assert page.status_code == 200
    assert "Hộp việc" in page.text and "Tiếp nhận hồ sơ" in page.text  # one-stop staff see reception


def test_nav_follows_the_role(client_for):
    page = client_for("tckh_cv").get("/inbox").text
    assert "Hộp việc" in page and 'href="/receive"' not in page
    assert client_for("tckh_cv").get("/receive").status_code == 403


def test_anonymous_pages_redirect_to_sign_in(client_for):
    r = client_for().get("/inbox", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def test_wrong_password_is_refused_and_repeated_failures_are_slowed_down(web, client_for):
    c = client_for()
    for _ in range(web.app.state.throttle.free):
        r = sign_in(c, "motcua", "sai-mat-khau")
        assert r.status_code == 401 and "không đúng" in r.text
    # Now the next try must wait (2 s, then 4 s...): refused with 429 even with the right password.
    r = sign_in(c, "motcua", PASSWORD)
    assert r.status_code == 429 and int(r.headers["retry-after"]) == 2
    web.clock.advance(seconds=2)
    r = sign_in(c, "motcua", "sai-mat-khau")
    assert r.status_code == 401
    r = sign_in(c, "motcua", PASSWORD)
    assert r.status_code == 429 and int(r.headers["retry-after"]) == 4
    # Another user from the same address is not slowed down.
    assert sign_in(client_for(), "tckh_cv").status_code == 303
    web.clock.advance(seconds=4)
    assert sign_in(c, "motcua", PASSWORD).status_code == 303


def test_cli_users_sign_in_and_legacy_pbkdf2_hashes_are_upgraded_to_argon2(web, client_for):
    import hashlib

    from sqlmodel import select

    from engine.services import add_user
    from engine.store import User

    add_user(web.store, "cv_moi", unit="phong_tckh", role="staff", now=web.clock(), password="mat-khau-cli")
    add_user(web.store, "cv_cu", unit="phong_tckh", role="staff", now=web.clock())
    salt = b"0123456789abcdef"
    legacy = "pbkdf2_sha256$1000$" + salt.hex() + "$" + hashlib.pbkdf2_hmac(
        "sha256", b"mat-khau-cu", salt, 1000).hex()
    with web.store.write() as s:
        s.exec(select(User).where(User.username == "cv_cu")).one().password_hash = legacy

    def stored(username: str) -> str:
        with web.store.session() as s:
            return s.exec(select(User).where(User.username == username)).one().password_hash

    assert stored("cv_moi").startswith("$argon2id$")
    assert sign_in(client_for(), "cv_moi", "mat-khau-cli").status_code == 303
    assert sign_in(client_for(), "cv_cu", "mat-khau-cu").status_code == 303
    assert stored("cv_cu").startswith("$argon2id$")
    assert sign_in(client_for(), "cv_cu", "mat-khau-cu").status_code == 303


def test_sign_out_clears_the_session(client_for):
    c = client_for("motcua")
    token = csrf_of(c.get("/inbox").text)
    r = c.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert c.get("/inbox", follow_redirects=False).status_code == 303


def test_a_forged_cookie_is_ignored(client_for):
    c = client_for()
    c.cookies.set("quytrinh_session", "eyJzaWQiOiJ4IiwidWlkIjoxfQ.forged.sig")
    assert c.get("/inbox", follow_redirects=False).status_code == 303


def test_errors_are_vietnamese_pages_without_traceback(client_for):
    c = client_for("motcua")
    r = c.get("/khong-co-trang-nay")
    assert r.status_code == 404 and "Không tìm thấy trang" in r.text and "Traceback" not in r.text


def test_the_failures_are_counted_across_web_processes_and_restarts(web, client_for):
    """Two apps on one database stand for two processes of `quytrinh serve --workers 2` (or a restart)."""
    from fastapi.testclient import TestClient

    from engine.store import LoginFailure
    from quytrinh.web.app import create_app
    from tests.web.conftest import SECRET

    for _ in range(web.app.state.throttle.free):
        assert sign_in(client_for(), "motcua", "sai-mat-khau").status_code == 401
    other = create_app(web.runtime.url, now=web.clock, secret=SECRET)
    try:
        with TestClient(other) as c:
            r = sign_in(c, "motcua", PASSWORD)
            assert r.status_code == 429 and int(r.headers["retry-after"]) == 2
            web.clock.advance(seconds=2)
            assert sign_in(c, "motcua", PASSWORD).status_code == 303  # a success clears the count
    finally:
        other.state.store.dispose()
    with web.store.session() as s:
        assert s.get(LoginFailure, "motcua\ntestclient") is None
    # A count whose last failure is a day old is forgotten when the next failure is recorded.
    assert sign_in(client_for(), "tckh_cv", "sai").status_code == 401
    web.clock.advance(days=1, seconds=1)
    assert sign_in(client_for(), "qldt_cv", "sai").status_code == 401
    with web.store.session() as s:
        from sqlmodel import select

        assert [f.key for f in s.exec(select(LoginFailure)).all()] == ["qldt_cv\ntestclient"]
