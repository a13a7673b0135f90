"""The Prefect layer against a real Prefect test server and a real database.

Dossiers are received through the engine's services (so the outbox and the
work items are the real ones), the flows run in this process against the
session's Prefect server, and the assertions read the engine database, the
delivery log and the Prefect API.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlmodel import select

from engine import services as sv
from engine.store import Apology, Event, OutboxItem, WorkItem
from tests.flows.conftest import block_mailbox
from workflows.effects import DeliveryLog
from workflows.flows import drain_outbox, sweep_timers_flow

REPO = Path(__file__).resolve().parents[2]
#: The instant the ``runtime`` fixture seeds at: a Tuesday 08:00 in Hanoi.
T0 = dt.datetime(2026, 3, 10, 1, 0, tzinfo=dt.timezone.utc)
MIN = dt.timedelta(minutes=1)


def wait_for(probe, timeout: float = 15.0, every: float = 0.2):
    """Poll ``probe`` until it returns something truthy (Prefect records task runs asynchronously)."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not value and time.monotonic() < deadline:
        time.sleep(every)
        value = probe()
    return value


def _receive(rt, applicant: str = "Nguyễn Văn An", code: str = "1.001612", at: dt.datetime = T0,
             clerk: str = "motcua"):
    return sv.receive(rt.db, rt.actor(clerk), code, applicant=applicant, now=at)


def _outbox(rt, dossier_id: int | None = None) -> list[OutboxItem]:
    with rt.db.session() as s:
        stmt = select(OutboxItem).order_by(OutboxItem.id)
        if dossier_id is not None:
            stmt = stmt.where(OutboxItem.dossier_id == dossier_id)
        return list(s.exec(stmt).all())


def _task_runs(tag: str, flow_run_id: str) -> list:
    """The task runs of one flow run that carry ``tag``, as the Prefect API lists them."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, TaskRunFilter, TaskRunFilterTags

    with get_client(sync_client=True) as client:
        return client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            task_run_filter=TaskRunFilter(tags=TaskRunFilterTags(all_=[tag])))


def _final_runs(tag: str, flow_run_id: str, expected: int) -> list:
    def probe():
        runs = _task_runs(tag, flow_run_id)
        done = [r for r in runs if r.state is not None and r.state.is_final()]
        return done if len(done) >= expected else None
    return wait_for(probe) or _task_runs(tag, flow_run_id)


# --------------------------------------------------------------------------- drain


def test_drain_runs_each_item_as_a_tagged_task_and_marks_it_done(flow_env):
    rt = flow_env
    received = _receive(rt)
    items = _outbox(rt, received.dossier_id)
    kinds = sorted(i.kind for i in items)
    assert "issue_receipt" in kinds and "notify_unit" in kinds

    report = drain_outbox(now=T0 + MIN, worker="test-worker")

    assert (report["claimed"], report["done"], report["failed"]) == (len(items), len(items), 0)
    after = _outbox(rt, received.dossier_id)
    assert {i.state for i in after} == {"done"}
    assert all(i.lease_owner == "test-worker" and i.completed_at is not None and i.attempts == 1 for i in after)
    # One delivery per item, under the item's idempotency key.
    records = DeliveryLog(rt.deliveries).records()
    assert sorted(r["key"] for r in records) == sorted(i.idempotency_key for i in items)
    receipt = next(r for r in records if r["kind"] == "issue_receipt")
    assert receipt["dossier"] == received.dossier_code and "Mẫu 01" in receipt["message"]

    # Operators find the dossier's machine work in Prefect by its tags.
    runs = _final_runs(f"dossier:{received.dossier_code}", report["flow_run_id"], len(items))
    assert len(runs) == len(items)
    assert all(r.state.is_completed() for r in runs)
    by_id = {i.id: i for i in items}
    for run in runs:
        assert "procedure:1.001612" in run.tags
        assert any(t.startswith("unit:") for t in run.tags)
        assert run.name.endswith(f" · {received.dossier_code}")
    assert sorted(r.name.split(" · ")[0] for r in runs) == kinds
    # The unit tag is the unit the item concerns.
    for entry in report["items"]:
        unit = by_id[entry["id"]].payload.get("unit")
        assert any(f"unit:{unit}" in r.tags for r in runs if r.name.startswith(entry["kind"]))
    # The per-tag-set client services Prefect started for these task runs were released.
    from prefect.concurrency.services import ConcurrencySlotAcquisitionWithLeaseService as Service
    assert not [x for x in list(Service._instances.values()) if isinstance(x, Service) and not x._stopped
                and any("dossier:" in name for name in x.concurrency_limit_names)]
    # A second drain finds nothing to do.
    assert drain_outbox(now=T0 + 2 * MIN, worker="test-worker")["claimed"] == 0


def test_failing_side_effect_is_retried_then_recorded_failed_without_losing_it(flow_env, tmp_path, monkeypatch):
    rt = flow_env
    block_mailbox(tmp_path, monkeypatch)
    received = _receive(rt, "Trần Thị Bình")
    n = len(_outbox(rt, received.dossier_id))

    first = drain_outbox(now=T0 + MIN, worker="w1", task_retries=2, retry_delay_seconds=0, max_attempts=2)

    assert (first["done"], first["retry_later"], first["failed"]) == (0, n, 0)
    pending = _outbox(rt, received.dossier_id)
    assert {i.state for i in pending} == {"pending"}
    assert all(i.attempts == 1 and "cannot write the delivery log" in (i.last_error or "") for i in pending)
    assert all(i.available_at > T0 + MIN for i in pending)  # backed off, not hammered
    # Prefect ran each item's task three times (the first try and two retries).
    runs = _final_runs(f"dossier:{received.dossier_code}", first["flow_run_id"], n)
    assert len(runs) == n and all(r.state.is_failed() and r.run_count == 3 for r in runs)

    # Not yet due again: nothing is claimed; once due, the last attempt gives up.
    assert drain_outbox(now=T0 + 1.5 * MIN, worker="w1", max_attempts=2)["claimed"] == 0
    second = drain_outbox(now=T0 + 10 * MIN, worker="w1", task_retries=0, max_attempts=2)
    assert (second["claimed"], second["failed"]) == (n, n)
    failed = _outbox(rt, received.dossier_id)
    assert {i.state for i in failed} == {"failed"}
    assert all(i.attempts == 2 and i.payload["dossier_code"] == received.dossier_code for i in failed)
    assert all("Not a directory" in i.last_error or "cannot write" in i.last_error for i in failed)
    # Failed items are kept for an operator and never claimed again.
    assert drain_outbox(now=T0 + dt.timedelta(days=1), worker="w1")["claimed"] == 0


_CRASHING_WORKER = textwrap.dedent("""
    import datetime as dt, os, sys
    from engine import services
    from engine.store import Store
    from workflows.effects import DeliveryLog, EffectContext, OutboxWork, perform
    store = Store(os.environ["QUYTRINH_DATABASE_URL"])
    now = dt.datetime.fromisoformat(sys.argv[1])
    rows = services.claim_outbox(store, worker="crashing-worker", limit=100, now=now,
                                 lease=dt.timedelta(minutes=5))
    ctx = EffectContext(store=store, now=now, worker="crashing-worker",
                        log=DeliveryLog(os.environ["QUYTRINH_DELIVERIES"]))
    perform(ctx, OutboxWork.of(rows[0]))   # the first side effect happens...
    print(len(rows), flush=True)
    os._exit(9)                            # ...and the worker dies before marking anything done
