"""Financial obligations (national status 6): a citizen step with ``pause_reason: financial``.

The applicant pays the fees, land levy or taxes another agency assessed; the
clock always stops meanwhile and always resumes afterwards (never restarts,
whatever the procedure's ``supplement_clock``), and it is not a supplementation:
no form 02, no supplement counted, its own action to record it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlmodel import select

from engine import machine as m
from engine import services as sv
from engine.definition import definition_from_data, definition_to_data, dump_yaml, load_catalogue, step_to_data
from engine.errors import DefinitionError, IllegalAction, NotAuthorized
from engine.machine import Status
from engine.store import Dossier, Event, OutboxItem, WorkItem, dump
from engine.yamlsrc import load_text
from tests.test_machine import T0, Sim, local

REPO = Path(__file__).resolve().parent.parent

PAYING = """
code: "9.000002"
name: "Thử nghiệm nghĩa vụ tài chính"
field: "Đất đai"
level: district
authority: "UBND"
time_limit: {value: 5, unit: working_days}
supplement_clock: %s
steps:
  - {id: receive, name: "Tiếp nhận", unit: bp_mot_cua, role: staff, duration: 1h, routes: {accept: appraise}}
  - id: appraise
    name: "Thẩm định"
    unit: phong_tnmt
    role: staff
    duration: 1d
    routes: {ok: tax, supplement: supp}
  - {id: supp, name: "Bổ sung hồ sơ", kind: citizen, routes: {supplemented: appraise}}
  - {id: tax, name: "Thông báo nộp tiền", unit: chi_cuc_thue, role: staff, duration: 1d, routes: {notify: pay}}
  - id: pay
    name: "Người sử dụng đất nộp tiền sử dụng đất"
    kind: citizen
    pause_reason: financial
    routes: {paid: finish}
  - {id: finish, name: "Hoàn thiện kết quả", unit: phong_tnmt, role: staff, duration: 1d, routes: {done: give}}
  - {id: give, name: "Trả kết quả", kind: return, unit: bp_mot_cua, role: staff, duration: 1h, ends: result}
