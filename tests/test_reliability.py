"""Reliability: concurrent writers, a process killed mid-action, idempotency under races,
the authorization matrix, refused actions leave no trace, the outbox survives a worker crash."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlmodel import select

from tests.conftest import STAFF, fresh_database_url, seed_runtime
from engine import services as sv
from engine.errors import IllegalAction, NotAuthorized, StaleVersion
from engine.store import Event, OutboxItem, Store, WorkItem, dump, init_db

HANOI = dt.timezone(dt.timedelta(hours=7))
REPO = Path(__file__).resolve().parent.parent


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=HANOI)


def open_item(db, dossier_id: int, step: str) -> WorkItem:
    with db.session() as s:
        return s.exec(select(WorkItem).where(WorkItem.dossier_id == dossier_id, WorkItem.step_id == step,
                                             WorkItem.state.in_(("open", "claimed")))).one()


def race(url: str, n: int, fn) -> list[object]:
    """Run ``fn(store, i)`` in ``n`` threads, each with its own engine, released together."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def worker(i: int) -> None:
        store = Store(url)
        try:
            barrier.wait()
            results[i] = fn(store, i)
        except Exception as exc:  # noqa: BLE001 - the race's loser is the point
            results[i] = exc
        finally:
            store.dispose()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


# --------------------------------------------------------------------------- concurrent writers


@pytest.mark.parametrize("with_version", [True, False], ids=["expected-version", "no-version"])
def test_two_staff_complete_the_same_item_exactly_one_wins(runtime, with_version):
    db = runtime.db
    rounds = 4
    for k in range(rounds):
        r = sv.receive(db, runtime.actor("motcua"), "1.001612", applicant=f"Race {k}", now=at(10, 8))
        item = open_item(db, r.dossier_id, "assign")
        version = r.version
        results = race(runtime.url, 2, lambda store, i: sv.complete(
            store, runtime.actor("tckh_head"), item.id, outcome="done", now=at(10, 9, i),
            comment=f"writer {i}", expected_version=version if with_version else None))
        wins = [x for x in results if isinstance(x, sv.ActionResult)]
        losses = [x for x in results if not isinstance(x, sv.ActionResult)]
        assert len(wins) == 1, results
        assert len(losses) == 1 and isinstance(losses[0], (StaleVersion, IllegalAction)), results
        if with_version:
            assert isinstance(losses[0], StaleVersion)
        with db.session() as s:
            completes = s.exec(select(Event).where(Event.dossier_id == r.dossier_id,
                                                   Event.action == "complete")).all()
            appraise = s.exec(select(WorkItem).where(WorkItem.dossier_id == r.dossier_id,
                                                     WorkItem.step_id == "appraise")).all()
        assert len(completes) == 1 and len(appraise) == 1
        assert wins[0].version == version + 1


def _child(url: str, code: str, env: dict[str, str]) -> subprocess.Popen:
    script = (
        "import sys, datetime as dt\n"
        "from engine import services as sv\n"
        "from engine.store import Store\n"
        f"db = Store({url!r})\n"
        f"{code}\n"
    )
    return subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the child ended early: {proc.communicate()}")
        assert time.monotonic() < deadline, "the child never reached the hook"
        time.sleep(0.02)


def test_a_writer_that_commits_while_another_read_the_same_version_wins_alone(runtime, tmp_path):
    """The loser reads the version before the winner commits: ``UPDATE ... WHERE version`` decides."""
    db = runtime.db
    r = sv.receive(db, runtime.actor("motcua"), "1.001612", applicant="Slow", now=at(10, 8))
    item = open_item(db, r.dossier_id, "assign").id
    marker = tmp_path / "paused"
    child = _child(runtime.url,
                   f"sv.complete(db, sv.get_actor(db, 'tckh_head'), {item}, outcome='done', "
                   f"now=dt.datetime(2026, 3, 10, 2, tzinfo=dt.timezone.utc), expected_version={r.version})",
                   {"QUYTRINH_TEST_PAUSE_IN": "complete", "QUYTRINH_TEST_PAUSE_SECONDS": "0.8",
                    "QUYTRINH_TEST_PAUSE_MARKER": str(marker)})
    _wait_for(marker, child)
    with pytest.raises(StaleVersion):
        sv.complete(db, runtime.actor("tckh_head"), item, outcome="done", now=at(10, 9, 30),
                    expected_version=r.version)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    with db.session() as s:
        events = s.exec(select(Event).where(Event.dossier_id == r.dossier_id, Event.action == "complete")).all()
    assert [e.at for e in events] == [at(10, 9)]  # the child's