""")


def test_worker_crash_mid_item_is_reclaimed_after_the_lease_and_runs_exactly_once(flow_env):
    rt = flow_env
    received = _receive(rt, "Lê Văn Cường")
    items = _outbox(rt, received.dossier_id)
    crashed = subprocess.run([sys.executable, "-c", _CRASHING_WORKER, T0.isoformat()], cwd=REPO,
                             env={**os.environ}, capture_output=True, text=True, timeout=60)
    assert crashed.returncode == 9, crashed.stderr
    assert int(crashed.stdout.strip()) == len(items)
    claimed = _outbox(rt, received.dossier_id)
    assert {(i.state, i.lease_owner) for i in claimed} == {("claimed", "crashing-worker")}
    assert len(DeliveryLog(rt.deliveries).records()) == 1

    # While the dead worker's lease runs, nobody takes its items.
    assert drain_outbox(now=T0 + 4 * MIN, worker="w2")["claimed"] == 0
    # After it, another worker does, and every side effect happened exactly once.
    report = drain_outbox(now=T0 + 6 * MIN, worker="w2")
    assert (report["claimed"], report["done"]) == (len(items), len(items))
    after = _outbox(rt, received.dossier_id)
    assert {(i.state, i.lease_owner, i.attempts) for i in after} == {("done", "w2", 2)}
    keys = [r["key"] for r in DeliveryLog(rt.deliveries).records()]
    assert sorted(keys) == sorted(i.idempotency_key for i in items)
    assert sum(1 for i in after if i.result.get("duplicate")) == 1  # the one the dead worker delivered


# --------------------------------------------------------------------------- timers


def _open_timed_item(rt, dossier_id: int) -> WorkItem:
    with rt.db.session() as s:
        return s.exec(select(WorkItem).where(WorkItem.dossier_id == dossier_id, WorkItem.state == "open",
                                             WorkItem.clock.is_not(None))).one()


def _timer_instants(rt, item: WorkItem) -> tuple[dt.datetime, dt.datetime]:
    from engine.machine import load_clock

    clock = load_clock(item.clock)
    return clock.nearly_due_at(rt.calendar), clock.overdue_at(rt.calendar)


def test_sweep_turns_an_item_overdue_in_one_pass_and_is_idempotent(flow_env):
    rt = flow_env
    received = _receive(rt, "Phạm Thị Dung")
    item = _open_timed_item(rt, received.dossier_id)
    _, overdue_at = _timer_instants(rt, item)
    drain_outbox(now=T0 + MIN)
    assert sweep_timers_flow(now=overdue_at - MIN)["overdue"] == 0  # not yet

    at = overdue_at + dt.timedelta(seconds=30)  # well within a minute of its instant
    first = sweep_timers_flow(now=at)

    assert first["overdue"] == 1 and first["notifications"] >= 1
    with rt.db.session() as s:
        assert s.get(WorkItem, item.id).timeliness == "overdue"
        events = s.exec(select(Event).where(Event.work_item_id == item.id, Event.action == "timeliness")).all()
        assert [e.data["to"] for e in events][-1] == "overdue"
    heads = [o for o in _outbox(rt, received.dossier_id) if o.kind == "notify_unit_head"]
    assert any(o.payload["reason"] == "overdue" and o.payload["unit"] == item.unit_id for o in heads)
    before = (len(_outbox(rt)), len(events))

    again = sweep_timers_flow(now=at)

    assert again["changed"] == 0 and again["notifications"] == 0
    with rt.db.session() as s:
        n_events = len(s.exec(select(Event).where(Event.work_item_id == item.id,
                                                  Event.action == "timeliness")).all())
    assert (len(_outbox(rt)), n_events) == before
    # The unit head is notified by the next drain.
    drain_outbox(now=at)
    to_head = [r for r in DeliveryLog(rt.deliveries).records() if r["kind"] == "notify_unit_head"]
    assert any("quá hạn" in r["message"] and r["to"].startswith(f"{item.unit_id}/") for r in to_head)
    assert any(f"bước '{item.step_name}' đã quá hạn" in r["message"] for r in to_head)  # its name, not its id


def test_timers_that_came_due_while_prefect_was_down_all_fire_on_the_next_run(flow_env):
    rt = flow_env
    dossiers = [_receive(rt, f"Người nộp {i}", at=T0 + i * MIN) for i in range(3)]
    dossiers.append(_receive(rt, "Người nộp xã", code="1.001193", at=T0 + 5 * MIN,
                             clerk="xa_motcua"))
    # No sweep ran for a week ("Prefect was down"); the first one back catches up in one pass.
    back = T0 + dt.timedelta(days=7)

    result = sweep_timers_flow(now=back)

    assert result["overdue"] == len(dossiers)
    with rt.db.session() as s:
        items = s.exec(select(WorkItem).where(WorkItem.state == "open", WorkItem.clock.is_not(None))).all()
        assert len(items) == len(dossiers) and {w.timeliness for w in items} == {"overdue"}
        apologies = s.exec(select(Apology)).all()
    assert result["dossiers_overdue"] == len(dossiers)
    assert len(apologies) == result["apologies"]
    assert sweep_timers_flow(now=back + MIN)["changed"] == 0


def test_worker_serves_late_sweep_runs_once_and_drains_when_woken(flow_env):
    """The deployments: late scheduled runs collapse into one sweep; a due outbox wakes a drain."""
    from prefect.client.orchestration import get_client
    from prefect.states import Scheduled

    from workflows.worker import SWEEP_FLOW, Worker, WorkerConfig, outbox_due

    rt = flow_env
    now = dt.datetime.now(dt.timezone.utc)
    received = _receive(rt, "Hoàng Văn Em", at=now - dt.timedelta(days=10))
    item = _open_timed_item(rt, received.dossier_id)
    worker = Worker(WorkerConfig(name="test-worker", sweep_every=3600))
    ids = worker.register()
    with get_client(sync_client=True) as client:
        late = [client.create_flow_run_from_deployment(
            ids[SWEEP_FLOW], state=Scheduled(scheduled_time=now - dt.timedelta(minutes=m)))
            for m in (9, 6, 3)]

    outcomes = worker.run_due()

    mine = [o for o in outcomes if o.flow == SWEEP_FLOW]
    assert [o.state for o in mine].count("Completed") == 1
    assert {o.flow_run_id for o in mine if o.state == "Superseded"} >= {fr.id for fr in late[:2]}
    swept = next(o for o in mine if o.state == "Completed")
    assert swept.result["overdue"] >= 1
    with rt.db.session() as s:
        assert s.get(WorkItem, item.id).timeliness == "overdue"
    with get_client(sync_client=True) as client:
        states = {fr.id: client.read_flow_run(fr.id).state for fr in late}
    assert sum(1 for st in states.values() if st.is_completed()) == 1
    assert sum(1 for st in states.values() if st.name == "Superseded") == 2

    # The outbox holds the receipt, the notifications and the timers' messages: a drain is woken.
    assert outbox_due(rt.db, dt.datetime.now(dt.timezone.utc)) > 0
    drained = worker.drain_if_due()
    assert drained is not None and drained.state == "Completed" and drained.result["done"] >= 4
    assert {o.state for o in _outbox(rt)} == {"done"}
    assert worker.drain_if_due() is None
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(drained.flow_run_id)
    assert run.deployment_id == ids["quytrinh-drain-outbox"] and run.state.is_completed()
    assert json.dumps(drained.result)  # the report is plain data (shown in the Prefect UI)


def test_worker_serve_loop_drains_a_new_dossier_within_seconds_and_stops(flow_env):
    import contextvars
    import threading

    from workflows.worker import DRAIN_FLOW, Worker, WorkerConfig

    rt = flow_env
    worker = Worker(WorkerConfig(name="serving", sweep_every=3600, drain_poll=0.2, schedule_poll=1))
    worker.register()
    runs, stop = [], threading.Event()
    serving = threading.Thread(target=contextvars.copy_context().run, args=(worker.serve, stop, runs.append))
    serving.start()
    try:
        received = _receive(rt, "Đỗ Thị Giang", at=dt.datetime.now(dt.timezone.utc))
        n = len(_outbox(rt, received.dossier_id))
        drained = wait_for(lambda: {o.state for o in _outbox(rt, received.dossier_id)} == {"done"}, timeout=30)
    finally:
        stop.set()
        serving.join(timeout=30)
    assert drained and not serving.is_alive()
    assert any(r.flow == DRAIN_FLOW and r.state == "Completed" and r.result["done"] >= 1 for r in runs)
    assert [r for r in runs if r.state == "Taken"] == []  # the only worker never races with itself
    assert sum(r.result["done"] for r in runs if r.flow == DRAIN_FLOW and r.state == "Completed") == n


_AUTOMATED = """
code: "9.999001"
name: "Thủ tục thử có bước tự động"
field: "Thử nghiệm"
level: district
authority: "Ủy ban nhân dân cấp huyện"
time_limit: {value: 1, unit: working_days}
steps:
  - id: receive
    name: "Tiếp nhận hồ sơ"
    unit: bp_mot_cua
    role: staff
    duration: 1h
    routes: {accept: lookup}
  - id: lookup
    name: "Tra cứu cơ sở dữ liệu đăng ký (tự động)"
    kind: automated
    unit: van_phong
    duration: 30m
    routes: {done: deliver}
  - id: deliver
    name: "Trả kết quả"
    kind: return
    unit: bp_mot_cua
    role: staff
    duration: 1h
    ends: result
