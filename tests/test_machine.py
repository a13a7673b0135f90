"""The pure state machine: no database, virtual time."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import machine as m
from engine import sla
from engine.definition import definition_from_data
from engine.errors import IllegalAction
from engine.machine import Status
from engine.yamlsrc import load_text

UTC = dt.timezone.utc
LOCAL = dt.timezone(dt.timedelta(hours=7))


def local(y, mo, d, h, mi=0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=LOCAL)


T0 = local(2026, 3, 10, 8)  # a Tuesday


class Sim:
    """Drives the machine the way the services do: negative keys become ids."""

    def __init__(self, defn, calendar, channel="counter", now=T0):
        self.defn, self.cal = defn, calendar
        self.next_id = 1
        self.events: list[m.MachineEvent] = []
        self.effects: list[m.Effect] = []
        tr = m.register(defn, channel, now, calendar)
        self._take(tr)

    def _take(self, tr: m.Transition) -> m.Transition:
        mapping = {}
        for it in tr.state.items:
            if it.key < 0:
                mapping[it.key] = self.next_id
                it.key = self.next_id
                self.next_id += 1
        for ev in tr.events:
            ev.item = mapping.get(ev.item, ev.item)
        tr.opened = [mapping.get(k, k) for k in tr.opened]
        self.state = tr.state
        self.events += tr.events
        self.effects += tr.effects
        return tr

    def item(self, step: str) -> m.ItemState:
        found = [it for it in self.state.open_items() if it.step == step]
        assert found, f"no open item of step {step}; open: {[i.step for i in self.state.open_items()]}"
        return found[0]

    def open_steps(self) -> list[str]:
        return sorted(it.step for it in self.state.open_items())

    def complete(self, step: str, outcome: str | None, at: dt.datetime, user: int | None = None) -> m.Transition:
        return self._take(m.apply(self.defn, self.state, m.Complete(self.item(step).key, outcome, user), at, self.cal))

    def act(self, action, at: dt.datetime) -> m.Transition:
        return self._take(m.apply(self.defn, self.state, action, at, self.cal))


def dur(defn, step: str) -> int:
    return defn.step(step).duration


def parse(text: str):
    return definition_from_data(load_text(text, "<test>"), "<test>")


PARALLEL_SUPPLEMENT = """
code: "9.000001"
name: "Thử nghiệm"
field: "Thử"
level: district
authority: "UBND"
time_limit: {value: 5, unit: working_days}
supplement_clock: %s
steps:
  - {id: receive, name: "Tiếp nhận", unit: bp_mot_cua, role: staff, duration: 1h, routes: {accept: split}}
  - {id: split, name: "Phân công", unit: phong_tckh, role: head, duration: 1h, routes: {done: [a, b]}}
  - id: a
    name: "Nhánh A"
    unit: phong_tckh
    role: staff
    duration: 1d
    routes: {done: merge, supplement: supp}
  - {id: supp, name: "Bổ sung", kind: citizen, routes: {supplemented: a}}
  - {id: b, name: "Nhánh B", kind: automated, duration: 2d, routes: {done: merge}}
  - {id: merge, name: "Tổng hợp", unit: phong_tckh, role: staff, duration: 1h, join: true, routes: {done: give}}
  - {id: give, name: "Trả kết quả", kind: return, unit: bp_mot_cua, role: staff, duration: 1h, ends: result}
