"""Giving work to a named officer and giving it back: assign (by the unit's head) and release."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from engine import machine
from engine import services as sv
from engine.errors import ActionError, DuplicateRequest, IllegalAction, NotAuthorized, NotFound, StaleVersion
from engine.machine import Status
from engine.store import Event, OutboxItem, User, WorkItem, dump

HANOI = dt.timezone(dt.timedelta(hours=7))


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=HANOI)


def _item(db, dossier_id: int, step: str) -> WorkItem:
    with db.session() as s:
        return s.exec(select(WorkItem).where(WorkItem.dossier_id == dossier_id, WorkItem.step_id == step)
                      .order_by(WorkItem.id.desc())).first()  # type: ignore[union-attr]


def _events(db, dossier_id: int) -> list[Event]:
    with db.session() as s:
        return list(s.exec(select(Event).where(Event.dossier_id == dossier_id).order_by(Event.id)).all())


def _uid(rt, name: str) -> int:
    return rt.actor(name).user_id


@pytest.fixture
def appraise(runtime):
    """A household-business dossier whose appraisal step is open at Phòng TC-KH (status 4, processing)."""
    r = sv.receive(runtime.db, runtime.actor("motcua"), "1.001612", applicant="Nguyễn Văn An", now=at(10, 8))
    d = r.dossier_id
    sv.complete(runtime.db, runtime.actor("tckh_head"), _item(runtime.db, d, "assign").id, outcome="done",
                now=at(10, 9))
    return runtime, d, _item(runtime.db, d, "appraise")


def test_the_head_assigns_open_work_to_an_officer_who_alone_may_do_it(appraise):
    rt, d, item = appraise
    db = rt.db
    res = sv.assign(db, rt.actor("tckh_head"), item.id, to="tckh_cv2", now=at(10, 9, 30))
    assert (res.action, res.item_id, res.status) == ("assign", item.id, Status.PROCESSING)
    w = _item(db, d, "appraise")
    assert (w.state, w.assignee_id, w.claimed_at) == ("claimed", _uid(rt, "tckh_cv2"), at(10, 9, 30))
    ev = _events(db, d)[-1]
    assert (ev.action, ev.actor, ev.step_id, ev.from_status, ev.to_status) == ("assign", "tckh_head", "appraise", 4, 4)
    assert ev.data == {"from": None, "to": _uid(rt, "tckh_cv2")}
    with pytest.raises(NotAuthorized, match="claimed by another user"):
        sv.complete(db, rt.actor("tckh_cv"), item.id, outcome="ok", now=at(10, 10))
    with db.session() as s:
        told = s.exec(select(OutboxItem).where(OutboxItem.dossier_id == d, OutboxItem.kind == "notify_user")).all()
    assert [(o.work_item_id, o.payload["user_id"], o.payload["unit"]) for o in told] == [
        (item.id, _uid(rt, "tckh_cv2"), "phong_tckh")]
    tasks = {t.item_id: t.assignee for t in sv.list_tasks(db, now=at(10, 10), unit="phong_tckh")}
    assert tasks[item.id] == "tckh_cv2"
    sv.complete(db, rt.actor("tckh_cv2"), item.id, outcome="ok", now=at(10, 11))
    assert _item(db, d, "appraise").state == "done"


def test_the_head_moves_claimed_work_to_another_officer(appraise, tmp_path):
    rt, d, item = appraise
    sv.claim(rt.db, rt.actor("tckh_cv"), item.id, now=at(10, 9, 10))
    res = sv.assign(rt.db, rt.actor("tckh_head"), item.id, to="tckh_cv2", now=at(10, 14))
    assert res.version == 4  # receive 1, the head's assignment step 2, claim 3, assign 4
    assert _item(rt.db, d, "appraise").assignee_id == _uid(rt, "tckh_cv2")
    assert _events(rt.db, d)[-1].data == {"from": _uid(rt, "tckh_cv"), "to": _uid(rt, "tckh_cv2")}
    with rt.db.session() as s:  # both are told: the new holder, and the one it was taken from
        told = s.exec(select(OutboxItem).where(OutboxItem.dossier_id == d, OutboxItem.kind == "notify_user")
                      .order_by(OutboxItem.id)).all()
    assert [(o.payload["user_id"], o.payload.get("reason")) for o in told] == [
        (_uid(rt, "tckh_cv2"), None), (_uid(rt, "tckh_cv"), "reassigned")]
    from workflows.effects import DeliveryLog, EffectContext, OutboxWork, perform

    log = DeliveryLog(tmp_path / "deliveries.jsonl")
    for o in told:
        perform(EffectContext(rt.db, at(10, 14, 1), "w", log), OutboxWork.of(o))
    new, old = (r["message"] for r in log.records())
    assert new.startswith("tckh_cv2: anh/chị được giao xử lý hồ sơ")
    assert old.startswith("tckh_cv: hồ sơ") and old.endswith("đã được lãnh đạo đơn vị giao cho cán bộ khác; "
                                                             "anh/chị không cần xử lý tiếp.")


def test_the_holder_gives_work_back_and_a_colleague_takes_it(appraise):
    rt, d, item = appraise
    sv.claim(rt.db, rt.actor("tckh_cv"), item.id, now=at(10, 9, 10))
    res = sv.release(rt.db, rt.actor("tckh_cv"), item.id, now=at(10, 9, 20))
    assert (res.action, res.status) == ("release", Status.PROCESSING)
    w = _item(rt.db, d, "appraise")
    assert (w.state, w.assignee_id, w.claimed_at) == ("open", None, None)
    ev = _events(rt.db, d)[-1]
    assert (ev.action, ev.data) == ("release", {"from": _uid(rt, "tckh_cv"), "to": None})
    with rt.db.session() as s:  # the unit is told the work is free again
        told = s.exec(select(OutboxItem).where(OutboxItem.dossier_id == d, OutboxItem.kind == "notify_unit")
                      .order_by(OutboxItem.id.desc())).first()  # type: ignore[union-attr]
    assert (told.work_item_id, told.payload["reason"], told.payload["unit"]) == (item.id, "released", "phong_tckh")
    sv.claim(rt.db, rt.actor("tckh_cv2"), item.id, now=at(10, 9, 30))
    assert _item(rt.db, d, "appraise").assignee_id == _uid(rt, "tckh_cv2")


def test_the_head_releases_work_held_by_an_absent_officer(appraise):
    rt, d, item = appraise
    sv.claim(rt.db, rt.actor("tckh_cv"), item.id, now=at(10, 9, 10))
    sv.release(rt.db, rt.actor("tckh_head"), item.id, now=at(12, 8))
    assert _item(rt.db, d, "appraise").state == "open"
    assert _events(rt.db, d)[-1].actor == "tckh_head"


@pytest.mark.parametrize("who,to,error,match", [
    ("tckh_cv", "tckh_cv2", NotAuthorized, "the head \\(head\\) of phong_tckh does"),
    ("qldt_head", "tckh_cv2", NotAuthorized, "may not assign"),
    ("tckh_head", "qldt_cv", ActionError, "work of phong_tckh/staff"),
    ("tckh_head", "tckh_head", ActionError, "\\(phong_tckh/head\\) may not do"),
    ("tckh_head", "nobody", NotFound, "user 'nobody' does not exist"),
])
def test_a_refused_assignment_changes_nothing(appraise, who, to, error, match):
    rt, d, item = appraise
    before = dump(rt.db)
    with pytest.raises(error, match=match):
        sv.assign(rt.db, rt.actor(who), item.id, to=to, now=at(10, 9, 30))
    assert dump(rt.db) == before


def test_work_is_not_assigned_to_a_deactivated_officer(appraise):
    rt, d, item = appraise
    with rt.db.write() as s:
        s.exec(select(User).where(User.username == "tckh_cv2")).one().active = False
    before = dump(rt.db)
    with pytest.raises(ActionError, match="deactivated"):
        sv.assign(rt.db, rt.actor("tckh_head"), item.id, to="tckh_cv2", now=at(10, 9, 30))
    assert dump(rt.db) == before


def test_refused_releases_change_nothing(appraise):
    rt, d, item = appraise
    before = dump(rt.db)
    with pytest.raises(IllegalAction, match="not claimed by anyone"):  # nobody holds it
        sv.release(rt.db, rt.actor("tckh_cv"), item.id, now=at(10, 9, 20))
    assert dump(rt.db) == before
    sv.claim(rt.db, rt.actor("tckh_cv"), item.id, now=at(10, 9, 10))
    before = dump(rt.db)
    with pytest.raises(NotAuthorized, match="may not release"):  # a colleague may not take it away
        sv.release(rt.db, rt.actor("tckh_cv2"), item.id, now=at(10, 9, 20))
    with pytest.raises(IllegalAction, match="already with user"):
        sv.assign(rt.db, rt.actor("tckh_head"), item.id, to="tckh_cv", now=at(10, 9, 30))
    with pytest.raises(StaleVersion):
        sv.release(rt.db, rt.actor("tckh_cv"), item.id, now=at(10, 9, 20), expected_version=2)
    assert dump(rt.db) == before


def test_closed_and_citizen_work_is_not_assigned(runtime):
    db = runtime.db
    r = sv.receive(db, runtime.actor("motcua"), "1.001612", applicant="Trần B", now=at(10, 8))
    done = _item(db, r.dossier_id, "receive")
    with pytest.raises(IllegalAction, match="is done"):
        sv.assign(db, runtime.actor("motcua"), done.id, to="motcua2", now=at(10, 9))
    r = sv.receive(db, runtime.actor("motcua"), "1.001612", applicant="Lê C", now=at(10, 8), decision="supplement",
                   comment="Bổ sung bản sao hợp đồng thuê địa điểm")
    with db.session() as s:
        citizen = s.exec(select(WorkItem).where(WorkItem.dossier_id == r.dossier_id, WorkItem.kind == "citizen")).one()
    before = dump(db)
    with pytest.raises(NotAuthorized):  # citizen work belongs to no unit, so to no head
        sv.assign(db, runtime.actor("tckh_head"), citizen.id, to="tckh_cv", now=at(10, 9))
    assert dump(db) == before


def test_a_repeated_assignment_with_the_same_key_changes_nothing(appraise):
    rt, d, item = appraise
    first = sv.assign(rt.db, rt.actor("tckh_head"), item.id, to="tckh_cv", now=at(10, 9, 30), idempotency_key="k1")
    after = dump(rt.db)
    again = sv.assign(rt.db, rt.actor("tckh_head"), item.id, to="tckh_cv", now=at(10, 9, 31), idempotency_key="k1")
    assert again.replayed and again.version == first.version and dump(rt.db) == after
    with pytest.raises(DuplicateRequest):
        sv.assign(rt.db, rt.actor("tckh_head"), item.id, to="tckh_cv2", now=at(10, 9, 32), idempotency_key="k1")
    assert dump(rt.db) == after


def test_a_repeated_assignment_naming_the_officer_in_another_case_is_the_same_request(appraise):
    # usernames are case-insensitive ('TCKH_CV' is the account 'tckh_cv'): the repeat replays the first result
    rt, d, item = appraise
    first = sv.assign(rt.db, rt.actor("tckh_head"), item.id, to="tckh_cv", now=at(10, 9, 30), idempotency_key="k1")
    after = dump(rt.db)
    again = sv.assign(rt.db, rt.actor("tckh_head"), item.id, to="TCKH_CV", now=at(10, 9, 31), idempotency_key="k1")
    assert again.replayed and again.version == first.version and dump(rt.db) == after
    with pytest.raises(DuplicateRequest):  # another officer is still another request
        sv.assign(rt.db, rt.actor("tckh_head"), item.id, to="TCKH_CV2", now=at(10, 9, 32), idempotency_key="k1")
    assert dump(rt.db) == after


def test_a_repeated_completion_and_assignment_naming_the_officer_in_another_case_changes_nothing(runtime):
    db = runtime.db
    r = sv.receive(db, runtime.actor("motcua"), "1.001612", applicant="Phạm D", now=at(10, 8))
    step = _item(db, r.dossier_id, "assign")
    sv.complete_and_assign(db, runtime.actor("tckh_head"), step.id, outcome="done", to="tckh_cv2",
                           now=at(10, 9), idempotency_key="ca-1")
    after = dump(db)
    again = sv.complete_and_assign(db, runtime.actor("tckh_head"), step.id, outcome="done", to="Tckh_Cv2",
                                   now=at(10, 9, 1), idempotency_key="ca-1")
    assert again[0].replayed and again[1][0].replayed and dump(db) == after


def test_the_machine_assigns_and_releases_without_touching_the_given_state(catalogue, calendar):
    defn = catalogue.find("1.001612")
    tr = machine.register(defn, "counter", at(10, 8), calendar)
    start = tr.opened[0]
    tr = machine.apply(defn, tr.state, machine.Complete(start, "accept", 1), at(10, 8), calendar)
    assign_step = tr.opened[0]
    state = tr.state
    tr = machine.apply(defn, state, machine.Assign(assign_step, 7), at(10, 9), calendar)
    it = next(i for i in tr.state.items if i.key == assign_step)
    assert (it.state, it.assignee, it.claimed_at, tr.state.status) == ("claimed", 7, at(10, 9), Status.PROCESSING)
    assert next(i for i in state.items if i.key == assign_step).state == "open"  # the input is unchanged
    assert [(e.action, e.data) for e in tr.events] == [("assign", {"from": None, "to": 7})]
    assert [(e.kind, e.item, e.payload["user_id"], e.payload["step"]) for e in tr.effects] == [
        ("notify_user", assign_step, 7, "assign")]
    back = machine.apply(defn, tr.state, machine.Assign(assign_step, None), at(10, 10), calendar)
    it = next(i for i in back.state.items if i.key == assign_step)
    assert (it.state, it.assignee, it.claimed_at) == ("open", None, None)
    assert [(e.kind, e.item, e.payload["reason"]) for e in back.effects] == [("notify_unit", assign_step, "released")]
    assert back.opened == []


def test_the_head_completes_the_assignment_step_and_names_the_officer_at_once(runtime):
    db = runtime.db
    r = sv.receive(db, runtime.actor("motcua"), "1.001612", applicant="Phạm D", now=at(10, 8))
    step = _item(db, r.dossier_id, "assign")
    done, given = sv.complete_and_assign(db, runtime.actor("tckh_head"), step.id, outcome="done", to="tckh_cv2",
                                         now=at(10, 9), comment="Giao chị Thu", idempotency_key="ca-1")
    appraise = _item(db, r.dossier_id, "appraise")
    assert done.opened == [appraise.id] and [g.item_id for g in given] == [appraise.id]
    assert (appraise.state, appraise.assignee_id) == ("claimed", _uid(runtime, "tckh_cv2"))
    assert [e.action for e in _events(db, r.dossier_id)][-2:] == ["complete", "assign"]
    after = dump(db)
    again = sv.complete_and_assign(db, runtime.actor("tckh_head"), step.id, outcome="done", to="tckh_cv2",
                                   now=at(10, 9, 1), comment="Giao chị Thu", idempotency_key="ca-1")
    assert again[0].replayed and again[1][0].replayed and dump(db) == after


def test_a_refused_assignment_leaves_the_step_it_followed_open(runtime):
    db = runtime.db
    r = sv.receive(db, runtime.actor("motcua"), "1.001612", applicant="Vũ E", now=at(10, 8))
    step = _item(db, r.dossier_id, "assign")
    before = dump(db)
    with pytest.raises(ActionError, match="work of phong_tckh/staff"):
        sv.complete_and_assign(db, runtime.actor("tckh_head"), step.id, outcome="done", to="qldt_cv", now=at(10, 9))
    assert dump(db) == before and _item(db, r.dossier_id, "assign").state == "open"
    # the signature opens the issuing step at the office (van_phong): nothing of Phòng TC-KH to give
    sv.complete(db, runtime.actor("tckh_head"), step.id, outcome="done", now=at(10, 9))
    sv.complete(db, runtime.actor("tckh_cv"), _item(db, r.dossier_id, "appraise").id, outcome="ok", now=at(10, 10))
    sv.complete(db, runtime.actor("tckh_head"), _item(db, r.dossier_id, "check").id, outcome="ok", now=at(10, 11))
    sign = _item(db, r.dossier_id, "sign")
    before = dump(db)
    with pytest.raises(ActionError, match="opens no step of phong_tckh"):
        sv.complete_and_assign(db, runtime.actor("tckh_head"), sign.id, outcome="approve", to="tckh_cv",
                               now=at(10, 12))
    assert dump(db) == before and _item(db, r.dossier_id, "sign").state == "open"
    done, given = sv.complete_and_assign(db, runtime.actor("tckh_head"), sign.id, outcome="approve", to="tckh_cv",
                                         now=at(10, 12), strict=False)  # as the web form: just the signature
    assert given == [] and done.action == "complete" and _item(db, r.dossier_id, "sign").state == "done"


def test_the_officer_is_told_by_name_when_the_outbox_item_is_performed(appraise, tmp_path):
    from workflows.effects import DeliveryLog, EffectContext, OutboxWork, perform

    rt, d, item = appraise
    sv.assign(rt.db, rt.actor("tckh_head"), item.id, to="tckh_cv2", now=at(10, 9, 30))
    with rt.db.session() as s:
        row = s.exec(select(OutboxItem).where(OutboxItem.dossier_id == d, OutboxItem.kind == "notify_user")).one()
    log = DeliveryLog(tmp_path / "deliveries.jsonl")
    done = perform(EffectContext(rt.db, at(10, 9, 31), "w", log), OutboxWork.of(row))
    assert (done["channel"], done["to"], done["delivered"]) == ("user", "tckh_cv2", True)
    (record,) = log.records()
    assert record["message"].startswith("tckh_cv2: anh/chị được giao xử lý hồ sơ 1.001612-")
    assert f"bước '{item.step_name}'" in record["message"]  # the step's Vietnamese name
    assert record["message"].endswith(", hạn xử lý 09:00 ngày 11/03/2026.")  # the step's own due instant
    again = perform(EffectContext(rt.db, at(10, 9, 32), "w", log), OutboxWork.of(row))
    assert again["duplicate"] and len(log.records()) == 1  # performed twice, delivered once


def test_the_unit_is_told_in_vietnamese_that_released_work_is_free_again(appraise, tmp_path):
    from workflows.effects import DeliveryLog, EffectContext, OutboxWork, perform

    rt, d, item = appraise
    sv.claim(rt.db, rt.actor("tckh_cv"), item.id, now=at(10, 9, 10))
    sv.release(rt.db, rt.actor("tckh_cv"), item.id, now=at(10, 9, 20))
    with rt.db.session() as s:
        rows = s.exec(select(OutboxItem).where(OutboxItem.dossier_id == d, OutboxItem.kind == "notify_unit")
                      .order_by(OutboxItem.id)).all()
    log = DeliveryLog(tmp_path / "deliveries.jsonl")
    for row in rows[-2:]:  # the appraisal opened, then given back
        perform(EffectContext(rt.db, at(10, 9, 31), "w", log), OutboxWork.of(row))
    opened, released = (r["message"] for r in log.records())
    assert opened == f"Phòng TC-KH: hồ sơ {rows[-1].payload['dossier_code']} chuyển đến bước '{item.step_name}', " \
                     f"hạn xử lý 09:00 ngày 11/03/2026."
    assert released.startswith(f"Phòng TC-KH: hồ sơ {rows[-1].payload['dossier_code']}, bước '{item.step_name}' "
                               f"được trả lại đơn vị, chờ cán bộ nhận xử lý")
