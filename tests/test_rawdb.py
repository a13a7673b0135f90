"""The actions' DB-API layer (engine.rawdb) writes exactly what the ORM reads, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from sqlmodel import select

from engine import rawdb
from engine import services as sv
from engine.store import Dossier, Event, OutboxItem, WorkItem, dump

HANOI = dt.timezone(dt.timedelta(hours=7))
T = dt.datetime(2026, 3, 10, 8, 30, 15, 123456, tzinfo=HANOI)


def _received(runtime):
    return sv.receive(runtime.db, runtime.actor("motcua"), "1.001612", applicant="Nguyễn Văn Á", now=T,
                      calendar=runtime.calendar)


def test_rows_written_by_the_actions_read_back_through_the_orm(runtime):
    r = _received(runtime)
    with runtime.db.session() as s:
        d = s.get(Dossier, r.dossier_id)
        items = s.exec(select(WorkItem).where(WorkItem.dossier_id == d.id).order_by(WorkItem.id)).all()
        events = s.exec(select(Event).where(Event.dossier_id == d.id).order_by(Event.id)).all()
        outbox = s.exec(select(OutboxItem).where(OutboxItem.dossier_id == d.id)).all()
    assert d.code == r.dossier_code and d.code.startswith("1.001612-20260310-")
    assert d.code.endswith(f"{d.id:06d}")
    # Instants come back aware, in UTC, to the microsecond.
    assert d.registered_at == T and d.registered_at.tzinfo == dt.timezone.utc
    assert d.received_at == T and d.due_at is not None and d.due_at > T
    # JSON columns come back as Python values, not text.
    assert isinstance(d.clock, dict) and d.clock and d.route_counts == {} and d.joins == {}
    assert [w.step_id for w in items][0] == "receive" and items[0].state == "done"
    assert all(isinstance(w.clock, dict) for w in items if w.allotted_minutes)
    assert [e.action for e in events][:2] == ["register", "accept"]
    assert all(isinstance(e.to_steps, list) and isinstance(e.data, dict) for e in events)
    assert outbox and all(o.payload["dossier_code"] == d.code for o in outbox)
    assert all(o.result is None for o in outbox)


def test_instants_compare_in_sql_as_the_orm_writes_them(runtime):
    """A raw-written due_at must compare with an ORM-bound instant inside SQL (the sweep and the inbox do)."""
    r = _received(runtime)
    with runtime.db.session() as s:
        due = s.get(Dossier, r.dossier_id).due_at
        before = s.execute(sa.select(sa.func.count()).select_from(Dossier).where(
            Dossier.due_at > due - dt.timedelta(microseconds=1))).scalar_one()
        after = s.execute(sa.select(sa.func.count()).select_from(Dossier).where(
            Dossier.due_at > due)).scalar_one()
    assert (before, after) == (1, 0)


def test_dossier_codes_number_on(runtime):
    codes = [_received(runtime).dossier_code for _ in range(3)]
    ids = [int(c.rsplit("-", 1)[1]) for c in codes]
    assert ids == sorted(ids) and len(set(ids)) == 3


def test_a_naive_instant_is_refused_and_nothing_is_written(db):
    before = dump(db)
    with pytest.raises(ValueError, match="naive datetime"):
        with rawdb.write(db) as tx:
            tx.insert_row(rawdb.table("units"), {"id": "x", "name": "X", "short": "", "level": "district",
                                                 "kind": "office", "roles": {}})
            tx.update_row(rawdb.table("dossiers"), {"updated_at": dt.datetime(2026, 3, 10, 8, 0)}, "id = ?", (1,))
    assert dump(db) == before


def test_driver_errors_are_sqlalchemy_errors_and_roll_back(db):
    before = dump(db)
    units = rawdb.table("units")
    row = {"id": "x", "name": "X", "short": "", "level": "district", "kind": "office", "roles": {"staff": "CV"}}
    with pytest.raises(sa.exc.IntegrityError):
        with rawdb.write(db) as tx:
            tx.execute(units.insert_sql(tuple(row)), tx.bind(units, row))
            tx.execute(units.insert_sql(tuple(row)), tx.bind(units, row))
    assert dump(db) == before
    with rawdb.write(db) as tx:
        tx.execute(units.insert_sql(tuple(row)), tx.bind(units, row))
        got = tx.fetch(units, f"SELECT {units.select_list} FROM units WHERE id = ?", ("x",))
    assert got == [{**row, "merged_into": None}] and got[0].roles == {"staff": "CV"}


def test_json_is_stored_as_sqlalchemy_stores_it(runtime):
    assert rawdb.dump_json(None) == "null"
    assert rawdb.dump_json({}) == "{}"
    orm = sa.types.JSON().bind_processor(runtime.db.engine.dialect)  # the ORM's engine, its serializer
    for value in ({"a": [1, "Á"]}, {"clock": {"start": "x", "pauses": []}, 3: None}, [True, 1.5, "Thiếu giấy tờ"]):
        assert rawdb.dump_json(value) == orm(value)
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert rawdb.dump_json({"at": when}) == '{"at":"2026-01-02T03:04:05+00:00"}'
    local = dt.datetime(2026, 1, 2, 10, 4, 5, 120000, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    assert rawdb.dump_json([local, dt.date(2026, 1, 2)]) == json.dumps([local.isoformat(), "2026-01-02"],
                                                                        separators=(",", ":"))
    # what json.dumps(default=str) would do with values JSON has no type for
    assert rawdb.dump_json({1: {2}}) == '{"1":"{2}"}'
    assert json.loads(rawdb.dump_json({"a": "Hồ sơ"})) == {"a": "Hồ sơ"}


def test_insert_rows_returns_the_ids_of_its_rows_in_order(runtime):
    r = _received(runtime)
    events = rawdb.table("events")
    rows = [{"dossier_id": r.dossier_id, "work_item_id": None, "at": T, "actor": "system", "actor_unit": None,
             "action": f"note{i}", "step_id": None, "from_status": None, "to_status": None, "to_steps": [],
             "outcome": None, "comment": f"ghi chú {i}", "data": {"i": i}} for i in range(3)]
    with rawdb.write(runtime.db) as tx:
        ids = tx.insert_rows(events, rows)
        got = tx.fetch(events, f"SELECT {events.select_list} FROM events WHERE id IN (?, ?, ?)", ids)
    assert len(set(ids)) == 3
    assert {g.id: (g.action, g.data) for g in got} == {i: (f"note{k}", {"i": k}) for k, i in enumerate(ids)}
    # The action's own result names its events and outbox items by id.
    with runtime.db.session() as s:
        assert [s.get(Event, e).dossier_id for e in r.events] == [r.dossier_id] * len(r.events)
        assert [s.get(OutboxItem, o).dossier_id for o in r.outbox] == [r.dossier_id] * len(r.outbox)
