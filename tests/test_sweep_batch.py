"""The timer sweep's catch-up writes a chunk of dossiers per transaction, with set-based statements.

Against the one-by-one path it replaced (tests/sweep_oracle.py: one ORM transaction per dossier), on
twin databases: the same rows (events, outbox items, apologies, classes), for a mixed set of dossiers
(items turning nearly due and overdue, dossiers turning overdue, apologies, a partner step at a unit
without a head, closed items, a closed dossier, a dossier waiting for the citizen), with more
dossiers to write than one chunk; a second sweep at the same instant changes nothing. Then the races:
a staff action that commits between the sweep's read and its writes, or while a chunk's transaction
is open, is neither lost nor overwritten nor double-counted; a sweep that starts while another holds
a chunk writes nothing twice; a sweep killed in its second chunk has committed the first, and the next
sweep does the rest exactly once.
"""

from __future__ import annotations

import datetime as dt
import signal
import threading

import pytest
from sqlmodel import select

from engine import services as sv
from engine.store import Dossier, Event, OutboxItem, WorkItem, dump
from tests.conftest import T0
from tests.sweep_oracle import one_by_one_sweep
from tests.test_reliability import _child, _wait_for
from tests.test_sweep_selection import twins  # noqa: F401 - the fixture: two databases, the same history

CHUNK = 2  # a few dossiers per transaction: the mixed set spans several chunks


def minutes(cal, n: int) -> dt.datetime:
    """``n`` working minutes after T0 (a Tuesday 08:00 in Hanoi)."""
    return cal.add(T0, n)


def item_of(store, dossier_id: int, step: str) -> WorkItem:
    with store.session() as s:
        return s.exec(select(WorkItem).where(WorkItem.dossier_id == dossier_id, WorkItem.step_id == step)
                      .order_by(WorkItem.id.desc())).first()


def mixed_history(tw) -> dict[str, int]:
    """The same dossiers on both twins: the mixed set the sweeps then catch up on. Their ids by role."""
    cal, act = tw.cal, tw.actors
    first, second = tw.stores
    ids: dict[str, int] = {}

    def receive(name: str, code: str, at: int, **kw) -> None:
        r = tw.both(sv.receive, act["motcua"], code, applicant=f"Công dân {name}", now=minutes(cal, at),
                    calendar=cal, **kw)
        ids[name] = r.dossier_id

    def step(name: str, step_id: str, user: str, outcome: str | None, at: int, **kw) -> None:
        items = {item_of(store, ids[name], step_id).id for store in tw.stores}
        assert len(items) == 1
        tw.both(sv.complete, act[user], items.pop(), outcome=outcome, now=minutes(cal, at), calendar=cal, **kw)

    for k in range(6):  # their "assign" items (2 working hours) turn nearly due and overdue one after another
        receive(f"assign{k}", "1.001612", 10 * k)
    receive("appraise", "1.001612", 5)
    step("appraise", "assign", "tckh_head", "done", 20)  # a closed item; the open appraisal goes on
    receive("claimed", "1.001612", 6)
    step("claimed", "assign", "tckh_head", "done", 21)
    tw.both(sv.claim, act["tckh_cv"], item_of(first, ids["claimed"], "appraise").id, now=minutes(cal, 22),
            calendar=cal)
    receive("stopped", "1.001612", 7)
    tw.both(sv.stop, act["motcua"], ids["stopped"], now=minutes(cal, 30), reason="Dừng xử lý để thử", calendar=cal)
    receive("waiting", "1.001612", 8)
    step("waiting", "assign", "tckh_head", "done", 23)
    step("waiting", "appraise", "tckh_cv", "supplement", 40, comment="Bổ sung bản sao giấy phép")
    receive("permit", "1.013225", 9)  # consultation of a commune (no head: its office is told)
    step("permit", "assign", "qldt_head", "done", 24)
    step("permit", "appraise", "qldt_cv", "ok", 60)
    assert dump(first) == dump(second)
    return ids