def test_two_counters_registering_at_once_get_the_books_next_numbers_which_never_move(runtime, tmp_path):
    """Counter A takes its instant first and is still writing when counter B registers and prints form 01.
    Each gets the book's next number, once: B waits for A (on PostgreSQL, the book's lock; on SQLite, the
    write lock) and takes the number after A's, so what B's receipt prints does not move when A's instant
    turns out to be the earlier one, and no two receipts print the same number."""
    from engine.documents import book_number
    from engine.store import Dossier

    db = runtime.db
    sv.receive(db, runtime.actor("motcua"), "1.001612", applicant="Đầu sổ", now=at(10, 7))
    marker = tmp_path / "paused"
    child = _child(runtime.url,
                   "r = sv.receive(db, sv.get_actor(db, 'motcua'), '1.001612', applicant='Quầy A', "
                   "now=dt.datetime(2026, 3, 10, 2, 0, tzinfo=dt.timezone.utc))\nprint(r.dossier_id)",
                   {"QUYTRINH_TEST_PAUSE_IN": "receive", "QUYTRINH_TEST_PAUSE_SECONDS": "1.5",
                    "QUYTRINH_TEST_PAUSE_MARKER": str(marker)})
    _wait_for(marker, child)
    b = sv.receive(db, runtime.actor("motcua"), "1.001612", applicant="Quầy B", now=at(10, 9, 5))

    def number(dossier_id: int) -> int:
        with db.session() as s:
            return book_number(s, s.get(Dossier, dossier_id)).number

    printed_b = number(b.dossier_id)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    a_id = int(out.split()[-1])
    assert (number(a_id), printed_b, number(b.dossier_id)) == (2, 3, 3)


@pytest.mark.parametrize("action", ["complete", "receive"])
def test_sigkill_in_the_middle_of_an_action_leaves_no_partial_state(runtime, tmp_path, action):
    db = runtime.db
    r = sv.receive(db, runtime.actor("motcua"), "1.001612", applicant="Kill", now=at(10, 8))
    item = open_item(db, r.dossier_id, "assign").id
    before = dump(db)
    marker = tmp_path / "paused"
    code = {
        "complete": f"sv.complete(db, sv.get_actor(db, 'tckh_head'), {item}, outcome='done', "
                    f"now=dt.datetime(2026, 3, 10, 2, tzinfo=dt.timezone.utc))",
        "receive": "sv.receive(db, sv.get_actor(db, 'motcua'), '1.001612', applicant='Killed', "
                   "now=dt.datetime(2026, 3, 10, 2, tzinfo=dt.timezone.utc))",
    }[action]
    child = _child(runtime.url, code, {"QUYTRINH_TEST_PAUSE_IN": action, "QUYTRINH_TEST_PAUSE_SECONDS": "60",
                                       "QUYTRINH_TEST_PAUSE_MARKER": str(marker)})
    _wait_for(marker, child)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert dump(db) == before
    # the lock died with the process: the same action now goes through
    if action == "complete":
        res = sv.complete(db, runtime.actor("tckh_head"), item, outcome="done", now=at(10, 9))
        assert res.version == r.version + 1
    else:
        res = sv.receive(db, runtime.actor("motcua"), "1.001612", applicant="Again", now=at(10, 9))
        assert res.status == 2
    assert dump(db) != before


def test_the_same_idempotency_key_from_two_threads_creates_one_dossier(runtime):
    results = race(runtime.url, 2, lambda store, i: sv.receive(
        store, runtime.actor("motcua"), "1.001612", applicant="Twin", now=at(10, 8), idempotency_key="twin"))
    assert all(isinstance(x, sv.ActionResult) for x in results), results
    assert results[0].as_dict() == results[1].as_dict()
    assert sorted(x.replayed for x in results) == [False, True]
    with runtime.db.session() as s:
        assert len(s.exec(select(WorkItem)).all()) == 2  # one receive (done) + one assign


# --------------------------------------------------------------------------- authorization matrix

