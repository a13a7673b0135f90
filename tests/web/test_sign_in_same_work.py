"""A refused sign-in does the same work whatever the reason (no such user, a disabled account, an account
without a password, a wrong password): one Argon2 check, so that the answer's time does not tell which accounts
exist. The check is observed by a spy that calls the real function through."""

from __future__ import annotations

import pytest

from engine import services as sv
from tests.web.conftest import csrf_of


@pytest.fixture
def checks(monkeypatch):
    """The stored hashes ``verify_password`` was given, in order (the real check still runs)."""
    from quytrinh.web import auth

    seen: list[str | None] = []
    real = auth.verify_password

    def spy(password: str, stored: str | None) -> bool:
        seen.append(stored)
        return real(password, stored)

    monkeypatch.setattr(auth, "verify_password", spy)
    return seen


def _sign_in(client, username: str, password: str = "sai-mat-khau-1"):
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
                       follow_redirects=False)


def test_every_refused_sign_in_runs_one_argon2_check(web, client_for, checks):
    sv.add_user(web.store, "khong_mat_khau", unit="phong_tckh", role="staff", now=web.clock())  # no password set
    sv.add_user(web.store, "da_nghi", unit="phong_tckh", role="staff", now=web.clock(), password="mat-khau-cu-123")
    sv.deactivate_user(web.store, "da_nghi", now=web.clock())
    c = client_for()
    for username in ("khong_ai_ca", "da_nghi", "khong_mat_khau", "tckh_cv"):
        checks.clear()
        r = _sign_in(c, username)
        assert r.status_code == 401, username
        assert len(checks) == 1 and (checks[0] or "").startswith("$argon2"), (username, checks)
