"""The web's control sheet after a merge: an item moved from a merged unit (``quytrinh unit transfer``)
shows the unit it came from and the day, on the dossier page's sheet and on the item's page."""

from __future__ import annotations

import datetime as dt
import html
import re

from sqlmodel import select

from engine import services as sv
from engine.store import WorkItem
from tests.conftest import catalogue_with, console, merged_units

HANOI = dt.timezone(dt.timedelta(hours=7))


def _open(db, dossier_id: int, step: str) -> WorkItem:
    with db.session() as s:
        return s.exec(select(WorkItem).where(WorkItem.dossier_id == dossier_id, WorkItem.step_id == step,
                                             WorkItem.state.in_(("open", "claimed")))).one()


def test_the_dossier_and_item_pages_show_where_a_transferred_item_came_from(web, client_for, tmp_path):
    store, rt = web.store, web.runtime
    t = dt.datetime(2026, 3, 10, 8, 0, tzinfo=HANOI)
    r = sv.receive(store, rt.actor("motcua"), "1.001612", applicant="Trần Văn Bình", now=t)
    sv.complete(store, rt.actor("tckh_head"), _open(store, r.dossier_id, "assign").id, outcome="done",
                now=t + dt.timedelta(minutes=10))
    appraise = _open(store, r.dossier_id, "appraise")
    merged_units(store, tmp_path, "phong_tckh", "phong_qldt")
    sv.transfer_unit_work(store, "phong_tckh", now=dt.datetime(2026, 3, 11, 9, 0, tzinfo=HANOI))

    c = client_for("qldt_cv")
    page = c.get(f"/dossiers/{r.dossier_code}")
    assert page.status_code == 200, page.status_code
    body = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page.text)))
    assert "Phòng QLĐT (từ Phòng TC-KH, chuyển ngày 11/03/2026)" in body
    assert body.count("chuyển ngày") == 1  # the steps not moved name their unit alone
    item = c.get(f"/items/{appraise.id}")
    assert item.status_code == 200, item.status_code
    body = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", item.text)))
    assert "Đơn vị Phòng QLĐT (từ Phòng TC-KH, chuyển ngày 11/03/2026)" in body


def test_a_member_moved_to_the_successor_finishes_on_the_web_what_they_hold_at_the_merged_unit(web, client_for,
                                                                                                  tmp_path):
    """tckh_cv holds an appraisal at Phòng TC-KH, which is merged into Phòng QLĐT; moved there (quytrinh user
    move) before the transfer, they find it in their inbox, open it and complete it. A colleague of Phòng QLĐT
    may not open it, and a refused form changes nothing."""
    from engine.store import Dossier, dump
    from tests.web.conftest import csrf_of

    store, rt = web.store, web.runtime
    t = dt.datetime(2026, 3, 10, 8, 0, tzinfo=HANOI)
    r = sv.receive(store, rt.actor("motcua"), "1.001612", applicant="Đỗ Thị Hoa", now=t)
    sv.complete(store, rt.actor("tckh_head"), _open(store, r.dossier_id, "assign").id, outcome="done",
                now=t + dt.timedelta(minutes=10))
    appraise = _open(store, r.dossier_id, "appraise")
    sv.claim(store, rt.actor("tckh_cv"), appraise.id, now=t + dt.timedelta(minutes=20))
    merged_units(store, tmp_path, "phong_tckh", "phong_qldt")
    sv.move_user(store, "tckh_cv", unit="phong_qldt", role="staff", now=t + dt.timedelta(hours=1))
    web.clock.advance(hours=2)

    other = client_for("qldt_cv")
    assert other.get(f"/items/{appraise.id}").status_code == 403
    assert r.dossier_code not in other.get("/inbox").text
    before = dump(store)
    page = other.get("/inbox").text
    refused = other.post(f"/items/{appraise.id}/complete",
                         data={"csrf_token": csrf_of(page), "version": "0", "outcome": "ok", "comment": ""})
    assert refused.status_code == 403
    assert dump(store) == before

    c = client_for("tckh_cv")
    inbox = c.get("/inbox").text
    assert r.dossier_code in inbox
    item = c.get(f"/items/{appraise.id}")
    assert item.status_code == 200, item.status_code
    assert f'action="/items/{appraise.id}/complete"' in item.text
    with store.session() as s:
        v = s.get(Dossier, r.dossier_id).version
    done = c.post(f"/items/{appraise.id}/complete", data={"csrf_token": csrf_of(item.text), "version": str(v),
                                                          "outcome": "ok", "comment": ""}, follow_redirects=False)
    assert done.status_code == 303, done.text[:500]
    after = c.get(done.headers["location"])
    with store.session() as s:
        w = s.get(WorkItem, appraise.id)
    assert (w.state, w.assignee_id) == ("done", rt.actor("tckh_cv").user_id), after.text
    assert after.status_code == 200, after.status_code