def system_changes(store) -> set[int]:
    with store.session() as s:
        return set(s.exec(select(Event.dossier_id).where(Event.actor == "system",
                                                         Event.action.in_(("timeliness", "apology")))).all())


def test_the_batched_catch_up_writes_what_the_one_by_one_sweep_writes(twins):
    tw, cal = twins, twins.cal
    ids = mixed_history(tw)
    old_db, new_db = tw.stores
    kinds: set[str] = set()
    biggest = 0
    # The worker was down: each sweep comes hours or days after the last one (the last a week later).
    for at in (100, 115, 700, 1100, 1500, 3000, 4000):
        now = minutes(cal, at)
        with new_db.session() as s:
            before = {d.id: d.version for d in s.exec(select(Dossier)).all()}
        old = one_by_one_sweep(old_db, now, cal)
        new = sv.sweep_timers(new_db, now=now, calendar=cal, chunk=CHUNK)
        assert new == old, (at, old, new)
        assert dump(new_db) == dump(old_db), at  # the same rows: classes, events, outbox items, apologies, ids
        kinds |= {k for k in ("nearly_due", "overdue", "dossiers_overdue", "apologies") if getattr(new, k)}
        biggest = max(biggest, len(system_changes_at(new_db, now)))
        with new_db.session() as s:  # a sweep never bumps a dossier's version (staff actions stay valid)
            assert {d.id: d.version for d in s.exec(select(Dossier)).all()} == before
        # a second sweep at the same instant changes nothing
        again = dump(new_db)
        assert sv.sweep_timers(new_db, now=now, calendar=cal, chunk=CHUNK).changed == 0
        assert dump(new_db) == again
    assert kinds == {"nearly_due", "overdue", "dossiers_overdue", "apologies"}, kinds
    assert biggest > 2 * CHUNK  # one of the sweeps wrote more dossiers than two chunks hold
    changed = system_changes(new_db)
    assert ids["stopped"] not in changed and ids["waiting"] not in changed  # closed, waiting for the citizen
    assert {ids[f"assign{k}"] for k in range(6)} | {ids["appraise"], ids["claimed"], ids["permit"]} <= changed
    with new_db.session() as s:
        keys = s.exec(select(OutboxItem.idempotency_key).where(OutboxItem.idempotency_key.startswith("timer:"))).all()
        # the partner's overdue step is told to the office in charge of the dossier (it has the head)
        told = s.exec(select(OutboxItem).where(OutboxItem.dossier_id == ids["permit"],
                                               OutboxItem.idempotency_key.startswith("timer:item:"))).all()
        closed = s.exec(select(WorkItem.id).where(WorkItem.dossier_id == ids["appraise"],
                                                  WorkItem.step_id == "assign")).one()
        closed_events = s.exec(select(Event).where(Event.work_item_id == closed, Event.actor == "system")).all()
    assert len(keys) == len(set(keys))
    assert {(o.payload["step_unit"], o.payload["unit"]) for o in told if o.payload["step"] == "consult_commune"} == {
        ("ubnd_xa_noi_co_dat", "phong_qldt")}
    assert closed_events == []  # an item closed before it came due gets nothing


def system_changes_at(store, now) -> set[int]:
    with store.session() as s:
        return set(s.exec(select(Event.dossier_id).where(Event.at == now, Event.actor == "system")).all())


# --------------------------------------------------------------------------- races


def child_sweep(url: str, now: dt.datetime, hook: str, marker, seconds: str = "60"):
    """A sweep in another process, paused (``hook``) where the test needs it."""
    code = ("from engine.calendar import WorkCalendar\n"
            "cal = WorkCalendar.from_file('procedures_yaml/calendar.yaml')\n"
            f"res = sv.sweep_timers(db, now=dt.datetime.fromisoformat({now.isoformat()!r}), calendar=cal, "
            f"chunk={CHUNK})\n"
            "print(res.overdue, res.nearly_due)\n")
    return _child(url, code, {"QUYTRINH_TEST_PAUSE_IN": hook, "QUYTRINH_TEST_PAUSE_SECONDS": seconds,
                              "QUYTRINH_TEST_PAUSE_MARKER": str(marker)})


