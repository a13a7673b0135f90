"""The services on a real database: the three catalogue procedures end to end, the clock,
authorization, optimistic locking, idempotency, the outbox and the timers."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from engine import services as sv
from engine import sla
from engine.calendar import LOCAL_TZ
from engine.definition import definition_from_data
from engine.errors import ActionError, DuplicateRequest, IllegalAction, NotAuthorized, NotFound, StaleVersion
from engine.machine import Status
from engine.store import Apology, Dossier, Event, OutboxItem, WorkItem, dump
from engine.yamlsrc import load_text

HANOI = dt.timezone(dt.timedelta(hours=7))


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> dt.datetime:
    """An instant of March 2026, Hanoi time."""
    return dt.datetime(2026, month, day, hour, minute, tzinfo=HANOI)


class Run:
    """A little driver over the services for one test."""

    def __init__(self, runtime):
        self.rt = runtime
        self.db = runtime.db

    def actor(self, name):
        return self.rt.actor(name)

    def definition(self, code: str):
        return sv.current_definition(self.db, code)[1]

    def item(self, dossier_id: int, step: str) -> WorkItem:
        with self.db.session() as s:
            rows = s.exec(select(WorkItem).where(WorkItem.dossier_id == dossier_id, WorkItem.step_id == step,
                                                 WorkItem.state.in_(("open", "claimed")))).all()
        assert len(rows) == 1, f"{len(rows)} open items of step {step}"
        return rows[0]

    def open_steps(self, dossier_id: int) -> list[str]:
        with self.db.session() as s:
            return sorted(w.step_id for w in s.exec(select(WorkItem).where(
                WorkItem.dossier_id == dossier_id, WorkItem.state.in_(("open", "claimed")))).all())

    def dossier(self, dossier_id: int) -> Dossier:
        with self.db.session() as s:
            return s.get(Dossier, dossier_id)

    def step(self, dossier_id: int, step: str, user: str, outcome: str | None, when: dt.datetime, **kw):
        item = self.item(dossier_id, step)
        return sv.complete(self.db, self.actor(user), item.id, outcome=outcome, now=when, **kw)

    def outbox(self, dossier_id: int) -> list[OutboxItem]:
        with self.db.session() as s:
            return list(s.exec(select(OutboxItem).where(OutboxItem.dossier_id == dossier_id)
                               .order_by(OutboxItem.id)).all())

    def events(self, dossier_id: int) -> list[Event]:
        with self.db.session() as s:
            return list(s.exec(select(Event).where(Event.dossier_id == dossier_id).order_by(Event.id)).all())


@pytest.fixture
def run(runtime) -> Run:
    return Run(runtime)


# --------------------------------------------------------------------------- end to end


def test_household_business_three_working_days_end_to_end(run):
    r = sv.receive(run.db, run.actor("motcua"), "1.001612", applicant="Nguyễn Văn An", now=at(10, 8))
    assert (r.status, r.version, r.dossier_code) == (2, 1, "1.001612-20260310-000001")
    d = r.dossier_id
    defn = run.definition("1.001612")
    assert run.dossier(d).due_at == run.rt.calendar.add(at(10, 8), defn.time_limit.minutes)
    run.step(d, "assign", "tckh_head", "done", at(10, 9))
    cv = run.actor("tckh_cv")
    res = sv.claim(run.db, cv, run.item(d, "appraise").id, now=at(10, 10))
    assert res.status == Status.PROCESSING
    run.step(d, "appraise", "tckh_cv", "ok", at(11, 9), comment="Đủ điều kiện")
    run.step(d, "check", "tckh_head", "ok", at(11, 13))
    res = sv.sign(run.db, run.actor("tckh_head"), run.item(d, "sign").id, now=at(11, 15))
    assert res.action == "sign"
    run.step(d, "issue", "vanthu", "done", at(11, 16))
    assert run.dossier(d).status == Status.DONE
    res = sv.return_result(run.db, run.actor("motcua"), run.item(d, "deliver").id, now=at(12, 8, 30))
    assert res.status == Status.RETURNED and res.opened == []
    dossier = run.dossier(d)
    assert dossier.closed_at == at(12, 8, 30) and dossier.result == "result" and dossier.timeliness == "early"
    sheet = sv.dossier_sheet(run.db, dossier.code)
    spent = [(row.step_id, row.spent_minutes) for row in sheet.rows]
    assert spent == [("receive", 0), ("assign", 60), ("appraise", 480), ("check", 180), ("sign", 120),
                     ("issue", 60), ("deliver", 90)]
    for row in sheet.rows:
        assert row.allotted_minutes == defn.step(row.step_id).duration
        assert row.timeliness == sla.classify_closed(row.allotted_minutes, row.spent_minutes)
    kinds = [o.kind for o in run.outbox(d)]
    assert kinds.count("issue_receipt") == 1 and kinds.count("publish_result") == 1
    # every step opened at a unit, but the reception step, opened and done at the counter in one action
    assert kinds.count("notify_unit") == 6
    assert all(o.payload["step"] != "receive" for o in run.outbox(d) if o.kind == "notify_unit")
    assert len({o.idempotency_key for o in run.outbox(d)}) == len(kinds)
    actions = [e.action for e in run.events(d)]
    assert actions == ["register", "accept", "complete", "claim", "complete", "complete", "sign", "complete",
                       "return_result"]


def test_building_permit_parallel_consultation_joins(run):
    r = sv.receive(run.db, run.actor("motcua"), "1.013225", applicant="Công ty X", now=at(10, 8))
    d = r.dossier_id
    run.step(d, "assign", "qldt_head", "done", at(10, 9))
    res = run.step(d, "appraise", "qldt_cv", "ok", at(11, 9))
    assert len(res.opened) == 2
    assert run.open_steps(d) == ["consult_commune", "site_check"]
    commune = run.item(d, "consult_commune")
    assert commune.due_at == run.rt.calendar.add(at(11, 9), commune.allotted_minutes)
    assert commune.allotted_minutes == run.definition("1.013225").step("consult_commune").duration
    with pytest.raises(NotAuthorized):  # the office may not answer for the commune
        sv.complete(run.db, run.actor("qldt_cv"), commune.id, outcome="done", now=at(12, 9))
    run.step(d, "site_check", "qldt_cv", "done", at(12, 9))
    assert run.open_steps(d) == ["consult_commune"]
    assert run.events(d)[-1].action == "join_wait"
    run.step(d, "consult_commune", "xa_dat", "done", at(16, 9))
    assert run.open_steps(d) == ["report"]
    run.step(d, "report", "qldt_cv", "ok", at(17, 9))
    run.step(d, "check", "qldt_head", "ok", at(17, 14))
    sv.sign(run.db, run.actor("ld_pct"), run.item(d, "sign").id, now=at(18, 9))
    run.step(d, "issue", "vanthu", "done", at(18, 10))
    sv.return_result(run.db, run.actor("motcua"), run.item(d, "deliver").id, now=at(18, 14))
    assert run.dossier(d).status == Status.RETURNED


def test_birth_registration_same_day_before_and_after_cutoff(run):
    early = sv.receive(run.db, run.actor("xa_motcua"), "1.001193", applicant="Bé A", now=at(10, 14, 30))
    late = sv.receive(run.db, run.actor("xa_motcua"), "1.001193", applicant="Bé B", now=at(10, 15, 30))
    assert run.dossier(early.dossier_id).due_at == at(10, 17)
    assert run.dossier(late.dossier_id).due_at == at(11, 17)
    d = early.dossier_id
    run.step(d, "verify", "xa_tuphap", "done", at(10, 15))
    sv.sign(run.db, run.actor("xa_ct"), run.item(d, "sign").id, now=at(10, 15, 30))
    sv.return_result(run.db, run.actor("xa_motcua"), run.item(d, "deliver").id, now=at(10, 16))
    dossier = run.dossier(d)
    assert (dossier.status, dossier.timeliness) == (Status.RETURNED, "early")


def test_online_submission_starts_the_clock_when_accepted(run):
    r = sv.submit(run.db, sv.SYSTEM, "1.001612", applicant="Hoàng E", now=at(10, 20), channel="online")
    d = r.dossier_id
    dossier = run.dossier(d)
    assert (dossier.status, dossier.received_at, dossier.due_at, dossier.channel) == (1, None, None, "online")
    told = [o.payload["step"] for o in run.outbox(d) if o.kind == "notify_unit"]
    assert told == ["receive"]  # filed online: the counter is told a reception waits for it
    run.step(d, "receive", "motcua", "accept", at(11, 8, 30))
    dossier = run.dossier(d)
    limit = run.definition("1.001612").time_limit.minutes
    assert dossier.received_at == at(11, 8, 30)
    assert dossier.due_at == run.rt.calendar.add(at(11, 8, 30), limit)


def test_refusal_and_counter_supplement_decisions(run):
    with pytest.raises(ActionError, match="refusal needs its reason"):
        sv.receive(run.db, run.actor("motcua"), "1.001612", applicant="F", now=at(10, 8), decision="refuse")
    r = sv.receive(run.db, run.actor("motcua"), "1.001612", applicant="F", now=at(10, 8), decision="refuse",
                   comment="Không thuộc thẩm quyền")
    assert r.status == Status.NOT_RECEIVED
    assert "BM03" in [o.payload.get("form") for o in run.outbox(r.dossier_id)]
    sv.return_result(run.db, run.actor("motcua"), run.item(r.dossier_id, "refuse_counter").id, now=at(10, 8, 20))
    assert run.dossier(r.dossier_id).closed_at is not None and run.dossier(r.dossier_id).status == 3
    with pytest.raises(ActionError, match="what to supplement"):  # guided once, in writing (form 02)
        sv.receive(run.db, run.actor("motcua"), "1.001612", applicant="G", now=at(10, 9), decision="supplement",
                   comment="  ")
    s = sv.receive(run.db, run.actor("motcua"), "1.001612", applicant="G", now=at(10, 9), decision="supplement",
                   comment="Bổ sung bản sao căn cước của chủ hộ")
    assert s.status == Status.SUPPLEMENT
    res = sv.supplement_received(run.db, run.actor("motcua"), s.dossier_code, now=at(12, 9))
    assert res.status == Status.NEW and run.open_steps(s.dossier_id) == ["receive"]
    with pytest.raises(IllegalAction, match="decision|has no outcome 'maybe'"):
        sv.receive(run.db, run.actor("motcua"), "1.001612", applicant="H", now=at(10, 8), decision="maybe")


def test_supplement_during_appraisal_pauses_the_clock(run):
    r = sv.receive(run.db, run.actor("motcua"), "1.013225", applicant="I", now=at(10, 8))
    d = r.dossier_id
    due = run.dossier(d).due_at
    run.step(d, "assign", "qldt_head", "done", at(10, 9))
    res = sv.request_supplement(run.db, run.actor("qldt_cv"), run.item(d, "appraise").id, now=at(11, 10),
                                comment="Thiếu bản vẽ")
    assert res.status == Status.SUPPLEMENT
    assert run.dossier(d).paused_at == at(11, 10)
    tasks = sv.list_tasks(run.db, now=at(12, 10))
    assert [(t.step_id, t.paused, t.timeliness) for t in tasks] == [("supplement", True, None)]
    with pytest.raises(NotAuthorized, match="one-stop unit 'bp_mot_cua'"):
        sv.supplement_received(run.db, run.actor("qldt_cv"), d, now=at(16, 14))
    sv.supplement_received(run.db, run.actor("motcua"), d, now=at(16, 14))
    dossier = run.dossier(d)
    paused = run.rt.calendar.elapsed(at(11, 10), at(16, 14))
    assert dossier.paused_minutes == paused == 1620
    assert dossier.due_at == run.rt.calendar.add(due, paused)
    assert dossier.paused_at is None and dossier.status == Status.PROCESSING
    assert [e.action for e in run.events(d)][-3:] == ["clock_resume", "supplemented", "assign"]
    told = [o.payload for o in run.outbox(d) if o.kind == "notify_citizen"][-1]  # the new appointment
    assert (told["reason"], dt.datetime.fromisoformat(told["due_before"]), dt.datetime.fromisoformat(told["due_at"])
            ) == ("appointment_moved", due, dossier.due_at)


def test_after_a_supplement_the_appraisal_goes_back_to_the_officer_who_asked_for_it(run):
    """The officer in charge (chuyên viên thụ lý) asked for the supplement: when the one-stop unit records it,
    the reopened appraisal is theirs again, claimed in their name by the system (event 'assign', the officer
    told), not left in the unit's queue for anyone. An officer who has since left the unit, or been disabled,
    gets nothing: the step is open to the unit as before."""
    from engine.store import User

    def asked(applicant: str, hour: int) -> int:
        r = sv.receive(run.db, run.actor("motcua"), "1.013225", applicant=applicant, now=at(10, hour))
        run.step(r.dossier_id, "assign", "qldt_head", "done", at(10, hour, 30))
        sv.claim(run.db, run.actor("qldt_cv"), run.item(r.dossier_id, "appraise").id, now=at(11, 9))
        sv.request_supplement(run.db, run.actor("qldt_cv"), run.item(r.dossier_id, "appraise").id, now=at(11, 10),
                              comment="Thiếu bản vẽ")
        return r.dossier_id

    kept, left = asked("Giữ người thụ lý", 8), asked("Người thụ lý đã chuyển", 9)
    sv.supplement_received(run.db, run.actor("motcua"), kept, now=at(16, 14))
    again = run.item(kept, "appraise")
    officer = run.actor("qldt_cv")
    assert (again.state, again.assignee_id, again.claimed_at) == ("claimed", officer.user_id, at(16, 14))
    assign = run.events(kept)[-1]
    assert (assign.action, assign.actor, assign.data["to"]) == ("assign", "system", officer.user_id)
    assert "trước khi chờ bổ sung hồ sơ" in assign.comment
    assert any(o.kind == "notify_user" and o.payload["user_id"] == officer.user_id for o in run.outbox(kept))
    sv.complete(run.db, officer, again.id, outcome="ok", now=at(16, 15))  # theirs to finish, no claim needed
    with run.db.write() as s:  # the officer moved to another office meanwhile
        s.get(User, officer.user_id).unit_id = "phong_tckh"
    sv.supplement_received(run.db, run.actor("motcua"), left, now=at(16, 14))
    reopened = run.item(left, "appraise")
    assert (reopened.state, reopened.assignee_id) == ("open", None)
    assert run.events(left)[-1].action == "supplemented"


def test_work_sent_back_for_rework_goes_back_to_the_officer_who_did_it(run):
    """The head's check sends the appraisal back (rework), later the signer rejects it: each time the
    appraisal reopens claimed in the name of the officer who did it, by the system (event 'assign', the
    officer told), not in the unit's queue. The head who names an officer himself (complete_and_assign) gets
    his choice with no hand-back first; an officer no longer at the unit gets nothing: the step is open."""
    from engine.store import User

    cv, cv2, head = run.actor("tckh_cv"), run.actor("tckh_cv2"), run.actor("tckh_head")

    def appraised(applicant: str, hour: int) -> int:
        r = sv.receive(run.db, run.actor("motcua"), "1.001612", applicant=applicant, now=at(10, hour))
        run.step(r.dossier_id, "assign", "tckh_head", "done", at(10, hour, 10))
        first = run.item(r.dossier_id, "appraise")
        assert (first.state, first.assignee_id) == ("open", None)  # opened for the first time: the unit's
        sv.claim(run.db, cv, first.id, now=at(10, hour, 20))
        run.step(r.dossier_id, "appraise", "tckh_cv", "ok", at(10, hour, 40))
        return r.dossier_id

    d = appraised("Trả lại thẩm định", 8)
    before = dump(run.db)
    with pytest.raises(ActionError, match="sending the dossier back needs why and what to redo"):
        run.step(d, "check", "tckh_head", "rework", at(10, 14), comment="  ")  # the officer must know why
    assert dump(run.db) == before
    run.step(d, "check", "tckh_head", "rework", at(10, 14), comment="Bổ sung ý kiến về địa điểm")
    again = run.item(d, "appraise")
    assert (again.state, again.assignee_id, again.claimed_at, again.attempt) == ("claimed", cv.user_id, at(10, 14), 2)
    given = run.events(d)[-1]
    assert (given.action, given.actor, given.data["to"]) == ("assign", "system", cv.user_id)
    assert given.comment == "Giao lại cho người đã xử lý bước này lần trước (hồ sơ được trả lại để xử lý lại)"
    assert any(o.kind == "notify_user" and o.payload["user_id"] == cv.user_id and o.payload["step"] == "appraise"
               for o in run.outbox(d))
    sv.complete(run.db, cv, again.id, outcome="ok", now=at(10, 15))  # theirs: no claim needed
    run.step(d, "check", "tckh_head", "ok", at(10, 16))
    with pytest.raises(ActionError, match="sending the dossier back needs why"):
        sv.sign(run.db, head, run.item(d, "sign").id, outcome="reject", now=at(11, 9))
    assert sv.reason_needed(run.definition("1.001612"), "sign", "approve") is None
    sv.sign(run.db, head, run.item(d, "sign").id, outcome="reject", now=at(11, 9), comment="Sai tên hộ kinh doanh")
    third = run.item(d, "appraise")
    assert (third.state, third.assignee_id, third.attempt) == ("claimed", cv.user_id, 3)

    # the head sends it back and names another officer: that officer, and no system hand-back to the first
    chosen = appraised("Trưởng phòng giao người khác", 9)
    done, given_to = sv.complete_and_assign(run.db, head, run.item(chosen, "check").id, outcome="rework",
                                            to="tckh_cv2", now=at(10, 14, 30), comment="Giao đồng chí khác")
    assert [g.action for g in given_to] == ["assign"]
    assert run.item(chosen, "appraise").assignee_id == cv2.user_id
    assigns = [e for e in run.events(chosen) if e.action == "assign"]
    assert [(e.actor, e.data["to"]) for e in assigns] == [("tckh_head", cv2.user_id)]
    assert not any(o.kind == "notify_user" and o.payload.get("user_id") == cv.user_id for o in run.outbox(chosen))

    # the officer moved to another office: the reopened appraisal is the unit's again
    left = appraised("Người thụ lý đã chuyển", 10)
    with run.db.write() as s:
        s.get(User, cv.user_id).unit_id = "phong_qldt"
    run.step(left, "check", "tckh_head", "rework", at(10, 15), comment="Làm lại")
    reopened = run.item(left, "appraise")
    assert (reopened.state, reopened.assignee_id) == ("open", None)
    assert run.events(left)[-1].action == "complete"


def test_withdraw_and_stop(run):
    a = sv.receive(run.db, run.actor("motcua"), "1.001612", applicant="J", now=at(10, 8))
    b = sv.receive(run.db, run.actor("motcua"), "1.001612", applicant="K", now=at(10, 8))
    with pytest.raises(NotAuthorized):
        sv.withdraw(run.db, run.actor("tckh_head"), a.dossier_id, now=at(10, 9), comment="Đơn rút hồ sơ")
    with pytest.raises(ActionError, match="written request"):  # the applicant's request is what it rests on
        sv.withdraw(run.db, run.actor("motcua"), a.dossier_id, now=at(10, 9), comment="  ")
    assert run.open_steps(a.dossier_id) != []
    res = sv.withdraw(run.db, sv.SYSTEM, a.dossier_id, now=at(10, 9), comment="Đơn rút hồ sơ")
    assert res.status == Status.WITHDRAWN and run.open_steps(a.dossier_id) == []
    with pytest.raises(ActionError, match="give the reason"):
        sv.stop(run.db, run.actor("motcua"), b.dossier_id, now=at(10, 9), reason=" ")
    with pytest.raises(NotAuthorized):
        sv.stop(run.db, sv.SYSTEM, b.dossier_id, now=at(10, 9), reason="x")
    res = sv.stop(run.db, run.actor("motcua"), b.dossier_id, now=at(10, 9), reason="Giấy tờ giả")
    assert res.status == Status.STOPPED
    assert "stop_notice" in [o.payload.get("form") for o in run.outbox(b.dossier_id)]
    with pytest.raises(IllegalAction, match="can no longer be stopped"):
        sv.stop(run.db, run.actor("motcua"), b.dossier_id, now=at(10, 10), reason="again")


# --------------------------------------------------------------------------- refusals change nothing


def test_stale_version_is_refused_and_changes_nothing(run):
    r = sv.receive(run.db, run.actor("motcua"), "1.001612", applicant="L", now=at(10, 8))
    item = run.item(r.dossier_id, "assign").id
    sv.claim(run.db, run.actor("tckh_head"), item, now=at(10, 8, 30), expected_version=1)
    before = dump(run.db)
    with pytest.raises(StaleVersion, match="is at version 2, not 1"):
        sv.complete(run.db, run.actor("tckh_head"), item, outcome="done", now=at(10, 9), expected_version=1)
    assert dump(run.db) == before
    res = sv.complete(run.db, run.actor("tckh_head"), item, outcome="done", now=at(10, 9), expected_version=2)
    assert res.version == 3


def test_idempotency_key_replays_the_first_result(run):
    args = dict(applicant="M", now=at(10, 8), idempotency_key="portal-42")
    first = sv.receive(run.db, run.actor("motcua"), "1.001612", **args)
    before = dump(run.db)
    again = sv.receive(run.db, run.actor("motcua"), "1.001612", **{**args, "now": at(10, 8, 5)})
    assert again.replayed and again.as_dict() == first.as_dict()
    assert dump(run.db) == before
    with pytest.raises(DuplicateRequest, match="'portal-42' was already used"):
        sv.receive(run.db, run.actor("motcua"), "1.001612", applicant="Someone else", now=at(10, 8),
                   idempotency_key="portal-42")
    assert dump(run.db) == before
    item = run.item(first.dossier_id, "assign").id
    done = sv.complete(run.db, run.actor("tckh_head"), item, outcome="done", now=at(10, 9), idempotency_key="c1")
    mid = dump(run.db)
    assert sv.complete(run.db, run.actor("tckh_head"), item, outcome="done", now=at(10, 9),
                       idempotency_key="c1").as_dict() == done.as_dict()
    assert dump(run.db) == mid


def test_item_claimed_by_another_user_is_not_yours(run):
    r = sv.receive(run.db, run.actor("motcua"), "1.001612", applicant="N", now=at(10, 8))
    run.step(r.dossier_id, "assign", "tckh_head", "done", at(10, 9))
    item = run.item(r.dossier_id, "appraise").id
    sv.claim(run.db, run.actor("tckh_cv"), item, now=at(10, 9, 30))
    before = dump(run.db)
    with pytest.raises(NotAuthorized, match="claimed by another user"):
        sv.complete(run.db, run.actor("tckh_cv2"), item, outcome="ok", now=at(10, 10))
    with pytest.raises(NotAuthorized, match="claimed by another user"):
        sv.claim(run.db, run.actor("tckh_cv2"), item, now=at(10, 10))
    assert dump(run.db) == before


def test_unknown_things_are_not_found(run):
    with pytest.raises(NotFound, match="work item 999"):
        sv.complete(run.db, run.actor("motcua"), 999, outcome="ok", now=at(10, 8))
    with pytest.raises(NotFound, match="dossier 'HS-x'"):
        sv.withdraw(run.db, run.actor("motcua"), "HS-x", now=at(10, 8), comment="Đơn rút")
    with pytest.raises(NotFound, match="procedure '9.999999' is not published"):
        sv.receive(run.db, run.actor("motcua"), "9.999999", applicant="O", now=at(10, 8))
    with pytest.raises(NotFound, match="user 'ghost' does not exist"):
        sv.get_actor(run.db, "ghost")


def test_add_user_checks_unit_role_and_name(run):
    with pytest.raises(NotFound, match="unit 'phong_x' does not exist"):
        sv.add_user(run.db, "p", unit="phong_x", role="staff", now=at(10, 8))
    with pytest.raises(ActionError, match="has no role 'boss'; its roles: head, staff"):
        sv.add_user(run.db, "p", unit="phong_tckh", role="boss", now=at(10, 8))
    with pytest.raises(ActionError, match="already exists"):
        sv.add_user(run.db, "motcua", unit="bp_mot_cua", role="staff", now=at(10, 8))
    actor = sv.add_user(run.db, "p.nguyen", unit="phong_tckh", role="staff", now=at(10, 8), password="bí mật")
    assert sv.get_actor(run.db, "p.nguyen") == actor
    from engine.store import User

    with run.db.session() as s:
        stored = s.exec(select(User).where(User.username == "p.nguyen")).one().password_hash
    assert stored.startswith("$argon2id$")
    assert sv.check_password("bí mật", stored) and not sv.check_password("sai", stored)


# --------------------------------------------------------------------------- definitions


def test_running_dossiers_keep_their_definition_version(run, catalogue):
    from dataclasses import replace

    old = sv.receive(run.db, run.actor("motcua"), "1.001612", applicant="P", now=at(10, 8))
    defn = catalogue.find("1.001612")
    assert sv.publish_definition(run.db, defn, now=at(10, 9)).version == 1  # unchanged: same row
    original = defn.step("assign").duration
    steps = tuple(replace(s, duration=original + 30) if s.id == "assign" else s for s in defn.steps)
    row = sv.publish_definition(run.db, replace(defn, steps=steps), now=at(10, 9))
    assert row.version == 2
    new = sv.receive(run.db, run.actor("motcua"), "1.001612", applicant="Q", now=at(10, 10))
    assert run.dossier(old.dossier_id).definition_version == 1
    assert run.dossier(new.dossier_id).definition_version == 2
    assert run.item(old.dossier_id, "assign").allotted_minutes == original
    assert run.item(new.dossier_id, "assign").allotted_minutes == original + 30


AUTOMATED = """
code: "9.000002"
name: "Thủ tục thử nghiệm có bước tự động"
field: "Thử"
level: district
authority: "UBND"
time_limit: {value: 2, unit: working_days}
steps:
  - {id: receive, name: "Tiếp nhận", unit: bp_mot_cua, role: staff, duration: 1h, routes: {accept: lookup}}
  - {id: lookup, name: "Tra cứu cơ sở dữ liệu", kind: automated, duration: 30m, routes: {found: give, missing: give}}
  - {id: give, name: "Trả kết quả", kind: return, unit: bp_mot_cua, role: staff, duration: 1h, ends: result}