def _held_by_moved_member(web, tmp_path, *, also: str | None = None):
    """tckh_cv holds an appraisal at Phòng TC-KH, merged into Phòng QLĐT, and is moved there before the
    transfer; (the dossier's receipt, the appraisal), and with ``also`` another appraisal held there by that
    member of Phòng TC-KH, who stays."""

    store, rt = web.store, web.runtime
    t = dt.datetime(2026, 3, 10, 8, 0, tzinfo=HANOI)
    held = []
    for applicant, who in (("Lê Văn Tâm", "tckh_cv"), ("Phan Thị Mai", also)):
        if who is None:
            continue
        r = sv.receive(store, rt.actor("motcua"), "1.001612", applicant=applicant, now=t)
        sv.complete(store, rt.actor("tckh_head"), _open(store, r.dossier_id, "assign").id, outcome="done",
                    now=t + dt.timedelta(minutes=10))
        appraise = _open(store, r.dossier_id, "appraise")
        sv.claim(store, rt.actor(who), appraise.id, now=t + dt.timedelta(minutes=20))
        held.append((r, appraise))
    (r, appraise) = held[0]
    merged_units(store, tmp_path, "phong_tckh", "phong_qldt")
    sv.move_user(store, "tckh_cv", unit="phong_qldt", role="staff", now=t + dt.timedelta(hours=1))
    web.clock.advance(hours=2)
    return (r, appraise, held[1][1]) if also else (r, appraise)


def test_work_a_moved_member_gives_back_on_the_web_goes_to_the_successors_queue(live_server, browser, tmp_path):
    """tckh_cv gives back (Trả lại việc cho đơn vị) the appraisal they hold at the merged Phòng TC-KH: it goes to
    Phòng QLĐT's queue, where a colleague finds it and takes it, not to the merged unit's, where nobody would.
    The page says so as ``quytrinh task release`` does (released_to_successor_text), not the generic "given
    back to the unit" (which named no unit, when the item had just changed units)."""
    from tests.web.conftest import signed_in_page

    web = live_server.web
    r, appraise = _held_by_moved_member(web, tmp_path)
    page = signed_in_page(browser, live_server.url, "tckh_cv")
    page.goto(f"/items/{appraise.id}")
    page.click("#release-form button[type=submit]")
    page.wait_for_load_state()
    assert page.url.endswith(f"/items/{appraise.id}"), page.url
    text = page.inner_text("body")
    assert ("Đã trả lại công việc; việc đã chuyển về hàng chờ của Phòng QLĐT, đơn vị tiếp nhận công việc của "
            "đơn vị đã hợp nhất.") in text, text[:800]
    assert "cán bộ khác có thể nhận xử lý" not in text, text[:800]
    w = _open(web.store, r.dossier_id, "appraise")
    assert (w.unit_id, w.state, w.assignee_id) == ("phong_qldt", "open", None)
    other = signed_in_page(browser, live_server.url, "qldt_cv")
    assert r.dossier_code in other.inner_text("body")
    other.goto(f"/items/{appraise.id}")
    other.click("text=Nhận xử lý")
    other.wait_for_load_state()
    w = _open(web.store, r.dossier_id, "appraise")
    assert (w.unit_id, w.state, w.assignee_id) == ("phong_qldt", "claimed", web.runtime.actor("qldt_cv").user_id)


