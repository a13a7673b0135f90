"""Usernames are case-insensitive on the web too: the sign-in form and the API token endpoint take ``MotCua``
for the account ``motcua`` (the account's spelling is what the pages and /api/me show), failed sign-ins count
together whatever the case, and $QUYTRINH_ADMINS names admins whatever the case."""

from __future__ import annotations

from tests.web.conftest import PASSWORD, sign_in



def test_signing_in_on_the_form_and_the_api_ignores_case(client_for, web):
    c = client_for()
    r = sign_in(c, "MotCua")
    assert r.status_code == 303, r.text[:300]
    page = c.get("/inbox")
    assert page.status_code == 200 and "motcua" in page.text
    me = c.get("/api/me").json()
    assert me["username"] == "motcua"
    api = client_for()
    tok = api.post("/api/auth/token", json={"username": "TCKH_HEAD", "password": PASSWORD})
    assert tok.status_code == 200, tok.text
    me = api.get("/api/me", headers={"Authorization": f"Bearer {tok.json()['access_token']}"}).json()
    assert me["username"] == "tckh_head"
    bad = api.post("/api/auth/token", json={"username": "TCKH_HEAD", "password": "sai-mat-khau"})
    assert bad.status_code == 401


def test_failed_sign_ins_count_together_whatever_the_case(client_for, web):
    c = client_for()
    for typed in ("motcua", "MOTCUA", "Motcua", "motCua"):
        r = sign_in(c, typed, "sai-mat-khau")
    assert r.status_code == 429, r.status_code


def test_the_login_field_does_not_capitalize_the_name(client_for, web):
    html = client_for().get("/login").text
    assert 'autocapitalize="none"' in html and 'spellcheck="false"' in html


def test_admins_listed_in_another_case_are_admins(client_for, web, monkeypatch):
    monkeypatch.setenv("QUYTRINH_ADMINS", "MotCua")
    me = client_for("motcua").get("/api/me").json()
    assert "admin" in me["roles"]
