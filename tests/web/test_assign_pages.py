"""Assigning and releasing work from the work-item page and the API."""

from __future__ import annotations

import re

from sqlmodel import select

from engine import services as sv
from engine.store import WorkItem, dump
from tests.web.conftest import PASSWORD, csrf_of


def _appraise(web) -> WorkItem:
    """A dossier whose appraisal step is open at Phòng TC-KH (the head did the assignment step)."""
    rt = web.runtime
    r = sv.receive(web.store, rt.actor("motcua"), "1.001612", applicant="Hộ kinh doanh Bình An", now=web.clock())
    sv.complete(web.store, rt.actor("tckh_head"), r.opened[-1], outcome="done", now=web.clock())
    with web.store.session() as s:
        return s.exec(select(WorkItem).where(WorkItem.dossier_id == r.dossier_id,
                                             WorkItem.step_id == "appraise")).one()


def _version(web, item_id: int) -> int:
    with web.store.session() as s:
        from engine.store import Dossier

        return s.get(Dossier, s.get(WorkItem, item_id).dossier_id).version


def _holder(web, item_id: int) -> int | None:
    with web.store.session() as s:
        return s.get(WorkItem, item_id).assignee_id


def test_the_head_assigns_from_the_item_page_and_the_officer_gives_it_back(web, client_for):
    item = _appraise(web)
    head = client_for("tckh_head")
    page = head.get(f"/items/{item.id}").text
    assert "Phân công cho" in page and 'id="release-form"' not in page  # open: nothing to release
    options = re.findall(r'<option value="([^"]+)"', page)
    assert options == ["tckh_cv", "tckh_cv2"]  # the unit's active officers with the step's role
    r = head.post(f"/items/{item.id}/assign", data={"csrf_token": csrf_of(page), "version": _version(web, item.id),
                                                   "to": "tckh_cv2"}, follow_redirects=True)
    assert r.status_code == 200 and "Đã phân công công việc này cho tckh_cv2." in r.text
    assert _holder(web, item.id) == web.runtime.actor("tckh_cv2").user_id
    assert "Phân công xử lý</b>" in r.text and ": giao cho tckh_cv2" in r.text  # the history: the event, to whom
    assert "Giao lại cho" in r.text and re.findall(r'<option value="([^"]+)"', r.text) == ["tckh_cv"]

    other = client_for("tckh_cv")  # may look, not act: it is someone else's now
    page = other.get(f"/items/{item.id}").text
    assert 'id="complete-form"' not in page and 'id="release-form"' not in page and "đã giao cho tckh_cv2" in page

    cv2 = client_for("tckh_cv2")
    page = cv2.get(f"/items/{item.id}").text
    assert 'id="complete-form"' in page and 'id="release-form"' in page and "Phân công cho" not in page
    r = cv2.post(f"/items/{item.id}/release", data={"csrf_token": csrf_of(page), "version": _version(web, item.id)},
                 follow_redirects=True)
    assert r.status_code == 200 and "Đã trả lại công việc cho đơn vị" in r.text
    assert _holder(web, item.id) is None
    assert "Trả lại việc cho đơn vị</b>" in r.text and ": tckh_cv2 trả lại" in r.text  # the history


def test_an_officer_cannot_assign_and_a_refusal_changes_nothing(web, client_for):
    item = _appraise(web)
    cv = client_for("tckh_cv")
    page = cv.get(f"/items/{item.id}").text
    assert "Phân công cho" not in page
    before = dump(web.store)
    r = cv.post(f"/items/{item.id}/assign", data={"csrf_token": csrf_of(page), "version": _version(web, item.id),
                                                 "to": "tckh_cv"}, follow_redirects=True)
    assert "Bạn không có quyền thực hiện thao tác này" in r.text
    assert dump(web.store) == before
    head = client_for("tckh_head")
    page = head.get(f"/items/{item.id}").text
    r = head.post(f"/items/{item.id}/assign", data={"csrf_token": csrf_of(page), "version": _version(web, item.id),
                                                   "to": "qldt_cv"}, follow_redirects=True)
    assert "dữ liệu chưa hợp lệ" in r.text  # another unit's officer
    assert dump(web.store) == before


