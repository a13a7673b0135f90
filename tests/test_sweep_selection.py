"""The timer sweep's selection: only the dossiers with something due get written.

:func:`engine.services.sweep_timers` reads the open dossiers' timed items, clocks and apologies at once
and writes only the dossiers it finds something to do on, a chunk of them per transaction
(:func:`engine.services._sweep_chunk`). Here two identical databases live through the same varied
history (four procedures: restart, pause and counts supplement policies, parallel consultation, claims,
supplements at the counter and during appraisal, rework, refusals, returns), one swept the old way
(every open dossier not waiting for the citizen, one transaction each: tests/sweep_oracle.py), the
other by ``sweep_timers``, at a series of instants (minutes apart, hours apart, and days apart as after
a downtime): their contents stay identical, the results agree, the dossiers selected are exactly those
the old sweep changed, and nothing is left to do right after.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest

from tests.conftest import STAFF, T0, fresh_database_url, seed_runtime
from tests.test_services import COUNTS

PROCEDURES = ("1.001612", "1.013225", "1.001193", "9.000003")


def old_sweep(db, now, cal, policy, lead=480):
    """The sweep before the selection and the batching: every open dossier not waiting for the citizen, one
    transaction each (tests/sweep_oracle.py)."""
    from tests.sweep_oracle import one_by_one_sweep

    return one_by_one_sweep(db, now, cal, policy, lead)


def candidates(db, now, cal, policy, lead=480) -> list[int]:
    from engine import rawdb
    from engine import services as sv

    with rawdb.read(db) as tx:
        return sv._sweep_candidates(tx, now, cal, policy, lead, sv.SweepResult())


def changed_by_sweep(db, now) -> set[int]:
    """The dossiers a sweep at ``now`` wrote an event on (every change of a sweep writes one)."""
    import sqlalchemy as sa

    from engine.store import Event

    with db.session() as s:
        return set(s.exec(sa.select(Event.dossier_id).where(Event.at == now, Event.actor == "system",
                                                            Event.action.in_(("timeliness", "apology")))).scalars())


class Twins:
    """Two databases driven through the same actions (each must succeed or fail on both alike)."""

    def __init__(self, stores, actors, cal):
        self.stores, self.actors, self.cal = stores, actors, cal
        self.users = {}
        for name, (unit, role) in STAFF.items():
            self.users.setdefault((unit, role), name)

    def both(self, fn, *args, **kw):
        outcomes = []
        for store in self.stores:
            try:
                outcomes.append(("ok", fn(store, *args, **kw)))
            except Exception as exc:  # noqa: BLE001 - compared below
                outcomes.append(("error", type(exc).__name__))
        a, b = outcomes
        assert a[0] == b[0] and (a[0] == "ok" or a[1] == b[1]), (fn.__name__, a, b)
        return a[1] if a[0] == "ok" else None

    def open_items(self):
        from sqlmodel import select

        from engine.store import OPEN_ITEM_STATES, Dossier, WorkItem

        with self.stores[0].session() as s:
            return list(s.exec(select(WorkItem, Dossier).join(Dossier, Dossier.id == WorkItem.dossier_id)
                               .where(WorkItem.state.in_(OPEN_ITEM_STATES)).order_by(WorkItem.id)).all())


def act(tw: Twins, rng: random.Random, now: dt.datetime, defs: dict) -> None:
    """One staff (or applicant) action on a random open work item, on both databases."""
    from engine import services as sv

    items = tw.open_items()
    if not items:
        return
    w, d = rng.choice(items)
    defn = defs[d.procedure_code]
    step = defn.step(w.step_id)
    if step.kind == "citizen":
        tw.both(sv.supplement_received, tw.actors[tw.users[(defn.start.unit, defn.start.role)]], d.id, now=now)
        return
    user = tw.users.get((w.unit_id, w.role))
    if user is None:
        return
    actor = tw.actors[user]
    if step.kind == "sign":
        tw.both(sv.sign, actor, w.id, now=now, outcome=rng.choice(("approve",) * 5 + ("reject",)),
                comment="Chưa đủ căn cứ")  # (a reject needs its reason)
    elif step.kind == "return":
        tw.both(sv.return_result, actor, w.id, now=now)
    elif w.state == "open" and rng.random() < 0.3:
        tw.both(sv.claim, actor, w.id, now=now)
    else:
        outcomes = [r.outcome for r in step.routes]
        weights = [12 if o == "supplement" else 3 if o in ("refuse", "rework") else 80 for o in outcomes]
        outcome = rng.choices(outcomes, weights)[0] if outcomes else None
        tw.both(sv.complete, actor, w.id, outcome=outcome, now=now, comment="Bổ sung bản sao giấy tờ")


@pytest.fixture
def twins(tmp_path, catalogue, calendar, _pg_cleanup):
    from engine import services as sv
    from engine.definition import definition_from_data
    from engine.store import init_db
    from engine.yamlsrc import load_text

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with fresh_database_url(tmp_path / "a") as url_a, fresh_database_url(tmp_path / "b") as url_b:
        stores, actors = [], None
        for url in (url_a, url_b):
            store = init_db(url)
            rt = seed_runtime(store, url, catalogue, calendar)
            sv.publish_definition(store, definition_from_data(load_text(COUNTS, "<counts>"), "<counts>"), now=T0)
            stores.append(store)
            actors = rt.actors
        try:
            yield Twins(stores, actors, calendar)
        finally:
            for store in stores:
                store.dispose()


def test_the_sweep_changes_what_sweeping_every_open_dossier_changes(twins):
    from engine import sla
    from engine import services as sv
    from engine.store import dump

    tw, cal = twins, twins.cal
    policy = sla.DEFAULT_SLA_POLICY
    defs = {code: sv.current_definition(tw.stores[0], code)[1] for code in PROCEDURES}
    rng = random.Random(20260310)
    receivers = {code: tw.users[(defs[code].start.unit, defs[code].start.role)] for code in PROCEDURES}
    now = T0 - dt.timedelta(minutes=30)
    selected = changed = 0
    kinds = set()
    for round_ in range(36):
        # time moves on: minutes, hours, or days (a worker that was down)
        now += rng.choice((dt.timedelta(minutes=rng.randint(1, 40)), dt.timedelta(hours=rng.randint(1, 9)),
                           dt.timedelta(days=rng.randint(1, 3), minutes=rng.randint(0, 600))))
        at = now
        if round_ < 14:  # new dossiers, received at the counter (a few asked to supplement at once)
            for _ in range(rng.randint(1, 3)):
                code = rng.choice(PROCEDURES)
                decision = "supplement" if rng.random() < 0.1 else "accept"
                tw.both(sv.receive, tw.actors[receivers[code]], code, applicant=f"Công dân {round_}", now=at,
                        decision=decision, comment="Thiếu giấy tờ" if decision == "supplement" else "",
                        calendar=cal)
        for _ in range(rng.randint(0, 4)):
            act(tw, rng, at, defs)
        a, b = tw.stores
        assert dump(a) == dump(b)
        chosen = candidates(b, now, cal, policy)
        old = old_sweep(a, now, cal, policy)
        new = sv.sweep_timers(b, now=now, calendar=cal, policy=policy)
        assert new == old, (now, old, new)
        assert dump(a) == dump(b), now
        assert set(chosen) == changed_by_sweep(a, now), now  # exactly the dossiers the old sweep changed
        assert candidates(b, now, cal, policy) == []  # nothing left to do at this instant
        assert sv.sweep_timers(b, now=now, calendar=cal, policy=policy).changed == 0
        selected += len(chosen)
        changed += old.changed
        kinds |= {k for k in ("nearly_due", "overdue", "dossiers_overdue", "apologies") if getattr(old, k)}
    # the history did exercise the sweep
    assert changed > 10 and selected > 5
    assert kinds == {"nearly_due", "overdue", "dossiers_overdue", "apologies"}, kinds