def test_a_refused_completion_keeps_the_moved_members_comment_in_the_form(live_server, browser, tmp_path):
    """A completion the engine refuses while tckh_cv still holds the item (here an outcome the step no longer
    has: a refusal the page's news cannot explain) brings their page back with the comment they typed in its
    box, as for any holder; the database is unchanged."""
    from engine.store import dump
    from tests.web.conftest import signed_in_page

    web = live_server.web
    r, appraise = _held_by_moved_member(web, tmp_path)
    page = signed_in_page(browser, live_server.url, "tckh_cv")
    page.goto(f"/items/{appraise.id}")
    typed = "Đã đối chiếu hồ sơ với sổ đăng ký, đề nghị cấp"
    page.fill("#complete-form textarea[name=comment]", typed)
    page.eval_on_selector("#complete-form button[name=outcome]", "b => { b.value = 'khong_con'; }")
    before = dump(web.store)
    with page.expect_response(lambda resp: resp.url.endswith(f"/items/{appraise.id}/complete")) as answer:
        page.click("#complete-form button[name=outcome]")
    assert answer.value.status == 409, answer.value.status
    page.wait_for_load_state()
    assert page.input_value("#complete-form textarea[name=comment]") == typed
    text = page.inner_text("body")
    assert "Ý kiến bạn vừa nhập vẫn còn trong ô bên dưới." in text and "chưa được ghi" not in text, text[:800]
    assert dump(web.store) == before