"""


def test_status_codes_and_labels_are_the_national_ones():
    assert [(int(s), s.label) for s in Status] == [
        (1, "Mới đăng ký"), (2, "Được tiếp nhận"), (3, "Không được tiếp nhận"), (4, "Đang xử lý"),
        (5, "Yêu cầu bổ sung giấy tờ"), (6, "Yêu cầu thực hiện nghĩa vụ tài chính"),
        (7, "Công dân yêu cầu rút hồ sơ"), (8, "Dừng xử lý"), (9, "Đã xử lý xong"), (10, "Đã trả kết quả")]


def test_register_opens_reception_without_starting_the_clock(catalogue, calendar):
    sim = Sim(catalogue.find("1.001612"), calendar, channel="online")
    assert sim.state.status == Status.NEW
    assert sim.open_steps() == ["receive"]
    assert sim.state.received_at is None and sim.state.due_at is None
    assert sim.item("receive").due_at == calendar.add(T0, dur(sim.defn, "receive"))
    assert [e.action for e in sim.events] == ["register"]


def test_register_refuses_an_unknown_channel(catalogue, calendar):
    with pytest.raises(IllegalAction, match="unknown channel 'fax'.*counter, online, post"):
        m.register(catalogue.find("1.001612"), "fax", T0, calendar)


def test_accept_sets_receipt_and_appointment_in_working_time(catalogue, calendar):
    defn = catalogue.find("1.001612")
    sim = Sim(defn, calendar)
    at = local(2026, 3, 10, 9, 30)
    tr = sim.complete("receive", "accept", at)
    assert sim.state.status == Status.RECEIVED
    assert sim.state.received_at == at
    assert defn.time_limit.unit == "working_days"
    assert sim.state.due_at == calendar.add(at, defn.time_limit.minutes)
    if defn.time_limit.value == 3:  # Tue 09:30 + 3 working days
        assert sim.state.due_at == local(2026, 3, 13, 9, 30)
    assert sim.state.original_due_at == sim.state.due_at
    assert sim.open_steps() == ["assign"]
    assert sim.item("assign").due_at == calendar.add(at, dur(defn, "assign"))
    assert {e.kind for e in tr.effects} == {"issue_receipt", "notify_unit"}
    assert tr.events[-1].action == "accept" and tr.events[-1].to_steps == ["assign"]


def test_same_day_procedure_due_today_before_cutoff_and_tomorrow_after(catalogue, calendar):
    defn = catalogue.find("1.001193")
    early = Sim(defn, calendar, now=local(2026, 3, 10, 14, 0))
    early.complete("receive", "accept", local(2026, 3, 10, 14, 30))
    assert early.state.due_at == local(2026, 3, 10, 17)
    late = Sim(defn, calendar, now=local(2026, 3, 10, 15, 10))
    late.complete("receive", "accept", local(2026, 3, 10, 15, 20))
    assert late.state.due_at == local(2026, 3, 11, 17)


def test_refusal_at_the_counter_is_status_3_and_closes_on_return(catalogue, calendar):
    sim = Sim(catalogue.find("1.001612"), calendar)
    tr = sim._take(m.apply(sim.defn, sim.state, m.Complete(sim.item("receive").key, "refuse", None,
                                                           "Không thuộc thẩm quyền"), T0, calendar))
    assert sim.state.status == Status.NOT_RECEIVED
    assert sim.open_steps() == ["refuse_counter"]
    assert {"form": "BM03", "step": "receive", "reason": "Không thuộc thẩm quyền"} in [
        e.payload for e in tr.effects if e.kind == "produce_form"]
    assert tr.events[-1].action == "refuse"
    sim.complete("refuse_counter", None, T0 + dt.timedelta(minutes=20))
    assert sim.state.status == Status.NOT_RECEIVED and sim.state.closed
    assert sim.state.result == "refusal" and sim.state.received_at is None


def test_supplement_at_the_counter_then_receipt_starts_the_clock_then(catalogue, calendar):
    sim = Sim(catalogue.find("1.001612"), calendar)
    tr = sim.complete("receive", "supplement", T0)
    assert sim.state.status == Status.SUPPLEMENT
    assert sim.state.paused_at is None  # no clock yet: nothing to pause
    assert "BM02" in [e.payload.get("form") for e in tr.effects]
    back = local(2026, 3, 12, 10)
    sim.complete("supplement_counter", "supplemented", back)
    assert sim.state.status == Status.NEW and sim.open_steps() == ["receive"]
    assert sim.item("receive").attempt == 2
    sim.complete("receive", "accept", back + dt.timedelta(minutes=30))
    assert sim.state.received_at == back + dt.timedelta(minutes=30)
    assert sim.state.due_at == calendar.add(back + dt.timedelta(minutes=30), sim.defn.time_limit.minutes)


def _to_appraise(sim: Sim, at: dt.datetime) -> None:
    sim.complete("receive", "accept", at)
    sim.complete("assign", "done", at + dt.timedelta(hours=1))


def test_supplement_during_appraisal_pauses_and_moves_due_by_paused_working_time(catalogue, calendar):
    defn = catalogue.find("1.013225")  # supplement_clock: pause
    sim = Sim(defn, calendar)
    _to_appraise(sim, T0)
    due = sim.state.due_at
    ask = local(2026, 3, 11, 10)
    sim.complete("appraise", "ok", ask)
    sim.complete("consult_commune", "done", ask)
    sim.complete("site_check", "done", ask)
    tr = sim.complete("report", "supplement", ask)
    assert sim.state.status == Status.SUPPLEMENT and sim.state.paused_at == ask
    assert [e.action for e in tr.events] == ["request_supplement", "clock_pause"]
    back = local(2026, 3, 16, 14)  # Mon: Wed 10-17 + Thu + Fri + Mon 8-14 = 360 + 480 + 480 + 300 working minutes
    paused = calendar.elapsed(ask, back)
    assert paused == 1620
    tr = sim.complete("supplement", "supplemented", back)
    assert sim.state.paused_at is None and sim.state.paused_minutes == paused
    assert sim.state.due_at == calendar.add(due, paused)
    assert tr.events[0].action == "clock_resume"
    assert sim.state.status == Status.PROCESSING and sim.open_steps() == ["appraise"]


def test_restart_policy_gives_the_full_limit_again(catalogue, calendar):
    defn = catalogue.find("1.001612")  # supplement_clock: restart
    sim = Sim(defn, calendar)
    _to_appraise(sim, T0)
    sim.complete("appraise", "supplement", local(2026, 3, 11, 9))
    back = local(2026, 3, 20, 15)
    sim.complete("supplement", "supplemented", back)
    assert sim.state.due_at == calendar.add(back, defn.time_limit.minutes)
    assert sim.state.clock_restarts == 1 and sim.state.clock_started_at == back
    assert any(e.action == "clock_restart" for e in sim.events)


@pytest.mark.parametrize("policy", ["pause", "restart", "counts"])
def test_every_open_due_moves_by_the_pause_in_a_parallel_branch(calendar, policy):
    defn = parse(PARALLEL_SUPPLEMENT % policy)
    sim = Sim(defn, calendar)
    sim.complete("receive", "accept", T0)
    tr = sim.complete("split", "done", T0 + dt.timedelta(hours=1))
    assert [e.kind for e in tr.effects].count("run_automated_step") == 1
    b_due = sim.item("b").due_at
    dossier_due = sim.state.due_at
    ask, back = local(2026, 3, 10, 14), local(2026, 3, 12, 11)
    sim.complete("a", "supplement", ask)
    paused = calendar.elapsed(ask, back)
    sim.complete("supp", "supplemented", back)
    if policy == "counts":
        assert sim.item("b").due_at == b_due and sim.state.due_at == dossier_due
        assert sim.state.paused_minutes == 0
    else:
        assert sim.item("b").due_at == calendar.add(b_due, paused)
        assert sim.item("b").paused == paused
        expected = calendar.add(dossier_due, paused) if policy == "pause" else calendar.add(back, 5 * 480)
        assert sim.state.due_at == expected
    assert sim.item("a").attempt == 2


def test_parallel_consultation_joins_only_when_every_branch_completed(catalogue, calendar):
    defn = catalogue.find("1.013225")
    sim = Sim(defn, calendar)
    _to_appraise(sim, T0)
    tr = sim.complete("appraise", "ok", local(2026, 3, 11, 9))
    assert sim.open_steps() == ["consult_commune", "site_check"]
    assert sorted(tr.events[-1].to_steps) == ["consult_commune", "site_check"]
    tr = sim.complete("site_check", "done", local(2026, 3, 12, 9))
    assert sim.open_steps() == ["consult_commune"]
    assert [e.action for e in tr.events] == ["complete", "join_wait"]
    sim.complete("consult_commune", "done", local(2026, 3, 13, 9))
    assert sim.open_steps() == ["report"]
    assert sim.item("report").branch == "" and sim.state.joins == {}


def test_bounded_rework_route_refuses_once_exhausted(catalogue, calendar):
    defn = catalogue.find("1.001612")  # check --rework--> appraise, max 2
    sim = Sim(defn, calendar)
    _to_appraise(sim, T0)
    t = local(2026, 3, 10, 11)
    for _ in range(2):
        sim.complete("appraise", "ok", t)
        sim.complete("check", "rework", t)
    sim.complete("appraise", "ok", t)
    with pytest.raises(IllegalAction, match=r"route 'rework' of step 'check' may be taken at most 2 time"):
        sim.complete("check", "rework", t)
    assert sim.open_steps() == ["check"]  # nothing changed


def test_illegal_outcome_names_action_state_and_what_is_allowed(catalogue, calendar):
    sim = Sim(catalogue.find("1.001612"), calendar)
    with pytest.raises(IllegalAction) as err:
        sim.complete("receive", "approve", T0)
    text = str(err.value)
    assert text.startswith("complete: step 'receive'")
    assert "accept, supplement, refuse" in text and "'Mới đăng ký'" in text
    assert "allowed: claim item 1 (receive), complete item 1 (receive) with accept|supplement|refuse" in text
    with pytest.raises(IllegalAction, match=r"step 'receive' \(work item 1\) needs an outcome; its outcomes are "
                                            r"accept, supplement, refuse") as none:  # never "no outcome 'None'"
        sim.complete("receive", None, T0)
    assert "None" not in str(none.value)


def test_completing_a_closed_item_is_illegal(catalogue, calendar):
    sim = Sim(catalogue.find("1.001612"), calendar)
    key = sim.item("receive").key
    sim.complete("receive", "accept", T0)
    with pytest.raises(IllegalAction, match=rf"work item {key} \(step 'receive'\) is done"):
        m.apply(sim.defn, sim.state, m.Complete(key, "accept"), T0, calendar)


def test_claim_twice_and_claim_citizen_step_are_illegal(catalogue, calendar):
    sim = Sim(catalogue.find("1.001612"), calendar)
    sim.complete("receive", "accept", T0)
    sim.act(m.Claim(sim.item("assign").key, 7), T0)
    assert sim.item("assign").assignee == 7 and sim.state.status == Status.PROCESSING
    with pytest.raises(IllegalAction, match="already claimed by user 7"):
        sim.act(m.Claim(sim.item("assign").key, 8), T0)
    sim.complete("assign", "done", T0)
    sim.complete("appraise", "supplement", T0)
    with pytest.raises(IllegalAction, match="citizen step; staff do not claim it"):
        sim.act(m.Claim(sim.item("supplement").key, 8), T0)


def test_apply_does_not_change_the_state_it_is_given(catalogue, calendar):
    sim = Sim(catalogue.find("1.001612"), calendar)
    before = repr(sim.state)
    m.apply(sim.defn, sim.state, m.Complete(sim.item("receive").key, "accept"), T0, calendar)
    assert repr(sim.state) == before


@pytest.mark.parametrize("action,status", [(m.Withdraw("không còn nhu cầu"), Status.WITHDRAWN),
                                           (m.Stop("hồ sơ giả mạo"), Status.STOPPED)])
def test_withdraw_and_stop_cancel_open_items_and_close(catalogue, calendar, action, status):
    sim = Sim(catalogue.find("1.013225"), calendar)
    _to_appraise(sim, T0)
    sim.complete("appraise", "ok", local(2026, 3, 11, 9))
    tr = sim.act(action, local(2026, 3, 11, 10))
    assert sim.state.status == status and sim.state.closed
    assert sim.open_steps() == []
    cancelled = [it for it in sim.state.items if it.step in ("consult_commune", "site_check")]
    assert {(it.state, it.timeliness) for it in cancelled} == {("cancelled", None)}
    assert "notify_citizen" in [e.kind for e in tr.effects]
    cancelled = [it for it in sim.state.items if it.step == "consult_commune"][0]
    with pytest.raises(IllegalAction, match="the dossier is closed"):
        m.apply(sim.defn, sim.state, m.Complete(cancelled.key, "done"), T0, calendar)
    with pytest.raises(IllegalAction, match="can no longer be"):
        sim.act(m.Withdraw(), local(2026, 3, 11, 11))


def test_result_end_to_end_statuses_and_timeliness(catalogue, calendar):
    defn = catalogue.find("1.001612")
    sim = Sim(defn, calendar)
    t = T0
    sim.complete("receive", "accept", t)
    assert sim.state.status == Status.RECEIVED
    for step, outcome in [("assign", "done"), ("appraise", "ok"), ("check", "ok"), ("sign", "approve")]:
        t += dt.timedelta(hours=2)
        sim.complete(step, outcome, t)
        assert sim.state.status == Status.PROCESSING
    t += dt.timedelta(hours=1)
    tr = sim.complete("issue", "done", t)
    assert sim.state.status == Status.DONE and sim.state.finished_at == t
    assert "result_ready" in [e.payload.get("reason") for e in tr.effects]
    assert sim.state.timeliness == "early"
    tr = sim.complete("deliver", None, t + dt.timedelta(hours=1))
    assert sim.state.status == Status.RETURNED and sim.state.result == "result"
    assert "publish_result" in [e.kind for e in tr.effects]
    for it in sim.state.items:
        assert it.allotted == dur(defn, it.step) and it.state == "done"
        assert it.timeliness == sla.classify_closed(it.allotted, it.spent)
    spent = {it.step: it.spent for it in sim.state.items}
    assert spent["receive"] == 0 and spent["assign"] == spent["appraise"] == 120 and spent["issue"] == 60


def test_a_step_spending_more_than_allotted_is_late(catalogue, calendar):
    sim = Sim(catalogue.find("1.001612"), calendar)
    sim.complete("receive", "accept", T0)
    assert dur(sim.defn, "assign") < 300
    sim.complete("assign", "done", local(2026, 3, 10, 14))  # 08:00-14:00 = 300 working minutes
    done = [it for it in sim.state.items if it.step == "assign"][0]
    assert (done.spent, done.timeliness) == (300, "late")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=40),
       st.sampled_from(["1.001612", "1.013225", "1.001193"]))
def test_random_walks_keep_the_invariants(catalogue, calendar, choices, code):
    """Whatever outcomes staff choose, the machine's invariants hold."""
    defn = catalogue.find(code)
    sim = Sim(defn, calendar)
    t = T0
    for c in choices:
        if sim.state.closed:
            break
        t += dt.timedelta(minutes=37 * (c % 11))
        open_items = sim.state.open_items()
        if not open_items:
            break
        it = open_items[c % len(open_items)]
        step = defn.step(it.step)
        outcomes = [r.outcome for r in step.routes] or [None]
        outcome = outcomes[(c // 7) % len(outcomes)]
        try:
            sim.complete(it.step, outcome, t)
        except IllegalAction as exc:
            assert "may be taken at most" in str(exc)
            continue
        s = sim.state
        assert s.closed == (s.status in (Status.NOT_RECEIVED, Status.RETURNED) and s.closed_at is not None) \
            or not s.closed
        if s.closed:
            assert s.open_items() == []
        if s.status == Status.SUPPLEMENT:
            assert any(defn.step(i.step).paused for i in s.open_items())
        if s.received_at is not None and s.status != Status.SUPPLEMENT:
            assert s.paused_at is None and s.due_at is not None
        for i in s.items:
            if i.due_at is not None:
                assert i.due_at >= i.opened_at
            if i.state == "done" and i.allotted is not None:
                assert i.timeliness in ("early", "on_time", "late")
