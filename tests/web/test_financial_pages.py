"""The one-stop unit records that the applicant fulfilled the financial obligations (status 6)."""

from __future__ import annotations

import re

from engine.machine import Status
from engine.store import Dossier, dump
from tests.test_financial import land_runtime, open_item, to_payment
from tests.web.conftest import csrf_of


def _waiting(web):
    """A land dossier waiting for the payment the tax office notified (status 6)."""
    actors = land_runtime(web.runtime)
    return to_payment(web.store, actors, web.clock)


def _dossier(web, dossier_id: int) -> Dossier:
    with web.store.session() as s:
        return s.get(Dossier, dossier_id)


def test_the_one_stop_unit_sees_the_wait_and_records_the_payment(web, client_for):
    res = _waiting(web)
    motcua = client_for("motcua")
    inbox = motcua.get("/inbox").text
    row = re.search(rf'<tr class="t-paused" data-dossier="{re.escape(res.dossier_code)}">(.*?)</tr>', inbox, re.S)
    assert row and "<td>Nghĩa vụ tài chính</td>" in row[1] and "thực hiện nghĩa vụ tài chính theo thông báo" in row[1]

    page = motcua.get(f"/dossiers/{res.dossier_code}").text
    assert 'id="financial-form"' in page and "Đã thực hiện nghĩa vụ tài chính" in page
    assert 'id="supplement-form"' not in page  # not a supplementation: no "Đã nhận hồ sơ bổ sung"
    assert "Yêu cầu thực hiện nghĩa vụ tài chính" in page  # the status, and the history's event
    # The tax office's outcome reads as its route's label: in the control sheet, in the history, and in
    # the printed control sheet (form 05; 06 in the 2025 set).
    label = "Phải nộp tiền sử dụng đất, tiền thuê đất"
    assert page.count(label) == 2 and "notify" not in page
    printed = motcua.get(f"/documents/dossiers/{res.dossier_code}/forms/control").text
    assert label in printed and "notify" not in printed

    # Another unit sees the dossier but may not record the payment.
    other = client_for("tckh_head").get(f"/dossiers/{res.dossier_code}")
    assert 'id="financial-form"' not in other.text

    # A stale version is refused and changes nothing.
    before = dump(web.store)
    r = motcua.post(f"/dossiers/{res.dossier_code}/financial-done",
                    data={"csrf_token": csrf_of(page), "version": res.version - 1}, follow_redirects=True)
    assert r.status_code == 200 and 'class="flash flash-error"' in r.text and "vừa được" in r.text and "Hãy xem lại và thực hiện lại nếu vẫn cần" in r.text
    assert dump(web.store) == before

    r = motcua.post(f"/dossiers/{res.dossier_code}/financial-done",
                    data={"csrf_token": csrf_of(page), "version": res.version, "comment": "Giấy nộp tiền số 7"},
                    follow_redirects=True)
    assert r.status_code == 200
    assert f"Đã ghi nhận hồ sơ {res.dossier_code} đã thực hiện nghĩa vụ tài chính" in r.text
    assert 'id="financial-form"' not in r.text
    d = _dossier(web, res.dossier_id)
    assert d.status == Status.PROCESSING and d.paused_at is None and d.supplements == 0
    assert open_item(web.store, res.dossier_id, "certificate").state == "open"


def test_recording_the_payment_in_a_real_browser(live_server, browser, tmp_path):
    from tests.web.conftest import shot
    from tests.web.test_leader_e2e import _sign_in

    web = live_server.web
    res = _waiting(web)
    page = _sign_in(browser, live_server.url, "motcua")
    page.goto(f"/dossiers/{res.dossier_code}")
    page.fill("#financial-form textarea[name=comment]", "Giấy nộp tiền số 8")
    shot(page, tmp_path, "financial")
    page.click("#financial-form button[type=submit]")
    # back on the same address: wait for the new page's message, not the URL (which matched before)
    page.wait_for_selector(".flash-success:has-text('đã thực hiện nghĩa vụ tài chính')")
    assert _dossier(web, res.dossier_id).status == Status.PROCESSING


def test_the_api_records_the_payment_and_refuses_the_wrong_wait(web, client_for):
    from tests.web.test_api import bearer

    res = _waiting(web)
    c, mc = bearer(client_for, "motcua")
    spec = c.get("/openapi.json").json()["paths"]
    assert "/api/dossiers/{ref}/financial-done" in spec and "/api/dossiers/{ref}/supplemented" in spec
    before = dump(web.store)
    r = c.post(f"/api/dossiers/{res.dossier_code}/supplemented", json={}, headers=mc)
    assert r.status_code == 409 and r.json()["error"] == "illegal_action"
    assert "record it with financial_done" in r.json()["message"]
    c2, other = bearer(client_for, "tckh_cv")  # a unit with no part in this land dossier: as if it did not exist
    r = c2.post(f"/api/dossiers/{res.dossier_code}/financial-done", headers=other)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert dump(web.store) == before
    body = {"comment": "Giấy nộp tiền số 9", "expected_version": res.version}
    r = c.post(f"/api/dossiers/{res.dossier_code}/financial-done", json=body, headers={**mc, "Idempotency-Key": "f-1"})
    assert r.status_code == 200 and r.json()["action"] == "financial_done" and r.json()["status"] == 4
    again = c.post(f"/api/dossiers/{res.dossier_code}/financial-done", json=body,
                   headers={**mc, "Idempotency-Key": "f-1"})
    assert again.status_code == 200 and again.json()["replayed"] and again.json()["events"] == r.json()["events"]
    assert _dossier(web, res.dossier_id).status == Status.PROCESSING