def test_the_api_assigns_and_releases(web, client_for):
    item = _appraise(web)
    c = client_for()
    token = c.post("/api/auth/token", json={"username": "tckh_head", "password": PASSWORD}).json()["access_token"]
    head = {"Authorization": f"Bearer {token}"}
    spec = c.get("/openapi.json").json()["paths"]
    assert "/api/tasks/{item_id}/assign" in spec and "/api/tasks/{item_id}/release" in spec
    r = c.post(f"/api/tasks/{item.id}/assign", json={"to": "tckh_cv"}, headers={**head, "Idempotency-Key": "a1"})
    assert r.status_code == 200 and r.json()["action"] == "assign", r.text
    again = c.post(f"/api/tasks/{item.id}/assign", json={"to": "tckh_cv"}, headers={**head, "Idempotency-Key": "a1"})
    assert again.json()["replayed"] and again.json()["version"] == r.json()["version"]
    bad = c.post(f"/api/tasks/{item.id}/assign", json={"to": "nobody"}, headers=head)
    assert bad.status_code == 404 and bad.json()["error"] == "not_found"
    r = c.post(f"/api/tasks/{item.id}/release", json={"expected_version": r.json()["version"]}, headers=head)
    assert r.status_code == 200 and r.json()["action"] == "release"
    assert _holder(web, item.id) is None
    r = c.post(f"/api/tasks/{item.id}/release", headers=head)
    assert r.status_code == 409 and r.json()["error"] == "illegal_action"


def test_assign_and_release_in_a_real_browser(live_server, browser, tmp_path):
    from tests.web.conftest import shot

    web = live_server.web
    item = _appraise(web)

    def signed_in(username: str):
        from tests.web.test_leader_e2e import _sign_in

        return _sign_in(browser, live_server.url, username)

    head = signed_in("tckh_head")
    head.goto(f"/items/{item.id}")
    head.select_option("#assign-form select[name=to]", "tckh_cv2")
    shot(head, tmp_path, "assign")
    head.click("#assign-form button[type=submit]")
    # back on the same address: wait for the new page's message, not the URL (which matched before)
    head.wait_for_selector(".flash-success:has-text('Đã phân công công việc này cho tckh_cv2.')")
    assert _holder(web, item.id) == web.runtime.actor("tckh_cv2").user_id

    officer = signed_in("tckh_cv2")
    officer.goto("/inbox")
    assert officer.locator(f"#mine tr[data-dossier] a[href='/items/{item.id}']").count() == 1
    officer.goto(f"/items/{item.id}")
    officer.click("#release-form button[type=submit]")
    officer.wait_for_selector(".flash-success:has-text('Đã trả lại công việc cho đơn vị')")
    assert _holder(web, item.id) is None


def _head_at_the_assignment_step(web, client_for, applicant: str):
    """A new dossier, and the office head's client with the page of its assignment step: (receipt, step, client, html)."""
    r = sv.receive(web.store, web.runtime.actor("motcua"), "1.001612", applicant=applicant, now=web.clock())
    step = r.opened[-1]
    head = client_for("tckh_head")
    return r, step, head, head.get(f"/items/{step}").text


def test_the_head_names_the_officer_while_completing_the_assignment_step(web, client_for):
    rt = web.runtime
    r, step, head, page = _head_at_the_assignment_step(web, client_for, "Hộ kinh doanh Hoa Mai")
    assert "Giao bước tiếp theo cho" in page
    assert 'id="assign-form"' not in page  # their own step: no form to give it to themselves (they claim it)
    assert re.findall(r'<select name="assignee"[^>]*>(.*?)</select>', page, re.S)[0].count("<option") == 3
    r2 = head.post(f"/items/{step}/complete", data={"csrf_token": csrf_of(page), "version": r.version,
                                                   "outcome": "done", "assignee": "tckh_cv2"}, follow_redirects=True)
    assert "bước tiếp theo đã giao cho tckh_cv2" in r2.text
    with web.store.session() as s:
        appraise = s.exec(select(WorkItem).where(WorkItem.dossier_id == r.dossier_id,
                                                 WorkItem.step_id == "appraise")).one()
    assert appraise.assignee_id == rt.actor("tckh_cv2").user_id
    # the officer's own page offers no such choice (the next step, the head's check, is not theirs to give)
    cv2 = client_for("tckh_cv2")
    assert "Giao bước tiếp theo cho" not in cv2.get(f"/items/{appraise.id}").text


def test_a_refused_assignment_at_completion_leaves_the_step_open(web, client_for):
    r, step, head, page = _head_at_the_assignment_step(web, client_for, "Hộ kinh doanh Hoa Lan")
    before = dump(web.store)
    r2 = head.post(f"/items/{step}/complete", data={"csrf_token": csrf_of(page), "version": r.version,
                                                   "outcome": "done", "assignee": "qldt_cv"}, follow_redirects=True)
    assert "dữ liệu chưa hợp lệ" in r2.text and dump(web.store) == before