def assigned(runtime, n: int) -> list[int]:
    """``n`` dossiers of 1.001612 received at 08:00, 08:01, ...: their "assign" items (2 working hours)."""
    out = []
    for k in range(n):
        r = sv.receive(runtime.db, runtime.actor("motcua"), "1.001612", applicant=f"Công dân {k}",
                       now=minutes(runtime.calendar, k), calendar=runtime.calendar)
        out.append(r.dossier_id)
    return out


def test_a_staff_action_between_the_sweeps_read_and_its_writes_is_not_overwritten(runtime, tmp_path):
    cal, db = runtime.calendar, runtime.db
    dossiers = assigned(runtime, 5)
    now = minutes(cal, 200)  # every "assign" item overdue
    marker = tmp_path / "read"
    child = child_sweep(runtime.url, now, "sweep:read", marker, seconds="1.5")
    _wait_for(marker, child)  # it read the five items as turning overdue, and has not written yet
    done, claimed = item_of(db, dossiers[1], "assign"), item_of(db, dossiers[3], "assign")
    sv.complete(db, runtime.actor("tckh_head"), done.id, outcome="done", now=now, calendar=cal)
    res = sv.claim(db, runtime.actor("tckh_head"), claimed.id, now=now, calendar=cal)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert out.split() == ["4", "0"]  # the completed item is not counted
    assert item_of(db, dossiers[1], "assign").state == "done"
    with db.session() as s:
        on_done = s.exec(select(Event).where(Event.work_item_id == done.id, Event.actor == "system")).all()
        told = s.exec(select(OutboxItem.work_item_id).where(OutboxItem.idempotency_key.startswith("timer:"))).all()
        versions = {d.id: d.version for d in s.exec(select(Dossier)).all()}
    assert on_done == []  # no "overdue" for an item closed first, and no notification for it
    assert sorted(told) == sorted(item_of(db, d, "assign").id for d in dossiers if d != dossiers[1])
    # the claim stands (holder and version), and the claimed item turned overdue on top of it
    holder = item_of(db, dossiers[3], "assign")
    assert (holder.state, holder.assignee_id, holder.timeliness) == ("claimed", runtime.actor("tckh_head").user_id,
                                                                     "overdue")
    assert versions[dossiers[3]] == res.version
    assert sv.sweep_timers(db, now=now, calendar=cal).changed == 0


def test_a_staff_action_waiting_on_a_chunk_lands_after_it(runtime, tmp_path):
    cal, db = runtime.calendar, runtime.db
    dossiers = assigned(runtime, 3)
    now = minutes(cal, 200)
    marker = tmp_path / "chunk"
    child = child_sweep(runtime.url, now, "sweep:0", marker, seconds="1.5")
    _wait_for(marker, child)  # the first chunk's writes are sent, not committed: it holds its locks
    target = item_of(db, dossiers[0], "assign")
    outcome: list[object] = []

    def act() -> None:
        try:
            outcome.append(sv.complete(db, runtime.actor("tckh_head"), target.id, outcome="done",
                                       now=now + dt.timedelta(seconds=1), calendar=cal))
        except Exception as exc:  # noqa: BLE001 - asserted below
            outcome.append(exc)

    staff = threading.Thread(target=act)
    staff.start()
    out, err = child.communicate(timeout=60)
    staff.join(60)
    assert child.returncode == 0, err
    assert out.split() == ["3", "0"]
    assert len(outcome) == 1 and isinstance(outcome[0], sv.ActionResult), outcome  # not stale: no version bump
    with db.session() as s:
        history = [(e.actor, e.action) for e in s.exec(select(Event).where(Event.work_item_id == target.id)
                                                       .order_by(Event.id)).all()]
    assert history == [("system", "timeliness"), ("tckh_head", "complete")]
    closed = item_of(db, dossiers[0], "assign")
    assert closed.state == "done" and closed.outcome == "done"
    assert sv.sweep_timers(db, now=now + dt.timedelta(seconds=2), calendar=cal).overdue == 0


