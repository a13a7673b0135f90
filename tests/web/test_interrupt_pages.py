"""The one-stop unit records a withdrawal (status 7) or stops processing (status 8) from the dossier page or the API."""

from __future__ import annotations

import re

from engine import services as sv
from engine.machine import Status
from engine.store import Dossier, WorkItem, dump
from tests.web.conftest import csrf_of


def _processing(web, applicant: str):
    """A household-business dossier at its appraisal step (status 4)."""
    rt = web.runtime
    r = sv.receive(web.store, rt.actor("motcua"), "1.001612", applicant=applicant, now=web.clock())
    sv.complete(web.store, rt.actor("tckh_head"), r.opened[-1], outcome="done", now=web.clock())
    return r


def _state(web, dossier_id: int) -> tuple[int, list[str]]:
    with web.store.session() as s:
        from sqlmodel import select

        d = s.get(Dossier, dossier_id)
        items = s.exec(select(WorkItem).where(WorkItem.dossier_id == dossier_id).order_by(WorkItem.id)).all()
        return d.status, [w.state for w in items]


def test_a_withdrawal_needs_the_written_request_and_cancels_the_open_work(web, client_for):
    r = _processing(web, "Hộ kinh doanh Minh Châu")
    motcua = client_for("motcua")
    page = motcua.get(f"/dossiers/{r.dossier_code}").text
    assert 'id="withdraw-form"' in page and 'id="stop-form"' in page
    assert 'id="withdraw-form"' not in client_for("tckh_head").get(f"/dossiers/{r.dossier_code}").text
    version = int(re.search(r'name="version" value="(\d+)"', page)[1])

    before = dump(web.store)
    empty = motcua.post(f"/dossiers/{r.dossier_code}/withdraw", data={"csrf_token": csrf_of(page), "version": version,
                                                                        "comment": "  "}, follow_redirects=True)
    assert "Hãy ghi đơn đề nghị rút hồ sơ" in empty.text and dump(web.store) == before
    stale = motcua.post(f"/dossiers/{r.dossier_code}/withdraw",
                        data={"csrf_token": csrf_of(page), "version": version - 1, "comment": "Đơn ngày 11/3"},
                        follow_redirects=True)
    assert "Hãy xem lại và thực hiện lại nếu vẫn cần" in stale.text and stale.status_code == 409 and dump(web.store) == before

    done = motcua.post(f"/dossiers/{r.dossier_code}/withdraw",
                       data={"csrf_token": csrf_of(page), "version": version, "comment": "Đơn ngày 11/3"},
                       follow_redirects=True)
    assert f"Đã ghi nhận tổ chức, cá nhân rút hồ sơ {r.dossier_code}" in done.text
    assert _state(web, r.dossier_id) == (Status.WITHDRAWN, ["done", "done", "cancelled"])
    assert 'id="withdraw-form"' not in done.text and 'id="stop-notice"' not in done.text  # closed: nothing more


def test_stopping_needs_a_reason_and_offers_the_stop_notice(web, client_for):
    r = _processing(web, "Hộ kinh doanh Phú Quý")
    motcua = client_for("motcua")
    page = motcua.get(f"/dossiers/{r.dossier_code}").text
    version = int(re.search(r'name="version" value="(\d+)"', page)[1])
    before = dump(web.store)
    empty = motcua.post(f"/dossiers/{r.dossier_code}/stop", data={"csrf_token": csrf_of(page), "version": version},
                        follow_redirects=True)
    assert "Hãy ghi lý do dừng xử lý" in empty.text and dump(web.store) == before
    done = motcua.post(f"/dossiers/{r.dossier_code}/stop",
                       data={"csrf_token": csrf_of(page), "version": version,
                             "reason": "Cơ quan có thẩm quyền yêu cầu tạm dừng để xác minh"},
                       follow_redirects=True)
    assert f"Đã dừng xử lý hồ sơ {r.dossier_code}" in done.text
    assert _state(web, r.dossier_id)[0] == Status.STOPPED
    assert 'id="stop-notice"' in done.text and 'id="stop-form"' not in done.text
    notice = motcua.get(f"/documents/dossiers/{r.dossier_code}/forms/stop")
    assert notice.status_code == 200 and "Cơ quan có thẩm quyền yêu cầu tạm dừng để xác minh" in notice.text


def test_the_api_withdraws_and_stops(web, client_for):
    from tests.web.test_api import bearer

    c, mc = bearer(client_for, "motcua")
    a = _processing(web, "Hộ kinh doanh An Khang")
    b = _processing(web, "Hộ kinh doanh Bảo Tín")
    c2, head = bearer(client_for, "tckh_head")
    before = dump(web.store)
    assert c2.post(f"/api/dossiers/{a.dossier_code}/withdraw", headers=head).status_code == 403
    assert c.post(f"/api/dossiers/{b.dossier_code}/stop", json={"reason": ""}, headers=mc).status_code == 422
    assert dump(web.store) == before
    r = c.post(f"/api/dossiers/{a.dossier_code}/withdraw", json={"comment": "Đơn ngày 12/3"}, headers=mc)
    assert r.status_code == 200 and r.json()["action"] == "withdraw" and r.json()["status"] == 7
    r = c.post(f"/api/dossiers/{b.dossier_code}/stop", json={"reason": "Xác minh"}, headers=mc)
    assert r.status_code == 200 and r.json()["action"] == "stop" and r.json()["status"] == 8
    again = c.post(f"/api/dossiers/{b.dossier_code}/stop", json={"reason": "Xác minh"}, headers=mc)
    assert again.status_code == 409 and again.json()["error"] == "illegal_action"


def test_stopping_in_a_real_browser(live_server, browser, tmp_path):
    from tests.web.conftest import shot
    from tests.web.test_leader_e2e import _sign_in

    web = live_server.web
    r = _processing(web, "Hộ kinh doanh Thịnh Vượng")
    page = _sign_in(browser, live_server.url, "motcua")
    page.goto(f"/dossiers/{r.dossier_code}")
    assert not page.is_visible("#stop-form")  # rare and final: folded away until asked for
    page.click("#interrupt summary")
    page.click("#stop-form button[type=submit]")  # no reason: the browser itself refuses (required)
    assert _state(web, r.dossier_id)[0] == Status.PROCESSING
    page.fill("#stop-form textarea[name=reason]", "Xác minh nguồn gốc tài sản")
    shot(page, tmp_path, "stop")
    page.click("#stop-form button[type=submit]")
    page.wait_for_selector("#stop-notice")
    assert _state(web, r.dossier_id)[0] == Status.STOPPED
    page.click("#stop-notice")
    page.wait_for_url(re.compile(r".*/forms/[^/]+$"))  # the notice itself, not the dossier page that names the reason
    assert "Xác minh nguồn gốc tài sản" in page.content()