def test_an_outcome_leading_out_of_the_unit_completes_and_gives_nothing(web, client_for):
    item = _appraise(web)
    rt = web.runtime
    sv.complete(web.store, rt.actor("tckh_cv"), item.id, outcome="ok", now=web.clock())
    with web.store.session() as s:
        check = s.exec(select(WorkItem).where(WorkItem.dossier_id == item.dossier_id,
                                              WorkItem.step_id == "check")).one()
    sv.complete(web.store, rt.actor("tckh_head"), check.id, outcome="ok", now=web.clock())
    with web.store.session() as s:
        sign = s.exec(select(WorkItem).where(WorkItem.dossier_id == item.dossier_id,
                                             WorkItem.step_id == "sign")).one()
    head = client_for("tckh_head")
    page = head.get(f"/items/{sign.id}").text
    assert "Giao bước tiếp theo cho" in page  # a rejection would send the dossier back to the unit's officers
    r = head.post(f"/items/{sign.id}/complete", data={"csrf_token": csrf_of(page), "version": _version(web, sign.id),
                                                     "outcome": "approve", "assignee": "tckh_cv2"},
                  follow_redirects=True)
    assert "bước tiếp theo không thuộc đơn vị nên không giao cho ai" in r.text
    with web.store.session() as s:
        assert s.get(WorkItem, sign.id).state == "done"


def _name(web, **names: str) -> None:
    """Give users their full names (the test staff are named by their usernames)."""
    from sqlalchemy import update

    from engine.store import User

    with web.store.write() as s:
        for username, full_name in names.items():
            s.execute(update(User).where(User.username == username).values(full_name=full_name))


def test_the_pages_name_people_by_their_full_names(web, client_for):
    _name(web, tckh_cv="Lê Thu Hà", tckh_cv2="Phạm Quốc Huy", tckh_head="Trần Văn Minh")
    item = _appraise(web)
    head = client_for("tckh_head")
    page = head.get(f"/items/{item.id}").text
    r = head.post(f"/items/{item.id}/assign", data={"csrf_token": csrf_of(page), "version": _version(web, item.id),
                                                   "to": "tckh_cv2"}, follow_redirects=True)
    assert "Đã phân công công việc này cho Phạm Quốc Huy." in r.text and "cho tckh_cv2" not in r.text
    assert ": giao cho Phạm Quốc Huy" in r.text  # the history too
    inbox = client_for("tckh_cv").get("/inbox").text
    row = re.search(rf'<tr class="[^"]*" data-item="{item.id}".*?</tr>', inbox, re.S)[0]
    assert '<td data-label="Người xử lý">Phạm Quốc Huy</td>' in row and "tckh_cv2" not in row  # the column Người xử lý
    # completing while naming the officer of the next step
    r0, step, head, page = _head_at_the_assignment_step(web, client_for, "Hộ kinh doanh Hoa Cúc")
    r2 = head.post(f"/items/{step}/complete", data={"csrf_token": csrf_of(page), "version": r0.version,
                                                   "outcome": "done", "assignee": "tckh_cv"}, follow_redirects=True)
    assert "bước tiếp theo đã giao cho Lê Thu Hà." in r2.text


def test_the_history_names_the_timers_and_says_what_they_found(web, client_for):
    item = _appraise(web)
    # The appraisal has one working day: at 15:00 it is nearly due; a week later it is overdue, and so is
    # the dossier's appointment (3 working days).
    for hours in (7, 24 * 7):
        web.clock.advance(hours=hours)
        sv.sweep_timers(web.store, now=web.clock())
    page = client_for("tckh_cv").get(f"/items/{item.id}").text
    history = page.split('id="history"', 1)[1]
    assert "system" not in history
    timers = re.findall(r'<div class="when">[^<]*· Hệ thống \(hẹn giờ\)</div>\s*<div><b>Cảnh báo thời hạn</b>(.*?)</div>',
                        history)
    step = "Thẩm định hồ sơ, dự thảo kết quả giải quyết"
    assert timers == [f" — {step}: sắp đến hạn", f" — {step}: quá hạn", ": hồ sơ quá hạn trả kết quả"]
    # (no "→ Đang xử lý": a timer changes no status)


def test_a_colleagues_claim_is_named_and_changes_nothing(web, client_for):
    _name(web, tckh_cv2="Phạm Quốc Huy")
    item = _appraise(web)
    cv = client_for("tckh_cv")
    page = cv.get(f"/items/{item.id}").text  # open: offered to take it
    version = _version(web, item.id)
    sv.claim(web.store, web.runtime.actor("tckh_cv2"), item.id, now=web.clock(), expected_version=version)
    before = dump(web.store)
    r = cv.post(f"/items/{item.id}/claim", data={"csrf_token": csrf_of(page), "version": version},
                follow_redirects=True)
    assert r.url.path == f"/items/{item.id}"
    assert "Công việc này đã được Phạm Quốc Huy nhận xử lý; trang đã được tải lại." in r.text
    assert "Bạn không có quyền" not in r.text and dump(web.store) == before
    # completing from the stale page says the same
    r = cv.post(f"/items/{item.id}/complete", data={"csrf_token": csrf_of(page), "version": version, "outcome": "ok"},
                follow_redirects=True)
    assert "đã được Phạm Quốc Huy nhận xử lý" in r.text and dump(web.store) == before
