"""The REST API: sign-in, tasks, receive, claim, complete (idempotent), dossier, JSON errors."""

from __future__ import annotations

import pytest

from tests.web.conftest import PASSWORD


def bearer(client_for, username: str):
    """A client and the headers with ``username``'s bearer token."""
    c = client_for()
    r = c.post("/api/auth/token", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    return c, {"Authorization": f"Bearer {body['access_token']}"}


@pytest.fixture
def api(client_for):
    """``api("motcua")``: (client, headers with the user's bearer token)."""
    return lambda username: bearer(client_for, username)


def test_openapi_documents_the_actions(client_for):
    c = client_for()
    spec = c.get("/openapi.json").json()
    for path in ("/api/auth/token", "/api/tasks", "/api/dossiers", "/api/tasks/{item_id}/claim",
                 "/api/tasks/{item_id}/complete", "/api/dossiers/{ref}"):
        assert path in spec["paths"], path
    assert "409" in spec["paths"]["/api/tasks/{item_id}/complete"]["post"]["responses"]
    assert c.get("/docs").status_code == 200


def test_receive_claim_complete_and_show(api):
    c, mc = api("motcua")
    r = c.post("/api/dossiers", json={"procedure_code": "1.001612", "applicant": "Hộ kinh doanh Bình An"},
               headers={**mc, "Idempotency-Key": "r-1"})
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["status"] == 2 and got["status_label"] == "Được tiếp nhận" and not got["replayed"]
    again = c.post("/api/dossiers", json={"procedure_code": "1.001612", "applicant": "Hộ kinh doanh Bình An"},
                   headers={**mc, "Idempotency-Key": "r-1"})
    assert again.status_code == 201 and again.json()["replayed"] and again.json()["dossier_id"] == got["dossier_id"]

    c2, head = api("tckh_head")
    tasks = c2.get("/api/tasks", headers=head).json()
    assert [t["dossier_code"] for t in tasks] == [got["dossier_code"]]
    task = tasks[0]
    assert task["step_id"] == "assign" and task["remaining"].startswith("còn ")
    assert c.get("/api/tasks", headers=mc).json() == []  # the one-stop staff have nothing now

    claim = c2.post(f"/api/tasks/{task['item_id']}/claim", json={"expected_version": task["dossier_version"]},
                    headers=head)
    assert claim.status_code == 200 and claim.json()["version"] == task["dossier_version"] + 1
    stale = c2.post(f"/api/tasks/{task['item_id']}/complete",
                    json={"outcome": "done", "expected_version": task["dossier_version"]}, headers=head)
    assert stale.status_code == 409 and stale.json()["error"] == "stale_version"
    done = c2.post(f"/api/tasks/{task['item_id']}/complete",
                   json={"outcome": "done", "comment": "Giao chị Thu", "expected_version": claim.json()["version"]},
                   headers={**head, "Idempotency-Key": "c-1"})
    assert done.status_code == 200
    replay = c2.post(f"/api/tasks/{task['item_id']}/complete",
                     json={"outcome": "done", "comment": "Giao chị Thu", "expected_version": claim.json()["version"]},
                     headers={**head, "Idempotency-Key": "c-1"})
    assert replay.status_code == 200 and replay.json()["replayed"] and replay.json()["events"] == done.json()["events"]
    other = c2.post(f"/api/tasks/{task['item_id']}/complete", json={"outcome": "done", "comment": "khác"},
                    headers={**head, "Idempotency-Key": "c-1"})
    assert other.status_code == 409 and other.json()["error"] == "duplicate_request"
    again = c2.post(f"/api/tasks/{task['item_id']}/complete", json={"outcome": "done"}, headers=head)
    assert again.status_code == 409 and again.json()["error"] == "illegal_action"

    show = c2.get(f"/api/dossiers/{got['dossier_code']}", headers=head).json()
    assert [i["step_id"] for i in show["items"]] == ["receive", "assign", "appraise"]
    assert any(e["comment"] == "Giao chị Thu" for e in show["events"])


def test_errors_are_json_with_proper_codes(api, client_for, web):
    anon = client_for()
    r = anon.get("/api/tasks")
    assert r.status_code == 401 and r.json()["error"] == "not_authenticated"
    r = anon.get("/api/tasks", headers={"Authorization": "Bearer forged"})
    assert r.status_code == 401
    r = anon.post("/api/auth/token", json={"username": "motcua", "password": "sai"})
    assert r.status_code == 401 and r.json()["error"] == "not_authenticated"

    c, mc = api("motcua")
    assert c.get("/api/dossiers/khong-co", headers=mc).json()["error"] == "not_found"
    assert c.get("/api/dossiers/khong-co", headers=mc).status_code == 404
    r = c.post("/api/dossiers", json={"procedure_code": "1.001612"}, headers=mc)
    assert r.status_code == 422 and r.json()["error"] == "invalid" and "applicant" in r.json()["message"]
    r = c.post("/api/dossiers", json={"procedure_code": "9.999999", "applicant": "A"}, headers=mc)
    assert r.status_code == 404
    r = c.post("/api/dossiers", json={"procedure_code": "1.001612", "applicant": "A", "decision": "maybe"}, headers=mc)
    assert r.status_code == 409 and r.json()["error"] == "illegal_action"
    d = c.post("/api/dossiers", json={"procedure_code": "1.001612", "applicant": "A"}, headers=mc).json()

    c2, cv = api("qldt_cv")  # another unit
    item = d["opened"][-1]
    # another unit's dossier is answered as a missing one would be: its ids are not revealed
    r = c2.post(f"/api/tasks/{item}/complete", json={"outcome": "done"}, headers=cv)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert r.json()["message"] == f"complete: work item {item} does not exist"
    r = c2.get(f"/api/dossiers/{d['dossier_code']}", headers=cv)
    assert r.status_code == 404 and r.json()["message"] == f"dossier '{d['dossier_code']}' does not exist"


def test_cookie_session_on_the_api_needs_the_csrf_header(client_for):
    c = client_for("motcua")
    assert c.get("/api/me").json()["username"] == "motcua"
    r = c.post("/api/dossiers", json={"procedure_code": "1.001612", "applicant": "A"})
    assert r.status_code == 403
    from tests.web.conftest import csrf_of

    token = csrf_of(c.get("/inbox").text)
    r = c.post("/api/dossiers", json={"procedure_code": "1.001612", "applicant": "A"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 201


def test_the_one_stop_unit_records_a_supplement(api):
    c, mc = api("motcua")
    d = c.post("/api/dossiers", json={"procedure_code": "1.001612", "applicant": "Đỗ Thị Lan", "decision": "supplement",
                                      "comment": "Thiếu bản sao"}, headers=mc).json()
    assert d["status"] == 5
    c2, cv = api("tckh_cv")
    assert c2.post(f"/api/dossiers/{d['dossier_code']}/supplemented", headers=cv).status_code == 404  # not theirs
    r = c.post(f"/api/dossiers/{d['dossier_code']}/supplemented", json={"comment": "Đã đủ bản sao"}, headers=mc)
    assert r.status_code == 200 and r.json()["action"] == "supplement_received" and r.json()["status"] == 1
    r = c.post(f"/api/dossiers/{d['dossier_code']}/supplemented", headers=mc)
    assert r.status_code == 409 and r.json()["error"] == "illegal_action"


def test_the_head_signs_the_apology_through_the_api(api, web):
    from engine import services as sv

    c, mc = api("motcua")
    code = c.post("/api/dossiers", json={"procedure_code": "1.001612", "applicant": "Lê Văn Chậm"},
                  headers=mc).json()["dossier_code"]
    due = sv.dossier_sheet(web.store, code).dossier.due_at
    sv.sweep_timers(web.store, now=web.runtime.calendar.sub(due, 420))  # nothing done: form 04 drafted
    hc, head = api("tckh_head")
    [apology] = hc.get(f"/api/dossiers/{code}", headers=head).json()["apologies"]
    assert (apology["state"], apology["unit"], apology["signer_unit"], apology["reason"]) == (
        "draft", "phong_tckh", "phong_tckh", "")
    url = f"/api/apologies/{apology['id']}/sign"
    sc, staff = api("tckh_cv")
    assert sc.post(url, json={"reason": "Chờ xác minh"}, headers=staff).status_code == 403
    assert hc.post(url, json={"reason": " "}, headers=head).status_code == 422
    assert hc.post(url, json={"reason": "x", "proposed_due_at": "2026-12-02T17:00:00"}, headers=head).status_code == 422
    r = hc.post(url, json={"reason": "Chờ xác minh thông tin đăng ký"}, headers=head)
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["proposed_due_at"]) == ("signed", apology["proposed_due_at"])
    assert hc.post(url, json={"reason": "lần hai"}, headers=head).status_code == 422  # already signed


def test_receive_checks_the_commune_as_the_reception_form_and_the_cli_do(web, api):
    """A commune-level dossier names one of units.yaml's communes (as written there); a district-level one
    names none; a refusal changes nothing."""
    from engine.store import dump

    c, xa = api("xa_motcua")
    before = dump(web.store)
    birth = {"procedure_code": "1.001193", "applicant": "Bà Đào Thị Én"}
    r = c.post("/api/dossiers", json=birth, headers=xa)
    assert r.status_code == 422 and r.json()["error"] == "invalid_action"
    assert "commune-level" in r.json()["message"] and "Xã Bát Tràng" in r.json()["message"]
    r = c.post("/api/dossiers", json={**birth, "commune": "Xã Bat Trang"}, headers=xa)
    assert r.status_code == 422 and "did you mean 'Xã Bát Tràng'" in r.json()["message"]
    assert dump(web.store) == before
    r = c.post("/api/dossiers", json={**birth, "commune": "  bát   TRÀNG "}, headers=xa)
    assert r.status_code == 201, r.text
    assert c.get(f"/api/dossiers/{r.json()['dossier_code']}", headers=xa).json()["commune"] == "Xã Bát Tràng"

    c, mc = api("motcua")
    before = dump(web.store)
    r = c.post("/api/dossiers", json={"procedure_code": "1.001612", "applicant": "A", "commune": "Xã Bát Tràng"},
               headers=mc)
    assert r.status_code == 422 and "district-level" in r.json()["message"] and dump(web.store) == before
    r = c.post("/api/dossiers", json={"procedure_code": "9.999999", "applicant": "A", "commune": "Xã Bát Tràng"},
               headers=mc)
    assert r.status_code == 404