def content(store) -> list[tuple]:
    """What the sweeps wrote, without row ids (PostgreSQL does not give back the ids of a rolled-back chunk):
    apologies by (dossier, appointment), events and outbox items with the apology they name so."""
    from engine.store import Apology

    with store.session() as s:
        apologies = {a.id: (a.dossier_id, a.due_at.isoformat()) for a in s.exec(select(Apology)).all()}

        def named(value):
            if isinstance(value, dict) and "apology" in value:
                return sorted({**value, "apology": apologies[value["apology"]]}.items())
            return sorted(value.items()) if isinstance(value, dict) else value

        out = [("apology", *apologies[a.id], a.proposed_due_at, a.needed_minutes, a.remaining_minutes, a.unit_id)
               for a in s.exec(select(Apology)).all()]
        out += [("event", e.dossier_id, e.work_item_id, e.at, e.actor, e.action, e.step_id, repr(named(e.data)))
                for e in s.exec(select(Event)).all()]
        for o in s.exec(select(OutboxItem)).all():
            key = o.idempotency_key
            if key.startswith("timer:apology:"):
                _, _, number, what = key.split(":")
                key = f"timer:apology:{apologies[int(number)]}:{what}"
            out.append(("outbox", o.kind, o.dossier_id, o.work_item_id, key, repr(named(o.payload)), o.state))
        out += [("item", w.id, w.state, w.timeliness) for w in s.exec(select(WorkItem)).all()]
        out += [("dossier", d.id, d.version, d.timeliness) for d in s.exec(select(Dossier)).all()]
    return sorted(out, key=repr)


def test_a_sweep_killed_in_its_second_chunk_leaves_the_rest_to_the_next_one(twins, tmp_path):
    tw, cal = twins, twins.cal
    mixed_history(tw)
    old_db, new_db = tw.stores
    now = minutes(cal, 1500)
    marker = tmp_path / "chunk1"
    child = child_sweep(new_db.url, now, "sweep:1", marker)
    _wait_for(marker, child)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    first = system_changes(new_db)
    assert len(first) == CHUNK  # the first chunk committed; the second died with the process
    old = one_by_one_sweep(old_db, now, cal)
    rest = sv.sweep_timers(new_db, now=now, calendar=cal, chunk=CHUNK)
    assert 0 < rest.changed < old.changed
    assert content(new_db) == content(old_db)  # nothing lost, nothing twice
    assert sv.sweep_timers(new_db, now=now, calendar=cal, chunk=CHUNK).changed == 0


@pytest.mark.parametrize("chunk", [1, 3, 1000])
def test_any_chunk_size_writes_the_same(twins, chunk):
    tw, cal = twins, twins.cal
    mixed_history(tw)
    old_db, new_db = tw.stores
    for at in (700, 1500):
        now = minutes(cal, at)
        assert sv.sweep_timers(new_db, now=now, calendar=cal, chunk=chunk) == one_by_one_sweep(old_db, now, cal)
        assert dump(new_db) == dump(old_db)


def test_two_sweeps_at_once_write_each_change_once(twins, tmp_path):
    tw, cal = twins, twins.cal
    mixed_history(tw)
    old_db, new_db = tw.stores
    now = minutes(cal, 1500)
    old = one_by_one_sweep(old_db, now, cal)
    marker = tmp_path / "chunk0"
    child = child_sweep(new_db.url, now, "sweep:0", marker, seconds="1.5")
    _wait_for(marker, child)  # its first chunk written, not committed
    # this one read the same candidates; its first chunk waits for the child's, then finds it done
    here = sv.sweep_timers(new_db, now=now, calendar=cal, chunk=CHUNK)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    there_overdue, there_nearly = (int(x) for x in out.split())
    assert here.overdue + there_overdue == old.overdue and here.nearly_due + there_nearly == old.nearly_due
    assert there_overdue > 0  # (the child, at least its first chunk; which one wrote the rest varies)
    assert content(new_db) == content(old_db)  # between them, every change once