"""


def test_automated_step_goes_to_the_outbox_and_only_the_system_completes_it(run):
    defn = definition_from_data(load_text(AUTOMATED, "<auto>"), "<auto>")
    sv.publish_definition(run.db, defn, now=at(10, 7))
    r = sv.receive(run.db, run.actor("motcua"), "9.000002", applicant="R", now=at(10, 8))
    claimed = sv.claim_outbox(run.db, worker="w1", limit=50, now=at(10, 8))
    runs = [o for o in claimed if o.kind == "run_automated_step"]
    assert len(runs) == 1 and runs[0].payload["step"] == "lookup"
    item = runs[0].work_item_id
    with pytest.raises(NotAuthorized, match="only the system completes it"):
        sv.complete(run.db, run.actor("motcua"), item, outcome="found", now=at(10, 8, 5))
    res = sv.complete(run.db, sv.SYSTEM, item, outcome="found", now=at(10, 8, 5),
                      idempotency_key=f"outbox:{runs[0].id}")
    sv.complete_outbox(run.db, runs[0].id, worker="w1", now=at(10, 8, 5), result={"item": res.item_id})
    assert run.open_steps(r.dossier_id) == ["give"]
    with pytest.raises(NotAuthorized, match="the system may not do it"):
        sv.return_result(run.db, sv.SYSTEM, run.item(r.dossier_id, "give").id, now=at(10, 9))


# --------------------------------------------------------------------------- outbox


def test_outbox_claim_complete_fail_retry(run):
    r = sv.receive(run.db, run.actor("motcua"), "1.001612", applicant="S", now=at(10, 8))
    r2 = sv.receive(run.db, run.actor("motcua"), "1.001612", applicant="S2", now=at(10, 8))
    ids = r.outbox + r2.outbox  # each: the receipt and the next unit's notice
    assert len(ids) == 4
    hour = dt.timedelta(hours=1)
    first = sv.claim_outbox(run.db, worker="w1", limit=2, now=at(10, 8), lease=hour)
    assert [o.id for o in first] == ids[:2] and all(o.attempts == 1 and o.lease_owner == "w1" for o in first)
    assert [o.id for o in sv.claim_outbox(run.db, worker="w2", limit=10, now=at(10, 8), lease=hour)] == ids[2:]
    assert sv.claim_outbox(run.db, worker="w3", limit=10, now=at(10, 8, 1)) == []
    done = sv.complete_outbox(run.db, ids[0], worker="w1", now=at(10, 8, 1), result={"sent": True})
    assert done.state == "done" and done.result == {"sent": True}
    with pytest.raises(StaleVersion, match="not claimed by worker 'w1'"):
        sv.complete_outbox(run.db, ids[0], worker="w1", now=at(10, 8, 2))
    failed = sv.fail_outbox(run.db, ids[1], worker="w1", now=at(10, 8, 1), error="SMTP down",
                            retry_at=at(10, 8, 30))
    assert failed.state == "pending" and failed.last_error == "SMTP down"
    assert sv.claim_outbox(run.db, worker="w3", limit=10, now=at(10, 8, 29)) == []
    again = sv.claim_outbox(run.db, worker="w3", limit=10, now=at(10, 8, 30))
    assert [(o.id, o.attempts) for o in again] == [(ids[1], 2)]
    gave_up = sv.fail_outbox(run.db, ids[1], worker="w3", now=at(10, 8, 31), error="still down", retry_at=None)
    assert gave_up.state == "failed"
    # w2 never finished ids[2]: its lease expired, another worker takes it; done and failed items stay put
    assert [(o.id, o.attempts) for o in sv.claim_outbox(run.db, worker="w4", limit=10, now=at(20, 8))] == [
        (ids[2], 2), (ids[3], 2)]
    with pytest.raises(NotFound):
        sv.complete_outbox(run.db, 10_000, worker="w1", now=at(10, 9))


# --------------------------------------------------------------------------- timers


def test_sweep_marks_nearly_due_then_overdue_once(run):
    r = sv.receive(run.db, run.actor("motcua"), "1.001612", applicant="T", now=at(10, 8))
    d = r.dossier_id
    item = run.item(d, "assign")  # opened at 08:00: nearly due from 75 % of its time, overdue after it
    cal, allotted = run.rt.calendar, item.allotted_minutes
    policy = sla.SlaPolicy(nearly_due_percent=75, nearly_due_minutes_left=0)
    res = sv.sweep_timers(run.db, now=cal.add(at(10, 8), allotted // 2), policy=policy)
    assert (res.checked, res.changed) == (1, 0)
    nearly = cal.add(at(10, 8), -(-allotted * 3 // 4))
    res = sv.sweep_timers(run.db, now=nearly, policy=policy)
    assert res.nearly_due == 1 and run.item(d, "assign").timeliness == "nearly_due"
    before = dump(run.db)
    assert sv.sweep_timers(run.db, now=nearly, policy=policy).changed == 0
    assert dump(run.db) == before
    res = sv.sweep_timers(run.db, now=cal.add(at(10, 8), allotted + 5), policy=policy)
    assert res.overdue == 1 and run.item(d, "assign").timeliness == "overdue"
    heads = [o for o in run.outbox(d) if o.kind == "notify_unit_head"]
    assert [(o.payload["reason"], o.payload["unit"], o.payload["role"]) for o in heads] == [
        ("nearly_due", "phong_tckh", "head"), ("overdue", "phong_tckh", "head")]
    timeliness_events = [e for e in run.events(d) if e.action == "timeliness"]
    assert [(e.data["from"], e.data["to"], e.work_item_id) for e in timeliness_events] == [
        (None, "nearly_due", item.id), ("nearly_due", "overdue", item.id)]


def test_sweep_catches_up_after_downtime_and_drafts_one_apology(run):
    r = sv.receive(run.db, run.actor("motcua"), "1.001612", applicant="U", now=at(10, 8))
    d = r.dossier_id
    run.step(d, "assign", "tckh_head", "done", at(10, 9))
    cal, defn, due = run.rt.calendar, run.definition("1.001612"), run.dossier(d).due_at
    # Nobody appraises; the worker was down until 7 working hours before the appointment.
    now = cal.sub(due, 420)
    assert cal.elapsed(at(10, 9), now) > defn.step("appraise").duration  # appraise overran
    need = sum(defn.step(s).duration for s in ("check", "sign", "issue", "deliver"))  # nothing left of appraise
    assert need > 420
    res = sv.sweep_timers(run.db, now=now)
    assert res.overdue == 1 and res.nearly_due == 0  # straight to overdue: the missed class is skipped
    assert res.apologies == 1
    with run.db.session() as s:
        apology = s.exec(select(Apology).where(Apology.dossier_id == d)).one()
    assert apology.due_at == due and apology.remaining_minutes == 420
    assert apology.needed_minutes == need
    assert apology.proposed_due_at == cal.add(now, need)
    assert apology.reason == "" and apology.state == "draft"
    before = dump(run.db)
    assert sv.sweep_timers(run.db, now=now).changed == 0
    assert dump(run.db) == before
    assert sv.sweep_timers(run.db, now=now + dt.timedelta(minutes=30)).apologies == 0
    forms = [o.payload.get("form") for o in run.outbox(d) if o.kind == "produce_form"]
    assert forms.count("BM04") == 1
    assert [e.action for e in run.events(d)].count("apology") == 1
    res = sv.sweep_timers(run.db, now=due + dt.timedelta(minutes=2))
    assert res.dossiers_overdue == 1 and run.dossier(d).timeliness == "overdue"


COUNTS = """
code: "9.000003"
name: "Thủ tục thử nghiệm: thời gian bổ sung được tính"
field: "Thử"
level: district
authority: "UBND"
time_limit: {value: 1, unit: working_days}
supplement_clock: counts
steps:
  - {id: receive, name: "Tiếp nhận", unit: bp_mot_cua, role: staff, duration: 1h, routes: {accept: appraise}}
  - {id: appraise, name: "Thẩm định", unit: phong_tckh, role: staff, duration: 4h,
     routes: {ok: give, supplement: supp}}
  - {id: supp, name: "Bổ sung", kind: citizen, routes: {supplemented: appraise}}
  - {id: give, name: "Trả kết quả", kind: return, unit: bp_mot_cua, role: staff, duration: 1h, ends: result}