#: Each stage of 1.001612 that leaves one item open at a unit: (name, steps to play from receipt).
STAGES = {
    "assign": [],
    "appraise": [("assign", "tckh_head", "done")],
    "supplement": [("assign", "tckh_head", "done"), ("appraise", "tckh_cv", "supplement")],
    "check": [("assign", "tckh_head", "done"), ("appraise", "tckh_cv", "ok")],
    "sign": [("assign", "tckh_head", "done"), ("appraise", "tckh_cv", "ok"), ("check", "tckh_head", "ok")],
    "issue": [("assign", "tckh_head", "done"), ("appraise", "tckh_cv", "ok"), ("check", "tckh_head", "ok"),
              ("sign", "tckh_head", "approve")],
    "deliver": [("assign", "tckh_head", "done"), ("appraise", "tckh_cv", "ok"), ("check", "tckh_head", "ok"),
                ("sign", "tckh_head", "approve"), ("issue", "vanthu", "done")],
}
UNITS = sorted({unit for unit, _ in STAFF.values()})
ITEM_ACTIONS = ("claim", "complete", "request_supplement", "sign", "return_result")
DOSSIER_ACTIONS = ("withdraw", "stop", "supplement_received")


@pytest.fixture(scope="module")
def matrix(tmp_path_factory, catalogue, calendar, _pg_cleanup):
    """One database with a 1.001612 dossier waiting at each stage (built once for the matrix)."""
    with fresh_database_url(tmp_path_factory.mktemp("matrix")) as url:
        db = init_db(url)
        rt = seed_runtime(db, url, catalogue, calendar)
        dossiers = {}
        for stage, plays in STAGES.items():
            r = sv.receive(db, rt.actor("motcua"), "1.001612", applicant=f"Ma trận {stage}", now=at(10, 8))
            for i, (step, user, outcome) in enumerate(plays):
                sv.complete(db, rt.actor(user), open_item(db, r.dossier_id, step).id, outcome=outcome,
                            now=at(10, 9, i), comment="Bổ sung bản sao hợp đồng thuê nhà")
            dossiers[stage] = (r.dossier_id, open_item(db, r.dossier_id, stage))
        yield rt, dossiers
        db.dispose()


def _attempt(rt, actor, action: str, item: WorkItem, dossier_id: int) -> None:
    db, now = rt.db, at(11, 9)
    if action == "claim":
        sv.claim(db, actor, item.id, now=now)
    elif action == "complete":
        sv.complete(db, actor, item.id, outcome="done", now=now)
    elif action == "request_supplement":
        sv.request_supplement(db, actor, item.id, now=now, comment="Bổ sung bản sao hợp đồng thuê nhà")
    elif action == "sign":
        sv.sign(db, actor, item.id, now=now)
    elif action == "return_result":
        sv.return_result(db, actor, item.id, now=now)
    elif action == "withdraw":
        sv.withdraw(db, actor, dossier_id, now=now, comment="Đơn đề nghị rút hồ sơ số 01 ngày 10/3")
    elif action == "stop":
        sv.stop(db, actor, dossier_id, now=now, reason="thử")
    elif action == "supplement_received":
        sv.supplement_received(db, actor, dossier_id, now=now)
    else:  # pragma: no cover
        raise AssertionError(action)


@pytest.mark.parametrize("action", ITEM_ACTIONS + DOSSIER_ACTIONS)
@pytest.mark.parametrize("unit", UNITS)
def test_no_unit_acts_on_another_units_work(matrix, unit, action):
    rt, dossiers = matrix
    roles: dict[str, str] = {}  # one member of staff per role of the unit
    for name, (u, role) in STAFF.items():
        if u == unit:
            roles.setdefault(role, name)
    actors = [rt.actor(name) for name in roles.values()]
    before = dump(rt.db)
    tried = 0
    for stage, (dossier_id, item) in dossiers.items():
        for actor in actors:
            if action in DOSSIER_ACTIONS:
                if unit == "bp_mot_cua" or (action == "supplement_received" and stage != "supplement"):
                    continue  # the one-stop unit may; no supplement awaited elsewhere
            elif item.kind == "citizen":
                if unit == "bp_mot_cua":
                    continue  # the one-stop unit records the applicant's supplement
            elif (actor.unit, actor.role) == (item.unit_id, item.role):
                continue  # their own work
            with pytest.raises(NotAuthorized):
                _attempt(rt, actor, action, item, dossier_id)
            tried += 1
    assert dump(rt.db) == before  # every refusal left the database byte-for-byte as it was
    if unit not in ("bp_mot_cua",) or action in ITEM_ACTIONS:
        assert tried > 0