"""


def test_an_automated_step_is_completed_by_the_drain_exactly_once(flow_env, tmp_path):
    from engine.definition import load_definition

    rt = flow_env
    path = tmp_path / "9.999001-tu-dong.yaml"
    path.write_text(_AUTOMATED, encoding="utf-8")
    sv.publish_definition(rt.db, load_definition(path), now=T0, by="test")
    received = _receive(rt, "Vũ Văn Hùng", code="9.999001")
    with rt.db.session() as s:
        lookup = s.exec(select(WorkItem).where(WorkItem.dossier_id == received.dossier_id,
                                               WorkItem.step_id == "lookup")).one()
    assert lookup.state == "open"

    report = drain_outbox(now=T0 + MIN, worker="w-auto")

    auto = [e for e in report["items"] if e["kind"] == "run_automated_step"]
    assert [e["state"] for e in auto] == ["done"]
    with rt.db.session() as s:
        items = {w.step_id: w for w in s.exec(select(WorkItem).where(WorkItem.dossier_id == received.dossier_id))}
        done_event = s.exec(select(Event).where(Event.work_item_id == lookup.id, Event.action == "complete")).one()
    assert items["lookup"].state == "done" and items["lookup"].outcome == "done"
    assert items["deliver"].state == "open"  # the process moved on
    assert done_event.actor == "system"
    # Running the same outbox item again (a crash before it was marked done) changes nothing.
    from workflows.effects import EffectContext, OutboxWork, perform

    row = next(o for o in _outbox(rt, received.dossier_id) if o.kind == "run_automated_step")
    again = perform(EffectContext(rt.db, T0 + 2 * MIN, "w-auto", DeliveryLog(rt.deliveries)), OutboxWork.of(row))
    assert again["replayed"] is True
    with rt.db.session() as s:
        assert len(s.exec(select(WorkItem).where(WorkItem.dossier_id == received.dossier_id)).all()) == len(items)


# An automated step cancelled by a withdrawal or a stop is skipped, not failed, and an effect that can never
# succeed is failed at once without retries: tests/flows/test_flows_qa_machine_work.py.