"""


def test_under_counts_the_clock_runs_while_the_citizen_supplements(run):
    defn = definition_from_data(load_text(COUNTS, "<counts>"), "<counts>")
    sv.publish_definition(run.db, defn, now=at(10, 7))
    r = sv.receive(run.db, run.actor("motcua"), "9.000003", applicant="Y", now=at(10, 8))
    due = run.dossier(r.dossier_id).due_at
    sv.request_supplement(run.db, run.actor("tckh_cv"), run.item(r.dossier_id, "appraise").id, now=at(10, 9),
                          comment="Bổ sung bản vẽ mặt bằng")
    dossier = run.dossier(r.dossier_id)
    assert dossier.status == Status.SUPPLEMENT and dossier.paused_at is None and dossier.due_at == due
    res = sv.sweep_timers(run.db, now=due + dt.timedelta(minutes=5))
    assert res.dossiers_overdue == 1 and run.dossier(r.dossier_id).timeliness == "overdue"
    sv.supplement_received(run.db, run.actor("motcua"), r.dossier_id, now=at(12, 9))
    assert run.dossier(r.dossier_id).due_at == due and run.dossier(r.dossier_id).paused_minutes == 0


def test_no_apology_when_the_dossier_can_make_it(run):
    r = sv.receive(run.db, run.actor("motcua"), "1.001612", applicant="V", now=at(10, 8))
    d = r.dossier_id
    for step, user, outcome, when in [("assign", "tckh_head", "done", at(10, 9)),
                                      ("appraise", "tckh_cv", "ok", at(10, 11)),
                                      ("check", "tckh_head", "ok", at(10, 14))]:
        run.step(d, step, user, outcome, when)
    cal, defn, due = run.rt.calendar, run.definition("1.001612"), run.dossier(d).due_at
    need = sum(defn.step(s).duration for s in ("sign", "issue", "deliver"))
    now = cal.sub(due, min(480, need))  # the last working day, exactly enough time left
    assert sv.remaining_need(defn, [("sign", defn.step("sign").duration)]) <= cal.elapsed(now, due) <= 480
    res = sv.sweep_timers(run.db, now=now)
    assert res.apologies == 0


def test_remaining_need_follows_the_longest_path_to_a_result(catalogue):
    defn = catalogue.find("1.001612")
    d = {s.id: s.duration for s in defn.steps}
    assert sv.remaining_need(defn, [("appraise", 480)]) == 480 + d["check"] + d["sign"] + d["issue"] + d["deliver"]
    assert sv.remaining_need(defn, [("deliver", 30)]) == 30
    permit = catalogue.find("1.013225")
    p = {s.id: s.duration for s in permit.steps}
    tail = p["report"] + p["check"] + p["sign"] + p["issue"] + p["deliver"]
    # parallel branches: the longer one counts (refusal branches do not)
    assert sv.remaining_need(permit, [("consult_commune", 100), ("site_check", 10_000)]) == 10_000 + tail
    assert sv.remaining_need(permit, [("consult_commune", 10_000), ("site_check", 100)]) == 10_000 + tail


def test_list_tasks_filters(run):
    a = sv.receive(run.db, run.actor("motcua"), "1.001612", applicant="W", now=at(10, 8))
    b = sv.receive(run.db, run.actor("xa_motcua"), "1.001193", applicant="X", now=at(10, 8))
    run.step(a.dossier_id, "assign", "tckh_head", "done", at(10, 9))
    sv.claim(run.db, run.actor("tckh_cv"), run.item(a.dossier_id, "appraise").id, now=at(10, 9))
    everything = sv.list_tasks(run.db, now=at(10, 9, 30))
    assert {t.step_id for t in everything} == {"appraise", "verify"}
    assert [t.step_id for t in sv.list_tasks(run.db, now=at(10, 9, 30), unit="xa_tu_phap")] == ["verify"]
    assert [t.assignee for t in sv.list_tasks(run.db, now=at(10, 9, 30), user="tckh_cv")] == ["tckh_cv"]
    assert sv.list_tasks(run.db, now=at(10, 9, 30), user="tckh_cv2") == []
    cal = run.rt.calendar
    verify = run.item(b.dossier_id, "verify")
    appraise = run.item(a.dossier_id, "appraise")
    assert verify.allotted_minutes < appraise.allotted_minutes
    between = cal.add(verify.opened_at, verify.allotted_minutes + 2)
    assert cal.elapsed(appraise.opened_at, between) < appraise.allotted_minutes
    late = sv.list_tasks(run.db, now=between, overdue=True)
    assert [(t.dossier_id, t.step_id) for t in late] == [(b.dossier_id, "verify")]
    after = cal.add(appraise.opened_at, appraise.allotted_minutes + 2)
    assert {t.step_id for t in sv.list_tasks(run.db, now=after, overdue=True)} == {"verify", "appraise"}


def test_timers_at_a_partner_without_a_head_reach_the_office_in_charge(run):
    """The commune consulted in parallel (1.013225) has no head: its step's overdue notice, the dossier's
    and the apology go to Phòng QLĐT, which waits for the commune's opinion and can chase it."""
    r = sv.receive(run.db, run.actor("motcua"), "1.013225", applicant="V", now=at(10, 8))
    d = r.dossier_id
    run.step(d, "assign", "qldt_head", "done", at(10, 9))
    run.step(d, "appraise", "qldt_cv", "ok", at(10, 10))
    run.step(d, "site_check", "qldt_cv", "done", at(10, 11))
    assert run.open_steps(d) == ["consult_commune"]
    due = run.dossier(d).due_at
    res = sv.sweep_timers(run.db, now=run.rt.calendar.sub(due, 60))
    assert res.overdue == 1 and res.apologies == 1
    heads = [o.payload for o in run.outbox(d) if o.kind == "notify_unit_head"]
    assert [(p["reason"], p["unit"], p["role"], p.get("step_unit")) for p in heads] == [
        ("overdue", "phong_qldt", "head", "ubnd_xa_noi_co_dat"), ("apology_drafted", "phong_qldt", "head", None)]
    with run.db.session() as s:
        assert s.exec(select(Apology).where(Apology.dossier_id == d)).one().unit_id == "phong_qldt"
    sv.sweep_timers(run.db, now=run.rt.calendar.add(due, 5))
    heads = [o.payload for o in run.outbox(d) if o.kind == "notify_unit_head"]
    assert (heads[-1]["reason"], heads[-1]["unit"]) == ("dossier_overdue", "phong_qldt")