def test_refused_illegal_actions_leave_no_trace(runtime):
    db = runtime.db
    r = sv.receive(db, runtime.actor("motcua"), "1.001612", applicant="Illegal", now=at(10, 8))
    item = open_item(db, r.dossier_id, "assign").id
    before = dump(db)
    attempts = [
        lambda: sv.complete(db, runtime.actor("tckh_head"), item, outcome="approve", now=at(10, 9)),
        lambda: sv.sign(db, runtime.actor("tckh_head"), item, now=at(10, 9)),
        lambda: sv.return_result(db, runtime.actor("tckh_head"), item, now=at(10, 9)),
        lambda: sv.request_supplement(db, runtime.actor("tckh_head"), item, now=at(10, 9)),
        lambda: sv.supplement_received(db, runtime.actor("motcua"), r.dossier_id, now=at(10, 9)),
        lambda: sv.claim(db, runtime.actor("tckh_head"), item, now=at(10, 9), expected_version=99),
    ]
    for attempt in attempts:
        with pytest.raises((IllegalAction, StaleVersion)):
            attempt()
        assert dump(db) == before


# --------------------------------------------------------------------------- the outbox


def test_outbox_survives_a_worker_killed_after_claiming(runtime, tmp_path):
    db = runtime.db
    r = sv.receive(db, runtime.actor("motcua"), "1.001612", applicant="Outbox", now=at(10, 8))
    marker = tmp_path / "claimed"
    child = _child(runtime.url, (
        "items = sv.claim_outbox(db, worker='doomed', limit=10, "
        "now=dt.datetime(2026, 3, 10, 1, tzinfo=dt.timezone.utc), lease=dt.timedelta(minutes=5))\n"
        f"open({str(marker)!r}, 'w').write(','.join(str(i.id) for i in items))\n"
        "import time; time.sleep(60)\n"), {})
    _wait_for(marker, child)
    time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    claimed = [int(x) for x in marker.read_text().split(",")]
    assert claimed == r.outbox
    # within the lease nobody else runs them
    assert sv.claim_outbox(db, worker="w2", limit=10, now=at(10, 8, 4)) == []
    # after it, they are claimed again: attempt 2
    again = sv.claim_outbox(db, worker="w2", limit=10, now=at(10, 8, 6))
    assert [(o.id, o.attempts, o.lease_owner) for o in again] == [(i, 2, "w2") for i in claimed]
    for o in again:
        sv.complete_outbox(db, o.id, worker="w2", now=at(10, 8, 7))
    # the dead worker's late completion is refused; completed items are never claimed again
    with pytest.raises(StaleVersion, match="lease was lost|not claimed by worker 'doomed'"):
        sv.complete_outbox(db, claimed[0], worker="doomed", now=at(10, 8, 8))
    assert sv.claim_outbox(db, worker="w3", limit=10, now=at(31, 8)) == []


def test_concurrent_workers_claim_disjoint_items(runtime):
    db = runtime.db
    for k in range(8):  # two outbox items each (the receipt, the next unit's notice): more than 3 workers take
        sv.receive(db, runtime.actor("motcua"), "1.001612", applicant=f"Batch {k}", now=at(10, 8))
    with db.session() as s:
        total = len(s.exec(select(OutboxItem)).all())
    assert total == 16
    results = race(runtime.url, 4, lambda store, i: [o.id for o in sv.claim_outbox(
        store, worker=f"w{i}", limit=5, now=at(10, 8, 1))])
    assert all(isinstance(x, list) for x in results), results
    ids = [i for batch in results for i in batch]
    assert len(ids) == len(set(ids)) == 16
    with db.session() as s:
        owners = {o.id: o.lease_owner for o in s.exec(select(OutboxItem)).all()}
    for i, batch in enumerate(results):
        assert all(owners[x] == f"w{i}" for x in batch)