"""


def parse(text: str):
    return definition_from_data(load_text(text, "<test>"), "<test>")


# --------------------------------------------------------------------------- the definition


def test_pause_reason_is_read_written_back_and_marks_the_step_financial():
    defn = parse(PAYING % "pause")
    pay, supp = defn.step("pay"), defn.step("supp")
    assert (pay.pause_reason, pay.financial, pay.paused) == ("financial", True, True)
    assert (supp.pause_reason, supp.financial, supp.paused) == ("supplement", False, True)
    assert step_to_data(pay)["pause_reason"] == "financial" and "pause_reason" not in step_to_data(supp)
    again = parse(dump_yaml(definition_to_data(defn)))  # as a published version is stored and read back
    assert again.step("pay").financial and not again.step("supp").financial


def test_pause_reason_on_a_staff_step_or_with_a_wrong_value_is_a_located_error():
    text = (PAYING % "pause").replace(
        "duration: 1d, routes: {notify: pay}}",
        "duration: 1d, pause_reason: financial, routes: {notify: pay}}").replace(
        "    pause_reason: financial\n    routes: {paid: finish}", "    pause_reason: finacial\n    routes: {paid: finish}")
    with pytest.raises(DefinitionError) as exc:
        parse(text)
    problems = [str(p) for p in exc.value.problems]
    assert any("'pause_reason' chỉ dùng cho bước của tổ chức, cá nhân" in p and "bước 'tax'" in p
               and p.startswith("<test>:18:") for p in problems), problems
    assert any("'pause_reason' đang là 'finacial'" in p and "financial" in p and p.startswith("<test>:22:")
               for p in problems), problems


# --------------------------------------------------------------------------- the machine


def _to_pay(sim: Sim, at: dt.datetime) -> m.Transition:
    sim.complete("receive", "accept", at)
    sim.complete("appraise", "ok", at + dt.timedelta(hours=2))
    return sim.complete("tax", "notify", at + dt.timedelta(hours=3))


@pytest.mark.parametrize("policy", ["pause", "restart", "counts"])
def test_the_financial_obligation_is_status_6_and_always_pauses_then_resumes(calendar, policy):
    defn = parse(PAYING % policy)
    sim = Sim(defn, calendar)
    ask = T0 + dt.timedelta(hours=3)
    sim.complete("receive", "accept", T0)
    due = sim.state.due_at
    sim.complete("appraise", "ok", T0 + dt.timedelta(hours=2))
    tr = sim.complete("tax", "notify", ask)
    assert sim.state.status == Status.FINANCIAL and Status.FINANCIAL.label == "Yêu cầu thực hiện nghĩa vụ tài chính"
    assert sim.state.paused_at == ask and sim.state.supplements == 0  # stopped even under "counts"
    assert [e.action for e in tr.events] == ["request_financial", "clock_pause"]
    assert tr.events[0].from_status == 4 and tr.events[0].to_status == 6
    assert tr.events[1].data == {"policy": policy, "reason": "financial"}
    assert [(e.kind, e.payload.get("reason"), e.payload.get("form")) for e in tr.effects] == [
        ("notify_citizen", "financial", None)]  # no form 02
    assert m.load_clock(sim.state.clock).pauses[-1].reason == "financial"
    assert m.allowed_actions(defn, sim.state) == ["financial_done", "withdraw", "stop"]

    back = local(2026, 3, 17, 10)  # a week later
    paused = calendar.elapsed(ask, back)
    tr = sim.complete("pay", "paid", back)
    assert [e.action for e in tr.events][:2] == ["clock_resume", "financial_done"]
    assert tr.events[0].data["reason"] == "financial"
    assert tr.events[1].from_status == 6 and tr.events[1].to_status == 4
    assert sim.state.status == Status.PROCESSING and sim.open_steps() == ["finish"]
    assert sim.state.paused_at is None and sim.state.paused_minutes == paused
    assert sim.state.due_at == calendar.add(due, paused)  # moved by the pause, never the full limit again
    assert sim.state.clock_restarts == 0 and sim.state.clock_started_at == T0
    assert sim.state.supplements == 0


def test_a_supplementation_still_restarts_and_counts_beside_a_financial_pause(calendar):
    defn = parse(PAYING % "restart")
    sim = Sim(defn, calendar)
    sim.complete("receive", "accept", T0)
    tr = sim.complete("appraise", "supplement", T0 + dt.timedelta(hours=1))
    assert sim.state.status == Status.SUPPLEMENT and sim.state.supplements == 1
    assert [e.kind for e in tr.effects] == ["produce_form", "notify_citizen"]
    back = local(2026, 3, 12, 8)
    tr = sim.complete("supp", "supplemented", back)
    assert tr.events[0].action == "clock_restart" and sim.state.clock_started_at == back
    sim.complete("appraise", "ok", back + dt.timedelta(hours=1))
    sim.complete("tax", "notify", back + dt.timedelta(hours=2))
    sim.complete("pay", "paid", local(2026, 3, 13, 9))
    assert sim.state.clock_restarts == 1 and sim.state.clock_started_at == back and sim.state.supplements == 1


def test_withdrawal_is_allowed_while_waiting_for_the_payment(calendar):
    sim = Sim(parse(PAYING % "pause"), calendar)
    _to_pay(sim, T0)
    sim.act(m.Withdraw("không nộp tiền"), local(2026, 3, 12, 9))
    assert sim.state.status == Status.WITHDRAWN and sim.state.paused_at is None


# --------------------------------------------------------------------------- the services, on the database

LAND = "1.013950"  # Chuyển hình thức giao đất, cho thuê đất: the tax office's notice, then the payment
LAND_STAFF = {"tnmt_head": ("phong_tnmt", "head"), "tnmt_cv": ("phong_tnmt", "staff"),
              "vpdk_cv": ("chi_nhanh_vpdkdd", "staff"), "thue_cv": ("chi_cuc_thue", "staff")}


def land_runtime(rt) -> dict:
    """Publish the land procedure on a seeded runtime and add its staff; the actors by name."""
    path = sorted((REPO / "procedures_yaml").rglob(f"{LAND}-*.yaml"))[0]
    cat = load_catalogue([path])
    assert not cat.problems
    sv.publish_definition(rt.db, cat.find(LAND), now=T0, by="test")
    actors = dict(rt.actors)
    actors.update({name: sv.add_user(rt.db, name, unit=u, role=r, now=T0, full_name=name)
                   for name, (u, r) in LAND_STAFF.items()})
    return actors


def open_item(db, dossier_id: int, step: str) -> WorkItem:
    with db.session() as s:
        return s.exec(select(WorkItem).where(WorkItem.dossier_id == dossier_id, WorkItem.step_id == step,
                                             WorkItem.state.in_(("open", "claimed")))).one()  # type: ignore[attr-defined]


def to_payment(db, actors: dict, clock) -> sv.ActionResult:
    """Receive a land dossier and take it to the tax office's notice 'to pay' (status 6)."""
    r = sv.receive(db, actors["motcua"], LAND, applicant="Lê Thị Hoa", now=clock())
    d = r.dossier_id
    for name, step, outcome in (("tnmt_head", "assign", "done"), ("tnmt_cv", "appraise", "ok"),
                                ("vpdk_cv", "consult", "done"), ("tnmt_cv", "site_check", "done"),
                                ("tnmt_cv", "report", "ok"), ("tnmt_head", "check", "ok"),
                                ("ld_pct", "sign", "approve"), ("vanthu", "issue", "done")):
        sv.complete(db, actors[name], open_item(db, d, step).id, outcome=outcome, now=clock())
    return sv.complete(db, actors["thue_cv"], open_item(db, d, "tax_notice").id, outcome="notify", now=clock())