def test_the_head_signs_the_apology_and_the_applicant_is_told_the_new_date(run):
    r = sv.receive(run.db, run.actor("motcua"), "1.001612", applicant="W", now=at(10, 8))
    d = r.dossier_id
    run.step(d, "assign", "tckh_head", "done", at(10, 9))
    cal, due = run.rt.calendar, run.dossier(d).due_at
    sv.sweep_timers(run.db, now=cal.sub(due, 420))
    with run.db.session() as s:
        apology = s.exec(select(Apology).where(Apology.dossier_id == d)).one()
    later_date = cal.add(apology.proposed_due_at, 480)
    before = dump(run.db)
    refused = [
        (NotAuthorized, dict(actor=run.actor("tckh_cv"), reason="Chờ xác minh")),  # not the head
        (NotAuthorized, dict(actor=run.actor("qldt_head"), reason="Chờ xác minh")),  # another unit's head
        (ActionError, dict(actor=run.actor("tckh_head"), reason="  ")),  # no reason
        (ActionError, dict(actor=run.actor("tckh_head"), reason="Chờ xác minh", proposed_due_at=due)),  # not later
        (ActionError, dict(actor=run.actor("tckh_head"), reason="Chờ xác minh",  # sooner than the work needs
                           proposed_due_at=cal.sub(apology.proposed_due_at, 60))),
        (ActionError, dict(actor=run.actor("tckh_head"), reason="Chờ xác minh",  # at night: outside office hours
                           proposed_due_at=later_date.astimezone(LOCAL_TZ).replace(hour=22))),
    ]
    for exc, kw in refused:
        with pytest.raises(exc, match="."):  # each refused, whatever the order of the checks
            sv.sign_apology(run.db, kw.pop("actor"), apology.id, now=cal.sub(due, 400), **kw)
        assert dump(run.db) == before  # a refused signature changes nothing
    with pytest.raises(NotFound):
        sv.sign_apology(run.db, run.actor("tckh_head"), 9999, reason="x", now=cal.sub(due, 400))
    signed = sv.sign_apology(run.db, run.actor("tckh_head"), apology.id, reason="Chờ xác minh thông tin",
                             proposed_due_at=later_date, now=cal.sub(due, 400))
    assert (signed.state, signed.reason, signed.proposed_due_at) == ("signed", "Chờ xác minh thông tin", later_date)
    told = [o.payload for o in run.outbox(d) if o.kind == "notify_citizen"][-1]
    assert told["reason"] == "apology" and dt.datetime.fromisoformat(told["proposed_due_at"]) == later_date
    assert run.events(d)[-1].action == "apology_signed" and run.events(d)[-1].actor == "tckh_head"
    with pytest.raises(ActionError, match="already signed"):
        sv.sign_apology(run.db, run.actor("tckh_head"), apology.id, reason="lần hai", now=cal.sub(due, 300))
    assert sv.dossier_sheet(run.db, d).apologies[0].state == "signed"