def test_a_remaining_member_giving_back_merged_work_lands_on_their_inbox(web, client_for, tmp_path):
    """tckh_cv2, still of the merged Phòng TC-KH, gives back what they hold there: it goes to Phòng QLĐT's queue,
    whose page they no longer open, so they are taken to their inbox, told where it went (not to a 403)."""
    import html as h
    import re as re_

    from tests.web.conftest import csrf_of

    store, rt = web.store, web.runtime
    r, appraise, other = _held_by_moved_member(web, tmp_path, also="tckh_cv2")
    c = client_for("tckh_cv2")
    page = c.get(f"/items/{other.id}")
    assert page.status_code == 200, page.status_code
    from engine.store import Dossier

    with store.session() as s:
        v = s.get(Dossier, other.dossier_id).version
    done = c.post(f"/items/{other.id}/release", data={"csrf_token": csrf_of(page.text), "version": str(v)},
                  follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (303, "/inbox")
    inbox = c.get("/inbox")
    body = re_.sub(r"\s+", " ", h.unescape(re_.sub(r"<[^>]+>", " ", inbox.text)))
    assert ("Đã trả lại công việc; việc đã chuyển về hàng chờ của Phòng QLĐT, đơn vị tiếp nhận công việc của "
            "đơn vị đã hợp nhất.") in body
    w = _open(store, other.dossier_id, "appraise")
    assert (w.unit_id, w.state) == ("phong_qldt", "open")
    assert rt.actor("tckh_cv2").unit == "phong_tckh"



def _head_holds_merged_assignment(web, tmp_path):
    """Phòng TC-KH merged into Phòng QLĐT; its head holds a dossier's assignment step (phân công) there and is
    moved to Phòng QLĐT as a head (quytrinh user move) before quytrinh unit transfer; tckh_cv2 stays. Returns
    the dossier's reception result and the assignment item."""

    store, rt = web.store, web.runtime
    t = dt.datetime(2026, 3, 10, 8, 0, tzinfo=HANOI)
    r = sv.receive(store, rt.actor("motcua"), "1.001612", applicant="Vũ Thị Lan", now=t)
    assign = _open(store, r.dossier_id, "assign")
    sv.claim(store, rt.actor("tckh_head"), assign.id, now=t + dt.timedelta(minutes=10))
    merged_units(store, tmp_path, "phong_tckh", "phong_qldt")
    sv.move_user(store, "tckh_head", unit="phong_qldt", role="head", now=t + dt.timedelta(hours=1))
    web.clock.advance(hours=2)
    return r, assign


def test_a_moved_head_names_the_next_steps_officer_of_the_unit_where_it_opens(web, client_for, tmp_path):
    """The head moved to Phòng QLĐT holds their assignment step at the merged Phòng TC-KH: the appraisal it opens
    opens at Phòng QLĐT, so *Giao bước tiếp theo cho* lists Phòng QLĐT's officers, not the merged unit's. An
    officer of the merged unit, sent anyway, is refused on the web and on the CLI (task complete --assign-to)
    alike, and the refusal changes nothing."""
    from engine.store import Dossier, dump
    from tests.web.conftest import csrf_of

    store, rt = web.store, web.runtime
    r, assign = _head_holds_merged_assignment(web, tmp_path)
    c = client_for("tckh_head")
    page = c.get(f"/items/{assign.id}")
    assert page.status_code == 200, page.status_code
    assert "Giao bước tiếp theo cho" in page.text
    picker = page.text[page.text.index('<select name="assignee"'):]
    picker = picker[:picker.index("</select>")]
    offered = set(re.findall(r'<option value="([^"]+)"', picker))
    expected = {name for name, _ in sv.assignable_users(store, "phong_qldt", "staff")}
    assert offered == expected and "qldt_cv" in offered and "tckh_cv2" not in offered, offered
    with store.session() as s:
        v = s.get(Dossier, r.dossier_id).version
    before = dump(store)
    refused = c.post(f"/items/{assign.id}/complete", data={"csrf_token": csrf_of(page.text), "version": str(v),
                                                           "outcome": "done", "comment": "", "assignee": "tckh_cv2"})
    assert refused.status_code in (403, 409, 422), refused.status_code
    assert dump(store) == before
    catalogue = catalogue_with(tmp_path, (tmp_path / "units.yaml").read_text(encoding="utf-8"))
    cli = console(rt.url, catalogue, "task", "complete", str(assign.id), "--outcome", "done", "--assign-to",
                  "tckh_cv2", "--as", "tckh_head", "--now", "2026-03-10T10:30")
    assert cli.returncode == 1 and "phong_qldt/staff" in cli.stderr, cli.stderr
    assert dump(store) == before
    done = console(rt.url, catalogue, "task", "complete", str(assign.id), "--outcome", "done", "--assign-to",
                   "qldt_cv", "--as", "tckh_head", "--now", "2026-03-10T10:30")
    assert done.returncode == 0, done.stderr
    appraise = _open(store, r.dossier_id, "appraise")
    assert done.stdout.startswith(f"Đã hoàn thành công việc {assign.id} và giao công việc {appraise.id} cho qldt_cv")
    assert (appraise.unit_id, appraise.state, appraise.assignee_id) == ("phong_qldt", "claimed",
                                                                         rt.actor("qldt_cv").user_id)


def test_a_head_still_of_the_merged_unit_is_not_offered_officers_for_a_step_opening_elsewhere(web, client_for,
                                                                                               tmp_path):
    """Phòng TC-KH's head, not moved, at their assignment step there: the appraisal opens at Phòng QLĐT, whose
    officers they may not give work to, so the page offers no one (it used to list Phòng TC-KH's)."""

    store, rt = web.store, web.runtime
    t = dt.datetime(2026, 3, 10, 8, 0, tzinfo=HANOI)
    r = sv.receive(store, rt.actor("motcua"), "1.001612", applicant="Hoàng Văn Nam", now=t)
    assign = _open(store, r.dossier_id, "assign")
    merged_units(store, tmp_path, "phong_tckh", "phong_qldt")
    page = client_for("tckh_head").get(f"/items/{assign.id}")
    assert page.status_code == 200, page.status_code
    assert f'action="/items/{assign.id}/complete"' in page.text  # theirs to complete
    assert "Giao bước tiếp theo cho" not in page.text


def test_a_moved_head_gives_the_next_step_to_an_officer_in_a_real_browser(live_server, browser, tmp_path):
    """In Chromium: the moved head picks a Phòng QLĐT officer and completes the assignment step; the appraisal
    opens at Phòng QLĐT, claimed by that officer, and the head is told so."""
    from tests.web.conftest import signed_in_page

    web = live_server.web
    r, assign = _head_holds_merged_assignment(web, tmp_path)
    page = signed_in_page(browser, live_server.url, "tckh_head")
    page.goto(f"/items/{assign.id}")
    page.select_option("#assignee", "qldt_cv")
    page.click("#complete-form button[name=outcome]")
    page.wait_for_url(re.compile(r".*/inbox$"))
    qldt_cv = web.runtime.actor("qldt_cv")
    appraise = _open(web.store, r.dossier_id, "appraise")
    assert (appraise.unit_id, appraise.state, appraise.assignee_id) == ("phong_qldt", "claimed", qldt_cv.user_id)
    assert "bước tiếp theo đã giao cho" in page.inner_text("body")