class Ticks:
    """Virtual time: each call one working hour later, from Tuesday 10/3/2026 08:00."""

    def __init__(self) -> None:
        self.t = local(2026, 3, 10, 8)

    def __call__(self) -> dt.datetime:
        self.t += dt.timedelta(hours=1)
        if self.t.hour >= 17:
            self.t = self.t.replace(hour=8) + dt.timedelta(days=1)
        while self.t.weekday() >= 5:
            self.t += dt.timedelta(days=1)
        return self.t


def test_a_land_dossier_waits_for_the_payment_and_the_one_stop_unit_records_it(runtime):
    db = runtime.db
    actors = land_runtime(runtime)
    clock = Ticks()
    res = to_payment(db, actors, clock)
    assert res.status == Status.FINANCIAL
    d = res.dossier_id
    with db.session() as s:
        dossier = s.get(Dossier, d)
        due, asked = dossier.due_at, dossier.paused_at
        assert (dossier.status, dossier.supplements) == (6, 0) and asked is not None
        caused = s.exec(select(OutboxItem).where(OutboxItem.id.in_(res.outbox))).all()  # type: ignore[attr-defined]
        last = s.exec(select(Event).where(Event.dossier_id == d).order_by(Event.id.desc())).first()
    assert sorted((o.kind, o.payload.get("reason")) for o in caused) == [("notify_citizen", "financial")]
    assert (last.action, last.data["reason"]) == ("clock_pause", "financial")
    sheet = sv.dossier_sheet(db, d, now=clock())
    assert sheet.dossier.status == 6

    # Refusals change nothing: the wrong action, and the wrong unit.
    before = dump(db)
    with pytest.raises(IllegalAction, match="waits for the financial obligations .*record it with financial_done"):
        sv.supplement_received(db, actors["motcua"], res.dossier_code, now=clock())
    with pytest.raises(NotAuthorized, match="may not record the applicant's financial obligations"):
        sv.financial_done(db, actors["tnmt_cv"], res.dossier_code, now=clock())
    assert dump(db) == before

    back = local(2026, 3, 31, 9)
    done = sv.financial_done(db, actors["motcua"], res.dossier_code, now=back, comment="Giấy nộp tiền số 12/2026")
    assert done.status == Status.PROCESSING and done.action == "financial_done"
    paused = runtime.calendar.elapsed(asked, back)
    with db.session() as s:
        dossier = s.get(Dossier, d)
        assert dossier.due_at == runtime.calendar.add(due, paused)
        assert (dossier.paused_at, dossier.paused_minutes, dossier.clock_restarts) == (None, paused, 0)
        actions = [e.action for e in s.exec(select(Event).where(Event.dossier_id == d).order_by(Event.id)).all()]
    assert actions[-2:] == ["clock_resume", "financial_done"]
    assert open_item(db, d, "certificate").state == "open"
    with pytest.raises(IllegalAction, match="waits for no financial obligation"):
        sv.financial_done(db, actors["motcua"], res.dossier_code, now=back)


def test_financial_done_is_refused_while_a_supplement_is_awaited(runtime):
    db = runtime.db
    r = sv.receive(db, runtime.actor("motcua"), "1.001612", applicant="Phạm Văn Cường", now=T0,
                   decision="supplement", comment="Thiếu bản sao giấy tờ")
    assert r.status == Status.SUPPLEMENT
    before = dump(db)
    with pytest.raises(IllegalAction, match="waits for a supplement .*record it with supplement_received"):
        sv.financial_done(db, runtime.actor("motcua"), r.dossier_code, now=T0 + dt.timedelta(hours=1))
    assert dump(db) == before


def test_the_simulation_takes_the_payment_as_the_normal_course():
    from engine.simulate import SimParams, route_kind, route_probabilities

    path = sorted((REPO / "procedures_yaml").rglob(f"{LAND}-*.yaml"))[0]
    defn = load_catalogue([path]).find(LAND)
    step = defn.step("tax_notice")
    assert [route_kind(defn, step, o) for o in ("notify", "exempt")] == ["main", "main"]
    assert route_kind(defn, defn.step("appraise"), "supplement") == "supplement"
    assert route_probabilities(defn, SimParams(20))["tax_notice"] == [("notify", 1.0), ("exempt", 0.0)]
