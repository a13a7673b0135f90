"""The store: migrations, instants in UTC, engines, dumps (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel, select

from engine import store as st
from engine.store import Dossier, Event, UnitRow, User, database_url, dump, init_db

HANOI = dt.timezone(dt.timedelta(hours=7))


def test_migrated_schema_matches_the_models(db):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []
    names = set(sa.inspect(db.engine).get_table_names())
    assert set(st.TABLES) | {"alembic_version"} == names


def test_head_revision_constant_is_alembics_head():
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(st.alembic_config("sqlite://")).get_current_head() == st.HEAD_REVISION


def test_init_db_twice_is_harmless_and_at_head(db_url):
    init_db(db_url).dispose()
    store = init_db(db_url)
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("select version_num from alembic_version")).scalar_one() == st.HEAD_REVISION
    assert st.current_revision(store.engine) == st.HEAD_REVISION
    store.dispose()


def test_instants_come_back_aware_in_utc(db):
    received = dt.datetime(2026, 3, 10, 15, 30, tzinfo=HANOI)
    with db.write() as s:
        s.add(UnitRow(id="u", name="Đơn vị", level="district", kind="office", roles={"staff": "Chuyên viên"}))
        s.add(User(username="a", unit_id="u", role="staff", created_at=received))
    with db.session() as s:
        user = s.exec(select(User)).one()
    assert user.created_at == received
    assert user.created_at.tzinfo is not None and user.created_at.utcoffset() == dt.timedelta(0)
    assert user.created_at.hour == 8


def test_a_naive_instant_is_refused(db):
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        with db.write() as s:
            s.add(UnitRow(id="u", name="Đơn vị", level="district", kind="office", roles={}))
            s.add(User(username="a", unit_id="u", role="staff", created_at=dt.datetime(2026, 3, 10, 8)))
    with db.session() as s:
        assert s.exec(select(UnitRow)).all() == []  # the whole transaction rolled back


def test_database_url_defaults_and_rewrites(monkeypatch):
    monkeypatch.delenv(st.URL_ENV, raising=False)
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)  # the checkout (tests/test_default_database.py)
    assert database_url() == f"sqlite:///{Path.cwd() / 'var' / 'quytrinh.db'}"
    assert database_url("postgresql://postgres@h:5432/x") == "postgresql+psycopg://postgres@h:5432/x"
    assert database_url("postgres://u@h/x") == "postgresql+psycopg://u@h/x"
    monkeypatch.setenv(st.URL_ENV, "postgresql://p@h/y")
    assert database_url() == "postgresql+psycopg://p@h/y"


@pytest.mark.sqlite_only
def test_sqlite_file_folder_is_created_and_wal_is_on(tmp_path: Path):
    path = tmp_path / "nested" / "var" / "q.db"
    store = init_db(f"sqlite:///{path}")
    assert path.is_file()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("pragma journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("pragma foreign_keys").scalar_one() == 1
        assert conn.exec_driver_sql("pragma page_size").scalar_one() == st.SQLITE_PAGE_SIZE == 2048
        assert conn.exec_driver_sql("pragma wal_autocheckpoint").scalar_one() == st.SQLITE_WAL_AUTOCHECKPOINT
    store.dispose()


@pytest.mark.sqlite_only
def test_an_existing_sqlite_file_keeps_its_page_size(tmp_path: Path):
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # a database made before the page size was set
        conn.execute("create table t (x)")
    assert sqlite3.connect(path).execute("pragma page_size").fetchone()[0] == 4096
    store = init_db(f"sqlite:///{path}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("pragma page_size").scalar_one() == 4096
        assert conn.exec_driver_sql("pragma journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("select count(*) from dossiers").scalar_one() == 0
    store.dispose()


@pytest.mark.sqlite_only
def test_default_url_is_in_the_current_project_folder(tmp_path: Path, monkeypatch):
    (tmp_path / "procedures_yaml").mkdir()  # a project folder (else the checkout's: test_default_database.py)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(st.URL_ENV, raising=False)
    store = init_db()
    assert (tmp_path / "var" / "quytrinh.db").is_file()
    store.dispose()


def test_foreign_keys_are_enforced(db):
    with pytest.raises(sa.exc.IntegrityError):
        with db.write() as s:
            s.add(User(username="a", unit_id="no_such_unit", role="staff",
                       created_at=dt.datetime(2026, 3, 10, tzinfo=dt.timezone.utc)))


def test_dump_is_deterministic_and_sees_every_change(runtime):
    from engine import services as sv

    db = runtime.db
    first, again = dump(db), dump(db)
    assert first == again
    sv.receive(db, runtime.actor("motcua"), "1.001612", applicant="Lê Thị C", now=runtime.now)
    after = dump(db)
    assert after != first
    text = "\n".join(after)
    assert "Lê Thị C" in text and "work_items" in text.replace('"', "")


def test_write_rolls_back_everything_on_error(runtime):
    db = runtime.db
    before = dump(db)
    with pytest.raises(RuntimeError):
        with db.write() as s:
            s.execute(sa.update(UnitRow).values(name="đổi tên"))
            raise RuntimeError("boom")
    assert dump(db) == before


def test_json_columns_round_trip(runtime):
    from engine import services as sv

    res = sv.receive(runtime.db, runtime.actor("motcua"), "1.013225", applicant="Phạm D", now=runtime.now)
    with runtime.db.session() as s:
        d = s.get(Dossier, res.dossier_id)
        events = s.exec(select(Event).where(Event.dossier_id == d.id).order_by(Event.id)).all()
    assert d.clock["limit_minutes"] == 15 * 480 and d.clock["policy"] == "pause"
    assert events[1].to_steps == ["assign"] and events[0].data == {"channel": "counter"}


def test_events_are_append_only(runtime):
    from engine import services as sv

    res = sv.receive(runtime.db, runtime.actor("motcua"), "1.001612", applicant="Đ", now=runtime.now)
    before = dump(runtime.db)
    with pytest.raises(RuntimeError, match="append-only"):
        with runtime.db.write() as s:
            ev = s.get(Event, res.events[0])
            ev.comment = "sửa lịch sử"
            s.add(ev)
    with pytest.raises(RuntimeError, match="append-only"):
        with runtime.db.write() as s:
            s.delete(s.get(Event, res.events[0]))
    assert dump(runtime.db) == before


# --------------------------------------------------------------------------- pooled connections


def _seeded(url: str):
    """A fresh store with the shipped units, the benchmark's procedure and a one-stop clerk."""
    from engine import services as sv
    from engine.definition import load_definition, load_units

    root = Path(__file__).resolve().parent.parent
    store = init_db(url)
    sv.seed_organisation(store, load_units(root / "procedures_yaml" / "units.yaml"))
    sv.publish_definition(store, load_definition(root / "bench" / "reference-procedure.yaml"), now=T0, by="test")
    return store, sv.add_user(store, "motcua", unit="bp_mot_cua", role="staff", now=T0)


