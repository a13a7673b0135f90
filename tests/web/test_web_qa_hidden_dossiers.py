"""A dossier the user may not see is answered exactly as one that does not exist, on the API and on the pages:
same status, same body (but for the id or code asked), so that dossier ids, codes, work item ids and apology
ids cannot be probed. Work of a dossier the user may see keeps its refusal (403: not their unit or role)."""

from __future__ import annotations

import re

import pytest

from engine import services as sv
from tests.web.test_api_qa_errors import bearer, body_of

MISSING = 999999


def _same(a, b, a_ref, b_ref) -> None:
    """``a`` and ``b`` are the same answer, once the ids or codes asked are written alike."""
    assert a.status_code == b.status_code == 404, (a.status_code, b.status_code, a.text[:300], b.text[:300])
    ta = a.text.replace(str(a_ref), "REF")
    tb = b.text.replace(str(b_ref), "REF")
    assert ta == tb


@pytest.fixture
def hidden(web):
    """A household-business dossier at Phòng TC-KH (its appraisal open), with a drafted apology; nothing of it
    is Phòng QLĐT's."""
    rt = web.runtime
    r = sv.receive(web.store, rt.actor("motcua"), "1.001612", applicant="Trần Văn Kín", now=web.clock())
    sheet = sv.dossier_sheet(web.store, r.dossier_code)
    assign = next(x for x in sheet.rows if x.step_id == "assign")
    done = sv.complete(web.store, rt.actor("tckh_head"), assign.item_id, outcome="done", now=web.clock())
    due = sv.dossier_sheet(web.store, r.dossier_code).dossier.due_at
    sv.sweep_timers(web.store, now=rt.calendar.sub(due, 420))  # nothing done in time: form 04 drafted
    [apology] = sv.dossier_sheet(web.store, r.dossier_code).apologies
    return r.dossier_code, r.dossier_id, done.opened[0], apology.id


def test_the_api_answers_another_units_dossier_as_a_missing_one(client_for, hidden):
    code, dossier_id, _, _ = hidden
    c, cv = bearer(client_for, "qldt_cv")
    got = body_of(c.get(f"/api/dossiers/{code}", headers=cv), 404, "not_found")
    assert got == body_of(c.get("/api/dossiers/1.001612-20260310-999999", headers=cv), 404, "not_found") | {
        "message": f"dossier '{code}' does not exist", "message_vi": got["message_vi"]}
    _same(c.get(f"/api/dossiers/{code}", headers=cv), c.get("/api/dossiers/1.001612-20260310-999999", headers=cv),
          code, "1.001612-20260310-999999")
    _same(c.get(f"/api/dossiers/{dossier_id}", headers=cv), c.get(f"/api/dossiers/{MISSING}", headers=cv),
          dossier_id, MISSING)
    for action, body in (("supplemented", {}), ("financial-done", {}), ("withdraw", {"comment": "Đơn rút"}),
                         ("stop", {"reason": "Dừng"}), ("withdraw", {"expected_version": 77})):
        _same(c.post(f"/api/dossiers/{dossier_id}/{action}", json=body, headers=cv),
              c.post(f"/api/dossiers/{MISSING}/{action}", json=body, headers=cv), dossier_id, MISSING)
    # the one-stop unit sees it: its refusals stay what they are
    m, mc = bearer(client_for, "motcua")
    assert m.get(f"/api/dossiers/{code}", headers=mc).status_code == 200
    body_of(m.post(f"/api/dossiers/{code}/withdraw", json={"expected_version": 77}, headers=mc), 409,
            "stale_version")


def test_the_api_answers_work_items_and_apologies_of_a_hidden_dossier_as_missing(client_for, hidden):
    _, _, item, apology = hidden
    c, cv = bearer(client_for, "qldt_cv")
    for action, body in (("claim", {}), ("release", {}), ("complete", {"outcome": "ok"}),
                         ("assign", {"to": "qldt_cv"}), ("assign", {"to": "khong-ai"}),
                         ("claim", {"expected_version": 42})):
        _same(c.post(f"/api/tasks/{item}/{action}", json=body, headers=cv),
              c.post(f"/api/tasks/{MISSING}/{action}", json=body, headers=cv), item, MISSING)
    h, qh = bearer(client_for, "qldt_head")
    _same(h.post(f"/api/apologies/{apology}/sign", json={"reason": "Chậm"}, headers=qh),
          h.post(f"/api/apologies/{MISSING}/sign", json={"reason": "Chậm"}, headers=qh), apology, MISSING)
    # who may see the dossier keeps the refusal of their kind
    m, mc = bearer(client_for, "motcua")
    body_of(m.post(f"/api/tasks/{item}/claim", headers=mc), 403, "not_authorized")
    s, staff = bearer(client_for, "tckh_cv")
    body_of(s.post(f"/api/apologies/{apology}/sign", json={"reason": "Chậm"}, headers=staff), 403, "not_authorized")


def test_the_openapi_document_says_what_the_dossier_endpoint_answers(client_for):
    spec = client_for().get("/openapi.json").json()
    get = spec["paths"]["/api/dossiers/{ref}"]["get"]["responses"]
    assert set(get) == {"200", "401", "404", "422"}, set(get)
    assert "may not see" in get["404"]["description"]
    assert "403" in spec["paths"]["/api/tasks/{item_id}/claim"]["post"]["responses"]


def _main(html: str) -> str:
    return re.search(r"<main>.*</main>", html, re.S).group(0)


def test_the_pages_answer_another_units_dossier_and_its_work_as_missing_ones(client_for, hidden):
    code, dossier_id, item, _ = hidden
    c = client_for("qldt_cv")
    for page in ("/dossiers/{}", "/dossiers/{}/receipt"):
        a, b = c.get(page.format(code)), c.get(page.format("1.001612-20260310-999999"))
        assert a.status_code == b.status_code == 404
        assert _main(a.text) == _main(b.text)
        assert "Không tìm thấy hồ sơ hoặc công việc này." in a.text and code not in _main(a.text)
    a, b = c.get(f"/items/{item}"), c.get(f"/items/{MISSING}")
    assert a.status_code == b.status_code == 404 and _main(a.text) == _main(b.text)
    assert "Không có công việc này." in a.text
    # the look-up box: a code of a dossier the user may not see is "no such dossier", as a code nobody has
    for wanted in (code, "1.001612-20260310-999999"):
        r = c.get("/dossiers", params={"code": wanted}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/inbox?code="), r.headers["location"]
        assert f"Không có hồ sơ mã “{wanted}”" in c.get(r.headers["location"]).text
    # the one-stop unit sees the dossier, and is refused the work of another unit with a reason (403)
    m = client_for("motcua")
    assert m.get(f"/dossiers/{code}").status_code == 200
    r = m.get(f"/items/{item}")
    assert r.status_code == 403 and "đơn vị khác" in r.text
    r = m.get("/dossiers", params={"code": code}, follow_redirects=False)
    assert r.headers["location"] == f"/dossiers/{code}"