# --------------------------------------------------------------------------- an account changed while its user acts
#
# `quytrinh user disable` / `user move` change the account in one transaction, then give back the work it
# holds; the user's own actions run meanwhile, from an actor read before (the CLI's --as, a web session).
# Whatever the interleaving, either the action commits first and the change then gives back what it
# claimed, or the change commits first and the action is refused, changing nothing: no item is left
# claimed by a disabled user, or by a user no longer of its unit (nobody sees it as claimable then).


def _appraisal(rt, applicant: str, minute: int = 0) -> int:
    """A dossier whose appraisal is open at Phòng TC-KH (phong_tckh/staff: tckh_cv's work)."""
    r = sv.receive(rt.db, rt.actor("motcua"), "1.001612", applicant=applicant, now=at(10, 8, minute))
    sv.complete(rt.db, rt.actor("tckh_head"), open_item(rt.db, r.dossier_id, "assign").id, outcome="done",
                now=at(10, 9, minute))
    return open_item(rt.db, r.dossier_id, "appraise").id


def _stranded(db, item_id: int) -> bool:
    """Whether the item is claimed by a disabled user, or by one who is no longer of its unit and role."""
    from engine.store import User

    with db.session() as s:
        w = s.get(WorkItem, item_id)
        holder = s.get(User, w.assignee_id) if w.assignee_id is not None else None
    return w.state == "claimed" and holder is not None and (
        not holder.active or (holder.unit_id, holder.role) != (w.unit_id, w.role))


def _change(db, change: str):
    if change == "disable":
        return sv.deactivate_user(db, "tckh_cv", now=at(11, 8))
    return sv.move_user(db, "tckh_cv", unit="phong_qldt", role="staff", now=at(11, 8))


@pytest.mark.parametrize("change", ["disable", "move"])
def test_an_action_from_an_actor_read_before_the_account_changed_is_refused(runtime, change):
    """The actor was read while the account was active at phong_tckh/staff; the change, and its giving
    back, were over before the action began. Before the fix the claim went through: the item stayed
    claimed by a disabled user (or one moved to phong_qldt), on SQLite as on PostgreSQL."""
    db = runtime.db
    item = _appraisal(runtime, "Đọc trước")
    actor = sv.get_actor(db, "tckh_cv")
    _change(db, change)
    before = dump(db)
    expected = "is deactivated" if change == "disable" else r"may not act on work item .* belongs to phong_tckh/staff"
    for attempt in (lambda: sv.claim(db, actor, item, now=at(11, 9)),
                    lambda: sv.complete(db, actor, item, outcome="ok", now=at(11, 9))):
        with pytest.raises(NotAuthorized, match=expected) as refused:
            attempt()
        assert dump(db) == before
    assert not _stranded(db, item)
    if change == "disable":  # what the CLI prints: the account, that nothing changed, how to enable it again
        from quytrinh.messages import cli_error_text

        assert cli_error_text(refused.value) == (
            "Không có quyền: tài khoản 'tckh_cv' đã ngừng hoạt động; thao tác không được thực hiện, hồ sơ không "
            "thay đổi. Cho hoạt động lại bằng: quytrinh user enable tckh_cv.")


@pytest.mark.parametrize("change,action", [("disable", "claim"), ("disable", "assign"), ("move", "claim")])
def test_a_change_of_the_account_waits_for_its_users_action_under_way_then_gives_its_work_back(
        runtime, tmp_path, change, action):
    """The claim (or the head's assignment to the user) has written and holds its transaction open when
    the administrator changes the account. The change waits for it to commit, then gives the item back.
    Before the fix, on PostgreSQL, the change committed at once and read nothing to give back; the action
    committed after it, and the item stayed claimed by a disabled (or moved) user. (SQLite serializes the
    two writers: the change waits there too.)"""
    db = runtime.db
    item = _appraisal(runtime, "Đang nhận việc")
    code = {"claim": f"sv.claim(db, sv.get_actor(db, 'tckh_cv'), {item}, "
                     f"now=dt.datetime(2026, 3, 10, 3, tzinfo=dt.timezone.utc))",
            "assign": f"sv.assign(db, sv.get_actor(db, 'tckh_head'), {item}, to='tckh_cv', "
                      f"now=dt.datetime(2026, 3, 10, 3, tzinfo=dt.timezone.utc))"}[action]
    marker = tmp_path / "paused"
    child = _child(runtime.url, code, {"QUYTRINH_TEST_PAUSE_IN": action, "QUYTRINH_TEST_PAUSE_SECONDS": "1.5",
                                       "QUYTRINH_TEST_PAUSE_MARKER": str(marker)})
    try:
        _wait_for(marker, child)
        done = _change(db, change)
    finally:
        out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err  # the action under way went through
    assert [r.item_id for r in done.released] == [item]
    with db.session() as s:
        w = s.get(WorkItem, item)
        actions = [e.action for e in s.exec(select(Event).where(Event.work_item_id == item).order_by(Event.id))]
    assert (w.state, w.assignee_id) == ("open", None)
    assert actions[-2:] == [action, "release"]