def test_a_withdrawn_dossiers_unsigned_apology_is_moot(run):
    r = sv.receive(run.db, run.actor("motcua"), "1.001612", applicant="Y", now=at(10, 8))
    d = r.dossier_id
    cal, due = run.rt.calendar, run.dossier(d).due_at
    sv.sweep_timers(run.db, now=cal.sub(due, 420))
    with run.db.session() as s:
        apology = s.exec(select(Apology).where(Apology.dossier_id == d)).one()
    sv.withdraw(run.db, run.actor("motcua"), d, now=cal.sub(due, 400), comment="Đơn rút hồ sơ số 3")
    assert sv.dossier_sheet(run.db, d).apologies == []
    with pytest.raises(ActionError, match="is closed \\(withdrawn or stopped\\)"):
        sv.sign_apology(run.db, run.actor("tckh_head"), apology.id, reason="x", now=cal.sub(due, 390))


def test_an_unsigned_apology_is_moot_once_the_dossier_is_finished(run):
    r = sv.receive(run.db, run.actor("motcua"), "1.001612", applicant="X", now=at(10, 8))
    d = r.dossier_id
    cal, due = run.rt.calendar, run.dossier(d).due_at
    sv.sweep_timers(run.db, now=cal.sub(due, 420))  # drafted: nothing done yet, it will not make it
    assert len(sv.dossier_sheet(run.db, d).apologies) == 1
    when = cal.sub(due, 400)
    for step, user, outcome in (("assign", "tckh_head", "done"), ("appraise", "tckh_cv", "ok"),
                                ("check", "tckh_head", "ok")):
        run.step(d, step, user, outcome, when)
    sv.sign(run.db, run.actor("tckh_head"), run.item(d, "sign").id, now=when)
    run.step(d, "issue", "vanthu", "done", when)
    sv.return_result(run.db, run.actor("motcua"), run.item(d, "deliver").id, now=when)
    assert run.dossier(d).finished_at is not None
    assert sv.dossier_sheet(run.db, d).apologies == []  # no form 04 to offer for a dossier finished in time
    with run.db.session() as s:
        apology = s.exec(select(Apology).where(Apology.dossier_id == d)).one()
    with pytest.raises(ActionError, match="is finished"):
        sv.sign_apology(run.db, run.actor("tckh_head"), apology.id, reason="x", now=when)