T0 = dt.datetime(2026, 3, 10, 1, 0, tzinfo=dt.timezone.utc)


def _kill_pooled_connections(store, n: int = 1) -> None:
    """End the ``n`` connections resting in the store's pool as a server restart would (SQLite: close them)."""
    import time

    raws = [store.engine.raw_connection() for _ in range(n)]
    conns = [raw.driver_connection for raw in raws]
    for raw in raws:
        raw.close()  # back into the pool, where they rest
    assert store.engine.pool.checkedin() == n
    if store.dialect == "sqlite":
        for conn in conns:
            conn.close()
        return
    pids = [conn.info.backend_pid for conn in conns]
    admin = sa.create_engine(store.engine.url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        for pid in pids:
            assert c.execute(sa.text("select pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
        for _ in range(200):  # until the server has let them go
            if not c.execute(sa.text("select count(*) from pg_stat_activity where pid = any(:pids)"),
                             {"pids": pids}).scalar_one():
                break
            time.sleep(0.01)
    admin.dispose()


def _receive(store, clerk, i: int):
    from engine import services as sv

    return sv.receive(store, clerk, "BENCH-REF", applicant=f"Công dân {i}", now=T0 + dt.timedelta(minutes=i))


def test_a_pooled_connection_that_died_while_resting_is_replaced_before_use(db_url, monkeypatch):
    store, clerk = _seeded(db_url)
    _kill_pooled_connections(store)
    monkeypatch.setattr(st, "PING_AFTER_IDLE_SECONDS", 0.0)  # it has rested long enough to be pinged
    r = _receive(store, clerk, 1)  # the ping finds it dead: the pool connects afresh, the action runs
    assert r.dossier_code.startswith("BENCH-REF-")
    with store.engine.connect() as conn:  # the ORM's path too
        assert conn.execute(select(Dossier.code)).all() == [(r.dossier_code,)]
    store.dispose()


def test_a_connection_that_died_right_after_use_fails_one_action_and_nothing_else(db_url):
    store, clerk = _seeded(db_url)
    _kill_pooled_connections(store)  # within PING_AFTER_IDLE_SECONDS of its last use: not pinged
    with pytest.raises(sa.exc.DBAPIError):
        _receive(store, clerk, 1)
    r = _receive(store, clerk, 2)  # the dead connection left the pool: the next action gets a new one
    with store.engine.connect() as conn:
        assert conn.execute(select(Dossier.applicant)).all() == [("Công dân 2",)]
    assert r.version == 1
    store.dispose()


def test_after_a_restart_one_action_fails_and_the_pool_replaces_every_connection(db_url):
    store, clerk = _seeded(db_url)
    _kill_pooled_connections(store, 3)  # three connections used moments ago, all dead now
    with pytest.raises(sa.exc.DBAPIError):
        _receive(store, clerk, 1)  # the first action finds out
    codes = [_receive(store, clerk, i).dossier_code for i in range(2, 6)]  # the others get new connections
    with store.engine.connect() as conn:
        assert sorted(r[0] for r in conn.execute(select(Dossier.code))) == sorted(codes)
    store.dispose()


def test_a_dead_connection_found_by_the_ping_replaces_its_siblings_too(db_url, monkeypatch):
    store, clerk = _seeded(db_url)
    _kill_pooled_connections(store, 3)
    monkeypatch.setattr(st, "PING_AFTER_IDLE_SECONDS", 0.0)
    first = _receive(store, clerk, 1)  # its connection is pinged, found dead: the whole pool is renewed
    monkeypatch.setattr(st, "PING_AFTER_IDLE_SECONDS", 3600.0)  # no more pings: the siblings must be gone
    codes = [first.dossier_code] + [_receive(store, clerk, i).dossier_code for i in range(2, 6)]
    assert len(set(codes)) == 5
    store.dispose()