@pytest.mark.parametrize("change", ["disable", "move"])
def test_an_action_that_comes_while_the_account_changes_waits_and_is_refused(runtime, tmp_path, change):
    """The administrator's change has written and holds its transaction open when the user's claim (from an
    actor read before) begins. The claim waits for the change to commit and is refused, changing nothing.
    Before the fix, on PostgreSQL, the claim did not wait: it committed while the change was under way
    (and was given back after)."""
    db = runtime.db
    item = _appraisal(runtime, "Đang khóa tài khoản")
    actor = sv.get_actor(db, "tckh_cv")
    call = ("sv.deactivate_user(db, 'tckh_cv', now=dt.datetime(2026, 3, 11, 1, tzinfo=dt.timezone.utc))"
            if change == "disable" else
            "sv.move_user(db, 'tckh_cv', unit='phong_qldt', role='staff', "
            "now=dt.datetime(2026, 3, 11, 1, tzinfo=dt.timezone.utc))")
    marker = tmp_path / "paused"
    child = _child(runtime.url, f"print([r.item_id for r in {call}.released])",
                   {"QUYTRINH_TEST_PAUSE_IN": change, "QUYTRINH_TEST_PAUSE_SECONDS": "1.5",
                    "QUYTRINH_TEST_PAUSE_MARKER": str(marker)})
    try:
        _wait_for(marker, child)
        with pytest.raises(NotAuthorized, match="is deactivated" if change == "disable" else "belongs to phong_tckh"):
            sv.claim(db, actor, item, now=at(11, 9))
    finally:
        out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert out.strip() == "[]"  # it held nothing: the claim never landed
    with db.session() as s:
        w = s.get(WorkItem, item)
        claims = s.exec(select(Event).where(Event.work_item_id == item, Event.action == "claim")).all()
    assert (w.state, w.assignee_id, claims) == ("open", None, [])


@pytest.mark.parametrize("change", ["disable", "move"])
def test_claims_racing_account_changes_never_strand_an_item(runtime, change):
    """The two released together, round after round, each on its own connection: whichever wins, the item
    ends open (the claim was given back, or refused), never held by a disabled or moved user. Before the
    fix, on PostgreSQL, about one round in seven stranded it."""
    from engine.store import User

    db = runtime.db
    outcomes = set()
    for k in range(10):
        item = _appraisal(runtime, f"Đua {k}", k)
        with db.write() as s:  # tckh_cv back at phong_tckh/staff, active
            user = s.exec(select(User).where(User.username == "tckh_cv")).one()
            user.active, user.unit_id, user.role = True, "phong_tckh", "staff"
        actor = sv.get_actor(db, "tckh_cv")

        def one(store, i: int, item=item, actor=actor, k=k):
            time.sleep(((k + i) % 4) * 0.0005)  # a little skew, varied by round
            return sv.claim(store, actor, item, now=at(10, 10)) if i == 0 else _change(store, change)

        claimed, changed = race(runtime.url, 2, one)
        assert isinstance(changed, sv.UserChange), changed
        assert not _stranded(db, item), (k, claimed, changed)
        if isinstance(claimed, sv.ActionResult):
            assert [r.item_id for r in changed.released] == [item]
            outcomes.add("given back")
        else:
            assert isinstance(claimed, NotAuthorized), claimed
            outcomes.add("refused")
        assert _item_state(db, item) == "open"
    assert outcomes  # (which of the two happens is the scheduler's choice)


def _item_state(db, item_id: int) -> str:
    with db.session() as s:
        return s.get(WorkItem, item_id).state
