"""A password change, or a disabled account, ends the user's web sessions and API tokens issued before it.

A signed-in user's row is reused for ``deps.USER_CACHE_SECONDS`` (5 s) between
requests; the tests empty the app's cache (``forget_cached_users``) where a
real server would have let those seconds pass.
"""

from __future__ import annotations

import time
from urllib.parse import unquote

from tests.web.conftest import PASSWORD, csrf_of, sign_in

ENDED = "Phiên đăng nhập đã hết hiệu lực"


def forget_cached_users(web) -> None:
    """What 5 seconds do to the app's cache of signed-in users' rows."""
    web.app.state.user_cache.clear()


def set_active(web, username: str, active: bool) -> None:
    from sqlmodel import select

    from engine.store import User

    with web.store.write() as s:
        s.exec(select(User).where(User.username == username)).one().active = active


def token_of(client, username: str, password: str = PASSWORD) -> dict[str, str]:
    r = client.post("/api/auth/token", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def signed_in(client) -> bool:
    """The inbox opens (no redirect to the sign-in page)."""
    return client.get("/inbox", follow_redirects=False).status_code == 200


def assert_sent_to_sign_in(client, path: str = "/inbox") -> None:
    """``path`` sends the client to the sign-in page, which says the session has ended."""
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    assert unquote(r.headers["location"]) == f"/login?next={path}"
    page = client.get(r.headers["location"])
    assert page.status_code == 200 and "Đăng nhập" in page.text
    assert f"{ENDED} (mật khẩu đã được đổi hoặc tài khoản đã ngừng hoạt động); hãy đăng nhập lại." in page.text
    # Said once: the next page no longer shows it, and the client stays signed out.
    again = client.get("/login")
    assert ENDED not in again.text
    assert client.get(path, follow_redirects=False).status_code == 303


def test_set_password_ends_the_users_web_sessions_but_not_other_users(web, client_for):
    from quytrinh.web.auth import set_password

    leaked = client_for("motcua")  # where the leaked password was used
    other = client_for("tckh_cv")  # every test user has the same password hash: the mark is per user
    assert signed_in(leaked) and signed_in(other)
    set_password(web.store, "motcua", "mat-khau-moi-1")
    forget_cached_users(web)
    assert_sent_to_sign_in(leaked)
    assert signed_in(other)
    # The old password no longer signs in; the new one does, and its session lasts.
    assert sign_in(client_for(), "motcua", PASSWORD).status_code == 401
    fresh = client_for()
    assert sign_in(fresh, "motcua", "mat-khau-moi-1").status_code == 303
    assert fresh.get("/inbox", follow_redirects=False).status_code == 200
    forget_cached_users(web)
    assert fresh.get("/inbox", follow_redirects=False).status_code == 200


def test_the_cli_user_password_ends_the_users_web_sessions_and_tokens(web, client_for, monkeypatch):
    """``quytrinh user password`` writes the hash itself, from another process: the same effect."""
    from typer.testing import CliRunner

    from quytrinh.cli import app as cli_app

    browser = client_for("motcua")
    api = client_for()
    headers = token_of(api, "motcua")
    assert browser.get("/inbox", follow_redirects=False).status_code == 200
    assert api.get("/api/me", headers=headers).status_code == 200
    monkeypatch.setenv("QUYTRINH_DATABASE_URL", web.runtime.url)
    monkeypatch.delenv("QUYTRINH_USER", raising=False)
    result = CliRunner().invoke(cli_app, ["user", "password", "motcua"], input="doi-vi-lo-1\ndoi-vi-lo-1\n")
    assert result.exit_code == 0 and "Đã đổi mật khẩu cho motcua." in result.stdout, result.output
    forget_cached_users(web)
    assert_sent_to_sign_in(browser)
    r = api.get("/api/me", headers=headers)
    assert r.status_code == 401 and r.json()["error"] == "not_authenticated"
    assert "no longer valid" in r.json()["message"] and "POST /api/auth/token" in r.json()["message"]
    assert api.get("/api/me", headers=token_of(api, "motcua", "doi-vi-lo-1")).json()["username"] == "motcua"


def test_a_password_change_ends_api_tokens_and_cookie_sessions_on_the_api(web, client_for):
    from quytrinh.web.auth import set_password

    c = client_for()
    old, kept = token_of(c, "motcua"), token_of(c, "tckh_cv")
    browser = client_for("motcua")
    csrf = csrf_of(browser.get("/inbox").text)
    assert c.get("/api/tasks", headers=old).status_code == 200
    assert browser.get("/api/me").status_code == 200
    set_password(web.store, "motcua", "mat-khau-moi-2")
    forget_cached_users(web)
    for r in (c.get("/api/tasks", headers=old),
              c.post("/api/dossiers", json={"procedure_code": "1.001612", "applicant": "Hộ kinh doanh Bình An"},
                     headers=old),
              browser.get("/api/me"),
              browser.post("/api/dossiers", json={"procedure_code": "1.001612", "applicant": "Hộ kinh doanh Bình An"},
                           headers={"X-CSRF-Token": csrf})):
        assert r.status_code == 401 and r.json()["error"] == "not_authenticated", r.text
    assert c.get("/api/me", headers=kept).json()["username"] == "tckh_cv"
    assert c.get("/api/me", headers=token_of(c, "motcua", "mat-khau-moi-2")).json()["username"] == "motcua"


def test_a_disabled_user_is_signed_out_with_the_message_and_their_token_refused(web, client_for):
    browser = client_for("motcua")
    api = client_for()
    headers = token_of(api, "motcua")
    assert browser.get("/inbox", follow_redirects=False).status_code == 200
    set_active(web, "motcua", False)
    forget_cached_users(web)
    assert_sent_to_sign_in(browser)
    assert api.get("/api/me", headers=headers).status_code == 401
    assert sign_in(client_for(), "motcua").status_code == 401
    # Enabled again by editing the row: the browser was signed out and stays so; a token (nothing to sign out)
    # is bound to the unchanged password hash and epoch and works again until it expires. `quytrinh user
    # disable` raises the epoch, which ends it for good (next test).
    set_active(web, "motcua", True)
    forget_cached_users(web)
    assert browser.get("/inbox", follow_redirects=False).status_code == 303
    assert api.get("/api/me", headers=headers).status_code == 200


def test_quytrinh_user_disable_ends_sessions_and_tokens_for_good_even_when_enabled_again(web, client_for,
                                                                                        monkeypatch):
    from typer.testing import CliRunner

    from quytrinh.cli import app as cli_app

    browser, other = client_for("motcua"), client_for("tckh_cv")
    api = client_for()
    headers, kept = token_of(api, "motcua"), token_of(api, "tckh_cv")
    assert signed_in(browser) and api.get("/api/me", headers=headers).status_code == 200
    monkeypatch.setenv("QUYTRINH_DATABASE_URL", web.runtime.url)
    monkeypatch.delenv("QUYTRINH_USER", raising=False)
    runner = CliRunner()
    result = runner.invoke(cli_app, ["user", "disable", "motcua"])
    assert result.exit_code == 0 and "Đã ngừng hoạt động tài khoản motcua" in result.stdout, result.output
    forget_cached_users(web)
    assert_sent_to_sign_in(browser)
    assert api.get("/api/me", headers=headers).status_code == 401
    result = runner.invoke(cli_app, ["user", "enable", "motcua"])
    assert result.exit_code == 0 and "đã hoạt động trở lại" in result.stdout, result.output
    forget_cached_users(web)
    r = api.get("/api/me", headers=headers)  # issued before the deactivation: ended for good
    assert r.status_code == 401 and r.json()["error"] == "not_authenticated", r.text
    assert browser.get("/inbox", follow_redirects=False).status_code == 303
    # The user signs in again and gets a new token; other users were never touched.
    assert sign_in(browser, "motcua").status_code == 303 and signed_in(browser)
    assert api.get("/api/me", headers=token_of(api, "motcua")).json()["username"] == "motcua"
    assert signed_in(other) and api.get("/api/me", headers=kept).json()["username"] == "tckh_cv"


def test_a_session_or_token_without_a_credential_mark_is_refused(web, client_for):
    """Cookies and tokens signed before sessions were bound to the password (or forged from a
    signed payload without the mark) do not sign anyone in."""
    from itsdangerous import URLSafeTimedSerializer

    from engine.store import User
    from sqlmodel import select

    from quytrinh.web.auth import SESSION_COOKIE, SessionData, password_stamp

    with web.store.session() as s:
        uid = s.exec(select(User).where(User.username == "motcua")).one().id
    codec = web.app.state.codec
    c = client_for()
    now = int(time.time())
    c.cookies.set(SESSION_COOKIE, codec.dumps(SessionData(sid="s-cu", user_id=uid, signed_in_at=now)))
    assert_sent_to_sign_in(c)
    # Without its sign-in time either (signed before sessions had one): nobody is signed in.
    assert codec.loads(codec.dumps(SessionData(sid="s-cu", user_id=uid))).user_id is None
    old_token = URLSafeTimedSerializer(codec.secret, salt="quytrinh-api").dumps({"uid": uid})
    assert c.get("/api/me", headers={"Authorization": f"Bearer {old_token}"}).status_code == 401
    # A mark made for another user (or another hash) does not fit this user.
    with web.store.session() as s:
        other = s.exec(select(User).where(User.username == "tckh_cv")).one()
    forged = codec.dumps(SessionData(sid="s-x", user_id=uid, signed_in_at=now,
                                     mark=codec.credential_mark(other.id, password_stamp(other.password_hash))))
    c2 = client_for()
    c2.cookies.set(SESSION_COOKIE, forged)
    assert c2.get("/inbox", follow_redirects=False).status_code == 303


def test_a_legacy_hash_upgraded_at_sign_in_keeps_the_session_it_opens(web, client_for):
    """The sign-in that replaces a PBKDF2 hash by an Argon2id one binds its session and token to the new hash."""
    import hashlib

    from sqlmodel import select

    from engine.services import add_user
    from engine.store import User

    for name in ("cv_cu", "cv_cu_api"):
        add_user(web.store, name, unit="phong_tckh", role="staff", now=web.clock())
        salt = b"0123456789abcdef"
        legacy = "pbkdf2_sha256$1000$" + salt.hex() + "$" + hashlib.pbkdf2_hmac(
            "sha256", b"mat-khau-cu", salt, 1000).hex()
        with web.store.write() as s:
            s.exec(select(User).where(User.username == name)).one().password_hash = legacy
    c = client_for()
    assert sign_in(c, "cv_cu", "mat-khau-cu").status_code == 303
    assert c.get("/inbox", follow_redirects=False).status_code == 200
    api = client_for()
    assert api.get("/api/me", headers=token_of(api, "cv_cu_api", "mat-khau-cu")).json()["username"] == "cv_cu_api"


def test_a_session_ends_twelve_hours_after_sign_in_however_often_its_cookie_is_re_signed(web, client_for):
    """The cookie is re-signed whenever the session changes (a message to show): that must not extend it."""
    from quytrinh.web.auth import SESSION_COOKIE, SESSION_MAX_AGE

    client = client_for("motcua")
    codec = web.app.state.codec
    session = codec.loads(client.cookies.get(SESSION_COOKIE))
    assert session is not None and session.user_id is not None and signed_in(client)
    assert abs(session.signed_in_at - time.time()) < 60
    # Still signed in just before the end (the cookie freshly re-signed, as after any message) ...
    session.signed_in_at = int(time.time()) - SESSION_MAX_AGE + 60
    client.cookies.delete(SESSION_COOKIE)  # the one the server re-set too: a browser holds one cookie per name
    client.cookies.set(SESSION_COOKIE, codec.dumps(session))
    assert signed_in(client)
    # ... and signed out once 12 hours have passed since the sign-in, though the signature is fresh.
    session.signed_in_at = int(time.time()) - SESSION_MAX_AGE - 1
    client.cookies.delete(SESSION_COOKIE)
    client.cookies.set(SESSION_COOKIE, codec.dumps(session))
    r = client.get("/inbox", follow_redirects=False)
    assert r.status_code == 303 and unquote(r.headers["location"]) == "/login?next=/inbox"
    assert codec.loads(codec.dumps(session)).user_id is None


def test_signing_out_ends_the_session_for_a_copy_of_its_cookie_too(web, client_for):
    """The cookie left on a shared computer (or copied from a proxy's log) no longer signs in after its user
    signed out: pages send it to the sign-in page (without the 'password changed' message: the user chose
    it), the API refuses it; the same user's other session, signed in elsewhere, goes on."""
    from fastapi.testclient import TestClient

    from quytrinh.web.auth import SESSION_COOKIE

    shared = client_for("motcua")
    elsewhere = client_for("motcua")
    copy = TestClient(web.app, raise_server_exceptions=False)
    shared_cookie = shared.cookies.get(SESSION_COOKIE)
    copy.cookies.set(SESSION_COOKIE, shared_cookie)
    assert signed_in(copy) and copy.get("/api/me").status_code == 200
    out = shared.post("/logout", data={"csrf_token": csrf_of(shared.get("/inbox").text)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    api = copy.get("/api/me")  # (the API sets no cookie: the copy is still the one signed out of)
    assert api.status_code == 401 and api.json()["error"] == "not_authenticated"
    assert "đã đăng xuất" in api.json()["message_vi"]
    r = copy.get("/inbox", follow_redirects=False)
    assert r.status_code == 303 and unquote(r.headers["location"]) == "/login?next=/inbox"
    page = copy.get(r.headers["location"])
    assert "Đăng nhập" in page.text and ENDED not in page.text
    assert signed_in(elsewhere)
    forget_cached_users(web)  # what another web process reads: the ended session is in the database
    again = TestClient(web.app, raise_server_exceptions=False)
    again.cookies.set(SESSION_COOKIE, shared_cookie)
    assert again.get("/api/me").status_code == 401 and not signed_in(again)
    assert signed_in(elsewhere)
    assert sign_in(copy, "motcua").status_code == 303 and signed_in(copy)  # signing in again: a new session
